// The pre-built models that ship in this package's models/ folder: the very files of Python's
// namegen/pretrained/ (scripts/build_pretrained.py writes both), described by manifest.json.
// Shared by the Node entry (which reads the folder) and the browser entry (which fetches it).
import { NamegenError } from './core.js';

/** The folder of the pre-built models, beside src/ in the package. */
export const MODELS = new URL('../models/', import.meta.url);
export const MANIFEST = 'manifest.json';

/**
 * The manifest's models, checked enough to find the files.
 * @param {unknown} manifest the parsed manifest.json @param {string} source how messages name it
 * @returns {Record<string, {sampler: string, export_id: string, [key: string]: unknown}>}
 */
export function manifestModels(manifest, source) {
  const models = /** @type {any} */ (manifest)?.models;
  if (typeof models !== 'object' || models === null || Array.isArray(models)) {
    throw new NamegenError(`${source} is not a manifest of pre-built models; reinstall the package`);
  }
  return models;
}

/**
 * The manifest entry of pre-built model `name`, or a NamegenError that names the known ones.
 * @param {Record<string, any>} models @param {unknown} name @param {string} source
 */
export function pretrainedEntry(models, name, source) {
  if (typeof name !== 'string' || !Object.hasOwn(models, name)) {
    const known = Object.keys(models).sort().join(', ') || 'none ship with this package';
    throw new NamegenError(`unknown pre-built model ${JSON.stringify(String(name))}; pre-built models: ${known}`, 'name');
  }
  const entry = models[name];
  // A plain file name: the manifest cannot point outside the folder.
  if (typeof entry?.sampler !== 'string' || !/^[\w.-]+\.onnx$/.test(entry.sampler)) {
    throw new NamegenError(`${source} names no valid sampler file for ${JSON.stringify(name)}; reinstall the package`);
  }
  return entry;
}

/**
 * Refuse the options a pre-built model fixes (its scorer ships beside it).
 * @param {unknown} options
 */
export function checkPretrainedOptions(options) {
  if (typeof options === 'object' && options !== null && /** @type {any} */ (options).scorer !== undefined) {
    throw new NamegenError('scorer is not an option of loadPretrained: a pre-built model\'s scorer ships beside it', 'scorer');
  }
}

/**
 * The model loaded for `entry`, checked to be the export the manifest describes (one build
 * writes both; a mismatch is a half-updated folder).
 * @template {{metadata: Readonly<Record<string, string>>, release(): Promise<void>}} M
 * @param {M} model @param {{export_id: string}} entry @param {string} name
 * @returns {Promise<M>}
 */
export async function checkedPretrained(model, entry, name) {
  if (model.metadata.export_id !== entry.export_id) {
    await model.release();
    throw new NamegenError(`the files of pre-built model ${JSON.stringify(name)} are not the export its manifest describes; reinstall the package`);
  }
  return model;
}
