// The namegen playground: sample names in the browser from namegen ONNX samplers with
// onnxruntime-web (wasm backend).
//
// Models: the picker offers the pre-built models that ship in the namegen package (its models/
// folder, served beside its src/: node_modules/namegen/models/manifest.json) and those that
// build_models.py wrote (models/models.json), if any; the default is the one with the lowest test
// NLL. With neither, the page uses model.onnx beside it. Query parameters (and the form's fields,
// prefilled from them): model (a URL relative to the page), seed (0), count (10), temperature
// (1.0), and the constraints: prefix, suffix, contains, min_len, max_len, novel=1, distinct=1,
// max_candidates. An empty or missing value is the default. Batch k (from 0) uses seed + k, so
// "More names" gives the names Python's `runtime.load(model).sample(count, seed=seed + k,
// temperature=temperature, prefix=..., ...)` gives; the Seed field then shows that seed, and
// "Generate" (and picking a model) draws from the form's values. After each batch, the address
// bar and the share field hold a link to it: the model and every non-default value, with that
// batch's seed. Names are shown capitalised, so when the model has no upper-case letters the
// typed prefix, suffix and contains are lower-cased before drawing ("Ma" finds "maria").
//
// For tests and tools: the batch on show is in <ol id="names">, one <li> per name, shown
// capitalised, with the name as drawn in its data-name; <body data-batch="K" data-seed="S"
// data-found="F" data-ready="1"> once the K-th batch since the page loaded is rendered;
// data-loading="1" while the runtime or a model loads; errors go in #error (and set
// data-error="1").
//
// The namegen package (../../js, as node_modules/namegen) does the sampling: index.html's import
// map resolves 'namegen' to its browser entry and 'onnxruntime-web' to the WebAssembly build. The
// page downloads the .wasm file and the model itself, to show their progress, and hands the
// bytes over. One thread needs no cross-origin isolation (COOP/COEP headers): any static server works.
import * as ortModule from 'onnxruntime-web';
import { CONSTRAINTS, DEFAULTS, load } from 'namegen';

const ort = ortModule.InferenceSession ? ortModule : ortModule.default;
const MANIFEST = 'models/models.json'; // relative to the page; its models' files are relative to it
// The package's pre-built models sit beside its src/ (where the import map points), as its own
// loadPretrained expects; fetching them here shows the download's progress.
const PACKAGE_MODELS = new URL('../models/', import.meta.resolve('namegen')).href;
const PACKAGE_MANIFEST = new URL('manifest.json', PACKAGE_MODELS).href;
const FALLBACK = 'model.onnx'; // the model when there is no manifest
// What ort.wasm.min.mjs would fetch from beside itself.
const WASM = new URL('ort-wasm-simd-threaded.wasm', import.meta.resolve('onnxruntime-web')).href;

/** A form field's (and query parameter's) name for a package option: minLen -> min_len. */
const field = (option) => option.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
/** The package's option for a form field: min_len -> minLen. */
const option = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
// The constraints with a form field: exclude, a list of names, has none here.
const FORM_CONSTRAINTS = CONSTRAINTS.filter((name) => name !== 'exclude');
const FIELDS = ['seed', 'count', 'temperature', ...FORM_CONSTRAINTS.map(field)]; // query parameters = the form's field names
const FLAGS = ['novel', 'distinct']; // checkboxes
const TEXTS = ['prefix', 'suffix', 'contains']; // quoted in the status line: a space or a comma would be lost otherwise
/** How the package's messages name an option: as the form does (min_len), the budget as its label says. */
const label = (name) => (name === 'maxCandidates' ? 'Tries' : field(name));
/** The constraints in words, for the status line. */
const WORDS = { prefix: 'starts with', suffix: 'ends with', contains: 'contains', min_len: 'min length', max_len: 'max length', max_candidates: 'tries' };
const $ = (id) => document.getElementById(id);
const form = $('controls');
const picker = $('model');

// ------------------------------------------------------------------------------------- display

/**
 * How a name is shown: the first letter of each word upper-cased (maria -> Maria,
 * mary-jane -> Mary-Jane, "jean luc" -> Jean Luc, 'ali -> 'Ali), the rest as drawn. A word starts
 * the name or follows a space or a hyphen; opening quotes and brackets before its letter are
 * skipped; a word that starts with anything else (a digit) is left alone, and so is a letter whose
 * capital is more than one character (ß -> SS would change the name).
 */
function capitalise(name) {
  return name.replace(/(^|[\s-])(['‘’"“«(]*)(\p{Ll})/gu, (whole, start, quotes, letter) => {
    const upper = letter.toUpperCase();
    return [...upper].length === 1 ? start + quotes + upper : whole;
  });
}

/** 1234 -> "1.2 KB", 14239897 -> "14.2 MB". */
function size(bytes) {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(bytes < 1e4 ? 1 : 0)} KB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** The vocabulary, compactly: runs of three or more consecutive characters as ranges (a–z), a space as ␣. */
function compact(chars) {
  const points = [...new Set(chars)].map((c) => c.codePointAt(0)).sort((a, b) => a - b);
  const show = (p) => (p === 0x20 ? '␣' : String.fromCodePoint(p));
  const parts = [];
  for (let i = 0; i < points.length;) {
    let j = i;
    while (j + 1 < points.length && points[j + 1] === points[j] + 1) j += 1;
    parts.push(j - i >= 2 ? `${show(points[i])}–${show(points[j])}` : points.slice(i, j + 1).map(show).join(' '));
    i = j + 1;
  }
  return parts.join(' ');
}

// ------------------------------------------------------------------------------- page state

/** Set the status line; a note from an earlier copy ("Copied the link.") no longer applies. */
function say(text) {
  $('status').textContent = text;
  $('note').textContent = '';
}

/** Show `message` instead of the names; `option` (a NamegenError's: the package's name) marks the field at fault. */
function showError(message, option) {
  const input = option && form.elements[field(option)];
  if (input instanceof HTMLInputElement) input.setAttribute('aria-invalid', 'true');
  $('error').textContent = message;
  $('error').hidden = false;
  say('Failed.');
  $('empty').hidden = true;
  $('names').replaceChildren(); // the error replaces the names: copy and share have nothing to give
  $('share').value = '';
  for (const id of ['copy', 'copy-link', 'more']) $(id).disabled = true;
  document.body.dataset.error = '1';
}

function clearError() {
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  delete document.body.dataset.error;
  $('error').hidden = true;
}

/** While loading: the whole form is disabled and the progress bar shows (`loaded` of `total` bytes). */
function loading(label, loaded, total) {
  document.body.dataset.loading = '1';
  $('fields').disabled = true;
  $('loading').hidden = false;
  const bar = $('progress');
  if (total) Object.assign(bar, { max: total, value: Math.min(loaded, total) });
  else bar.removeAttribute('value'); // indeterminate
  say(total ? `${label}… ${size(loaded)} of ${size(total)}` : loaded ? `${label}… ${size(loaded)}` : `${label}…`);
}

function loaded() {
  delete document.body.dataset.loading;
  $('fields').disabled = false;
  $('loading').hidden = true;
}

/** The non-empty values of the query for FIELDS, as strings. */
function valuesOf(query) {
  return Object.fromEntries(FIELDS.map((key) => [key, (query.get(key) ?? '').trim()]).filter(([, value]) => value !== ''));
}

/** The form's non-empty values, as strings (a checked box is '1'). Not FormData: it skips disabled fields. */
function formValues() {
  return Object.fromEntries(FIELDS.map((key) => {
    const input = form.elements[key];
    return [key, FLAGS.includes(key) ? (input.checked ? '1' : '') : input.value.trim()];
  }).filter(([, value]) => value !== ''));
}

/** Show `values` in the form; the page's state is always what the form says. */
function fillForm(values) {
  for (const key of FIELDS) {
    const input = form.elements[key];
    if (FLAGS.includes(key)) input.checked = ['1', 'true'].includes((values[key] ?? '').toLowerCase());
    else input.value = values[key] ?? '';
  }
  markConstraints();
}

/** Open the constraints when one is set (and say how many are). */
function markConstraints() {
  const set = FORM_CONSTRAINTS.map(field).filter((key) => (FLAGS.includes(key) ? form.elements[key].checked : form.elements[key].value.trim()));
  $('constraint-count').textContent = set.length ? `(${set.length} set)` : '';
  if (set.length) $('constraints').open = true;
}

// ----------------------------------------------------------------------------------- loading

/** The bytes at `url`, reporting progress as `onProgress(loaded, total)` (total: 0 when unknown). */
async function download(url, onProgress) {
  let response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new Error(`could not load ${url}: ${err.message}`);
  }
  if (!response.ok) throw new Error(`could not load ${url}: HTTP ${response.status} ${response.statusText}`.trimEnd());
  // Content-Length is the compressed size when the server compresses: then the total is unknown.
  const length = Number(response.headers.get('Content-Length')) || 0;
  const total = response.headers.get('Content-Encoding') ? 0 : length;
  const chunks = [];
  let received = 0;
  onProgress(0, total);
  for (const reader = response.body.getReader(); ;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onProgress(received, total);
  }
  const bytes = new Uint8Array(received);
  let at = 0;
  for (const chunk of chunks) { bytes.set(chunk, at); at += chunk.length; }
  return bytes;
}

/** Download `urls` at once, showing their progress together under `label`. */
function downloadAll(urls, label) {
  const got = urls.map(() => 0), totals = urls.map(() => 0);
  const sum = (list) => list.reduce((a, b) => a + b, 0);
  return Promise.all(urls.map((url, i) => download(url, (received, total) => {
    got[i] = received;
    totals[i] = total;
    loading(label, sum(got), totals.every(Boolean) ? sum(totals) : 0);
  })));
}

/** The JSON at `url`, or undefined when there is none (a 404, or no server answer). */
async function fetchJson(url, name) {
  let response;
  try {
    response = await fetch(url);
  } catch {
    return undefined;
  }
  if (response.status === 404) return undefined;
  if (!response.ok) throw new Error(`could not load ${name}: HTTP ${response.status} ${response.statusText}`.trimEnd());
  try {
    return await response.json();
  } catch (err) {
    throw new Error(`${name} is not JSON: ${err.message}`);
  }
}

/** The models that build_models.py listed in models/models.json (none without it), in its order. */
async function readManifest() {
  const manifest = await fetchJson(MANIFEST, MANIFEST);
  if (manifest === undefined) return [];
  const { models } = manifest ?? {};
  const bad = !Array.isArray(models) ? 'it has no "models" list'
    : models.map((m, i) => (typeof m?.file === 'string' && m.file ? null : `model ${i + 1} has no "file"`)).find(Boolean);
  if (bad) throw new Error(`${MANIFEST} is not a playground manifest: ${bad} (build_models.py writes one)`);
  return models.map((m) => ({ ...m, url: new URL(m.file, new URL(MANIFEST, location.href)).href }));
}

/** The pre-built models of the namegen package's manifest.json (none if it ships none), best first. */
async function readPrebuilt() {
  const name = relative(PACKAGE_MANIFEST);
  const manifest = await fetchJson(PACKAGE_MANIFEST, name);
  if (manifest === undefined) return [];
  const models = manifest?.models;
  if (typeof models !== 'object' || models === null || Array.isArray(models)) {
    throw new Error(`${name} is not a manifest of pre-built models (reinstall the namegen package)`);
  }
  return Object.entries(models).map(([key, m]) => {
    // A plain file name, as the package requires: the manifest cannot point outside its folder.
    if (typeof m?.sampler !== 'string' || !/^[\w.-]+\.onnx$/.test(m.sampler)) {
      throw new Error(`${name} names no valid sampler file for ${JSON.stringify(key)} (reinstall the namegen package)`);
    }
    const params = Object.entries(m.hyperparams ?? {}).map(([k, v]) => `${k} ${v}`).join(', ');
    const trained = m.split?.train;
    return {
      name: key, label: key, url: new URL(m.sampler, PACKAGE_MODELS).href, bytes: m.sampler_bytes, test_nll: m.test_nll,
      exportId: m.export_id, prebuilt: true,
      description: `Pre-built: the ${m.plugin ?? key} model${params ? ` (${params})` : ''}`
        + (typeof trained === 'number' ? `, fitted on ${trained.toLocaleString('en-US')} of namegen's bundled names.` : '.'),
    };
  }).sort((a, b) => nll(a) - nll(b));
}

/** A model's test NLL, for ranking (Infinity when its manifest gives none). */
const nll = (entry) => (typeof entry.test_nll === 'number' && Number.isFinite(entry.test_nll) ? entry.test_nll : Infinity);

/** The best of `entries`: the lowest test NLL, the first listed on a tie (or when none has one). */
function best(entries) {
  return entries.reduce((top, entry) => (nll(entry) < nll(top) ? entry : top), entries[0]);
}

/** A model's URL as the address bar gives it: relative to the page when it is beside it or below. */
function relative(url) {
  const base = new URL('.', location.href).href;
  return url.startsWith(base) ? url.slice(base.length) : url;
}

const sessions = new Map(); // URL -> Promise<NamegenModel>: each model is loaded once
const sizes = new Map(); // URL -> bytes downloaded: the size of a model that no manifest lists

/** The model at `url`, loaded (with the runtime, the first time) while the progress shows;
 * `exportId`, from the package's manifest, is the export the file must be. */
function open(url, exportId) {
  if (!sessions.has(url)) {
    const promise = (async () => {
      const name = decodeURIComponent(new URL(url).pathname.split('/').pop());
      const first = !ort.env.wasm.wasmBinary;
      const [bytes, wasm] = await downloadAll(first ? [url, WASM] : [url], first ? `Loading onnxruntime (WebAssembly) and ${name}` : `Loading ${name}`);
      if (wasm) ort.env.wasm.wasmBinary = wasm;
      sizes.set(url, bytes.length);
      loading(first ? 'Starting onnxruntime' : `Opening ${name}`, 0, 0);
      // The vocabulary, limits and sampling rule come from the file's metadata_props. Messages
      // name the options as the form does (min_len); fewer names than asked for show in the status line.
      const model = await load(bytes, { ort, label });
      // One build writes a pre-built model and its manifest: a mismatch is a half-updated package.
      if (exportId && model.metadata.export_id !== exportId) {
        await model.release();
        throw new Error(`${relative(url)} is not the export ${relative(PACKAGE_MANIFEST)} describes: reinstall the namegen package`);
      }
      return model;
    })();
    promise.catch(() => sessions.delete(url)); // a failed load is tried again when asked again
    sessions.set(url, promise);
  }
  return sessions.get(url);
}

// -------------------------------------------------------------------------------------- main

async function main() {
  const query = new URLSearchParams(location.search);
  fillForm(valuesOf(query));
  loading('Loading the list of models', 0, 0);

  // The picker: the package's pre-built models, those build_models.py wrote, and the query's
  // model when it is another. Either list may be missing; a broken one is an error.
  const failed = (err) => { showError(err.message); return []; };
  const [prebuilt, built] = await Promise.all([readPrebuilt().catch(failed), readManifest().catch(failed)]);
  const entries = [...prebuilt, ...built];
  const choices = entries.length ? [...entries] : [{ url: new URL(FALLBACK, location.href).href, label: FALLBACK }];
  const wanted = (query.get('model') ?? '').trim();
  const askedUrl = wanted ? new URL(wanted, location.href).href : best(choices).url;
  const extra = choices.some((c) => c.url === askedUrl) ? [] : [{ url: askedUrl, label: `${wanted} (from the address)` }];
  choices.push(...extra);
  const optionOf = (c) => new Option(c.bytes ? `${c.label ?? c.name} · ${size(c.bytes)}` : (c.label ?? c.name), relative(c.url));
  if (entries.length) {
    // Grouped by where the models come from, so that a pre-built and a local "ngram" are told apart.
    picker.replaceChildren(...[['Pre-built (namegen package)', prebuilt], ['Built here (models/models.json)', built], ['From the address', extra]]
      .filter(([, list]) => list.length)
      .map(([title, list]) => {
        const optgroup = document.createElement('optgroup');
        optgroup.label = title;
        optgroup.append(...list.map(optionOf));
        return optgroup;
      }));
  } else {
    picker.replaceChildren(...choices.map(optionOf));
  }
  picker.value = relative(askedUrl);
  const top = entries.length > 1 ? best(entries) : null; // the one to call the best, when there is a choice

  let model = null; // the NamegenModel on show
  let values = {}; // the form's values of the batch on show
  let batch = 0, offset = 0, firstSeed = 0n;

  /** The values as the model gets them: names are shown capitalised, so a model without
   * upper-case letters gets the typed text constraints lower-cased ("Ma" -> "ma"); a model
   * with upper-case letters tells "Ma" from "ma", and gets them as typed. */
  function fed(given) {
    if (model.vocab.some((ch) => ch !== ch.toLowerCase())) return given;
    return Object.fromEntries(Object.entries(given).map(([key, value]) => [key, TEXTS.includes(key) ? value.toLowerCase() : value]));
  }

  /** The link to the batch drawn with `seed` from `asked` (the values as fed): the model (always,
   * when there is a manifest: the default may change) and every non-default value. */
  function linkTo(seed, asked) {
    const params = new URLSearchParams();
    if (entries.length || picker.value !== FALLBACK) params.set('model', picker.value);
    if (seed !== 0n) params.set('seed', String(seed));
    const defaults = { count: DEFAULTS.count, temperature: DEFAULTS.temperature };
    for (const [key, value] of Object.entries(asked)) {
      if (key !== 'seed' && !(key in defaults && Number(value) === defaults[key])) params.set(key, value);
    }
    const url = new URL(location.href);
    url.search = params.toString().replace(/%2F/g, '/'); // models/x.onnx reads better than models%2Fx.onnx
    url.hash = '';
    return url.href;
  }

  /** Why no name came back, in words, for `asked` (the values as fed). */
  function nothingMatched(asked) {
    const longest = Number(asked.max_len ?? model.maxLen);
    for (const [key, verb] of [['suffix', 'end with'], ['contains', 'contain']]) {
      if (asked[key] && [...asked[key]].length > longest) {
        return `Nothing matched: no name of at most ${longest} characters can ${verb} ${JSON.stringify(asked[key])}. Shorten it, or raise Max length.`;
      }
    }
    const tries = asked.max_candidates ? ` (${Number(asked.max_candidates).toLocaleString('en-US')} tries)` : '';
    return `Nothing matched: none of the names the model tried${tries} met the constraints. They may be too strict for this model, `
      + `which rarely if ever draws such names: loosen them${tries ? ', or raise Tries' : ''}.`;
  }

  async function draw() {
    for (const id of ['generate', 'more', 'model']) $(id).disabled = true;
    delete document.body.dataset.ready;
    clearError();
    let found = 0;
    try {
      const asked = fed(values);
      const { count, ...rest } = asked;
      const options = Object.fromEntries(Object.entries(rest).map(([key, value]) => [option(key), value]));
      // Batch k uses seed + k, from the first batch's seed as fed (the form's, modulo 2**62).
      const drawn = await model.draw(count, offset ? { ...options, seed: firstSeed + BigInt(offset) } : options);
      if (!offset) firstSeed = drawn.seed;
      const { names } = drawn;
      found = drawn.found;
      $('names').replaceChildren(...names.map((name) => {
        const item = document.createElement('li');
        item.dataset.name = name;
        item.textContent = capitalise(name);
        return item;
      }));
      $('empty').textContent = names.length ? '' : nothingMatched(asked);
      $('empty').hidden = names.length > 0;
      form.elements.seed.value = String(drawn.seed); // the seed of the names on show; Generate starts from it
      batch += 1;
      const rule = FORM_CONSTRAINTS.map(field).filter((key) => key in asked)
        .map((key) => (FLAGS.includes(key) ? key : `${WORDS[key]} ${TEXTS.includes(key) ? JSON.stringify(asked[key]) : asked[key]}`));
      say(`Batch ${batch}: ${found ? `${found} names` : 'no names'}, seed ${drawn.seed}, temperature ${asked.temperature ?? DEFAULTS.temperature.toFixed(1)}`
        + (rule.length ? `; ${rule.join(', ')}.` : '.')
        + (drawn.short && found ? ` Warning: only ${found} of ${drawn.count} names met the constraints within the tries allowed (raise Tries, or loosen the constraints).` : ''));
      const link = linkTo(drawn.seed, asked);
      $('share').value = link;
      history.replaceState(null, '', link); // the address bar gives the names on show too
      Object.assign(document.body.dataset, { batch: String(batch), seed: String(drawn.seed), found: String(found), ready: '1' });
    } catch (err) {
      showError(err.message ?? String(err), err.option);
    } finally {
      const failed = document.body.dataset.error === '1';
      for (const id of ['generate', 'model']) $(id).disabled = false;
      for (const id of ['more', 'copy-link']) $(id).disabled = failed;
      $('copy').disabled = failed || !found; // nothing on show: nothing to copy
    }
  }

  /** Load the picker's model, if it is not the one on show, and draw from the form's values. */
  async function start() {
    values = formValues();
    offset = 0;
    const url = new URL(picker.value, location.href).href;
    const entry = choices.find((c) => c.url === url) ?? {};
    try {
      clearError();
      model = await open(url, entry.exportId);
    } catch (err) {
      showError(err.message ?? String(err));
      return;
    } finally {
      loaded();
    }
    form.elements.count.title = `1 to ${model.maxCount.toLocaleString('en-US')}`;
    form.elements.max_len.placeholder = String(model.maxLen);
    const bytes = entry.bytes ?? sizes.get(url);
    $('model-info').textContent = [
      entry.description,
      bytes ? `Download: ${size(bytes)}.` : '',
      // The test NLL (nats a character on held-out names), in plain words.
      nll(entry) < Infinity ? `Surprise at names it never saw: ${entry.test_nll.toFixed(2)} a character (lower is better${entry === top ? '; the lowest here' : ''}).` : '',
    ].filter(Boolean).join(' ');
    const letters = `${model.vocab.length - 1} characters: ${compact(model.vocab.slice(1))}`;
    $('vocab').textContent = `Draws names of up to ${model.maxLen} characters from ${letters}`
      + (model.rule < 2 ? '. This file is older than the constraints: only count, seed and temperature apply.'
        : model.knownNames ? `; knows ${model.knownNames.toLocaleString('en-US')} names, which Novel leaves out.` : '; knows no names, so Novel is off.');
    await draw();
  }

  form.addEventListener('submit', (event) => { // Generate: the form's values, from their seed
    event.preventDefault();
    markConstraints();
    start();
  });
  picker.addEventListener('change', () => start());
  $('more').addEventListener('click', () => { offset += 1; draw(); });
  $('copy').addEventListener('click', () => copy([...$('names').children].map((li) => li.textContent).join('\n'), `Copied ${$('names').children.length} names.`));
  $('copy-link').addEventListener('click', () => copy($('share').value, 'Copied the link.'));
  $('share').addEventListener('focus', (event) => event.target.select());
  if (document.body.dataset.error !== '1') await start();
  else loaded();
}

/** Put `text` on the clipboard and say so in #note. */
async function copy(text, done) {
  try {
    await navigator.clipboard.writeText(text);
    $('note').textContent = done;
  } catch (err) {
    // navigator.clipboard is missing on plain http:// pages other than localhost.
    $('note').textContent = `Could not copy (${navigator.clipboard ? err.message : 'the clipboard needs https:// or localhost'}): select the text and copy it.`;
  }
}

main().catch((err) => { loaded(); showError(err.message ?? String(err)); });
