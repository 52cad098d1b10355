// Sample names in the browser from a namegen ONNX sampler with onnxruntime-web (wasm backend).
//
// Query parameters (and the form's fields, prefilled from them): model (URL, default model.onnx
// beside this page), seed (0), count (10), temperature (1.0), and sampling rule 2's constraints:
// prefix, suffix, contains, min_len, max_len, novel=1, distinct=1, max_candidates. An empty
// or missing value is the default. Batch k (from 0) uses seed + k, so "More names" gives the
// names Python's `runtime.load(model).sample(count, seed=seed + k, temperature=temperature,
// prefix=..., ...)` gives; "Generate" starts again from the form's values.
//
// For tests and tools: the batch on show is in <ol id="names">, one <li> per name;
// <body data-batch="K" data-seed="S" data-found="F" data-ready="1"> once the K-th batch since
// the page loaded is rendered; errors go in #error (and set data-error="1").
import * as ort from './node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';
import { CONSTRAINTS, DEFAULTS, openSampler, readNames, sampleFeeds, shortMessage } from './sampler.mjs';

// Single-threaded wasm needs no cross-origin isolation (COOP/COEP headers), so any static server
// works. The .wasm and its loader are fetched from the package's dist folder.
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL('./node_modules/onnxruntime-web/dist/', import.meta.url).href;

const FIELDS = ['seed', 'count', 'temperature', ...CONSTRAINTS]; // query parameters = the form's field names
const FLAGS = ['novel', 'distinct']; // checkboxes
const $ = (id) => document.getElementById(id);
const form = $('controls');

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
  $('status').textContent = 'Failed.';
  document.body.dataset.error = '1';
}

/** The non-empty values of `source` (URLSearchParams or FormData) for FIELDS, as strings. */
function valuesOf(source) {
  return Object.fromEntries(FIELDS.map((key) => [key, (source.get(key) ?? '').trim()]).filter(([, value]) => value !== ''));
}

/** Show `values` in the form (the page's state is always what the form says). */
function fillForm(values) {
  for (const key of FIELDS) {
    const field = form.elements[key];
    if (FLAGS.includes(key)) field.checked = ['1', 'true'].includes((values[key] ?? '').toLowerCase());
    else field.value = values[key] ?? '';
  }
}

async function main() {
  const query = new URLSearchParams(location.search);
  const modelUrl = new URL((query.get('model') ?? '').trim() || 'model.onnx', location.href).href;
  let values = valuesOf(query); // checked (by sampler.mjs) once the model's metadata is known
  fillForm(values);

  $('status').textContent = `Loading ${modelUrl}…`;
  const response = await fetch(modelUrl);
  if (!response.ok) throw new Error(`could not load ${modelUrl}: HTTP ${response.status} ${response.statusText}`);
  // The vocabulary, limits and sampling rule come from the file's metadata_props, which
  // onnxruntime-web does not expose: sampler.mjs reads them from the bytes.
  const { info, model } = openSampler(new Uint8Array(await response.arrayBuffer()), modelUrl);
  // logSeverityLevel 3 (errors): a file's overridable initialisers draw a warning each.
  const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], logSeverityLevel: 3 });

  form.elements.count.placeholder = `${DEFAULTS.count} (1 to ${info.maxCount.toLocaleString('en-US')})`;
  form.elements.max_len.placeholder = String(info.maxLen);
  $('vocab').textContent = `Characters: ${info.vocab.slice(1).join('')}. Rule ${info.rule}`
    + (info.rule < 2 ? ' (this export predates the constraints).' : info.trainingNames ? `; ${info.trainingNames.toLocaleString('en-US')} training names for novel.` : '; no training names (novel is off).');

  let batch = 0, offset = 0;
  async function draw() {
    for (const button of [$('more'), $('generate')]) button.disabled = true;
    delete document.body.dataset.ready;
    delete document.body.dataset.error;
    $('error').hidden = true;
    try {
      const first = sampleFeeds(ort, info, values); // checks every value; its seed is taken modulo 2**62
      const request = offset ? sampleFeeds(ort, info, { ...values, seed: first.seed + BigInt(offset) }) : first; // batch k uses seed + k
      const { names, found } = readNames(await session.run(request.feeds, request.fetches));
      $('names').replaceChildren(...names.map((name) => Object.assign(document.createElement('li'), { textContent: name })));
      batch += 1;
      const texts = ['prefix', 'suffix', 'contains']; // quoted: a space or a comma would be lost otherwise
      const rule = CONSTRAINTS.filter((key) => key in values).map((key) => `${key}=${texts.includes(key) ? JSON.stringify(values[key]) : values[key]}`);
      $('status').textContent = `Batch ${batch}: ${found} names, seed ${request.seed}, temperature ${values.temperature ?? DEFAULTS.temperature.toFixed(1)}`
        + (rule.length ? `; ${rule.join(', ')}.` : '.')
        + (found < request.count ? ` Warning: ${shortMessage(found, request.count)}.` : '');
      Object.assign(document.body.dataset, { batch: String(batch), seed: String(request.seed), found: String(found), ready: '1' });
    } catch (err) {
      showError(err.message ?? String(err));
    } finally {
      $('generate').disabled = false;
      $('more').disabled = document.body.dataset.error === '1';
    }
  }

  form.addEventListener('submit', (event) => { // Generate: the form's values, from their seed
    event.preventDefault();
    values = valuesOf(new FormData(form));
    offset = 0;
    const url = new URL(location.href);
    url.search = new URLSearchParams({ ...(query.has('model') ? { model: query.get('model') } : {}), ...values }).toString();
    history.replaceState(null, '', url); // the address bar can be shared: it gives these names
    draw();
  });
  $('more').addEventListener('click', () => { offset += 1; draw(); });
  await draw();
}

main().catch((err) => showError(err.message ?? String(err)));
