// The browser entry (namegen/web, onnxruntime-web on WebAssembly) in headless Chromium: Python's
// names and log-likelihoods for the exports that tests/test_js_package.py writes
// (NAMEGEN_JS_FIXTURES). A loopback server serves this package at /pkg/ and the fixtures at
// /fixtures/; the page resolves the bare names with an import map, as a page without a bundler does.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FIXTURES, NO_FIXTURES, assertCloseLogLikelihoods, caseName, openPage, readFixtures } from './helpers.mjs';

const JS_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const playwright = await import('playwright-core').catch(() => undefined);
const SKIP = NO_FIXTURES
  || (!existsSync(CHROMIUM) && `Chromium is not installed at ${CHROMIUM} (set CHROMIUM)`)
  || (!playwright && 'playwright-core is not installed: npm ci in js/')
  || (!existsSync(join(JS_DIR, 'node_modules', 'onnxruntime-web')) && 'onnxruntime-web is not installed: npm ci in js/');

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>namegen package test</title><link rel="icon" href="data:,">
<script type="importmap">{"imports": {"namegen": "/pkg/src/web.js", "onnxruntime-web": "/pkg/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs"}}</script>
</head><body></body></html>`;
const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

/** Serve the page, /pkg/ (this package) and /fixtures/; resolves to the server's base URL. */
async function serve() {
  const roots = { '/pkg/': JS_DIR, '/fixtures/': /** @type {string} */ (FIXTURES) };
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    if (path === '/') return response.writeHead(200, { 'Content-Type': 'text/html' }).end(PAGE);
    const prefix = Object.keys(roots).find((p) => path.startsWith(p));
    const file = prefix && resolve(roots[prefix], path.slice(prefix.length));
    if (!file || !file.startsWith(roots[prefix] + sep)) return response.writeHead(404).end();
    try {
      const body = await readFile(file);
      response.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      response.writeHead(404, 'Not Found').end();
    }
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  return { server, url: `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}/` };
}

/**
 * In the page: load each export with namegen/web and draw each case; then the errors. Runs in
 * Chromium (its source is sent there), so it returns plain data.
 * @param {ReturnType<typeof readFixtures>} fixtures
 */
async function inThePage({ models, nameless }) {
  const { load } = await import('namegen');
  const argsOf = (s) => {
    const seed = BigInt(s.seed), exact = seed >= BigInt(Number.MIN_SAFE_INTEGER) && seed <= BigInt(Number.MAX_SAFE_INTEGER);
    return [s.count, { seed: exact ? Number(seed) : seed, temperature: s.temperature, ...s.options }];
  };
  const refusal = (promise) => promise.then(() => null, (err) => ({ name: err.name, option: err.option, message: err.message }));
  const out = { models: {}, errors: {} };
  for (const [plugin, expected] of Object.entries(models)) {
    const model = await load(`/fixtures/${expected.sampler}`); // a URL relative to the page
    const samples = [];
    for (const sample of expected.samples) {
      const drawn = await model.draw(...argsOf(sample));
      samples.push({ names: drawn.names, found: drawn.found, short: drawn.short, seed: String(drawn.seed) });
    }
    out.models[plugin] = {
      vocab: model.vocab, maxLen: model.maxLen, maxCount: model.maxCount, rule: model.rule, knownNames: model.knownNames, trainingNames: model.trainingNames,
      metadata: model.metadata, samples, logLikelihood: Array.from(await model.logLikelihood(expected.logLikelihood.names)),
    };
    await model.release();
  }
  const linear = models.linear, short = linear.samples.find((s) => s.short);
  const bytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
  const fromBytes = await load(await bytes(`/fixtures/${linear.sampler}`), { scorer: await bytes(`/fixtures/${linear.scorer}`) });
  const warnings = [];
  const warned = await load(`/fixtures/${linear.sampler}`, { warn: (message) => warnings.push(message), label: (o) => o.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) });
  out.fromBytes = { names: await fromBytes.sample(...argsOf(short)), logLikelihood: Array.from(await fromBytes.logLikelihood(linear.logLikelihood.names)) };
  out.warned = { names: await warned.sample(...argsOf(short)), warnings };
  out.errors.missing = await refusal(load('/fixtures/no-such-model.onnx'));
  out.errors.prefix = await refusal(warned.sample(5, { prefix: 'é' }));
  out.errors.minLen = await refusal(warned.sample(5, { minLen: 9, maxLen: 8 }));
  out.errors.novel = await refusal((await load(`/fixtures/${nameless.sampler}`)).sample(5, { novel: true }));
  out.errors.noScorer = await refusal((await load(await bytes(`/fixtures/${linear.sampler}`))).logLikelihood(['emma']));
  out.errors.mixed = await refusal((await load(`/fixtures/${linear.sampler}`, { scorer: `/fixtures/${nameless.scorer}` })).logLikelihood(['emma']));
  return out;
}

describe('namegen/web in headless Chromium', { skip: SKIP }, () => {
  /** @type {any} */
  let shown;
  let browser, server;
  const fixtures = SKIP ? undefined : readFixtures();

  before(async () => {
    let url;
    ({ server, url } = await serve());
    let page, logged;
    ({ browser, page, logged } = await openPage(playwright, CHROMIUM, url));
    try {
      shown = await page.evaluate(inThePage, fixtures);
    } catch (err) {
      throw new Error(`${err.message}\n${logged.join('\n')}`);
    }
  });
  after(async () => {
    await browser?.close();
    server?.close();
  });

  for (const [plugin, expected] of Object.entries(fixtures?.models ?? {})) {
    test(`${plugin}: vocabulary, limits and metadata`, () => {
      const { samples, logLikelihood, ...info } = shown.models[plugin];
      assert.deepEqual(info, {
        vocab: expected.vocab, maxLen: expected.maxLen, maxCount: expected.maxCount, rule: expected.rule,
        knownNames: expected.knownNames, trainingNames: expected.knownNames, metadata: expected.metadata,
      });
    });
    test(`${plugin}: Python's names`, () => {
      expected.samples.forEach((sample, k) => {
        const drawn = shown.models[plugin].samples[k];
        assert.deepEqual(drawn.names, sample.names, caseName(sample));
        assert.equal(drawn.short, sample.short, caseName(sample));
        assert.equal(drawn.found, sample.names.length);
        assert.equal(drawn.seed, String(BigInt.asUintN(62, BigInt(sample.seed))));
      });
    });
    test(`${plugin}: Python's log-likelihoods`, (t) => {
      const most = assertCloseLogLikelihoods(shown.models[plugin].logLikelihood, expected.logLikelihood.values);
      t.diagnostic(`max_abs_diff log_likelihood chromium ${plugin}: ${most}`);
    });
  }

  test('from bytes; fewer names and a warning when the budget runs out', () => {
    const linear = fixtures.models.linear, short = linear.samples.find((s) => s.short);
    assert.deepEqual(shown.fromBytes.names, short.names);
    assertCloseLogLikelihoods(shown.fromBytes.logLikelihood, linear.logLikelihood.values);
    assert.deepEqual(shown.warned.names, short.names);
    assert.deepEqual(shown.warned.warnings, [
      `only ${short.names.length} of ${short.count} names met the constraints within the candidate budget (raise max_candidates, or loosen the constraints)`,
    ]);
  });

  test('errors name the option and say what is wrong', () => {
    const { errors } = shown;
    assert.equal(errors.missing.name, 'NamegenError');
    assert.equal(errors.missing.option, 'source');
    assert.match(errors.missing.message, /^could not load http:\/\/127\.0\.0\.1:\d+\/fixtures\/no-such-model\.onnx: HTTP 404 Not Found$/);
    assert.deepEqual(errors.prefix, { name: 'NamegenError', option: 'prefix', message: `prefix 'é' cannot be drawn: character 'é' in 'é' is not in the model's vocabulary ('${fixtures.models.linear.vocab.slice(1).join('')}')` });
    assert.deepEqual(errors.minLen, { name: 'NamegenError', option: 'minLen', message: "min_len must be an integer from 1 to max_len (8), got 9" });
    assert.equal(errors.novel.option, 'novel');
    assert.match(errors.novel.message, /^novel needs the known names, and http:.*nameless\.onnx holds none/);
    assert.equal(errors.noScorer.option, 'scorer');
    assert.match(errors.mixed.message, /^http:\/\/127\.0\.0\.1:\d+\/fixtures\/nameless\/nameless\.scorer\.onnx and http:.*come from different exports/);
  });
});
