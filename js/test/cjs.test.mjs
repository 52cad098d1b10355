// The package's entries by name (package.json's "exports"), and CommonJS: require('namegen')
// gives the module that import gives on Nodes that can require() an ES module (20.19+, 22.12+),
// and on older ones (simulated with --no-experimental-require-module) a `load` that works.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { NO_FIXTURES, argsOf, fixturePath, readFixtures } from './helpers.mjs';

const require = createRequire(import.meta.url);
const run = promisify(execFile);
const INDEX_CJS = fileURLToPath(new URL('../src/index.cjs', import.meta.url));

test('the package\'s names resolve to its entries', () => {
  assert.equal(import.meta.resolve('namegen'), new URL('../src/index.js', import.meta.url).href);
  assert.equal(import.meta.resolve('namegen/web'), new URL('../src/web.js', import.meta.url).href);
  assert.equal(require.resolve('namegen'), INDEX_CJS);
});

test('require(\'namegen\') is the module that import gives', async () => {
  const cjs = require('namegen');
  const esm = await import('namegen');
  assert.equal(cjs.load, esm.load);
  assert.equal(cjs.NamegenError, esm.NamegenError);
  const keys = (/** @type {object} */ m) => Object.keys(m).filter((key) => key !== '__esModule').sort();
  assert.deepEqual(keys(cjs), keys(esm));
});

describe('a CommonJS script', { skip: NO_FIXTURES }, () => {
  const fixtures = NO_FIXTURES ? undefined : readFixtures();
  const sample = fixtures?.models.linear.samples.find((s) => s.options.suffix === 'a');
  const script = () => {
    const [count, options] = argsOf(sample);
    return `const { load } = require(${JSON.stringify(INDEX_CJS)});
      load(${JSON.stringify(fixturePath(fixtures.models.linear.sampler))})
        .then((model) => model.sample(${count}, ${JSON.stringify(options)}))
        .then((names) => console.log(JSON.stringify(names)));
      load('missing.onnx').catch((err) => console.error(err.name, err.option));`;
  };

  for (const [how, flags] of [['by require(esm)', []], ['on a Node that cannot require(esm)', ['--no-experimental-require-module']]]) {
    test(`gets Python's names ${how}`, async () => {
      const { stdout, stderr } = await run(process.execPath, [...flags, '-e', script()]);
      assert.deepEqual(JSON.parse(stdout), sample.names);
      assert.equal(stderr, 'NamegenError source\n');
    });
  }
});
