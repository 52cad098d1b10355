// namegen in the browser: load a namegen ONNX export and draw exactly the names Python draws,
// with onnxruntime-web (a peer dependency) on its WebAssembly backend.
//
//   import { load } from 'namegen/web';  // or 'namegen' with a bundler (its "browser" condition)
//   const model = await load('models/linear.onnx');  // a URL, relative to the page; its scorer beside it
//   await model.sample(20, { seed: 7, temperature: 0.8, prefix: 'ma' });  // string[]
//   await model.logLikelihood(['emma']);              // Float32Array
//   const ngram = await loadPretrained('ngram');       // a pre-built model, fetched from the package's models/
//
// Without a bundler, an import map names the files (see the package's README):
//   <script type="importmap">{"imports": {"namegen": "./node_modules/namegen/src/web.js",
//     "onnxruntime-web": "./node_modules/onnxruntime-web/dist/ort.wasm.min.mjs"}}</script>
import { NamegenError, checkLoadOptions, createModel, givenBytes } from './core.js';
import { MANIFEST, MODELS, checkPretrainedOptions, checkedPretrained, manifestModels, pretrainedEntry } from './pretrained.js';

export {
  BOUNDARY, CONSTRAINTS, DEFAULTS, KNOWN_RULES, MAX_CANDIDATES, MAX_CELLS, MAX_COUNT, MAX_LEN, NamegenError,
  SAMPLE_OPTIONS, onnxMetadata, promoteInitializers,
} from './core.js';

/**
 * Load a sampler export (`namegen export onnx` writes NAME.onnx and NAME.scorer.onnx).
 * @param {string | URL | Uint8Array | ArrayBuffer} source the sampler's URL (relative to the
 *   page), or its bytes
 * @param {object} [options]
 * @param {string | URL | Uint8Array | ArrayBuffer} [options.scorer] the scorer, for logLikelihood
 *   (default: NAME.scorer.onnx beside a sampler given by URL, fetched on first use; none for bytes)
 * @param {number} [options.threads] WebAssembly threads, onnxruntime-web's `env.wasm.numThreads`,
 *   which is global and read once, when the first session starts (default 1, unless the page set
 *   it: one thread needs no cross-origin isolation and is the fastest for the sampler)
 * @param {any} [options.ort] the onnxruntime module to use (default: import('onnxruntime-web'))
 * @param {(option: string) => string} [options.label] how error messages name an option
 *   (e.g. minLen -> min_len for a form's fields; default: the option's own name)
 * @param {(message: string) => void} [options.warn] how `sample` reports that fewer names met the
 *   constraints than asked for (default: console.warn)
 * @returns {Promise<import('./core.js').NamegenModel>}
 * @throws {NamegenError}
 */
export async function load(source, options) {
  const opts = checkLoadOptions(options);
  const ort = opts.ort ?? await onnxruntimeWeb();
  const wasm = ort.env?.wasm;
  if (!wasm) throw new NamegenError('ort must be the onnxruntime-web module (it has no env.wasm)', 'ort');
  if (opts.threads !== undefined) wasm.numThreads = opts.threads;
  else if (wasm.numThreads === undefined) wasm.numThreads = 1;
  const sampler = await fetchSource(source, 'source');
  const scorerSource = opts.scorer ?? (sampler.url === undefined ? undefined : scorerUrl(sampler.url));
  return createModel({
    ort,
    bytes: sampler.bytes,
    source: sampler.name,
    scorer: scorerSource === undefined ? null : () => fetchSource(scorerSource, 'scorer'),
    // Log errors only: onnxruntime warns about each overridable initialiser of a file.
    sessionOptions: { executionProviders: ['wasm'], logSeverityLevel: 3 },
    label: opts.label ?? ((option) => option),
    warn: opts.warn ?? ((message) => console.warn(`NamegenWarning: ${message}`)),
  });
}

/**
 * Load a pre-built model that ships in this package's models/ folder (fitted on namegen's
 * bundled data: see its manifest.json), fetched from beside this module
 * (`new URL('../models/', import.meta.url)`): the page must serve the package's models/ folder
 * where it serves src/ (a plain static server of node_modules/namegen does).
 * @param {string} name one of `await pretrained()`
 * @param {object} [options] load's options but `scorer` (the model's ships beside it)
 * @param {number} [options.threads] @param {any} [options.ort]
 * @param {(option: string) => string} [options.label] @param {(message: string) => void} [options.warn]
 * @returns {Promise<import('./core.js').NamegenModel>}
 * @throws {NamegenError} for an unknown name (the message lists the known ones)
 */
export async function loadPretrained(name, options) {
  checkPretrainedOptions(options);
  const models = await fetchManifest();
  const entry = pretrainedEntry(models, name, new URL(MANIFEST, MODELS).href);
  return checkedPretrained(await load(new URL(entry.sampler, MODELS).href, options), entry, name);
}

/** The names of the pre-built models that ship in this package, sorted. @returns {Promise<string[]>} */
export async function pretrained() {
  return Object.keys(await fetchManifest()).sort();
}

/** The models of the package's manifest.json. */
async function fetchManifest() {
  const { bytes, name } = await fetchSource(new URL(MANIFEST, MODELS), 'name');
  let manifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    manifest = undefined;
  }
  return manifestModels(manifest, name);
}

/** The naming rule: the scorer of `x/NAME.onnx` is `x/NAME.scorer.onnx` (query and hash kept). @param {string} url */
export function scorerUrl(url) {
  const parsed = new URL(url);
  parsed.pathname = parsed.pathname.replace(/(\.onnx)?$/, '.scorer.onnx');
  return parsed.href;
}


/**
 * A file's bytes, with its absolute URL (when it has one) and how messages name it.
 * @param {unknown} source @param {string} option
 * @returns {Promise<{bytes: Uint8Array, name: string, url?: string}>}
 */
async function fetchSource(source, option) {
  const bytes = givenBytes(source, option);
  if (bytes) return bytes;
  if (!(typeof source === 'string' && source) && !(source instanceof URL)) {
    throw new NamegenError(`${option} must be a URL or the file's bytes (Uint8Array), got ${String(source)}`, option);
  }
  let url;
  try {
    url = new URL(source, globalThis.location?.href).href; // relative to the page
  } catch {
    throw new NamegenError(`${option} ${JSON.stringify(String(source))} is not a URL (a relative one needs a page to be relative to)`, option);
  }
  let response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new NamegenError(`could not load ${url}: ${/** @type {Error} */ (err).message}`, option);
  }
  if (!response.ok) throw new NamegenError(`could not load ${url}: HTTP ${response.status} ${response.statusText}`.trimEnd(), option);
  return { bytes: new Uint8Array(await response.arrayBuffer()), name: url, url };
}

/** onnxruntime-web, through the page's import map or a bundler. */
async function onnxruntimeWeb() {
  try {
    const module = await import('onnxruntime-web');
    return module.InferenceSession ? module : module.default;
  } catch (err) {
    throw new NamegenError(`could not import onnxruntime-web (${/** @type {Error} */ (err).message}): map it in the page's import map `
      + '(e.g. to ./node_modules/onnxruntime-web/dist/ort.wasm.min.mjs), or pass load an `ort` option');
  }
}
