// namegen for Node: load a namegen ONNX export and draw exactly the names Python draws, with
// onnxruntime-node (a peer dependency: install onnxruntime-node@1.30.0 --ignore-scripts).
//
//   import { load } from 'namegen';                    // CommonJS: const { load } = require('namegen')
//   const model = await load('exports/linear.onnx');   // its scorer, exports/linear.scorer.onnx, beside it
//   await model.sample(20, { seed: 7, temperature: 0.8, prefix: 'ma' });  // string[]
//   await model.logLikelihood(['emma']);               // Float32Array
//   const ngram = await loadPretrained('ngram');       // a pre-built model that ships in the package
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NamegenError, checkLoadOptions, createModel, givenBytes } from './core.js';
import { MANIFEST, MODELS, checkPretrainedOptions, checkedPretrained, manifestModels, pretrainedEntry } from './pretrained.js';

export {
  BOUNDARY, CONSTRAINTS, DEFAULTS, KNOWN_RULES, MAX_CANDIDATES, MAX_CELLS, MAX_COUNT, MAX_LEN, NamegenError,
  SAMPLE_OPTIONS, onnxMetadata, promoteInitializers,
} from './core.js';

/**
 * Load a sampler export (`namegen export onnx` writes NAME.onnx and NAME.scorer.onnx).
 * @param {string | URL | Uint8Array | ArrayBuffer} source the sampler's path (or file: URL), or its bytes
 * @param {object} [options]
 * @param {string | URL | Uint8Array | ArrayBuffer} [options.scorer] the scorer, for logLikelihood
 *   (default: NAME.scorer.onnx beside a sampler given by path; none for bytes)
 * @param {number} [options.threads] onnxruntime's intra-op threads (default 1, the fastest for the
 *   sampler's many small operations; 0: onnxruntime's default, one per core)
 * @param {any} [options.ort] the onnxruntime module to use (default: onnxruntime-node)
 * @param {(option: string) => string} [options.label] how error messages name an option
 *   (e.g. minLen -> --min-len for a command line; default: the option's own name)
 * @param {(message: string) => void} [options.warn] how `sample` reports that fewer names met the
 *   constraints than asked for (default: process.emitWarning, as a NamegenWarning)
 * @returns {Promise<import('./core.js').NamegenModel>}
 * @throws {NamegenError}
 */
export async function load(source, options) {
  const opts = checkLoadOptions(options);
  const threads = opts.threads ?? 1;
  const sampler = await readSource(source, 'source');
  const scorerSource = opts.scorer ?? (sampler.path === undefined ? undefined : scorerPath(sampler.path));
  return createModel({
    ort: opts.ort ?? await onnxruntimeNode(),
    bytes: sampler.bytes,
    source: sampler.name,
    scorer: scorerSource === undefined ? null : () => readSource(scorerSource, 'scorer'),
    // Log errors only: onnxruntime warns about each overridable initialiser of a file.
    sessionOptions: { logSeverityLevel: 3, ...(threads > 0 ? { intraOpNumThreads: threads } : {}) },
    label: opts.label ?? ((option) => option),
    warn: opts.warn ?? ((message) => process.emitWarning(message, 'NamegenWarning')),
  });
}

/**
 * Load a pre-built model that ships in this package's models/ folder (fitted on namegen's
 * bundled data: see its manifest.json): `loadPretrained('ngram')`.
 * @param {string} name one of `await pretrained()`
 * @param {object} [options] load's options but `scorer` (the model's ships beside it)
 * @param {number} [options.threads] @param {any} [options.ort]
 * @param {(option: string) => string} [options.label] @param {(message: string) => void} [options.warn]
 * @returns {Promise<import('./core.js').NamegenModel>}
 * @throws {NamegenError} for an unknown name (the message lists the known ones)
 */
export async function loadPretrained(name, options) {
  checkPretrainedOptions(options);
  const models = await readManifest();
  const entry = pretrainedEntry(models, name, fileURLToPath(new URL(MANIFEST, MODELS)));
  return checkedPretrained(await load(fileURLToPath(new URL(entry.sampler, MODELS)), options), entry, name);
}

/** The names of the pre-built models that ship in this package, sorted. @returns {Promise<string[]>} */
export async function pretrained() {
  return Object.keys(await readManifest()).sort();
}

/** The models of the package's manifest.json (none when the package ships none). */
async function readManifest() {
  const path = fileURLToPath(new URL(MANIFEST, MODELS));
  let text;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (/** @type {NodeJS.ErrnoException} */ (err).code === 'ENOENT') return {};
    throw new NamegenError(`cannot read ${path}: ${/** @type {Error} */ (err).message}`);
  }
  let manifest;
  try {
    manifest = JSON.parse(text);
  } catch {
    manifest = undefined;
  }
  return manifestModels(manifest, path);
}

/** The naming rule: the scorer of `x/NAME.onnx` is `x/NAME.scorer.onnx`. @param {string} path */
export function scorerPath(path) {
  return path.replace(/(\.onnx)?$/, '.scorer.onnx');
}


/**
 * A file's bytes, with its path (when it has one) and how messages name it.
 * @param {unknown} source @param {string} option
 * @returns {Promise<{bytes: Uint8Array, name: string, path?: string}>}
 */
async function readSource(source, option) {
  const bytes = givenBytes(source, option);
  if (bytes) return bytes;
  let path;
  if (typeof source === 'string' && source) path = source;
  else if (source instanceof URL && source.protocol === 'file:') path = fileURLToPath(source);
  else throw new NamegenError(`${option} must be a file path, a file: URL or the file's bytes (Uint8Array), got ${source instanceof URL ? source.href : String(source)}`, option);
  try {
    return { bytes: await readFile(path), name: path, path };
  } catch (err) {
    const code = /** @type {NodeJS.ErrnoException} */ (err).code;
    const why = code === 'ENOENT' ? 'no such file; write one with `namegen export onnx RUN`' : code ?? /** @type {Error} */ (err).message;
    throw new NamegenError(`cannot read ${path}: ${why}`, option);
  }
}

/**
 * onnxruntime-node: from where this package is installed, as any dependency; else from where
 * the application is (its main script's folder, then the working directory). The second is for
 * linked installs (`npm install ../namegen/js`, `npm link`): Node resolves a symlinked
 * package's imports from its real folder, where its peers are not.
 */
async function onnxruntimeNode() {
  let module;
  try {
    module = await import('onnxruntime-node');
  } catch (err) {
    if (/** @type {NodeJS.ErrnoException} */ (err)?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    for (const base of [process.argv[1], `${process.cwd()}/`]) {
      let path;
      try {
        path = base && createRequire(base).resolve('onnxruntime-node');
      } catch { /* not there: the next place */ }
      if (path) { module = await import(pathToFileURL(path).href); break; }
    }
  }
  if (!module) {
    throw new NamegenError('onnxruntime-node is not installed: `npm install onnxruntime-node@1.30.0 --ignore-scripts` '
      + '(its install script downloads CUDA files; the CPU binaries ship in the package), or pass load an `ort` option');
  }
  return module.InferenceSession ? module : module.default;
}
