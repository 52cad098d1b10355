#!/usr/bin/env node
// Drive the page in headless Chromium and print what it shows: used by tests/test_embedding.py.
//
//   node check.mjs URL [--timeout MS]
//
// Prints two lines: the first batch of names as a JSON array, then (after clicking
// "More names") the second batch. Exits 1 if the page shows an error, 2 on bad arguments.
// Uses the system Chromium (CHROMIUM env var, default /usr/bin/chromium); it never downloads one.
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const USAGE = 'usage: node check.mjs URL [--timeout MS]';

let url, timeout;
try {
  const { values, positionals } = parseArgs({
    allowPositionals: true, strict: true, options: { timeout: { type: 'string', default: '30000' } },
  });
  if (positionals.length !== 1) throw new Error(`expected one URL, got ${positionals.length} positional arguments`);
  [url] = positionals;
  timeout = Number(values.timeout);
  if (!(timeout > 0)) throw new Error(`--timeout must be a positive number of milliseconds, got ${values.timeout}`);
} catch (err) {
  console.error(`check.mjs: ${err.message}\n${USAGE}`);
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // No sandbox (we may run as root); no GPU; and none of Chromium's background traffic
  // (updates, sync, field trials), which only floods a closed network with failing requests.
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--no-first-run', '--disable-quic'],
  timeout,
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(timeout);
  page.on('console', (msg) => { if (msg.type() === 'error') console.error(`page console: ${msg.text()}`); });
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));

  // Wait until batch `k` is rendered or the page shows an error; return the names on show.
  async function batch(k) {
    await page.waitForSelector(`body[data-ready="1"][data-batch="${k}"], body[data-error="1"]`, { state: 'attached' });
    if (await page.$('body[data-error="1"]')) throw new Error(`the page shows an error: ${await page.textContent('#error')}`);
    return page.$$eval('#names > li', (items) => items.map((li) => li.textContent));
  }

  await page.goto(url);
  console.log(JSON.stringify(await batch(1)));
  await page.getByRole('button', { name: 'More names' }).click();
  console.log(JSON.stringify(await batch(2)));
} catch (err) {
  console.error(`check.mjs: ${err.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
