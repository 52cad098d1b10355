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
//
// The namegen package (../../js, as node_modules/namegen) does the work: index.html's import map
// resolves 'namegen' to its browser entry and 'onnxruntime-web' to the WebAssembly build, which
// fetches its .wasm from beside itself. The package runs onnxruntime-web on one thread, which
// needs no cross-origin isolation (COOP/COEP headers), so any static server works.
import { CONSTRAINTS, DEFAULTS, load } from 'namegen';

/** A form field's (and query parameter's) name for a package option: minLen -> min_len. */
const field = (option) => option.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
/** The package's option for a form field: min_len -> minLen. */
const option = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
const FIELDS = ['seed', 'count', 'temperature', ...CONSTRAINTS.map(field)]; // query parameters = the form's field names
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
    const input = form.elements[key];
    if (FLAGS.includes(key)) input.checked = ['1', 'true'].includes((values[key] ?? '').toLowerCase());
    else input.value = values[key] ?? '';
  }
}

async function main() {
  const query = new URLSearchParams(location.search);
  const modelUrl = new URL((query.get('model') ?? '').trim() || 'model.onnx', location.href).href;
  let values = valuesOf(query); // checked (by the package) once the model's metadata is known
  fillForm(values);

  $('status').textContent = `Loading ${modelUrl}…`;
  // The vocabulary, limits and sampling rule come from the file's metadata_props. Messages name
  // the options as the form does (min_len); fewer names than asked for show in the status line.
  const model = await load(modelUrl, { label: field });

  form.elements.count.placeholder = `${DEFAULTS.count} (1 to ${model.maxCount.toLocaleString('en-US')})`;
  form.elements.max_len.placeholder = String(model.maxLen);
  $('vocab').textContent = `Characters: ${model.vocab.slice(1).join('')}. Rule ${model.rule}`
    + (model.rule < 2 ? ' (this export predates the constraints).' : model.trainingNames ? `; ${model.trainingNames.toLocaleString('en-US')} training names for novel.` : '; no training names (novel is off).');

  let batch = 0, offset = 0, firstSeed = 0n;
  async function draw() {
    for (const button of [$('more'), $('generate')]) button.disabled = true;
    delete document.body.dataset.ready;
    delete document.body.dataset.error;
    $('error').hidden = true;
    try {
      const { count, ...rest } = values;
      const options = Object.fromEntries(Object.entries(rest).map(([key, value]) => [option(key), value]));
      // Batch k uses seed + k, from the first batch's seed as fed (the form's, modulo 2**62).
      const drawn = await model.draw(count, offset ? { ...options, seed: firstSeed + BigInt(offset) } : options);
      if (!offset) firstSeed = drawn.seed;
      const { names, found } = drawn;
      $('names').replaceChildren(...names.map((name) => Object.assign(document.createElement('li'), { textContent: name })));
      batch += 1;
      const texts = ['prefix', 'suffix', 'contains']; // quoted: a space or a comma would be lost otherwise
      const rule = CONSTRAINTS.map(field).filter((key) => key in values).map((key) => `${key}=${texts.includes(key) ? JSON.stringify(values[key]) : values[key]}`);
      $('status').textContent = `Batch ${batch}: ${found} names, seed ${drawn.seed}, temperature ${values.temperature ?? DEFAULTS.temperature.toFixed(1)}`
        + (rule.length ? `; ${rule.join(', ')}.` : '.')
        + (drawn.warning ? ` Warning: ${drawn.warning}.` : '');
      Object.assign(document.body.dataset, { batch: String(batch), seed: String(drawn.seed), found: String(found), ready: '1' });
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
