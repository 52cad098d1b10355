// The package in Node, with onnxruntime-node: Python's names and log-likelihoods for the exports
// that tests/test_js_package.py writes (NAMEGEN_JS_FIXTURES), and how it finds files and
// onnxruntime.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { NamegenError, load, scorerPath } from '../src/index.js';
import { NO_FIXTURES, argsOf, assertCloseLogLikelihoods, caseName, fixturePath, readFixtures } from './helpers.mjs';

const JS_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
const fixtures = NO_FIXTURES ? { models: {}, nameless: { sampler: '', scorer: '' } } : readFixtures();
const run = promisify(execFile);

/** @param {Promise<unknown>} promise @param {string | undefined} option @param {string} message */
async function assertRefused(promise, option, message) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof NamegenError, `not a NamegenError: ${err}`);
    assert.equal(err.option, option);
    assert.ok(err.message.includes(message), `${JSON.stringify(err.message)} does not hold ${JSON.stringify(message)}`);
    return true;
  });
}

for (const [plugin, expected] of Object.entries(fixtures.models)) {
  describe(`${plugin}: Python's names and log-likelihoods`, { skip: NO_FIXTURES }, () => {
    /** @type {import('../types/index.cjs').NamegenModel} */
    let model, warned;
    /** @type {string[]} */
    const warnings = [];
    before(async () => {
      model = await load(fixturePath(expected.sampler));
      warned = await load(fixturePath(expected.sampler), { warn: (message) => warnings.push(message) });
    });
    after(() => Promise.all([model.release(), warned.release()]));

    test('vocabulary, limits and metadata', () => {
      assert.deepEqual(model.vocab, expected.vocab);
      assert.equal(model.maxLen, expected.maxLen);
      assert.equal(model.maxCount, expected.maxCount);
      assert.equal(model.rule, expected.rule);
      assert.equal(model.knownNames, expected.knownNames);
      assert.equal(model.trainingNames, expected.knownNames);
      assert.deepEqual(model.metadata, expected.metadata);
      assert.equal(model.source, fixturePath(expected.sampler));
    });

    for (const sample of expected.samples) {
      test(caseName(sample), async () => {
        const [count, options] = argsOf(sample);
        warnings.length = 0;
        const names = await warned.sample(count, options);
        assert.deepEqual(names, sample.names);
        assert.deepEqual(warnings, sample.short ? [`only ${names.length} of ${count} names met the constraints within the candidate budget (raise maxCandidates, or loosen the constraints)`] : []);
        const drawn = await model.draw(count, options);
        assert.deepEqual(drawn.names, sample.names);
        assert.equal(drawn.found, sample.names.length);
        assert.equal(drawn.short, sample.short);
        assert.equal(drawn.count, count);
        assert.equal(drawn.seed, BigInt.asUintN(62, BigInt(sample.seed)));
        assert.equal(drawn.warning, sample.short ? warnings[0] : undefined);
      });
    }

    test('sample() with no arguments: 10 names, seed 0, temperature 1', async () => {
      const defaults = expected.samples.find((s) => s.count === 10 && s.seed === '0' && s.temperature === 1 && !Object.keys(s.options).length);
      assert.deepEqual(await model.sample(), defaults.names);
    });

    test('logLikelihood, from the scorer beside the sampler', async (t) => {
      const { names, values } = expected.logLikelihood;
      const scores = await model.logLikelihood(names);
      assert.ok(scores instanceof Float32Array);
      t.diagnostic(`max_abs_diff log_likelihood node ${plugin}: ${assertCloseLogLikelihoods(scores, values)}`);
      assert.deepEqual(await model.logLikelihood([]), new Float32Array(0));
      // Alone as in a batch, to float32 rounding (the scorer's sums run over the batch's padded width).
      assertCloseLogLikelihoods(await model.logLikelihood([names[1]]), [scores[1]]);
    });
  });
}

describe('loading', { skip: NO_FIXTURES }, () => {
  const linear = fixtures.models.linear;
  const sampler = () => fixturePath(linear.sampler), scorer = () => fixturePath(linear.scorer);
  const constrained = linear?.samples.find((s) => s.options.prefix === 'ma'); // with a prefix and lengths
  const [count, options] = constrained ? argsOf(constrained) : [];

  test('from bytes, with the scorer as bytes too; from a file: URL; on onnxruntime\'s default threads', async () => {
    const fromBytes = await load(await readFile(sampler()), { scorer: await readFile(scorer()) });
    assert.deepEqual(await fromBytes.sample(count, options), constrained.names);
    assert.equal(fromBytes.source, 'the model');
    assertCloseLogLikelihoods(await fromBytes.logLikelihood(linear.logLikelihood.names), linear.logLikelihood.values);
    const fromUrl = await load(pathToFileURL(sampler()), { threads: 0 });
    assert.deepEqual(await fromUrl.sample(count, options), constrained.names);
    const arrayBuffer = new Uint8Array(await readFile(sampler())).buffer;
    assert.deepEqual(await (await load(arrayBuffer, { threads: 2 })).sample(count, options), constrained.names);
  });

  test('a model loaded from bytes has no scorer unless it is given one', async () => {
    const model = await load(await readFile(sampler()));
    assert.deepEqual(await model.logLikelihood([]), new Float32Array(0)); // nothing to score: no scorer needed
    await assertRefused(model.logLikelihood(['emma']), 'scorer', 'the model has no scorer: a model loaded from bytes needs load\'s scorer option');
  });

  test('missing files: the sampler at once, the scorer on first use', async () => {
    await assertRefused(load('no-such-model.onnx'), 'source', 'cannot read no-such-model.onnx: no such file; write one with `namegen export onnx RUN`');
    await assertRefused(load(42), 'source', 'source must be a file path, a file: URL or the file\'s bytes (Uint8Array), got 42');
    const model = await load(sampler(), { scorer: 'nowhere.scorer.onnx' });
    await assertRefused(model.logLikelihood(['emma']), 'scorer', 'cannot read nowhere.scorer.onnx: no such file');
    await assertRefused(model.logLikelihood(['emma']), 'scorer', 'cannot read nowhere.scorer.onnx'); // tried again, not cached
  });

  test('the scorer of another export, and a scorer given as the sampler, are refused', async () => {
    const mixed = await load(sampler(), { scorer: fixturePath(fixtures.nameless.scorer) });
    await assertRefused(mixed.logLikelihood(['emma']), undefined, `${fixturePath(fixtures.nameless.scorer)} and ${sampler()} come from different exports; export the run again`);
    await assertRefused(load(scorer()), undefined, "is a 'namegen-scorer', not a 'namegen-sampler' (load the sampler, NAME.onnx");
    const swapped = await load(sampler(), { scorer: sampler() }); // the scorer is read on first use
    await assertRefused(swapped.logLikelihood(['emma']), undefined, `${sampler()} is a 'namegen-sampler', not a 'namegen-scorer'`);
  });

  test('an export without known names refuses novel, and samples the rest', async () => {
    const model = await load(fixturePath(fixtures.nameless.sampler));
    assert.equal(model.knownNames, 0);
    await assertRefused(model.sample(5, { novel: true }), 'novel', 'novel needs the known names, and');
    const withNames = await load(sampler());
    assert.deepEqual(await model.sample(10, { seed: 3, distinct: true }), await withNames.sample(10, { seed: 3, distinct: true }));
  });

  test('bad arguments name the option, labelled as the caller asks', async () => {
    const model = await load(sampler(), { label: (option) => `--${option}` });
    await assertRefused(model.sample(5, { prefix: 'é' }), 'prefix', "--prefix 'é' cannot be drawn");
    await assertRefused(model.sample(0), 'count', '--count must be an integer from 1 to 1,000,000, got 0');
    await assertRefused(model.logLikelihood('emma'), 'names', '--names must be a list of strings, not one string');
    await assertRefused(load(sampler(), { threads: -1 }), 'threads', 'threads must be an integer');
  });

  test('the default warning is a process warning named NamegenWarning', async () => {
    const short = linear.samples.find((s) => s.short);
    const [n, opts] = argsOf(short);
    const seen = [];
    const listener = (warning) => seen.push(warning);
    process.on('warning', listener);
    try {
      assert.deepEqual(await (await load(sampler())).sample(n, opts), short.names);
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', listener);
    }
    assert.equal(seen.length, 1);
    assert.equal(seen[0].name, 'NamegenWarning');
    assert.match(seen[0].message, /^only \d+ of 30 names met the constraints/);
  });

  test('scorerPath: NAME.onnx -> NAME.scorer.onnx', () => {
    assert.equal(scorerPath('exports/linear.onnx'), 'exports/linear.scorer.onnx');
    assert.equal(scorerPath('a.b/model'), 'a.b/model.scorer.onnx');
  });

  test('a linked install (npm install ../namegen/js) finds onnxruntime-node beside the app', async () => {
    // The package in a folder of its own, with no node_modules: Node resolves a symlinked
    // package's imports from its real folder, so only the fallback to the app's can work.
    const root = await mkdtemp(join(tmpdir(), 'namegen-linked-'));
    try {
      const pkg = join(root, 'pkg'), app = join(root, 'app');
      await cp(join(JS_DIR, 'src'), join(pkg, 'src'), { recursive: true });
      await cp(join(JS_DIR, 'package.json'), join(pkg, 'package.json'));
      await mkdir(join(app, 'node_modules'), { recursive: true });
      await symlink(pkg, join(app, 'node_modules', 'namegen'), 'dir');
      await symlink(join(JS_DIR, 'node_modules', 'onnxruntime-node'), join(app, 'node_modules', 'onnxruntime-node'), 'dir');
      await writeFile(join(app, 'app.mjs'), `import { load } from 'namegen';\n`
        + `const model = await load(${JSON.stringify(sampler())});\n`
        + `console.log(JSON.stringify(await model.sample(${count}, ${JSON.stringify(options)})));\n`);
      const { stdout, stderr } = await run(process.execPath, ['app.mjs'], { cwd: app });
      assert.equal(stderr, '');
      assert.deepEqual(JSON.parse(stdout), constrained.names);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
