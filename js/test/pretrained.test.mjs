// The pre-built models that ship in models/ (the files of Python's namegen/pretrained/): in
// Node (onnxruntime-node) and in headless Chromium (onnxruntime-web, the package served as a
// static folder), each draws exactly the names its manifest.json promises. No fixtures needed.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NamegenError, loadPretrained, pretrained } from '../src/index.js';
import { openPage } from './helpers.mjs';

const JS_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
const MANIFEST = join(JS_DIR, 'models', 'manifest.json');
const models = existsSync(MANIFEST) ? JSON.parse(readFileSync(MANIFEST, 'utf8')).models : {};
const NAMES = Object.keys(models).sort();
const NO_MODELS = !NAMES.length && 'models/manifest.json lists no model: run scripts/build_pretrained.py';
const NO_NODE_ORT = !existsSync(join(JS_DIR, 'node_modules', 'onnxruntime-node')) && 'onnxruntime-node is not installed: npm ci in js/';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const playwright = await import('playwright-core').catch(() => undefined);
const NO_BROWSER = (!existsSync(CHROMIUM) && `Chromium is not installed at ${CHROMIUM} (set CHROMIUM)`)
  || (!playwright && 'playwright-core is not installed: npm ci in js/')
  || (!existsSync(join(JS_DIR, 'node_modules', 'onnxruntime-web')) && 'onnxruntime-web is not installed: npm ci in js/');

/** @param {{count: number, seed: number, temperature: number}} promise */
const argsOf = (promise) => /** @type {const} */ ([promise.count, { seed: promise.seed, temperature: promise.temperature }]);

describe('pre-built models in Node', { skip: NO_MODELS || NO_NODE_ORT }, () => {
  test('pretrained() lists the manifest\'s models', async () => {
    assert.deepEqual(await pretrained(), NAMES);
  });

  for (const name of NAMES) {
    test(`${name}: draws the names its manifest promises`, async () => {
      const model = await loadPretrained(name);
      try {
        assert.deepEqual(await model.sample(...argsOf(models[name].promise)), models[name].promise.names);
        assert.equal(model.metadata.export_id, models[name].export_id);
        assert.equal(model.source, join(JS_DIR, 'models', models[name].sampler)); // found from the package's own folder
        const [ll] = await model.logLikelihood(['emma']);
        assert.ok(ll < 0 && Number.isFinite(ll));
      } finally {
        await model.release();
      }
    });
  }

  test('an unknown name lists the known ones', async () => {
    await assert.rejects(loadPretrained('no-such-model'), (err) => {
      assert.ok(err instanceof NamegenError);
      assert.equal(err.option, 'name');
      assert.equal(err.message, `unknown pre-built model "no-such-model"; pre-built models: ${NAMES.join(', ')}`);
      return true;
    });
    await assert.rejects(loadPretrained(NAMES[0], { scorer: 'x.scorer.onnx' }), { name: 'NamegenError', option: 'scorer' });
  });
});

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>namegen pre-built models</title><link rel="icon" href="data:,">
<script type="importmap">{"imports": {"namegen": "/pkg/src/web.js", "onnxruntime-web": "/pkg/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs"}}</script>
</head><body></body></html>`;
const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

/** Serve the page and the package at /pkg/ on a loopback port. */
async function serve() {
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    if (path === '/') return response.writeHead(200, { 'Content-Type': 'text/html' }).end(PAGE);
    const file = path.startsWith('/pkg/') && resolve(JS_DIR, path.slice('/pkg/'.length));
    if (!file || !file.startsWith(JS_DIR + sep)) return response.writeHead(404).end();
    try {
      response.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(await readFile(file));
    } catch {
      response.writeHead(404, 'Not Found').end();
    }
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  return { server, url: `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}/` };
}

/** In the page: each pre-built model's promised draw, through namegen/web. @param {Record<string, any>} promised */
async function inThePage(promised) {
  const { loadPretrained, pretrained } = await import('namegen');
  const out = { names: await pretrained(), drawn: {}, sources: {}, unknown: null };
  for (const [name, promise] of Object.entries(promised)) {
    const model = await loadPretrained(name);
    out.drawn[name] = await model.sample(promise.count, { seed: promise.seed, temperature: promise.temperature });
    out.sources[name] = model.source;
    await model.release();
  }
  out.unknown = await loadPretrained('no-such-model').then(() => null, (err) => ({ name: err.name, option: err.option, message: err.message }));
  return out;
}

describe('pre-built models in headless Chromium', { skip: NO_MODELS || NO_BROWSER }, () => {
  let shown, browser, server, url;

  before(async () => {
    ({ server, url } = await serve());
    let page, logged;
    ({ browser, page, logged } = await openPage(playwright, CHROMIUM, url));
    try {
      shown = await page.evaluate(inThePage, Object.fromEntries(NAMES.map((name) => [name, models[name].promise])));
    } catch (err) {
      throw new Error(`${err.message}\n${logged.join('\n')}`);
    }
  });
  after(async () => {
    await browser?.close();
    server?.close();
  });

  test('pretrained() lists the manifest\'s models', () => {
    assert.deepEqual(shown.names, NAMES);
  });

  for (const name of NAMES) {
    test(`${name}: draws the names its manifest promises, fetched from beside the module`, () => {
      assert.deepEqual(shown.drawn[name], models[name].promise.names);
      assert.equal(shown.sources[name], `${url}pkg/models/${models[name].sampler}`);
    });
  }

  test('an unknown name lists the known ones', () => {
    assert.deepEqual(shown.unknown, {
      name: 'NamegenError', option: 'name', message: `unknown pre-built model "no-such-model"; pre-built models: ${NAMES.join(', ')}`,
    });
  });
});
