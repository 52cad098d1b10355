// The package's checks, on made-up files: an export's metadata, every argument of sample and
// logLikelihood, load's options. No onnxruntime and no fixtures needed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MAX_CELLS, NamegenError, SAMPLER_FORMAT, checkLoadOptions, checkSample, encodeNames, exportInfo, onnxMetadata, openSampler,
  promoteInitializers, sampleFeeds, shortMessage,
} from '../src/core.js';
import { RULE2_INPUTS, SAMPLER_METADATA, samplerBytes } from './helpers.mjs';

const open = (/** @type {Uint8Array} */ bytes) => openSampler(bytes, 'test.onnx').info;
const INFO = open(samplerBytes());
const kebab = (/** @type {string} */ option) => `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Assert that `run` throws a NamegenError naming `option` whose message holds `message`. */
function assertRefused(run, option, message) {
  assert.throws(run, (err) => {
    assert.ok(err instanceof NamegenError, `not a NamegenError: ${err}`);
    assert.equal(err.name, 'NamegenError');
    assert.equal(err.option, option);
    assert.ok(err.message.includes(message), `${JSON.stringify(err.message)} does not hold ${JSON.stringify(message)}`);
    return true;
  });
}

describe('an export\'s metadata', () => {
  test('is read from the protobuf bytes', () => {
    assert.deepEqual(onnxMetadata(samplerBytes()), SAMPLER_METADATA);
    assert.deepEqual(INFO.vocab, ['.', 'a', 'b', 'c', 'm']);
    assert.equal(INFO.maxLen, 16);
    assert.equal(INFO.maxCount, 1_000_000);
    assert.equal(INFO.knownNames, 3);
    assert.equal(INFO.trainingNames, 3); // the former name
    assert.equal(INFO.rule, 2);
  });

  test('of an export before known_names and exclude: training_names counts them, no exclude input', () => {
    const info = open(samplerBytes({ known_names: undefined, training_names: '5' }, RULE2_INPUTS.filter((name) => name !== 'exclude')));
    assert.equal(info.knownNames, 5);
    assert.deepEqual(info.inputs, RULE2_INPUTS.filter((name) => name !== 'exclude'));
  });

  const damaged = [
    ['bytes that are not protobuf', Uint8Array.from([0xff]), 'test.onnx is not an ONNX file'],
    ['no metadata', samplerBytes({ namegen_format: undefined, vocab: undefined }), 'test.onnx is not a namegen export: its metadata lacks namegen_format, vocab'],
    ['a scorer', samplerBytes({ namegen_format: 'namegen-scorer' }), "test.onnx is a 'namegen-scorer', not a 'namegen-sampler' (load the sampler, NAME.onnx"],
    ['a rule from the future', samplerBytes({ sampling_rule_version: '3' }), 'test.onnx uses sampling rule 3; this namegen package knows rules 1 and 2: update it'],
    ['a vocabulary without the boundary', samplerBytes({ vocab: '"abc"' }), 'test.onnx has damaged metadata: vocab is not a valid vocabulary'],
    ['a vocabulary that is not JSON', samplerBytes({ vocab: '.abc' }), 'vocab is not a valid vocabulary'],
    ['a repeated character', samplerBytes({ vocab: '".aa"' }), 'vocab is not a valid vocabulary'],
    ['max_len not a number', samplerBytes({ max_len: 'x' }), "test.onnx has damaged metadata: max_len must be an integer from 1 to 10,000, got 'x'"],
    ['max_count out of range', samplerBytes({ max_count: '0' }), 'max_count must be an integer from 1 to 1,000,000'],
    ['a constraint input missing', samplerBytes({}, RULE2_INPUTS.filter((name) => name !== 'distinct')), 'test.onnx is damaged: a sampling rule 2 sampler, it lacks the inputs distinct'],
    ['novel without known names', samplerBytes({ known_names: '0' }), 'it has a novel input, but its metadata says it holds no known names'],
  ];
  for (const [what, bytes, message] of damaged) {
    test(`is refused: ${what}`, () => assertRefused(() => openSampler(bytes, 'test.onnx'), undefined, message));
  }

  test('of a rule 1 export: no constraint inputs to promote', () => {
    const { info, model } = openSampler(samplerBytes({ sampling_rule_version: '1' }, []), 'old.onnx');
    assert.equal(info.rule, 1);
    assert.deepEqual(info.inputs, []);
    assert.equal(model.length, samplerBytes({ sampling_rule_version: '1' }, []).length);
  });

  test('of an export without known names: no novel input', () => {
    const info = open(samplerBytes({ known_names: '0', training_names: '0' }, RULE2_INPUTS.filter((name) => name !== 'novel')));
    assert.deepEqual(info.inputs, RULE2_INPUTS.filter((name) => name !== 'novel'));
    assert.equal(info.knownNames, 0);
  });

  test('a scorer is checked as a scorer', () => {
    assert.equal(exportInfo(samplerBytes({ namegen_format: 'namegen-scorer' }), 's', 'namegen-scorer').rule, 2);
    assertRefused(() => exportInfo(samplerBytes(), 's.onnx', 'namegen-scorer'), undefined, "s.onnx is a 'namegen-sampler', not a 'namegen-scorer'");
  });
});

describe('promoteInitializers', () => {
  test('turns the constraint initialisers into plain inputs and leaves the rest', () => {
    const bytes = samplerBytes();
    const { model, promoted } = promoteInitializers(bytes, RULE2_INPUTS);
    assert.deepEqual(promoted, RULE2_INPUTS);
    assert.equal(bytes.length - model.length, RULE2_INPUTS.reduce((sum, name) => sum + name.length + 8, 0)); // each TensorProto: tag, length, name field, 4 value bytes
    assert.deepEqual(onnxMetadata(model), SAMPLER_METADATA);
    assert.deepEqual(promoteInitializers(model, RULE2_INPUTS).promoted, []); // none left
    assert.ok(Buffer.from(model).includes('network/weight')); // not an input: kept
  });

  test('returns the file itself when there is nothing to promote', () => {
    const bytes = samplerBytes({}, []);
    assert.equal(promoteInitializers(bytes, RULE2_INPUTS).model, bytes);
  });
});

describe('sample\'s arguments', () => {
  test('defaults: 10 names, seed 0, temperature 1, no constraint', () => {
    assert.deepEqual(checkSample(INFO, undefined, undefined), { count: 10, seed: 0n, temperature: 1, constraints: null });
    assert.deepEqual(checkSample(INFO, 5, { seed: undefined, maxLen: undefined }), { count: 5, seed: 0n, temperature: 1, constraints: null });
  });

  test('integers as numbers, bigints or text; seeds modulo 2**62; temperatures as float32', () => {
    const request = checkSample(INFO, '20', { seed: ' -1 ', temperature: '0.8' });
    assert.deepEqual(request, { count: 20, seed: 2n ** 62n - 1n, temperature: Math.fround(0.8), constraints: null });
    assert.equal(checkSample(INFO, 3n, { seed: 2n ** 62n + 5n }).seed, 5n);
    assert.equal(checkSample(INFO, 3, { seed: '+7' }).seed, 7n);
    assert.equal(checkSample(INFO, 3, { temperature: 0.1 }).temperature, Math.fround(0.1));
    // float32's extremes are accepted, as in Python: the graph clamps into exactly this range
    assert.equal(checkSample(INFO, 3, { temperature: 3.4028234663852886e38 }).temperature, 3.4028234663852886e38);
    assert.equal(checkSample(INFO, 3, { temperature: 2 ** -149 }).temperature, 2 ** -149);
  });

  test('constraints become token ids and the defaults of the rest', () => {
    const { constraints } = checkSample(INFO, 4, { prefix: 'ma', minLen: '3', novel: '1', distinct: 'false' });
    assert.deepEqual(constraints, {
      prefix: [4, 1], suffix: [], contains: [], minLen: 3n, maxLen: 16n, novel: true, exclude: [], distinct: false, maxCandidates: 0n,
    });
    assert.deepEqual(checkSample(INFO, 4, { prefix: '' }).constraints?.prefix, []); // given, though empty: rule 2
  });

  test('exclude keeps the names the model can draw, once each', () => {
    // 'Ma' (no case folding), 'é', 'm.a' and '' can never be drawn: left out, not an error
    const { constraints } = checkSample(INFO, 4, { exclude: ['ma', 'Ma', 'é', 'm.a', '', 'ma', 'cab'] });
    assert.deepEqual(constraints?.exclude, ['ma', 'cab']);
    assert.deepEqual(checkSample(INFO, 4, { exclude: new Set(['b']) }).constraints?.exclude, ['b']);
    assert.deepEqual(checkSample(INFO, 4, { exclude: [] }).constraints?.exclude, []);
  });

  const bad = [
    [0, {}, 'count', 'count must be an integer from 1 to 1,000,000, got 0'],
    ['abc', {}, 'count', "count must be an integer from 1 to 1,000,000, got 'abc'"],
    [1_000_001, {}, 'count', 'count must be an integer from 1 to 1,000,000, got 1000001'],
    [1.5, {}, 'count', 'got 1.5'],
    [true, {}, 'count', 'got true'],
    [null, {}, 'count', 'got null'],
    [5, { seed: 1.5 }, 'seed', 'seed must be an integer, got 1.5'],
    [5, { seed: null }, 'seed', 'seed must be an integer, got null'],
    [5, { seed: 2 ** 60 }, 'seed', 'a number beyond 2**53, which has lost digits: pass a bigint or a string of digits'],
    [5, { seed: '1e3' }, 'seed', "seed must be an integer, got '1e3'"],
    [5, { temperature: 0 }, 'temperature', "temperature must be a positive number at most 3.4028234663852886e+38 (float32's largest), got 0"],
    [5, { temperature: 'nan' }, 'temperature', "got 'nan'"],
    [5, { temperature: -1 }, 'temperature', 'got -1'],
    [5, { temperature: 1e-50 }, 'temperature', 'got 1e-50'], // 0 as a float32, as Python says
    [5, { temperature: '1e39' }, 'temperature', "got '1e39'"], // infinite as a float32
    [5, { temperature: Infinity }, 'temperature', 'got Infinity'],
    [5, { temperature: 3.5e38 }, 'temperature',  // infinite as a float32; a number, not an integer that lost digits
      "temperature must be a positive number at most 3.4028234663852886e+38 (float32's largest), got 3.5e+38"],
    [5, { prefix: 'é' }, 'prefix', "prefix 'é' cannot be drawn: character 'é' in 'é' is not in the model's vocabulary ('abcm')"],
    [5, { prefix: 'm.a' }, 'prefix', "prefix 'm.a' cannot be drawn: character '.'"], // the boundary is never part of a name
    [5, { suffix: 5 }, 'suffix', 'suffix must be a string, got 5'],
    [5, { contains: 'a b' }, 'contains', "contains 'a b' cannot be drawn: character ' '"],
    [5, { minLen: 9, maxLen: 8 }, 'minLen', 'minLen must be an integer from 1 to maxLen (8), got 9'],
    [5, { minLen: 0 }, 'minLen', 'minLen must be an integer from 1 to maxLen (16), got 0'],
    [5, { minLen: 'x' }, 'minLen', "got 'x'"],
    [5, { prefix: 'abc', maxLen: 3 }, 'maxLen', 'maxLen must be an integer from 4 (longer than the prefix) to 10,000, got 3'],
    [5, { maxLen: 10_001 }, 'maxLen', 'maxLen must be an integer from 1 (longer than the prefix) to 10,000, got 10001'],
    [1_000_000, { maxLen: 100 }, 'maxLen', `maxLen 100 is too long for 1,000,000 names in one call (count x maxLen at most ${MAX_CELLS.toLocaleString('en-US')})`],
    [5, { maxCandidates: 0 }, 'maxCandidates', 'maxCandidates must be an integer from 1 to 1,000,000, got 0'],
    [5, { maxCandidates: 1_000_001 }, 'maxCandidates', 'got 1000001'],
    [5, { novel: 'yes' }, 'novel', "novel must be true or false (1 or 0), got 'yes'"],
    [5, { distinct: 2 }, 'distinct', 'distinct must be true or false (1 or 0), got 2'],
    [5, { exclude: 'ma' }, 'exclude', "exclude must be a list of names, not one string ('ma')"],
    [5, { exclude: 5 }, 'exclude', 'exclude must be a list of names (strings), got 5'],
    [5, { exclude: ['ma', null] }, 'exclude', 'exclude must hold names (strings), got null'],
    [5, { min_len: 3 }, 'min_len', 'min_len is not an option of sample (its options: seed, temperature, prefix, suffix, contains, minLen, maxLen, novel, exclude, distinct, maxCandidates); did you mean minLen?'],
    [5, { count: 3 }, 'count', 'count is not an option of sample'], // the count is sample's first argument
    [5, 'ma', 'options', "options must be an object of options, got 'ma'"],
    [5, [1], 'options', 'options must be an object of options, got an array'],
  ];
  for (const [count, options, option, message] of bad) {
    test(`refuses ${String(count)}, ${JSON.stringify(options)}`, () => assertRefused(() => checkSample(INFO, count, options), option, message));
  }

  test('messages name the options as the caller labels them', () => {
    assertRefused(() => checkSample(INFO, 5, { minLen: 9, maxLen: 8 }, kebab), 'minLen', '--min-len must be an integer from 1 to --max-len (8), got 9');
    assertRefused(() => checkSample(INFO, 0, {}, kebab), 'count', '--count must be an integer');
    assert.equal(shortMessage(3, 30, kebab), 'only 3 of 30 names met the constraints within the candidate budget (raise --max-candidates, or loosen the constraints)');
    assert.equal(shortMessage(1234, 5000), 'only 1,234 of 5,000 names met the constraints within the candidate budget (raise maxCandidates, or loosen the constraints)');
  });

  test('count x max_len stays within MAX_CELLS without constraints too, as in Python', () => {
    const long = open(samplerBytes({ max_len: '100' }));
    assertRefused(() => checkSample(long, 1_000_000, {}), 'count', 'count must be at most 671,088 for names of up to 100 characters (the export\'s max_len');
    assert.equal(checkSample(long, 671_088, {}).count, 671_088);
  });

  test('the limits an export records are the ones its calls are checked against', () => {
    assert.deepEqual(INFO.limits, { maxNameLen: 10_000, maxCells: 2 ** 26, maxCandidates: 1_000_000 }); // an export before limits
    const small = open(samplerBytes({ limits: JSON.stringify({ max_name_len: 50, max_cells: 1000, max_candidates: 200 }) }));
    assert.deepEqual(small.limits, { maxNameLen: 50, maxCells: 1000, maxCandidates: 200 });
    assertRefused(() => checkSample(small, 100, {}), 'count', 'count must be at most 62 for names of up to 16 characters');
    assertRefused(() => checkSample(small, 5, { maxLen: 51 }), 'maxLen', 'maxLen must be an integer from 1 (longer than the prefix) to 50, got 51');
    assertRefused(() => checkSample(small, 5, { maxCandidates: 201 }), 'maxCandidates', 'maxCandidates must be an integer from 1 to 200, got 201');
    for (const limits of ['{"max_cells": 5}', 'x', '{"max_name_len": 0, "max_cells": 1, "max_candidates": 1}']) {
      assertRefused(() => open(samplerBytes({ limits })), undefined, 'test.onnx has damaged metadata: limits must be a JSON object of positive integers');
    }
  });

  test('a rule 1 export refuses every constraint, even an empty one', () => {
    const old = open(samplerBytes({ sampling_rule_version: '1' }, []));
    assert.equal(checkSample(old, 5, { seed: 3 }).seed, 3n);
    assertRefused(() => checkSample(old, 5, { prefix: '' }), 'prefix', 'prefix needs sampling rule 2, and test.onnx was exported before namegen had constraints (rule 1); export it again');
    assertRefused(() => checkSample(old, 5, { distinct: false }), 'distinct', 'distinct needs sampling rule 2');
  });

  test('novel needs an export that holds the known names', () => {
    const nameless = open(samplerBytes({ known_names: '0', training_names: '0' }, RULE2_INPUTS.filter((name) => name !== 'novel')));
    assertRefused(() => checkSample(nameless, 5, { novel: true }), 'novel', 'novel needs the known names, and test.onnx holds none');
    assert.equal(checkSample(nameless, 5, { novel: false, distinct: true }).constraints?.novel, false);
  });

  test('exclude needs an export with the exclude input', () => {
    const old = open(samplerBytes({ known_names: undefined }, RULE2_INPUTS.filter((name) => name !== 'exclude')));
    assertRefused(() => checkSample(old, 5, { exclude: ['ma'] }), 'exclude',
      'exclude needs an export with an exclude input, and test.onnx was exported before namegen had it; export it again');
    assert.deepEqual(checkSample(old, 5, { exclude: ['é'] }).constraints?.exclude, []); // nothing it can draw: nothing to feed
  });
});

describe('the sampler\'s feeds', () => {
  class Tensor {
    constructor(type, data, dims) { Object.assign(this, { type, data: Array.from(data), dims }); }
  }
  const ort = { Tensor };

  test('rule 2: every constraint input, their defaults when none is given', () => {
    const { feeds, fetches } = sampleFeeds(ort, INFO, checkSample(INFO, 7, { seed: 2, temperature: 0.5 }));
    assert.deepEqual(fetches, ['names', 'found']);
    assert.deepEqual(Object.keys(feeds), ['seed', 'count', 'temperature', ...RULE2_INPUTS]);
    assert.deepEqual(feeds.seed, new Tensor('int64', [2n], []));
    assert.deepEqual(feeds.count, new Tensor('int64', [7n], []));
    assert.deepEqual(feeds.temperature, new Tensor('float32', [0.5], []));
    assert.deepEqual(feeds.prefix, new Tensor('int64', [], [0]));
    assert.deepEqual(feeds.max_len, new Tensor('int64', [16n], []));
    assert.deepEqual(feeds.min_len, new Tensor('int64', [1n], []));
    assert.deepEqual(feeds.novel, new Tensor('bool', [0], []));
    assert.deepEqual(feeds.exclude, new Tensor('string', [], [0]));
    assert.deepEqual(feeds.max_candidates, new Tensor('int64', [0n], []));
  });

  test('rule 2: the constraints given', () => {
    const { feeds } = sampleFeeds(ort, INFO, checkSample(INFO, 7, { prefix: 'ma', contains: 'b', maxLen: 9, distinct: true, maxCandidates: 500, exclude: ['mab', 'x'] }));
    assert.deepEqual(feeds.exclude, new Tensor('string', ['mab'], [1]));
    assert.deepEqual(feeds.prefix, new Tensor('int64', [4n, 1n], [2]));
    assert.deepEqual(feeds.contains, new Tensor('int64', [2n], [1]));
    assert.deepEqual(feeds.max_len, new Tensor('int64', [9n], []));
    assert.deepEqual(feeds.distinct, new Tensor('bool', [1], []));
    assert.deepEqual(feeds.max_candidates, new Tensor('int64', [500n], []));
  });

  test('no novel input where the export has none; rule 1 has only the three scalars', () => {
    const nameless = open(samplerBytes({ known_names: '0' }, RULE2_INPUTS.filter((name) => name !== 'novel')));
    assert.ok(!('novel' in sampleFeeds(ort, nameless, checkSample(nameless, 3, {})).feeds));
    const before = open(samplerBytes({}, RULE2_INPUTS.filter((name) => name !== 'exclude')));
    assert.ok(!('exclude' in sampleFeeds(ort, before, checkSample(before, 3, {})).feeds));
    const old = open(samplerBytes({ sampling_rule_version: '1' }, []));
    const { feeds, fetches } = sampleFeeds(ort, old, checkSample(old, 3, {}));
    assert.deepEqual(Object.keys(feeds), ['seed', 'count', 'temperature']);
    assert.deepEqual(fetches, ['names']);
  });
});

describe('logLikelihood\'s names', () => {
  test('become token ids', () => {
    assert.deepEqual(encodeNames(INFO, ['ma', 'cab']), [[4, 1], [3, 1, 2]]);
    assert.deepEqual(encodeNames(INFO, new Set(['a'])), [[1]]);
    assert.deepEqual(encodeNames(INFO, []), []);
  });

  const bad = [
    ['emma', 'names must be a list of strings, not one string'],
    [5, 'names must be a list of strings, got 5'],
    [undefined, 'names must be a list of strings, got undefined'],
    [[''], "names must be non-empty strings, got ''"],
    [['ab', null], 'names must be non-empty strings, got null'],
    [['ax'], "names 'ax' cannot be scored: character 'x' in 'ax' is not in the model's vocabulary ('abcm')"],
    [['a.b'], "character '.' in 'a.b'"],
  ];
  for (const [names, message] of bad) {
    test(`refuses ${JSON.stringify(names)}`, () => assertRefused(() => encodeNames(INFO, names), 'names', message));
  }
});

describe('load\'s options', () => {
  test('are checked', () => {
    assert.deepEqual(checkLoadOptions(undefined), {});
    assert.equal(checkLoadOptions({ threads: 0, scorer: 'x.scorer.onnx' }).threads, 0);
    assertRefused(() => checkLoadOptions({ threads: -1 }), 'threads', "threads must be an integer from 0 (onnxruntime's default), got -1");
    assertRefused(() => checkLoadOptions({ threads: '2' }), 'threads', "got '2'");
    assertRefused(() => checkLoadOptions({ thread: 2 }), 'thread', 'thread is not an option of load (its options: scorer, threads, ort, label, warn)');
    assertRefused(() => checkLoadOptions({ label: 'x' }), 'label', "label must be a function, got 'x'");
    assertRefused(() => checkLoadOptions({ warn: true }), 'warn', 'warn must be a function, got true');
    assertRefused(() => checkLoadOptions({ ort: {} }), 'ort', 'ort must be an onnxruntime module');
    assertRefused(() => checkLoadOptions(null), 'options', 'options must be an object of options, got null');
  });
});

test('SAMPLER_FORMAT is what exports write', () => assert.equal(SAMPLER_FORMAT, 'namegen-sampler'));
