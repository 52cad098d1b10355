#!/usr/bin/env node
// Drive the playground in headless Chromium and print what it shows: used by tests/test_embedding.py.
//
//   node check.mjs URL [--timeout MS] [--details] [--loading] [--errors] [--screenshots DIR] [STEP ...]
//
// Opens URL, prints the first batch of names (as drawn: the <li>'s data-name) as a JSON array,
// then does each STEP in turn:
//   more              click "More names" and print the batch
//   generate          click "Generate" and print the batch
//   fill:FIELD=VALUE  fill a field of the form (a checkbox: VALUE 1 checks it, 0 clears it); prints nothing
//   pick:MODEL        choose MODEL (an option's value, e.g. models/ngram.onnx) in the model picker
//                     and print the batch it draws
//   share             click "Copy link", check that the clipboard holds the share field's link,
//                     open it in a new page and print that page's first batch
//   copy              click "Copy all" and print the clipboard's text as a JSON string
//   shot:NAME         save DIR/NAME-desktop.png (1280x800) of the page, then open its share link
//                     at a phone's size (390x844, 2x) and save DIR/NAME-phone.png; print
//                     {"desktop": PATH, "phone": PATH, "overflow": {"desktop": PX, "phone": PX}}
//                     (overflow: how far the page is wider than the window; 0 is right)
// With --details, a batch is a JSON object instead: {"names", "shown" (the names as displayed),
// "status", "seed", "found", "share" (the share field), "model" (the picker's value), "models"
// (the picker's options as [value, label]), "seedField" (the Seed field's text), "note" (what
// the last copy said, if it still shows), "empty" (the message shown when no name came back, or
// null), "copyDisabled" (Copy all), "text" (the page's visible text)}. With --loading, the first
// line is what the page showed while it loaded: {"status", "value", "max" (the progress bar),
// "disabled" (the form)} (and DIR/loading.png with --screenshots). Exits 1 if the page shows an
// error, 2 on bad arguments; with --errors, a step that ends in an error prints what the page
// shows instead ({"error": TEXT, ...the details}) and the steps go on.
// Uses the system Chromium (CHROMIUM env var, default /usr/bin/chromium); it never downloads one.
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const USAGE = 'usage: node check.mjs URL [--timeout MS] [--details] [--loading] [--errors] [--screenshots DIR] [STEP ...]';
const STEP = /^(more|generate|share|copy|fill:[a-z_]+=.*|pick:.+|shot:[\w.-]+)$/s;

let url, timeout, details, watchLoading, allowErrors, dir, steps;
try {
  const { values, positionals } = parseArgs({
    allowPositionals: true, strict: true,
    options: {
      timeout: { type: 'string', default: '30000' },
      details: { type: 'boolean', default: false },
      loading: { type: 'boolean', default: false },
      errors: { type: 'boolean', default: false },
      screenshots: { type: 'string' },
    },
  });
  if (positionals.length < 1) throw new Error('expected a URL');
  [url, ...steps] = positionals;
  const bad = steps.find((step) => !STEP.test(step));
  if (bad !== undefined) throw new Error(`unknown step ${JSON.stringify(bad)}`);
  timeout = Number(values.timeout);
  if (!(timeout > 0)) throw new Error(`--timeout must be a positive number of milliseconds, got ${values.timeout}`);
  ({ details, loading: watchLoading, errors: allowErrors, screenshots: dir } = values);
  if (!dir && steps.some((step) => step.startsWith('shot:'))) throw new Error('shot: needs --screenshots DIR');
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

/** A new page of a new browser context (its own clipboard permission and viewport). */
async function newPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(url).origin });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on('console', (msg) => { if (msg.type() === 'error') console.error(`page console: ${msg.text()}`); });
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
  return page;
}

/** Wait until batch `k` is rendered on `page` or it shows an error; return what is on show
 * (with --errors, an error as {"error": TEXT, ...}; without, an error throws). */
async function batch(page, k) {
  await page.waitForSelector(`body[data-ready="1"][data-batch="${k}"], body[data-error="1"]`, { state: 'attached' });
  let error = null;
  if (await page.$('body[data-error="1"]')) {
    error = await page.textContent('#error');
    if (!allowErrors) throw new Error(`the page shows an error: ${error}`);
  }
  const names = await page.$$eval('#names > li', (items) => items.map((li) => li.dataset.name));
  if (!details && !error) return names;
  return {
    ...(error === null ? {} : { error }),
    names,
    shown: await page.$$eval('#names > li', (items) => items.map((li) => li.textContent)),
    status: await page.textContent('#status'),
    ...await page.$eval('body', (body) => ({ seed: body.dataset.seed, found: body.dataset.found })),
    share: await page.inputValue('#share'),
    model: await page.inputValue('#model'),
    models: await page.$$eval('#model option', (options) => options.map((o) => [o.value, o.textContent])),
    seedField: await page.inputValue('#controls [name="seed"]'),
    ...await page.evaluate(() => ({
      note: document.getElementById('note').textContent,
      empty: document.getElementById('empty').hidden ? null : document.getElementById('empty').textContent,
      copyDisabled: document.getElementById('copy').disabled,
      text: document.body.innerText,
    })),
  };
}

/** Write a screenshot through a temporary file, renamed into place. */
async function screenshot(page, path) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, await page.screenshot({ fullPage: true }));
  renameSync(tmp, path);
  return path;
}

/** How many pixels wider than its window the page is (0: no sideways scrolling). */
const overflow = (page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

const print = (value) => console.log(JSON.stringify(value));

try {
  const page = await newPage();
  if (watchLoading) {
    // The page shows its progress as it downloads the runtime and the model: catch it midway.
    await page.goto(url, { waitUntil: 'commit' });
    await page.waitForFunction(() => document.body?.dataset.loading === '1' && document.getElementById('progress').value > 0,
      null, { polling: 10 });
    const seen = await page.evaluate(() => ({
      status: document.getElementById('status').textContent,
      value: document.getElementById('progress').value,
      max: document.getElementById('progress').max,
      disabled: document.getElementById('fields').disabled,
    }));
    if (dir) await screenshot(page, join(dir, 'loading.png'));
    print(seen);
  } else {
    await page.goto(url);
  }
  // The number of the batch to wait for next: an error (with --errors) draws none.
  let k = 0;
  const next = async () => {
    const shown = await batch(page, ++k);
    if (shown.error !== undefined) k -= 1;
    return shown;
  };
  print(await next());
  for (const step of steps) {
    const [verb, arg] = step.split(/:(.*)/s);
    if (verb === 'more' || verb === 'generate') {
      await page.getByRole('button', { name: verb === 'more' ? 'More names' : 'Generate' }).click();
      print(await next());
    } else if (verb === 'fill') {
      const [name, value] = arg.split(/=(.*)/s);
      const input = page.locator(`#controls [name="${name}"]`);
      // The constraints are in a <details>: open it as a person would.
      if (!await input.isVisible() && await page.locator('#constraints').evaluate((d) => !d.open)) await page.click('#constraints > summary');
      if (await input.getAttribute('type') === 'checkbox') await input.setChecked(value === '1');
      else await input.fill(value);
    } else if (verb === 'pick') {
      await page.selectOption('#model', arg);
      print(await next());
    } else if (verb === 'copy') {
      await page.click('#copy');
      await page.waitForFunction(() => document.getElementById('note').textContent !== '');
      const note = await page.textContent('#note');
      if (!note.startsWith('Copied')) throw new Error(`Copy all failed: ${note}`);
      print(await page.evaluate(() => navigator.clipboard.readText()));
    } else if (verb === 'share') {
      const link = await page.inputValue('#share');
      await page.click('#copy-link');
      await page.waitForFunction(() => document.getElementById('note').textContent !== '');
      const copied = await page.evaluate(() => navigator.clipboard.readText());
      if (copied !== link) throw new Error(`Copy link put ${JSON.stringify(copied)} on the clipboard, not the share field's ${JSON.stringify(link)}`);
      const fresh = await newPage();
      await fresh.goto(link);
      print(await batch(fresh, 1));
      await fresh.context().close();
    } else if (verb === 'shot') {
      const desktop = await screenshot(page, join(dir, `${arg}-desktop.png`));
      const shift = { desktop: await overflow(page) };
      const phone = await newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
      await phone.goto(await page.inputValue('#share'));
      await batch(phone, 1);
      shift.phone = await overflow(phone);
      print({ desktop, phone: await screenshot(phone, join(dir, `${arg}-phone.png`)), overflow: shift });
      await phone.context().close();
    }
  }
} catch (err) {
  console.error(`check.mjs: ${err.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
