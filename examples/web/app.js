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

const SAMPLING_RULE_VERSION = '1'; // the sampling contract this page was written against
const $ = (id) => document.getElementById(id);

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
  $('status').textContent = 'Failed.';
  document.body.dataset.error = '1';
}

// metadata_props of an ONNX file, as {key: value}. onnxruntime's JS API does not expose them, so
// walk the top level of the ModelProto protobuf: field 14 holds StringStringEntryProto {1: key, 2: value}.
function onnxMetadata(bytes) {
  let pos = 0;
  const varint = () => { // protobuf base-128 varint (a Number: fine for lengths and tags)
    let value = 0;
    for (let scale = 1; ; scale *= 128) {
      const byte = bytes[pos++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
    }
  };
  const fields = (end, onString) => { // calls onString(field, start, end) for each length-delimited field
    while (pos < end) {
      const tag = varint(), field = Math.floor(tag / 8), wire = tag % 8;
      if (wire === 0) varint();
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) { const n = varint(); onString(field, pos, pos + n); pos += n; }
      else throw new Error(`not an ONNX file (protobuf wire type ${wire})`);
    }
  };
  const text = (start, end) => new TextDecoder().decode(bytes.subarray(start, end));
  const meta = {};
  fields(bytes.length, (field, start, end) => {
    if (field !== 14) return;
    const entry = {};
    const after = pos; pos = start;
    fields(end, (f, s, e) => { entry[f] = text(s, e); });
    pos = after;
    meta[entry[1] ?? ''] = entry[2] ?? '';
  });
  return meta;
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

  const meta = onnxMetadata(bytes);
  if (meta.namegen_format !== 'namegen-sampler') throw new Error(`${params.model} is not a namegen sampler export`);
  if (meta.sampling_rule_version !== SAMPLING_RULE_VERSION) {
    throw new Error(`${params.model} uses sampling rule ${meta.sampling_rule_version}; this page knows ${SAMPLING_RULE_VERSION}`);
  }
  if (params.count > Number(meta.max_count)) throw new Error(`count must be at most ${meta.max_count}, got ${params.count}`);

  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
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
    $('status').textContent = `Batch ${batch}: ${params.count} names, seed ${seed}, temperature ${params.temperature} ` +
      `(${meta.plugin} model).`;
    Object.assign(document.body.dataset, { batch: String(batch), seed: String(seed), ready: '1' });
    $('more').disabled = false;
  }

  $('more').addEventListener('click', () => generate().catch((err) => showError(err.message)));
  await generate();
}

main().catch((err) => showError(err.message ?? String(err)));
