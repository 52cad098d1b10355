#!/usr/bin/env node
// Generate names from a namegen ONNX sampler with stock onnxruntime-node.
//
//   node generate.mjs MODEL.onnx [--count N] [--seed S] [--temperature T] [--json]
//
// The names are exactly those of Python's `runtime.load(MODEL).sample(N, seed=S, temperature=T)`:
// all of the sampling (network, random numbers, decoding) happens inside the ONNX graph.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';

const USAGE = 'usage: node generate.mjs MODEL.onnx [--count N] [--seed S] [--temperature T] [--json]';
const SAMPLING_RULE_VERSION = '1'; // the sampling contract this script was written against

class UsageError extends Error {}

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
  const fields = (end, onString) => { // calls onString(field, bytes) for each length-delimited field
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

function parseCommandLine(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: {
        count: { type: 'string', default: '10' },
        seed: { type: 'string', default: '0' },
        temperature: { type: 'string', default: '1.0' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError(err.message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  if (positionals.length !== 1) throw new UsageError(`expected one MODEL.onnx, got ${positionals.length} positional arguments`);
  if (!/^\d+$/.test(values.count)) throw new UsageError(`--count must be a positive integer, got ${JSON.stringify(values.count)}`);
  if (!/^-?\d+$/.test(values.seed)) throw new UsageError(`--seed must be an integer, got ${JSON.stringify(values.seed)}`);
  // Like Python's float32 check: the graph receives a float32, which must be positive and finite.
  const temperature = Number(values.temperature);
  const t32 = Math.fround(temperature);
  if (values.temperature.trim() === '' || !(t32 > 0) || !Number.isFinite(t32)) {
    throw new UsageError(`--temperature must be a positive number, got ${JSON.stringify(values.temperature)}`);
  }
  return {
    model: positionals[0],
    count: Number(values.count),
    seed: BigInt.asUintN(62, BigInt(values.seed)), // seeds are taken modulo 2**62, as in Python
    temperature: t32,
    json: values.json,
  };
}

async function main() {
  const args = parseCommandLine(process.argv.slice(2));
  if (args.help) { console.log(USAGE); return; }

  let bytes;
  try {
    bytes = await readFile(args.model);
  } catch (err) {
    throw new UsageError(`cannot read ${args.model}: ${err.code ?? err.message}`);
  }
  const meta = onnxMetadata(bytes);
  if (meta.namegen_format !== 'namegen-sampler') throw new Error(`${args.model} is not a namegen sampler export`);
  if (meta.sampling_rule_version !== SAMPLING_RULE_VERSION) {
    throw new Error(`${args.model} uses sampling rule ${meta.sampling_rule_version}; this script knows ${SAMPLING_RULE_VERSION}`);
  }
  const maxCount = Number(meta.max_count);
  if (!(args.count >= 1 && args.count <= maxCount)) {
    throw new UsageError(`--count must be an integer from 1 to ${maxCount}, got ${args.count}`);
  }

  // The sampler's inputs are three scalars (shape []): seed and count int64, temperature float32.
  const session = await ort.InferenceSession.create(bytes);
  const feeds = {
    seed: new ort.Tensor('int64', BigInt64Array.from([args.seed]), []),
    count: new ort.Tensor('int64', BigInt64Array.from([BigInt(args.count)]), []),
    temperature: new ort.Tensor('float32', Float32Array.from([args.temperature]), []),
  };
  const { names } = await session.run(feeds, ['names']); // a string tensor [count]
  const lines = args.json ? JSON.stringify(names.data) : names.data.join('\n');
  process.stdout.write(lines + '\n');
}

main().catch((err) => {
  console.error(`generate.mjs: ${err.message}`);
  if (err instanceof UsageError) console.error(USAGE);
  process.exitCode = err instanceof UsageError ? 2 : 1;
});
