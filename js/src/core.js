// The engine-free core of the namegen package: everything but finding onnxruntime and reading
// files, shared by the Node entry (index.js, onnxruntime-node) and the browser entry (web.js,
// onnxruntime-web). No dependencies: the entries pass in their onnxruntime module.
//
// It reads an export's metadata_props from the file's protobuf bytes (onnxruntime's JavaScript
// API does not expose them), checks them as Python's namegen.runtime does, and checks every
// argument in the order and with the ranges of Python's runtime (ExportedModel.feeds and
// namegen.sampling.check_constraints): a value Python refuses is refused here with a
// NamegenError naming it, and a value Python accepts becomes the same graph inputs, so the
// names are exactly Python's.

/** The sampling rules this package knows: 1 (seed, count, temperature) and 2 (rule 1 plus constraints). */
export const KNOWN_RULES = Object.freeze([1, 2]);
export const SAMPLER_FORMAT = 'namegen-sampler';
export const SCORER_FORMAT = 'namegen-scorer';
/** Token 0: starts and ends every name; never a character of one. */
export const BOUNDARY = '.';
// The bounds of exports that do not record their own (`limits` and `max_count` in the metadata
// say them since): most names in one call, the longest name, count * max_len at most, and
// rule 2's candidates at most.
export const MAX_COUNT = 1_000_000;
export const MAX_LEN = 10_000;
export const MAX_CELLS = 2 ** 26;
export const MAX_CANDIDATES = 1_000_000;
/** float32's largest value: the highest temperature (namegen.sampling.MAX_TEMPERATURE). */
const MAX_TEMPERATURE = 3.4028234663852886e38;
/** The defaults of `sample`, as the command line's. */
export const DEFAULTS = Object.freeze({ count: 10, seed: 0, temperature: 1.0 });
/** Rule 2's options, in the order Python checks them. */
export const CONSTRAINTS = Object.freeze(['prefix', 'suffix', 'contains', 'minLen', 'maxLen', 'novel', 'exclude', 'distinct', 'maxCandidates']);
/** Every option of `sample` and `draw`. */
export const SAMPLE_OPTIONS = Object.freeze(['seed', 'temperature', ...CONSTRAINTS]);

/** The sampler's graph input of each constraint (Python's keyword names). */
const INPUT = Object.freeze({
  prefix: 'prefix', suffix: 'suffix', contains: 'contains', minLen: 'min_len', maxLen: 'max_len',
  novel: 'novel', exclude: 'exclude', distinct: 'distinct', maxCandidates: 'max_candidates',
});
const REQUIRED_METADATA = ['namegen_format', 'vocab', 'max_len', 'max_count', 'sampling_rule_version'];

/**
 * The one error this package throws for a caller's mistake or a file it cannot run. `option`
 * names the argument at fault (`count`, `minLen`, `names`, `source`, ...) when the error is a
 * bad argument, and is undefined when the file itself is the problem (not a namegen export, a
 * sampling rule this package does not know, damaged metadata).
 */
export class NamegenError extends Error {
  /** @param {string} message @param {string} [option] */
  constructor(message, option) {
    super(message);
    this.name = 'NamegenError';
    /** @type {string | undefined} */
    this.option = option;
  }
}

// ---------------------------------------------------------------------------- ONNX bytes

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
      if (pos >= end) throw new NamegenError('not an ONNX file (it ends inside a protobuf field)');
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
    else throw new NamegenError(`not an ONNX file (protobuf wire type ${wire})`);
    if (pos > end) throw new NamegenError('not an ONNX file (a protobuf field runs past its end)');
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
 * @throws {NamegenError} when the bytes are not protobuf
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
  if (graphs.length !== 1) throw new NamegenError(`not an ONNX model (it has ${graphs.length} graphs)`);
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

// ---------------------------------------------------------------------------- exports' metadata

/**
 * What sampling and scoring need from an export's metadata.
 * @typedef {object} ExportInfo
 * @property {number} rule            sampling_rule_version: 1 (no constraint inputs) or 2
 * @property {string[]} vocab         the characters; token id = index, vocab[0] is the boundary '.'
 * @property {number} maxLen          the export's default max_len
 * @property {number} maxCount        most names per call
 * @property {{maxNameLen: number, maxCells: number, maxCandidates: number}} limits  the longest name, count x max_len
 *                                    and rule 2's candidates at most, per call
 * @property {number} knownNames      names the export holds (as fingerprints) for `novel` (0: none)
 * @property {number} trainingNames   the former name of knownNames
 * @property {Record<string, string>} metadata  all of metadata_props
 * @property {string} source          how messages name the file
 * @property {string[]} inputs        rule 2's graph inputs the sampler takes (fed on every run)
 */

/**
 * Check that `bytes` are a namegen export of `format` and of a sampling rule this package
 * knows, as Python's namegen.runtime does, and return what sampling needs.
 * @param {Uint8Array} bytes @param {string} source @param {string} format
 * @returns {ExportInfo}
 * @throws {NamegenError}
 */
export function exportInfo(bytes, source, format) {
  let meta;
  try {
    meta = onnxMetadata(bytes);
  } catch (err) {
    throw new NamegenError(`${source} is ${/** @type {Error} */ (err).message}`);
  }
  const missing = REQUIRED_METADATA.filter((key) => !(key in meta));
  if (missing.length) throw new NamegenError(`${source} is not a namegen export: its metadata lacks ${missing.join(', ')}`);
  if (meta.namegen_format !== format) {
    const hint = meta.namegen_format === SCORER_FORMAT ? ' (load the sampler, NAME.onnx: its scorer NAME.scorer.onnx is found beside it)' : '';
    throw new NamegenError(`${source} is a ${quote(meta.namegen_format)}, not a ${quote(format)}${hint}`);
  }
  const int = (/** @type {string} */ key, /** @type {number} */ low, /** @type {number} */ high) => {
    const value = /^\s*[+-]?\d+\s*$/.test(meta[key]) ? Number(meta[key]) : NaN;
    if (!(value >= low && value <= high)) {
      throw new NamegenError(`${source} has damaged metadata: ${key} must be an integer from ${fmt(low)} to ${fmt(high)}, got ${quote(meta[key])}`);
    }
    return value;
  };
  const rule = int('sampling_rule_version', 1, 2 ** 31);
  if (!KNOWN_RULES.includes(rule)) {
    throw new NamegenError(`${source} uses sampling rule ${rule}; this namegen package knows rules ${KNOWN_RULES.join(' and ')}: update it`);
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
    throw new NamegenError(`${source} has damaged metadata: vocab is not a valid vocabulary (${/** @type {Error} */ (err).message})`);
  }
  // Exports before known_names (which held the training names alone) say training_names.
  const known = 'known_names' in meta ? 'known_names' : 'training_names';
  const knownNames = known in meta ? int(known, 0, 2 ** 40) : 0;
  return {
    rule, vocab, source, metadata: meta, inputs: [],
    maxLen: int('max_len', 1, MAX_LEN),
    maxCount: int('max_count', 1, MAX_COUNT),
    limits: exportLimits(meta, source),
    knownNames, trainingNames: knownNames,
  };
}

/**
 * The bounds a call is checked against, as the export records them (`limits`, JSON); exports
 * written before namegen recorded them hold the bounds of their time, the constants above.
 * @param {Record<string, string>} meta @param {string} source
 * @returns {{maxNameLen: number, maxCells: number, maxCandidates: number}}
 */
function exportLimits(meta, source) {
  const limits = { maxNameLen: MAX_LEN, maxCells: MAX_CELLS, maxCandidates: MAX_CANDIDATES };
  if (!('limits' in meta)) return limits;
  let recorded;
  try {
    recorded = JSON.parse(meta.limits);
  } catch {
    recorded = null;
  }
  const keys = { max_name_len: 'maxNameLen', max_cells: 'maxCells', max_candidates: 'maxCandidates' };
  for (const [key, name] of Object.entries(keys)) {
    const value = recorded !== null && typeof recorded === 'object' ? recorded[key] : undefined;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new NamegenError(`${source} has damaged metadata: limits must be a JSON object of positive integers ${Object.keys(keys).join(', ')}, got ${quote(meta.limits)}`);
    }
    limits[/** @type {'maxNameLen' | 'maxCells' | 'maxCandidates'} */ (name)] = value;
  }
  return limits;
}

/**
 * Open a sampler export: check its metadata (see `exportInfo`) and give the model bytes to
 * create the onnxruntime session from: rule 2's constraint inputs made plain inputs (see
 * `promoteInitializers`), which every run then feeds.
 * @param {Uint8Array} bytes the whole .onnx file
 * @param {string} [source] how messages name the file
 * @returns {{info: ExportInfo, model: Uint8Array}}
 * @throws {NamegenError}
 */
export function openSampler(bytes, source = 'the model') {
  const info = exportInfo(bytes, source, SAMPLER_FORMAT);
  if (info.rule < 2) return { info, model: bytes };
  const inputs = Object.values(INPUT);
  const { model, promoted } = promoteInitializers(bytes, inputs);
  // exclude is optional: exports before it lack the input (and refuse the option).
  const expected = inputs.filter((name) => (name !== 'novel' || info.knownNames > 0) && (name !== 'exclude' || promoted.includes(name)));
  const missing = expected.filter((name) => !promoted.includes(name));
  if (missing.length) throw new NamegenError(`${source} is damaged: a sampling rule 2 sampler, it lacks the inputs ${missing.join(', ')}`);
  if (promoted.length !== expected.length) {
    throw new NamegenError(`${source} is damaged: it has a novel input, but its metadata says it holds no known names`);
  }
  info.inputs = promoted;
  return { info, model };
}

// ---------------------------------------------------------------------------- arguments

/**
 * A checked request: what the sampler is fed.
 * @typedef {object} SampleRequest
 * @property {number} count          names asked for
 * @property {bigint} seed           the seed fed (0 <= seed < 2**62: seeds are taken modulo 2**62)
 * @property {number} temperature    the float32 fed
 * @property {Constraints | null} constraints  rule 2's inputs; null when no constraint was given
 */

/**
 * @typedef {object} Constraints rule 2's graph inputs, as values
 * @property {number[]} prefix @property {number[]} suffix @property {number[]} contains token ids
 * @property {bigint} minLen @property {bigint} maxLen @property {bigint} maxCandidates 0: the default budget
 * @property {boolean} novel @property {boolean} distinct
 * @property {string[]} exclude names never returned: those the vocabulary spells (no other can be drawn)
 */

/** How messages name an option: its own name unless the caller relabels it. @param {string} option */
const ownName = (option) => option;

/**
 * Check `count` and `options` against the export as Python's runtime checks them, in its order.
 * Integers may be numbers, bigints or strings of digits (a command line's or a form's text);
 * flags may be booleans or '1' / '0' / 'true' / 'false'. An option that is undefined is not
 * given; a constraint given at all (even an empty prefix) needs a rule 2 export, as in Python.
 * @param {ExportInfo} info @param {unknown} count @param {unknown} options
 * @param {(option: string) => string} [label] how messages name an option (e.g. minLen -> --min-len)
 * @returns {SampleRequest}
 * @throws {NamegenError}
 */
export function checkSample(info, count, options, label = ownName) {
  if (options === undefined || options === null) options = {};
  const fail = failer(label);
  if (typeof options !== 'object' || Array.isArray(options)) fail('options', `must be an object of options, got ${show(options)}`);
  const args = /** @type {Record<string, unknown>} */ (options);
  for (const key of Object.keys(args)) {
    if (SAMPLE_OPTIONS.includes(key) || args[key] === undefined) continue;
    const camel = key.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
    const hint = camel !== key && SAMPLE_OPTIONS.includes(camel) ? `; did you mean ${camel}?` : '';
    fail(key, `is not an option of sample (its options: ${SAMPLE_OPTIONS.join(', ')})${hint}`);
  }
  const arg = (/** @type {string} */ key, /** @type {unknown} */ fallback) => (args[key] === undefined ? fallback : args[key]);

  const countArg = count === undefined ? DEFAULTS.count : count;
  const n = integer(countArg);
  if (n === null || n < 1n || n > BigInt(info.maxCount)) fail('count', `must be an integer from 1 to ${fmt(info.maxCount)}, got ${show(countArg)}`);
  const seedArg = arg('seed', DEFAULTS.seed);
  const seed = integer(seedArg);
  if (seed === null) fail('seed', `must be an integer, got ${show(seedArg)}`);
  const temperatureArg = arg('temperature', DEFAULTS.temperature);
  const temperature = float32(temperatureArg);
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    // A large temperature is a number, not a lost integer: show's 2**53 note would mislead.
    const got = typeof temperatureArg === 'number' ? String(temperatureArg) : show(temperatureArg);
    fail('temperature', `must be a positive number at most ${MAX_TEMPERATURE} (float32's largest), got ${got}`);
  }

  const request = { count: Number(n), seed: BigInt.asUintN(62, /** @type {bigint} */ (seed)), temperature, constraints: null };
  const first = CONSTRAINTS.find((key) => args[key] !== undefined);
  if (first === undefined) {
    // As Python: count x max_len within MAX_CELLS on every call, not only with constraints.
    const { maxCells } = info.limits;
    if (/** @type {bigint} */ (n) * BigInt(info.maxLen) > BigInt(maxCells)) {
      fail('count', `must be at most ${fmt(Math.floor(maxCells / info.maxLen))} for names of up to ${fmt(info.maxLen)} characters `
        + `(the export's max_len; count x max_len at most ${fmt(maxCells)} per call); draw fewer names per call`);
    }
    return request;
  }
  if (info.rule < 2) fail(first, `needs sampling rule 2, and ${info.source} was exported before namegen had constraints (rule ${info.rule}); export it again`);
  return { ...request, constraints: checkConstraints(info, /** @type {bigint} */ (n), args, label) };
}

/**
 * Rule 2's options, checked as Python's namegen.sampling.check_constraints checks them.
 * @param {ExportInfo} info @param {bigint} n the count, checked @param {Record<string, unknown>} args
 * @param {(option: string) => string} label
 * @returns {Constraints}
 */
function checkConstraints(info, n, args, label) {
  const fail = failer(label);
  const given = (/** @type {string} */ key) => args[key] !== undefined;

  /** @type {Record<string, number[]>} */
  const text = {};
  for (const key of ['prefix', 'suffix', 'contains']) {
    const value = given(key) ? args[key] : '';
    if (typeof value !== 'string') fail(key, `must be a string, got ${show(value)}`);
    text[key] = Array.from(/** @type {string} */ (value), (ch) => {
      const id = info.vocab.indexOf(ch);
      if (id < 1) fail(key, `${quote(/** @type {string} */ (value))} cannot be drawn: ${unknownCharacter(info, ch, value)}`);
      return id;
    });
  }
  const novel = flag(args.novel), distinct = flag(args.distinct);
  if (novel === null) fail('novel', `must be true or false (1 or 0), got ${show(args.novel)}`);
  if (distinct === null) fail('distinct', `must be true or false (1 or 0), got ${show(args.distinct)}`);
  const exclude = excludedNames(info, given('exclude') ? args.exclude : [], fail);

  const maxLenArg = given('maxLen') ? args.maxLen : info.maxLen;
  const maxLen = integer(maxLenArg), shortest = BigInt(text.prefix.length + 1);
  const { maxNameLen, maxCells, maxCandidates: mostCandidates } = info.limits;
  if (maxLen === null || maxLen < shortest || maxLen > BigInt(maxNameLen)) {
    fail('maxLen', `must be an integer from ${shortest} (longer than the prefix) to ${fmt(maxNameLen)}, got ${show(maxLenArg)}`);
  }
  const longest = /** @type {bigint} */ (maxLen);
  if (n * longest > BigInt(maxCells)) {
    fail('maxLen', `${fmt(longest)} is too long for ${fmt(n)} names in one call (${label('count')} x ${label('maxLen')} `
      + `at most ${fmt(maxCells)}); draw fewer names per call or lower ${label('maxLen')}`);
  }
  const minLen = given('minLen') ? integer(args.minLen) : 1n;
  if (minLen === null || minLen < 1n || minLen > longest) fail('minLen', `must be an integer from 1 to ${label('maxLen')} (${fmt(longest)}), got ${show(args.minLen)}`);
  const maxCandidates = given('maxCandidates') ? integer(args.maxCandidates) : 0n;
  if (given('maxCandidates') && (maxCandidates === null || maxCandidates < 1n || maxCandidates > BigInt(mostCandidates))) {
    fail('maxCandidates', `must be an integer from 1 to ${fmt(mostCandidates)}, got ${show(args.maxCandidates)}`);
  }
  if (novel && !info.knownNames) {
    fail('novel', `needs the known names, and ${info.source} holds none (it was exported with --no-known-names)`);
  }
  if (exclude.length && !info.inputs.includes('exclude')) {
    fail('exclude', `needs an export with an exclude input, and ${info.source} was exported before namegen had it; export it again`);
  }
  return {
    prefix: text.prefix, suffix: text.suffix, contains: text.contains, minLen: /** @type {bigint} */ (minLen), maxLen: longest,
    novel: Boolean(novel), exclude, distinct: Boolean(distinct), maxCandidates: /** @type {bigint} */ (maxCandidates),
  };
}

/**
 * The names of `exclude` (any iterable of strings but a string) that the model can draw, checked
 * as Python's namegen.sampling.check_exclude: a name with a character outside the vocabulary (or
 * empty) can never be drawn, so it is left out, not an error. Names are compared as given (no case folding).
 * @param {ExportInfo} info @param {unknown} value @param {(option: string, message: string) => never} fail
 * @returns {string[]}
 */
function excludedNames(info, value, fail) {
  if (typeof value === 'string') fail('exclude', `must be a list of names, not one string (${quote(value)})`);
  if (value === null || typeof value !== 'object' || !(Symbol.iterator in value)) fail('exclude', `must be a list of names (strings), got ${show(value)}`);
  const names = Array.from(/** @type {Iterable<unknown>} */ (value));
  const bad = names.findIndex((name) => typeof name !== 'string');
  if (bad >= 0) fail('exclude', `must hold names (strings), got ${show(names[bad])}`);
  // The order fed changes nothing: the graph tests membership.
  return [...new Set(/** @type {string[]} */ (names))].filter((name) => name && Array.from(name).every((ch) => info.vocab.indexOf(ch) > 0));
}

/**
 * The sampler's inputs and outputs for a checked request.
 * @param {{Tensor: new (type: any, data: any, dims: number[]) => unknown}} ort onnxruntime-node or onnxruntime-web
 * @param {ExportInfo} info @param {SampleRequest} request
 * @returns {{feeds: Record<string, unknown>, fetches: string[]}}
 */
export function sampleFeeds(ort, info, request) {
  const scalar = (/** @type {string} */ type, /** @type {any} */ ArrayType, /** @type {unknown} */ value) => new ort.Tensor(type, ArrayType.from([value]), []);
  const tokens = (/** @type {number[]} */ ids) => new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [ids.length]);
  /** @type {Record<string, unknown>} */
  const feeds = {
    seed: scalar('int64', BigInt64Array, request.seed),
    count: scalar('int64', BigInt64Array, BigInt(request.count)),
    temperature: scalar('float32', Float32Array, request.temperature),
  };
  if (info.rule < 2) return { feeds, fetches: ['names'] };
  // Rule 2's inputs are fed on every run (the model of openSampler requires them); their
  // defaults, Python's `constraint_inputs`, mean "no constraint".
  const rule = request.constraints ?? {
    prefix: [], suffix: [], contains: [], minLen: 1n, maxLen: BigInt(info.maxLen), novel: false, exclude: [], distinct: false, maxCandidates: 0n,
  };
  const values = {
    prefix: tokens(rule.prefix), suffix: tokens(rule.suffix), contains: tokens(rule.contains),
    min_len: scalar('int64', BigInt64Array, rule.minLen), max_len: scalar('int64', BigInt64Array, rule.maxLen),
    novel: scalar('bool', Uint8Array, rule.novel ? 1 : 0), distinct: scalar('bool', Uint8Array, rule.distinct ? 1 : 0),
    exclude: new ort.Tensor('string', rule.exclude, [rule.exclude.length]),
    max_candidates: scalar('int64', BigInt64Array, rule.maxCandidates),
  };
  // novel: only in exports with known names; exclude: only in exports made since it exists
  for (const name of info.inputs) feeds[name] = values[/** @type {keyof typeof values} */ (name)];
  return { feeds, fetches: ['names', 'found'] };
}

/**
 * Names as the scorer's tokens, checked as Python's runtime checks them: a list of non-empty
 * strings of the model's characters.
 * @param {ExportInfo} info @param {unknown} names @param {(option: string) => string} [label]
 * @returns {number[][]} token ids of each name
 */
export function encodeNames(info, names, label = ownName) {
  const fail = failer(label);
  if (typeof names === 'string') fail('names', 'must be a list of strings, not one string');
  if (names === null || typeof names !== 'object' || !(Symbol.iterator in names)) fail('names', `must be a list of strings, got ${show(names)}`);
  return Array.from(/** @type {Iterable<unknown>} */ (names), (name) => {
    if (typeof name !== 'string' || !name) fail('names', `must be non-empty strings, got ${show(name)}`);
    return Array.from(/** @type {string} */ (name), (ch) => {
      const id = info.vocab.indexOf(ch);
      if (id < 1) fail('names', `${quote(/** @type {string} */ (name))} cannot be scored: ${unknownCharacter(info, ch, name)}`);
      return id;
    });
  });
}

/**
 * Python's warning (namegen.errors.warn_short) when fewer names than asked for came back.
 * @param {number} found @param {number} count @param {(option: string) => string} [label]
 */
export function shortMessage(found, count, label = ownName) {
  return `only ${fmt(found)} of ${fmt(count)} names met the constraints within the candidate budget `
    + `(raise ${label('maxCandidates')}, or loosen the constraints)`;
}

// ---------------------------------------------------------------------------- load's options

/** The options of `load`, in both entries. */
export const LOAD_OPTIONS = Object.freeze(['scorer', 'threads', 'ort', 'label', 'warn']);

/**
 * `load`'s options, checked (the entries read the files and find onnxruntime).
 * @param {unknown} options
 * @returns {Record<string, any>}
 * @throws {NamegenError}
 */
export function checkLoadOptions(options) {
  const fail = failer(ownName);
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) fail('options', `must be an object of options, got ${show(options)}`);
  const opts = /** @type {Record<string, any>} */ (options);
  for (const key of Object.keys(opts)) {
    if (!LOAD_OPTIONS.includes(key) && opts[key] !== undefined) fail(key, `is not an option of load (its options: ${LOAD_OPTIONS.join(', ')})`);
  }
  if (opts.threads !== undefined && !(Number.isSafeInteger(opts.threads) && opts.threads >= 0)) {
    fail('threads', `must be an integer from 0 (onnxruntime's default), got ${show(opts.threads)}`);
  }
  for (const key of ['label', 'warn']) if (opts[key] !== undefined && typeof opts[key] !== 'function') fail(key, `must be a function, got ${show(opts[key])}`);
  if (opts.ort !== undefined && !(opts.ort?.InferenceSession && opts.ort?.Tensor)) fail('ort', 'must be an onnxruntime module (with InferenceSession and Tensor)');
  return opts;
}

/**
 * A file given as bytes (a Uint8Array, such as a Buffer, or an ArrayBuffer) and how messages
 * name it; undefined when `source` is not bytes (a path or a URL, which the entries read).
 * @param {unknown} source @param {string} option 'source' or 'scorer'
 * @returns {{bytes: Uint8Array, name: string} | undefined}
 */
export function givenBytes(source, option) {
  const name = option === 'scorer' ? 'the scorer' : 'the model';
  if (source instanceof Uint8Array) return { bytes: source, name };
  if (source instanceof ArrayBuffer) return { bytes: new Uint8Array(source), name };
  return undefined;
}

// ---------------------------------------------------------------------------- the model

/**
 * What the entries give `createModel`.
 * @typedef {object} ModelParts
 * @property {any} ort                                 onnxruntime-node or onnxruntime-web
 * @property {Uint8Array} bytes                        the sampler file
 * @property {string} source                           how messages name it
 * @property {(() => Promise<{bytes: Uint8Array, name: string}>) | null} scorer  reads the scorer (`name`: how messages name it), or null: none known
 * @property {Record<string, unknown>} sessionOptions  for InferenceSession.create
 * @property {(option: string) => string} label        how messages name an option
 * @property {(message: string) => void} warn          how `sample` reports fewer names than asked for
 */

/**
 * Check the sampler, start its session and return the model.
 * @param {ModelParts} parts
 * @returns {Promise<NamegenModel>}
 */
export async function createModel(parts) {
  const { info, model } = openSampler(parts.bytes, parts.source);
  const session = await createSession(parts.ort, model, parts.sessionOptions, parts.source);
  return new NamegenModel(parts, info, session);
}

/** @param {any} ort @param {Uint8Array} model @param {Record<string, unknown>} options @param {string} source */
async function createSession(ort, model, options, source) {
  try {
    return await ort.InferenceSession.create(model, options);
  } catch (err) {
    const text = String(/** @type {Error} */ (err)?.message ?? err).split('\n')[0];
    throw new NamegenError(`${source} is not a loadable ONNX model: ${text}`);
  }
}

/** A loaded export: its sampler (and, on first use, the scorer beside it). Made by `load`. */
export class NamegenModel {
  #parts; #info; #session;
  /** @type {Promise<any> | null} */
  #scorer = null;

  /** @param {ModelParts} parts @param {ExportInfo} info @param {any} session */
  constructor(parts, info, session) {
    this.#parts = parts;
    this.#info = info;
    this.#session = session;
    /** The characters; token id = index; vocab[0] is the boundary '.', never part of a name. */
    this.vocab = Object.freeze([...info.vocab]);
    /** All of the sampler's metadata_props. */
    this.metadata = Object.freeze({ ...info.metadata });
    /** Most names one call draws. */
    this.maxCount = info.maxCount;
    /** The export's default max_len (names are cut there). */
    this.maxLen = info.maxLen;
    /** The sampling rule: 1 (no constraints) or 2. */
    this.rule = info.rule;
    /** How many names the sampler holds (as fingerprints) for `novel`: every name of the data the model was fitted on (0: none). */
    this.knownNames = info.knownNames;
    /** The former name of knownNames (exports before it held the training names alone). */
    this.trainingNames = info.knownNames;
    /** How messages name the file. */
    this.source = info.source;
    Object.freeze(this);
  }

  /**
   * `count` names: exactly Python's `runtime.load(path).sample(count, seed=..., temperature=..., ...)`.
   * Fewer when the candidate budget ran out (rule 2), reported through load's `warn`.
   * @param {number | bigint | string} [count] @param {Record<string, unknown>} [options]
   * @returns {Promise<string[]>}
   */
  async sample(count, options) {
    const drawn = await this.draw(count, options);
    if (drawn.warning) this.#parts.warn(drawn.warning);
    return drawn.names;
  }

  /**
   * `sample`, with what it fed and found; it gives the warning instead of reporting it.
   * @param {number | bigint | string} [count] @param {Record<string, unknown>} [options]
   */
  async draw(count, options) {
    const request = checkSample(this.#info, count, options, this.#parts.label);
    const { feeds, fetches } = sampleFeeds(this.#parts.ort, this.#info, request);
    const results = await this.#session.run(feeds, fetches);
    /** @type {string[]} */
    const names = Array.from(results.names.data);
    const found = results.found ? Number(results.found.data[0]) : names.length, short = found < request.count;
    return {
      names, count: request.count, found, short, seed: request.seed, temperature: request.temperature,
      warning: short ? shortMessage(found, request.count, this.#parts.label) : undefined,
    };
  }

  /**
   * Natural-log likelihood of each name (end token included), from the scorer beside the
   * sampler: Python's `runtime.load(path).log_likelihood(names)`.
   * @param {Iterable<string>} names
   * @returns {Promise<Float32Array>}
   */
  async logLikelihood(names) {
    const rows = encodeNames(this.#info, names, this.#parts.label);
    if (!rows.length) return new Float32Array(0);
    const scorer = await this.#scorerSession();
    const width = rows.reduce((most, row) => Math.max(most, row.length), 0);
    const tokens = new BigInt64Array(rows.length * width); // 0-padded
    rows.forEach((row, r) => row.forEach((id, t) => { tokens[r * width + t] = BigInt(id); }));
    const { Tensor } = this.#parts.ort;
    const results = await scorer.run({ tokens: new Tensor('int64', tokens, [rows.length, width]) }, ['log_likelihood']);
    return results.log_likelihood.data;
  }

  /** Free both onnxruntime sessions; the model cannot be used afterwards. */
  async release() {
    const scorer = this.#scorer;
    this.#scorer = Promise.reject(new NamegenError(`${this.source} was released`));
    this.#scorer.catch(() => {});
    await this.#session.release();
    if (scorer) await scorer.then((session) => session.release(), () => {});
  }

  /** The scorer's session, started on first use (as Python's runtime does). */
  #scorerSession() {
    if (!this.#scorer) {
      const { scorer, ort, sessionOptions } = this.#parts;
      if (!scorer) {
        throw new NamegenError(`${this.source} has no scorer: a model loaded from bytes needs load's scorer option (the NAME.scorer.onnx file) for logLikelihood`, 'scorer');
      }
      this.#scorer = (async () => {
        const file = await scorer();
        const meta = exportInfo(file.bytes, file.name, SCORER_FORMAT);
        // One export writes both files with one id; different ids mean the pair was mixed.
        if (meta.metadata.export_id !== this.metadata.export_id) {
          throw new NamegenError(`${file.name} and ${this.source} come from different exports; export the run again`);
        }
        return createSession(ort, file.bytes, sessionOptions, file.name);
      })();
      this.#scorer.catch(() => { this.#scorer = null; }); // a failure is not kept: the next call tries again
    }
    return this.#scorer;
  }
}

// ---------------------------------------------------------------------------- helpers

/** @param {(option: string) => string} label */
function failer(label) {
  /** @param {string} option @param {string} message @returns {never} */
  return (option, message) => { throw new NamegenError(`${label(option)} ${message}`, option); };
}

/** Python's Vocab.encode message. @param {ExportInfo} info @param {string} ch @param {unknown} text */
function unknownCharacter(info, ch, text) {
  return `character ${quote(ch)} in ${quote(String(text))} is not in the model's vocabulary (${quote(info.vocab.slice(1).join(''))})`;
}

/** An integer argument as a bigint, or null when it is not one. @param {unknown} value @returns {bigint|null} */
function integer(value) {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : null;
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
export function fmt(n) {
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
  if (typeof value === 'string') return quote(value);
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'an object';
  if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value)) {
    return `${value} (a number beyond 2**53, which has lost digits: pass a bigint or a string of digits)`;
  }
  return String(value);
}
