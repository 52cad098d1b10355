// The namegen sampler's interface for JavaScript clients, shared by examples/node/generate.mjs
// (imported as ../web/sampler.mjs) and examples/web/app.js. No dependencies: the caller passes
// its onnxruntime module (onnxruntime-node or onnxruntime-web) to `sampleFeeds`.
//
//   const { info, model } = openSampler(bytes, 'linear.onnx');  // throws SamplerFileError
//   const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
//   const { feeds, fetches, count } = sampleFeeds(ort, info, { count: 20, seed: 7, prefix: 'ma' });  // throws SamplerArgumentError
//   const { names, found } = readNames(await session.run(feeds, fetches));  // found < count: the budget ran out
//
// The checks are those of Python's namegen.runtime (ExportedModel.feeds and
// namegen.sampling.check_constraints), in the same order and with the same ranges, so a value
// Python refuses is refused here with a message naming the input, and a value Python accepts
// becomes the same graph inputs: the names are then exactly Python's.

/** The sampling rules this module knows: 1 (seed, count, temperature) and 2 (rule 1 plus constraints). */
export const KNOWN_RULES = [1, 2];
export const SAMPLER_FORMAT = 'namegen-sampler';
export const BOUNDARY = '.'; // token 0: starts and ends every name; never a character of one
export const MAX_LEN = 10_000; // namegen.sampling.MAX_LEN: the longest name a sampler may draw
export const MAX_CELLS = 2 ** 26; // namegen.sampling.MAX_CELLS: count * max_len at most
export const MAX_CANDIDATES = 100_000_000; // namegen.sampling.MAX_CANDIDATES
/** The clients' defaults, as Python's. */
export const DEFAULTS = Object.freeze({ count: 10, seed: 0, temperature: 1.0 });
/** Rule 2's arguments (Python's keyword names), in the order Python checks them. */
export const CONSTRAINTS = Object.freeze(['prefix', 'suffix', 'contains', 'min_len', 'max_len', 'novel', 'distinct', 'max_candidates']);

/** A bad argument: the caller's mistake (a command line's exit status 2). `input` names it. */
export class SamplerArgumentError extends Error {
  /** @param {string} input @param {string} message */
  constructor(input, message) {
    super(message);
    this.name = 'SamplerArgumentError';
    this.input = input;
  }
}

/** A file that is not a sampler this module can run (or whose metadata is damaged). */
export class SamplerFileError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'SamplerFileError';
  }
}

/**
 * The fields of the protobuf message in bytes[start:end], in order. For a length-delimited
 * field (wire type 2) `start`..`end` is its payload; `at` is where its tag begins.
 * @param {Uint8Array} bytes @param {number} start @param {number} end
 * @returns {Generator<{field: number, wire: number, at: number, start: number, end: number}>}
 */
function* protoFields(bytes, start, end) {
  let pos = start;
  const varint = () => { // protobuf base-128 varint (a Number: fine for lengths and tags)
    let value = 0;
    for (let scale = 1; ; scale *= 128) {
      if (pos >= end) throw new SamplerFileError('not an ONNX file (it ends inside a protobuf field)');
      const byte = bytes[pos++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
    }
  };
  while (pos < end) {
    const at = pos, tag = varint(), field = Math.floor(tag / 8), wire = tag % 8;
    let body = pos;
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) { const n = varint(); body = pos; pos += n; }
    else throw new SamplerFileError(`not an ONNX file (protobuf wire type ${wire})`);
    if (pos > end) throw new SamplerFileError('not an ONNX file (a protobuf field runs past its end)');
    yield { field, wire, at, start: body, end: pos };
  }
}

const decoder = new TextDecoder();

/** The first length-delimited field `field` of a message, as text. @param {Uint8Array} bytes @param {number} start @param {number} end @param {number} field */
function textField(bytes, start, end, field) {
  for (const f of protoFields(bytes, start, end)) {
    if (f.field === field && f.wire === 2) return decoder.decode(bytes.subarray(f.start, f.end));
  }
  return undefined;
}

/**
 * metadata_props of an ONNX file, as {key: value}. onnxruntime's JavaScript API does not expose
 * them, so walk the top level of the ModelProto protobuf: field 14 holds
 * StringStringEntryProto {1: key, 2: value}.
 * @param {Uint8Array} bytes the whole .onnx file
 * @returns {Record<string, string>}
 */
export function onnxMetadata(bytes) {
  /** @type {Record<string, string>} */
  const meta = {};
  for (const f of protoFields(bytes, 0, bytes.length)) {
    if (f.field === 14 && f.wire === 2) meta[textField(bytes, f.start, f.end, 1) ?? ''] = textField(bytes, f.start, f.end, 2) ?? '';
  }
  return meta;
}

/**
 * The model with the initialisers named in `names` that are also graph inputs (ONNX's
 * overridable initialisers) turned into plain graph inputs, which a caller must then feed.
 *
 * Why: rule 2's constraints are such initialisers, and onnxruntime's JavaScript APIs cannot
 * override one: they take only the inputs that no initialiser backs (onnxruntime-node 1.30
 * silently drops any other feed, so the constraints would be ignored; onnxruntime-web throws
 * "invalid input"). Python's onnxruntime can, which is how namegen.runtime feeds them.
 * @param {Uint8Array} bytes the whole .onnx file
 * @param {readonly string[]} names
 * @returns {{model: Uint8Array, promoted: string[]}} `promoted`: the names turned into inputs
 */
export function promoteInitializers(bytes, names) {
  const graphs = [...protoFields(bytes, 0, bytes.length)].filter((f) => f.field === 7 && f.wire === 2); // ModelProto.graph
  if (graphs.length !== 1) throw new SamplerFileError(`not an ONNX model (it has ${graphs.length} graphs)`);
  const [graph] = graphs;
  const inputs = new Set();
  for (const f of protoFields(bytes, graph.start, graph.end)) { // GraphProto.input: ValueInfoProto {1: name}
    if (f.field === 11 && f.wire === 2) inputs.add(textField(bytes, f.start, f.end, 1));
  }
  /** @type {Uint8Array[]} */
  const parts = [];
  /** @type {string[]} */
  const promoted = [];
  let kept = graph.start;
  for (const f of protoFields(bytes, graph.start, graph.end)) { // GraphProto.initializer: TensorProto {8: name}
    if (f.field !== 5 || f.wire !== 2) continue;
    const name = textField(bytes, f.start, f.end, 8) ?? '';
    if (!names.includes(name) || !inputs.has(name)) continue;
    parts.push(bytes.subarray(kept, f.at)); // drop the initialiser: its input stays declared
    kept = f.end;
    promoted.push(name);
  }
  if (!promoted.length) return { model: bytes, promoted };
  parts.push(bytes.subarray(kept, graph.end));
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const head = [0x3a, ...varintBytes(length)]; // field 7, wire type 2
  const model = new Uint8Array(graph.at + head.length + length + (bytes.length - graph.end));
  let pos = 0;
  for (const part of [bytes.subarray(0, graph.at), head, ...parts, bytes.subarray(graph.end)]) {
    model.set(part, pos);
    pos += part.length;
  }
  return { model, promoted };
}

/** @param {number} n @returns {number[]} n as a protobuf varint */
function varintBytes(n) {
  const out = [];
  for (; n >= 128; n = Math.floor(n / 128)) out.push((n % 128) | 128);
  out.push(n);
  return out;
}

/**
 * Open a namegen sampler export: check its metadata as Python's namegen.runtime does (format
 * namegen-sampler, a sampling rule this module knows, an intact vocabulary and limits) and
 * give the model bytes to create the onnxruntime session from (rule 2's constraint inputs
 * made plain inputs: see `promoteInitializers`).
 * @param {Uint8Array} bytes the whole .onnx file
 * @param {string} [source] how messages name the file
 * @returns {{info: SamplerInfo, model: Uint8Array}}
 * @throws {SamplerFileError}
 */
export function openSampler(bytes, source = 'the model') {
  const info = samplerInfo(onnxMetadata(bytes), source);
  if (info.rule < 2) return { info, model: bytes };
  const { model, promoted } = promoteInitializers(bytes, CONSTRAINTS);
  const expected = CONSTRAINTS.filter((name) => name !== 'novel' || info.trainingNames > 0);
  const missing = expected.filter((name) => !promoted.includes(name));
  if (missing.length) throw new SamplerFileError(`${source} is damaged: a sampling rule 2 sampler, it lacks the inputs ${missing.join(', ')}`);
  if (promoted.length !== expected.length) {
    throw new SamplerFileError(`${source} is damaged: it has a novel input, but its metadata says it holds no training names`);
  }
  info.inputs = promoted;
  return { info, model };
}

/**
 * @typedef {object} SamplerInfo
 * @property {number} rule            sampling_rule_version: 1 (no constraint inputs) or 2
 * @property {string[]} vocab         the characters; token id = index, vocab[0] is the boundary '.'
 * @property {number} maxLen          the export's default max_len
 * @property {number} maxCount        most names per call
 * @property {number} trainingNames   training names the export holds for `novel` (0: none)
 * @property {Record<string, string>} metadata  all of metadata_props
 * @property {string} source          how messages name the file
 * @property {string[]} [inputs]      rule 2's inputs in the model `openSampler` gives (fed on every run)
 */

/**
 * Check that `meta` (from `onnxMetadata`) is a namegen sampler of a known rule, as Python's
 * namegen.runtime does, and return what sampling needs from it.
 * @param {Record<string, string>} meta
 * @param {string} [source] how messages name the file
 * @returns {SamplerInfo}
 * @throws {SamplerFileError}
 */
function samplerInfo(meta, source = 'the model') {
  if (meta.namegen_format !== SAMPLER_FORMAT) {
    const what = meta.namegen_format === undefined ? 'it has no namegen_format metadata' : `it is a ${quote(meta.namegen_format)}`;
    throw new SamplerFileError(`${source} is not a namegen sampler export (${what})`);
  }
  const missing = ['vocab', 'max_len', 'max_count', 'sampling_rule_version'].filter((key) => !(key in meta));
  if (missing.length) throw new SamplerFileError(`${source} is not a namegen export: its metadata lacks ${missing.join(', ')}`);
  const int = (/** @type {string} */ key, /** @type {number} */ low, /** @type {number} */ high) => {
    const value = /^\s*[+-]?\d+\s*$/.test(meta[key]) ? Number(meta[key]) : NaN;
    if (!(value >= low && value <= high)) {
      throw new SamplerFileError(`${source} has damaged metadata: ${key} must be an integer from ${fmt(low)} to ${fmt(high)}, got ${quote(meta[key])}`);
    }
    return value;
  };
  const rule = int('sampling_rule_version', 1, 2 ** 31);
  if (!KNOWN_RULES.includes(rule)) {
    throw new SamplerFileError(`${source} uses sampling rule ${rule}; this client knows rules ${KNOWN_RULES.join(' and ')}: update it`);
  }
  let vocab;
  try {
    const chars = JSON.parse(meta.vocab);
    if (typeof chars !== 'string') throw new Error('not a JSON string');
    vocab = Array.from(chars); // code points, as Python iterates a str
    if (vocab.length > 256 || vocab[0] !== BOUNDARY || new Set(vocab).size !== vocab.length) {
      throw new Error(`at most 256 distinct characters, starting with ${quote(BOUNDARY)}`);
    }
  } catch (err) {
    throw new SamplerFileError(`${source} has damaged metadata: vocab is not a valid vocabulary (${/** @type {Error} */ (err).message})`);
  }
  return {
    rule, vocab, source, metadata: meta,
    maxLen: int('max_len', 1, MAX_LEN),
    maxCount: int('max_count', 1, 1_000_000),
    trainingNames: 'training_names' in meta ? int('training_names', 0, 2 ** 40) : 0,
  };
}

/**
 * A request for names. Integers may be numbers, bigints or strings of digits (a command line's
 * or a form's text); flags may be booleans or '1' / '0' / 'true' / 'false'. Omitted (undefined)
 * means the default; a constraint given at all (even an empty prefix) needs a rule 2 export,
 * as in Python.
 * @typedef {object} SampleArgs
 * @property {number|bigint|string} [count]         1 .. max_count (default 10)
 * @property {number|bigint|string} [seed]          any integer, taken modulo 2**62 (default 0)
 * @property {number|string} [temperature]          > 0 and finite as a float32 (default 1.0)
 * @property {string} [prefix]                      every name starts with it
 * @property {string} [suffix]                      every name ends with it
 * @property {string} [contains]                    every name contains it
 * @property {number|bigint|string} [min_len]       1 .. max_len (default 1)
 * @property {number|bigint|string} [max_len]       len(prefix) + 1 .. 10,000 (default: the export's)
 * @property {boolean|string} [novel]               no training name (needs an export that holds them)
 * @property {boolean|string} [distinct]            no name twice
 * @property {number|bigint|string} [max_candidates] 1 .. 100,000,000 (default: the sampler's budget)
 */

/**
 * @typedef {object} SampleRequest
 * @property {Record<string, unknown>} feeds   the graph inputs, for session.run
 * @property {string[]} fetches                the outputs to ask for
 * @property {number} count                    names asked for
 * @property {bigint} seed                     the seed fed (0 <= seed < 2**62)
 * @property {number} temperature              the float32 fed
 * @property {boolean} constrained             whether any rule 2 input was given
 */

/**
 * Validate `args` against the export and build the sampler's inputs.
 * @param {{Tensor: new (type: any, data: any, dims: number[]) => unknown}} ort onnxruntime-node or onnxruntime-web
 * @param {SamplerInfo} info from `openSampler`
 * @param {SampleArgs} args
 * @param {{label?: (input: string) => string}} [options] `label` names an input in messages
 *   (e.g. 'min_len' -> '--min-len' on a command line); the default is the input's own name.
 * @returns {SampleRequest}
 * @throws {SamplerArgumentError}
 */
export function sampleFeeds(ort, info, args, { label = (input) => input } = {}) {
  const { fail, given, arg } = checker(args, label);
  const scalar = (/** @type {string} */ type, /** @type {any} */ ArrayType, /** @type {unknown} */ value) => new ort.Tensor(type, ArrayType.from([value]), []);
  const tokens = (/** @type {number[]} */ ids) => new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [ids.length]);

  const countArg = arg('count', DEFAULTS.count);
  const count = integer(countArg);
  if (count === null || count < 1n || count > BigInt(info.maxCount)) fail('count', `must be an integer from 1 to ${fmt(info.maxCount)}, got ${show(countArg)}`);
  const seedArg = arg('seed', DEFAULTS.seed);
  const seed = integer(seedArg);
  if (seed === null) fail('seed', `must be an integer, got ${show(seedArg)}`);
  const temperatureArg = arg('temperature', DEFAULTS.temperature);
  const temperature = float32(temperatureArg);
  if (!(temperature > 0) || !Number.isFinite(temperature)) fail('temperature', `must be a positive number, got ${show(temperatureArg)}`);

  const n = /** @type {bigint} */ (count), seed62 = BigInt.asUintN(62, /** @type {bigint} */ (seed)); // seeds are taken modulo 2**62
  /** @type {Record<string, unknown>} */
  const feeds = {
    seed: scalar('int64', BigInt64Array, seed62),
    count: scalar('int64', BigInt64Array, n),
    temperature: scalar('float32', Float32Array, temperature),
  };
  const first = CONSTRAINTS.find(given);
  if (info.rule < 2) {
    if (first !== undefined) fail(first, `needs sampling rule 2, and ${info.source} was exported before namegen had constraints (rule ${info.rule}); export it again`);
    return { feeds, fetches: ['names'], count: Number(n), seed: seed62, temperature, constrained: false };
  }
  if (!info.inputs) throw new TypeError('sampleFeeds needs the info of openSampler, whose model takes the constraint inputs');
  // Rule 2's inputs are fed on every run (the model of openSampler requires them); their
  // defaults, Python's `constraint_inputs`, mean "no constraint". Like Python, check them only
  // when a constraint is given.
  const rule = first === undefined ? noConstraints(info) : checkConstraints(info, n, args, label);
  Object.assign(feeds, {
    prefix: tokens(rule.prefix), suffix: tokens(rule.suffix), contains: tokens(rule.contains),
    min_len: scalar('int64', BigInt64Array, rule.min_len), max_len: scalar('int64', BigInt64Array, rule.max_len),
    novel: scalar('bool', Uint8Array, rule.novel ? 1 : 0), distinct: scalar('bool', Uint8Array, rule.distinct ? 1 : 0),
    max_candidates: scalar('int64', BigInt64Array, rule.max_candidates),
  });
  for (const name of CONSTRAINTS) if (!info.inputs.includes(name)) delete feeds[name]; // novel: only in exports with training names
  return { feeds, fetches: ['names', 'found'], count: Number(n), seed: seed62, temperature, constrained: first !== undefined };
}

/**
 * @typedef {object} Constraints rule 2's graph inputs, as values
 * @property {number[]} prefix @property {number[]} suffix @property {number[]} contains token ids
 * @property {bigint} min_len @property {bigint} max_len @property {bigint} max_candidates 0: the default budget
 * @property {boolean} novel @property {boolean} distinct
 */

/** The inputs' defaults (Python's exports.onnx.constraint_inputs). @param {SamplerInfo} info @returns {Constraints} */
function noConstraints(info) {
  return { prefix: [], suffix: [], contains: [], min_len: 1n, max_len: BigInt(info.maxLen), novel: false, distinct: false, max_candidates: 0n };
}

/**
 * Rule 2's arguments, checked as Python's namegen.sampling.check_constraints checks them.
 * @param {SamplerInfo} info @param {bigint} n the count, checked @param {SampleArgs} args
 * @param {(input: string) => string} label
 * @returns {Constraints}
 */
function checkConstraints(info, n, args, label) {
  const { fail, given, arg } = checker(args, label);

  /** @type {Record<string, number[]>} */
  const text = {};
  for (const key of ['prefix', 'suffix', 'contains']) {
    const value = arg(/** @type {keyof SampleArgs} */ (key), '');
    if (typeof value !== 'string') fail(key, `must be a string, got ${show(value)}`);
    text[key] = Array.from(value, (ch) => {
      const id = info.vocab.indexOf(ch);
      if (id < 1) fail(key, `${quote(value)} cannot be drawn: character ${quote(ch)} in ${quote(value)} is not in the model's vocabulary (${quote(info.vocab.slice(1).join(''))})`);
      return id;
    });
  }
  const novel = flag(args.novel), distinct = flag(args.distinct);
  if (novel === null) fail('novel', `must be true or false (1 or 0), got ${show(args.novel)}`);
  if (distinct === null) fail('distinct', `must be true or false (1 or 0), got ${show(args.distinct)}`);

  const maxLenArg = arg('max_len', info.maxLen);
  const maxLen = integer(maxLenArg), shortest = BigInt(text.prefix.length + 1);
  if (maxLen === null || maxLen < shortest || maxLen > BigInt(MAX_LEN)) {
    fail('max_len', `must be an integer from ${shortest} (longer than the prefix) to ${fmt(MAX_LEN)}, got ${show(maxLenArg)}`);
  }
  const longest = /** @type {bigint} */ (maxLen);
  if (n * longest > BigInt(MAX_CELLS)) {
    fail('max_len', `${fmt(longest)} is too long for ${fmt(n)} names in one call (${label('count')} x ${label('max_len')} `
      + `at most ${fmt(MAX_CELLS)}); draw fewer names per call or lower ${label('max_len')}`);
  }
  const minLen = given('min_len') ? integer(args.min_len) : 1n;
  if (minLen === null || minLen < 1n || minLen > longest) fail('min_len', `must be an integer from 1 to ${label('max_len')} (${fmt(longest)}), got ${show(args.min_len)}`);
  const maxCandidates = given('max_candidates') ? integer(args.max_candidates) : 0n;
  if (given('max_candidates') && (maxCandidates === null || maxCandidates < 1n || maxCandidates > BigInt(MAX_CANDIDATES))) {
    fail('max_candidates', `must be an integer from 1 to ${fmt(MAX_CANDIDATES)}, got ${show(args.max_candidates)}`);
  }
  if (novel && !info.trainingNames) {
    fail('novel', `needs the training names, and ${info.source} holds none (it was exported with --no-training-names)`);
  }

  return {
    prefix: text.prefix, suffix: text.suffix, contains: text.contains, min_len: /** @type {bigint} */ (minLen), max_len: longest,
    novel: Boolean(novel), distinct: Boolean(distinct), max_candidates: /** @type {bigint} */ (maxCandidates),
  };
}

/**
 * The names a run gave, and how many met the constraints: `found` < the count asked for when
 * the candidate budget ran out (rule 1 exports have no `found`: every name counts).
 * @param {Record<string, {data: unknown}>} results session.run's outputs for `fetches`
 * @returns {{names: string[], found: number}}
 */
export function readNames(results) {
  const names = Array.from(/** @type {Iterable<string>} */ (results.names.data));
  const found = results.found ? Number(/** @type {ArrayLike<bigint>} */ (results.found.data)[0]) : names.length;
  return { names, found };
}

/**
 * Python's warning (namegen.errors.warn_short) when fewer names than asked for came back.
 * @param {number} found @param {number} count
 * @param {(input: string) => string} [label] as for `sampleFeeds`
 */
export function shortMessage(found, count, label = (input) => input) {
  return `only ${fmt(found)} of ${fmt(count)} names met the constraints within the candidate budget `
    + `(raise ${label('max_candidates')}, or loosen the constraints)`;
}

// ---------------------------------------------------------------------------- helpers

/** What the checks of `args` share. @param {SampleArgs} args @param {(input: string) => string} label */
function checker(args, label) {
  return {
    /** @param {string} input @param {string} message @returns {never} */
    fail: (input, message) => { throw new SamplerArgumentError(input, `${label(input)} ${message}`); },
    /** Whether the caller gave `key` (undefined: not given). @param {string} key */
    given: (key) => args[/** @type {keyof SampleArgs} */ (key)] !== undefined,
    /** `key`'s value, or `fallback` when not given (null is a value, and a bad one, as Python's None). */
    arg: (/** @type {keyof SampleArgs} */ key, /** @type {unknown} */ fallback) => (args[key] === undefined ? fallback : args[key]),
  };
}

/** An integer argument as a bigint, or null when it is not one. @param {unknown} value @returns {bigint|null} */
function integer(value) {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : null;
  if (typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)) return BigInt(value.trim().replace(/^\+/, ''));
  return null;
}

/** A number as the float32 the graph receives (NaN when it is not a decimal number). @param {unknown} value */
function float32(value) {
  if (typeof value === 'number') return Math.fround(value);
  if (typeof value === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(value)) return Math.fround(Number(value));
  return NaN;
}

/** A flag: undefined is false; null when it is not one. @param {unknown} value @returns {boolean|null} */
function flag(value) {
  if (value === undefined || typeof value === 'boolean') return Boolean(value);
  const text = typeof value === 'string' ? value.trim().toLowerCase() : null;
  return text === '1' || text === 'true' ? true : text === '0' || text === 'false' ? false : null;
}

/** 1,234,567 as Python's f'{n:,}' writes it. @param {number|bigint} n */
function fmt(n) {
  return n.toLocaleString('en-US');
}

/** A string as Python's repr writes it (messages quote the user's text the way Python's do). @param {string} text */
function quote(text) {
  const q = text.includes("'") && !text.includes('"') ? '"' : "'";
  /** @type {Record<string, string>} */
  const escapes = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', [q]: `\\${q}` };
  return q + text.replace(/[\\\n\r\t'"]/g, (c) => escapes[c] ?? c) + q;
}

/** @param {unknown} value */
function show(value) {
  return typeof value === 'string' ? quote(value) : String(value);
}
