// The namegen playground: sample names in the browser from namegen ONNX samplers with
// onnxruntime-web (wasm backend).
//
// Models: models/models.json (written by build_models.py) lists the exports the picker offers,
// the first being the default; without it the page uses model.onnx beside it. Query parameters
// (and the form's fields, prefilled from them): model (a URL relative to the page), seed (0),
// count (10), temperature (1.0), and sampling rule 2's constraints: prefix, suffix, contains,
// min_len, max_len, novel=1, distinct=1, max_candidates. An empty or missing value is the
// default. Batch k (from 0) uses seed + k, so "More names" gives the names Python's
// `runtime.load(model).sample(count, seed=seed + k, temperature=temperature, prefix=..., ...)`
// gives; "Generate" (and picking a model) starts again from the form's values. After each batch,
// the address bar and the share field hold a link to it: the model and every non-default value,
// with that batch's seed.
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
const FALLBACK = 'model.onnx'; // the model when there is no manifest
// What ort.wasm.min.mjs would fetch from beside itself.
const WASM = new URL('ort-wasm-simd-threaded.wasm', import.meta.resolve('onnxruntime-web')).href;

/** A form field's (and query parameter's) name for a package option: minLen -> min_len. */
const field = (option) => option.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
/** The package's option for a form field: min_len -> minLen. */
const option = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
const FIELDS = ['seed', 'count', 'temperature', ...CONSTRAINTS.map(field)]; // query parameters = the form's field names
const FLAGS = ['novel', 'distinct']; // checkboxes
const TEXTS = ['prefix', 'suffix', 'contains']; // quoted in the status line: a space or a comma would be lost otherwise
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

/** Show `message` instead of the names; `option` (a NamegenError's: the package's name) marks the field at fault. */
function showError(message, option) {
  const input = option && form.elements[field(option)];
  if (input instanceof HTMLInputElement) input.setAttribute('aria-invalid', 'true');
  $('error').textContent = message;
  $('error').hidden = false;
  $('status').textContent = 'Failed.';
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
  $('status').textContent = total ? `${label}… ${size(loaded)} of ${size(total)}` : loaded ? `${label}… ${size(loaded)}` : `${label}…`;
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
  const set = CONSTRAINTS.map(field).filter((key) => (FLAGS.includes(key) ? form.elements[key].checked : form.elements[key].value.trim()));
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

/** The models the picker offers: the manifest's, else model.onnx. */
async function readManifest() {
  let response;
  try {
    response = await fetch(MANIFEST);
  } catch {
    return [];
  }
  if (response.status === 404) return [];
  if (!response.ok) throw new Error(`could not load ${MANIFEST}: HTTP ${response.status} ${response.statusText}`.trimEnd());
  let models;
  try {
    ({ models } = await response.json());
  } catch (err) {
    throw new Error(`${MANIFEST} is not JSON: ${err.message}`);
  }
  const bad = !Array.isArray(models) ? 'it has no "models" list'
    : models.map((m, i) => (typeof m?.file === 'string' && m.file ? null : `model ${i + 1} has no "file"`)).find(Boolean);
  if (bad) throw new Error(`${MANIFEST} is not a playground manifest: ${bad} (build_models.py writes one)`);
  return models.map((m) => ({ ...m, url: new URL(m.file, new URL(MANIFEST, location.href)).href }));
}

/** A model's URL as the address bar gives it: relative to the page when it is beside it or below. */
function relative(url) {
  const base = new URL('.', location.href).href;
  return url.startsWith(base) ? url.slice(base.length) : url;
}

const sessions = new Map(); // URL -> Promise<NamegenModel>: each model is loaded once

/** The model at `url`, loaded (with the runtime, the first time) while the progress shows. */
function open(url) {
  if (!sessions.has(url)) {
    const promise = (async () => {
      const name = decodeURIComponent(new URL(url).pathname.split('/').pop());
      const first = !ort.env.wasm.wasmBinary;
      const [bytes, wasm] = await downloadAll(first ? [url, WASM] : [url], first ? `Loading onnxruntime (WebAssembly) and ${name}` : `Loading ${name}`);
      if (wasm) ort.env.wasm.wasmBinary = wasm;
      loading(first ? 'Starting onnxruntime' : `Opening ${name}`, 0, 0);
      // The vocabulary, limits and sampling rule come from the file's metadata_props. Messages
      // name the options as the form does (min_len); fewer names than asked for show in the status line.
      return load(bytes, { ort, label: field });
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

  // The picker: the manifest's models, and the query's model when it is another.
  const entries = await readManifest().catch((err) => { showError(err.message); return []; });
  const choices = entries.length ? entries : [{ url: new URL(FALLBACK, location.href).href, label: FALLBACK }];
  const asked = (query.get('model') ?? '').trim();
  const askedUrl = asked ? new URL(asked, location.href).href : choices[0].url;
  if (!choices.some((c) => c.url === askedUrl)) choices.push({ url: askedUrl, label: `${asked} (from the address)` });
  picker.replaceChildren(...choices.map((c) => new Option(c.bytes ? `${c.label ?? c.name} · ${size(c.bytes)}` : (c.label ?? c.name), relative(c.url))));
  picker.value = relative(askedUrl);

  let model = null; // the NamegenModel on show
  let values = {}; // the form's values of the batch on show
  let batch = 0, offset = 0, firstSeed = 0n;

  /** The link to the batch drawn with `seed`: the model (always, when there is a manifest: its
   * first model may change) and every non-default value. */
  function linkTo(seed) {
    const params = new URLSearchParams();
    if (entries.length || picker.value !== FALLBACK) params.set('model', picker.value);
    if (seed !== 0n) params.set('seed', String(seed));
    const defaults = { count: DEFAULTS.count, temperature: DEFAULTS.temperature };
    for (const [key, value] of Object.entries(values)) {
      if (key !== 'seed' && !(key in defaults && Number(value) === defaults[key])) params.set(key, value);
    }
    const url = new URL(location.href);
    url.search = params.toString().replace(/%2F/g, '/'); // models/x.onnx reads better than models%2Fx.onnx
    url.hash = '';
    return url.href;
  }

  async function draw() {
    for (const id of ['generate', 'more', 'model']) $(id).disabled = true;
    delete document.body.dataset.ready;
    clearError();
    try {
      const { count, ...rest } = values;
      const options = Object.fromEntries(Object.entries(rest).map(([key, value]) => [option(key), value]));
      // Batch k uses seed + k, from the first batch's seed as fed (the form's, modulo 2**62).
      const drawn = await model.draw(count, offset ? { ...options, seed: firstSeed + BigInt(offset) } : options);
      if (!offset) firstSeed = drawn.seed;
      const { names, found } = drawn;
      $('names').replaceChildren(...names.map((name) => {
        const item = document.createElement('li');
        item.dataset.name = name;
        item.textContent = capitalise(name);
        return item;
      }));
      batch += 1;
      const rule = CONSTRAINTS.map(field).filter((key) => key in values).map((key) => `${key}=${TEXTS.includes(key) ? JSON.stringify(values[key]) : values[key]}`);
      $('status').textContent = `Batch ${batch}: ${found} names, seed ${drawn.seed}, temperature ${values.temperature ?? DEFAULTS.temperature.toFixed(1)}`
        + (rule.length ? `; ${rule.join(', ')}.` : '.')
        + (drawn.warning ? ` Warning: ${drawn.warning}.` : '');
      const link = linkTo(drawn.seed);
      $('share').value = link;
      history.replaceState(null, '', link); // the address bar gives the names on show too
      $('note').textContent = '';
      Object.assign(document.body.dataset, { batch: String(batch), seed: String(drawn.seed), found: String(found), ready: '1' });
    } catch (err) {
      showError(err.message ?? String(err), err.option);
    } finally {
      for (const id of ['generate', 'model']) $(id).disabled = false;
      for (const id of ['more', 'copy', 'copy-link']) $(id).disabled = document.body.dataset.error === '1';
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
      model = await open(url);
    } catch (err) {
      showError(err.message ?? String(err));
      return;
    } finally {
      loaded();
    }
    form.elements.count.title = `1 to ${model.maxCount.toLocaleString('en-US')}`;
    form.elements.max_len.placeholder = String(model.maxLen);
    $('model-info').textContent = [
      entry.description,
      typeof entry.test_nll === 'number' ? `${entry.test_nll.toFixed(2)} nats a character on held-out names.` : '',
    ].filter(Boolean).join(' ');
    $('vocab').textContent = `${model.vocab.length - 1} characters: ${compact(model.vocab.slice(1))}. Names of up to ${model.maxLen} characters; sampling rule ${model.rule}`
      + (model.rule < 2 ? ' (this export predates the constraints).'
        : model.trainingNames ? `; ${model.trainingNames.toLocaleString('en-US')} training names for novel.` : '; no training names (novel is off).');
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
