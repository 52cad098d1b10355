#!/usr/bin/env node
// Drive the page in headless Chromium and print what it shows: used by tests/test_embedding.py.
//
//   node check.mjs URL [--timeout MS] [--details] [--fill FIELD=VALUE ...]
//
// Prints one line per batch: the first batch of names as a JSON array, then (after clicking
// "More names") the second batch. With --fill, it then fills the form's fields (a checkbox:
// VALUE 1 checks it, 0 clears it), clicks "Generate" and prints that batch too. With
// --details, each line is a JSON object {"names": [...], "status": "...", "seed": "...",
// "found": "..."} instead. Exits 1 if the page shows an error, 2 on bad arguments.
// Uses the system Chromium (CHROMIUM env var, default /usr/bin/chromium); it never downloads one.
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const USAGE = 'usage: node check.mjs URL [--timeout MS] [--details] [--fill FIELD=VALUE ...]';

let url, timeout, details, fills;
try {
  const { values, positionals } = parseArgs({
    allowPositionals: true, strict: true,
    options: {
      timeout: { type: 'string', default: '30000' },
      details: { type: 'boolean', default: false },
      fill: { type: 'string', multiple: true, default: [] },
    },
  });
  if (positionals.length !== 1) throw new Error(`expected one URL, got ${positionals.length} positional arguments`);
  [url] = positionals;
  timeout = Number(values.timeout);
  if (!(timeout > 0)) throw new Error(`--timeout must be a positive number of milliseconds, got ${values.timeout}`);
  details = values.details;
  fills = values.fill.map((item) => {
    const at = item.indexOf('=');
    if (at < 1) throw new Error(`--fill takes FIELD=VALUE, got ${JSON.stringify(item)}`);
    return [item.slice(0, at), item.slice(at + 1)];
  });
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

  // Wait until batch `k` is rendered or the page shows an error; print what is on show.
  async function batch(k) {
    await page.waitForSelector(`body[data-ready="1"][data-batch="${k}"], body[data-error="1"]`, { state: 'attached' });
    if (await page.$('body[data-error="1"]')) throw new Error(`the page shows an error: ${await page.textContent('#error')}`);
    const names = await page.$$eval('#names > li', (items) => items.map((li) => li.textContent));
    if (!details) return console.log(JSON.stringify(names));
    const { seed, found } = await page.$eval('body', (body) => ({ ...body.dataset }));
    console.log(JSON.stringify({ names, status: await page.textContent('#status'), seed, found }));
  }

  await page.goto(url);
  await batch(1);
  await page.getByRole('button', { name: 'More names' }).click();
  await batch(2);
  if (fills.length) {
    for (const [field, value] of fills) {
      const input = page.locator(`#controls [name="${field}"]`);
      if (await input.getAttribute('type') === 'checkbox') await input.setChecked(value === '1');
      else await input.fill(value);
    }
    await page.getByRole('button', { name: 'Generate' }).click();
    await batch(3);
  }
} catch (err) {
  console.error(`check.mjs: ${err.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
