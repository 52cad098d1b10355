// What the package's tests share: the fixtures tests/test_js_package.py writes, and made-up
// ONNX files for the tests that need no onnxruntime.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The folder of tests/test_js_package.py's fixtures, or undefined when it did not start this run. */
export const FIXTURES = process.env.NAMEGEN_JS_FIXTURES || undefined;
/** Why the fixture tests skip without it. */
export const NO_FIXTURES = FIXTURES ? false : 'NAMEGEN_JS_FIXTURES is not set: tests/test_js_package.py writes the fixtures and runs these tests';

/**
 * The fixtures: per plugin, its export's files and what Python's runtime gave for them.
 * @returns {{models: Record<string, any>, nameless: {sampler: string, scorer: string}}}
 */
export function readFixtures() {
  return JSON.parse(readFileSync(join(/** @type {string} */ (FIXTURES), 'fixtures.json'), 'utf8'));
}

/** A fixture file's path. @param {string} name */
export const fixturePath = (name) => join(/** @type {string} */ (FIXTURES), name);

/**
 * A case's arguments as a caller passes them: seeds a number where one is exact, else a bigint.
 * @param {{count: number, seed: string, temperature: number, options: Record<string, unknown>}} sample
 */
export function argsOf(sample) {
  const seed = BigInt(sample.seed);
  const exact = seed >= BigInt(Number.MIN_SAFE_INTEGER) && seed <= BigInt(Number.MAX_SAFE_INTEGER);
  return [sample.count, { seed: exact ? Number(seed) : seed, temperature: sample.temperature, ...sample.options }];
}

/** A readable name for a case. @param {any} sample */
export const caseName = (sample) => `count ${sample.count}, seed ${sample.seed}, temperature ${sample.temperature}`
  + (Object.keys(sample.options).length ? `, ${JSON.stringify(sample.options)}` : '');

/**
 * Assert that `actual` log-likelihoods are Python's within `tolerance` x max(1, |value|)
 * (onnxruntime's float32 kernels round differently across builds: its wasm build differs from
 * Python's by a few float32 steps), and return the largest absolute difference.
 * @param {ArrayLike<number>} actual @param {ArrayLike<number>} expected
 */
export function assertCloseLogLikelihoods(actual, expected, tolerance = 1e-5) {
  assert.equal(actual.length, expected.length);
  let most = 0;
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    assert.ok(diff <= tolerance * Math.max(1, Math.abs(expected[i])), `log-likelihood ${i} is ${actual[i]}, Python's ${expected[i]}`);
    most = Math.max(most, diff);
  }
  return most;
}

// ---------------------------------------------------------------------------- made-up ONNX files

/** @param {number} n */
function varint(n) {
  const out = [];
  for (; n >= 128; n = Math.floor(n / 128)) out.push((n % 128) | 128);
  out.push(n);
  return out;
}

/** A length-delimited protobuf field. @param {number} field @param {number[] | Uint8Array} payload */
function message(field, payload) {
  return [...varint(field * 8 + 2), ...varint(payload.length), ...payload];
}

/** @param {number} field @param {string} text */
const text = (field, text) => message(field, [...new TextEncoder().encode(text)]);

/**
 * The bytes of a ModelProto with these metadata_props, graph inputs and initialisers (each
 * initialiser a TensorProto with a name and one int64 value): enough for the package's
 * protobuf reading, not for onnxruntime.
 * @param {{metadata?: Record<string, string>, inputs?: string[], initializers?: string[]}} parts
 */
export function onnxBytes({ metadata = {}, inputs = [], initializers = [] } = {}) {
  const graph = [
    ...text(2, 'main'), // GraphProto.name
    ...initializers.flatMap((name) => message(5, [...text(8, name), 0x10, 0x07, 0x38, 0x05])), // TensorProto {8: name, 2: data_type INT64, 7: int64_data [5]}
    ...inputs.flatMap((name) => message(11, text(1, name))),
  ];
  return Uint8Array.from([
    0x08, 0x0a, // ir_version 10
    ...message(7, graph),
    ...Object.entries(metadata).flatMap(([key, value]) => message(14, [...text(1, key), ...text(2, value)])),
  ]);
}

/** The metadata of a rule 2 sampler over the characters 'abcm', as an export writes it. */
export const SAMPLER_METADATA = Object.freeze({
  namegen_format: 'namegen-sampler', vocab: JSON.stringify('.abcm'), max_len: '16', max_count: '1000000',
  sampling_rule_version: '2', known_names: '3', training_names: '3', export_id: 'x1', plugin: 'linear',
});

/** Rule 2's graph inputs (overridable initialisers in a real export). */
export const RULE2_INPUTS = ['prefix', 'suffix', 'contains', 'min_len', 'max_len', 'novel', 'exclude', 'distinct', 'max_candidates'];

/** A made-up rule 2 sampler file. @param {Record<string, string>} [metadata] overrides @param {string[]} [constraints] */
export function samplerBytes(metadata = {}, constraints = RULE2_INPUTS) {
  const meta = Object.fromEntries(Object.entries({ ...SAMPLER_METADATA, ...metadata }).filter(([, value]) => value !== undefined));
  return onnxBytes({ metadata: meta, inputs: ['seed', 'count', 'temperature', ...constraints], initializers: ['network/weight', ...constraints] });
}

/**
 * A headless Chromium page at `url`, recording page errors and console lines into `logged` (to
 * explain a failed page.evaluate).
 * @param {any} playwright playwright-core @param {string} executablePath @param {string} url
 */
export async function openPage(playwright, executablePath, url) {
  const browser = await playwright.chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const page = await browser.newPage();
  page.setDefaultTimeout(120_000);
  /** @type {string[]} */
  const logged = [];
  page.on('console', (message) => logged.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (err) => logged.push(`page error: ${err.message}`));
  await page.goto(url);
  return { browser, page, logged };
}
