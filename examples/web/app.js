// Sample names in the browser from a namegen ONNX sampler with onnxruntime-web (wasm backend).
//
// Query parameters: model (URL, default model.onnx beside this page), seed (0), count (10),
// temperature (1.0). Batch k uses seed + k, so "More names" gives the names Python's
// `runtime.load(model).sample(count, seed=seed + k, temperature=temperature)` gives.
//
// For tests and tools: the batch on show is in <ol id="names">, one <li> per name;
// <body data-batch="K" data-seed="S" data-ready="1"> once batch K is rendered; errors go in #error.
import * as ort from './node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';

// Single-threaded wasm needs no cross-origin isolation (COOP/COEP headers), so any static server
// works. The .wasm and its loader are fetched from the package's dist folder.
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL('./node_modules/onnxruntime-web/dist/', import.meta.url).href;

const MAX_COUNT = 1_000_000; // the sampler's documented cap on names per call
const $ = (id) => document.getElementById(id);

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
  $('status').textContent = 'Failed.';
  document.body.dataset.error = '1';
}

// The query parameters, checked the way the Python side checks them.
function readParams() {
  const query = new URLSearchParams(location.search);
  const get = (key, fallback) => (query.get(key) ?? fallback).trim();
  const model = new URL(get('model', 'model.onnx'), location.href).href;
  const seed = get('seed', '0'), count = get('count', '10'), temperature = get('temperature', '1.0');
  if (!/^-?\d+$/.test(seed)) throw new Error(`seed must be an integer, got ${JSON.stringify(seed)}`);
  if (!/^\d+$/.test(count) || Number(count) < 1) throw new Error(`count must be a positive integer, got ${JSON.stringify(count)}`);
  const t32 = Math.fround(Number(temperature)); // the graph receives a float32
  if (temperature === '' || !(t32 > 0) || !Number.isFinite(t32)) {
    throw new Error(`temperature must be a positive number, got ${JSON.stringify(temperature)}`);
  }
  // Seeds are taken modulo 2**62, as in Python.
  return { model, seed: BigInt.asUintN(62, BigInt(seed)), count: Number(count), temperature: t32 };
}

async function main() {
  const params = readParams();
  $('status').textContent = `Loading ${params.model}…`;
  const response = await fetch(params.model);
  if (!response.ok) throw new Error(`could not load ${params.model}: HTTP ${response.status} ${response.statusText}`);
  const bytes = new Uint8Array(await response.arrayBuffer());

  if (params.count > MAX_COUNT) throw new Error(`count must be at most ${MAX_COUNT}, got ${params.count}`);
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  // onnxruntime-web does not expose metadata_props (examples/node/generate.mjs reads them from the
  // bytes); the sampler's interface is check enough for a page.
  const missing = ['seed', 'count', 'temperature'].filter((name) => !session.inputNames.includes(name));
  if (missing.length || !session.outputNames.includes('names')) {
    throw new Error(`${params.model} is not a namegen sampler export (inputs: ${session.inputNames.join(', ')})`);
  }
  // The sampler's inputs are three scalars (shape []): seed and count int64, temperature float32.
  const count = new ort.Tensor('int64', BigInt64Array.from([BigInt(params.count)]), []);
  const temperature = new ort.Tensor('float32', Float32Array.from([params.temperature]), []);

  let batch = 0;
  async function generate() {
    $('more').disabled = true;
    delete document.body.dataset.ready;
    const seed = BigInt.asUintN(62, params.seed + BigInt(batch)); // batch k uses seed + k
    const feeds = { seed: new ort.Tensor('int64', BigInt64Array.from([seed]), []), count, temperature };
    const { names } = await session.run(feeds, ['names']); // a string tensor [count]

    const items = names.data.map((name) => Object.assign(document.createElement('li'), { textContent: name }));
    $('names').replaceChildren(...items);
    batch += 1;
    $('status').textContent = `Batch ${batch}: ${params.count} names, seed ${seed}, temperature ${params.temperature}.`;
    Object.assign(document.body.dataset, { batch: String(batch), seed: String(seed), ready: '1' });
    $('more').disabled = false;
  }

  $('more').addEventListener('click', () => generate().catch((err) => showError(err.message)));
  await generate();
}

main().catch((err) => showError(err.message ?? String(err)));
