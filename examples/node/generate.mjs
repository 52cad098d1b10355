#!/usr/bin/env node
// Generate names from a namegen ONNX sampler with stock onnxruntime-node.
//
//   node generate.mjs MODEL.onnx [--count N] [--seed S] [--temperature T] [--json]
//                     [--prefix P] [--suffix S] [--contains C] [--min-len N] [--max-len N]
//                     [--novel] [--distinct] [--max-candidates N]
//
// The names are exactly those of Python's `runtime.load(MODEL).sample(N, seed=S, temperature=T,
// prefix=P, ...)`: all of the sampling (network, random numbers, decoding, the constraints)
// happens inside the ONNX graph. ../web/sampler.mjs, shared with the browser page, checks the
// arguments as Python does and builds the graph's inputs.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { DEFAULTS, SamplerArgumentError, openSampler, readNames, sampleFeeds, shortMessage } from '../web/sampler.mjs';

const USAGE = 'usage: node generate.mjs MODEL.onnx [--count N] [--seed S] [--temperature T] [--json]\n'
  + '                        [--prefix P] [--suffix S] [--contains C] [--min-len N] [--max-len N]\n'
  + '                        [--novel] [--distinct] [--max-candidates N]';

class UsageError extends Error {}

/** How messages name an input: the option that sets it (min_len -> --min-len). @param {string} input */
const option = (input) => `--${input.replaceAll('_', '-')}`;

function parseCommandLine(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: {
        // Values stay strings: ../web/sampler.mjs checks them the way Python checks its arguments.
        count: { type: 'string', default: String(DEFAULTS.count) },
        seed: { type: 'string', default: String(DEFAULTS.seed) },
        temperature: { type: 'string', default: DEFAULTS.temperature.toFixed(1) },
        // The constraints have no defaults here: an option not given is not sent to the graph.
        prefix: { type: 'string' },
        suffix: { type: 'string' },
        contains: { type: 'string' },
        'min-len': { type: 'string' },
        'max-len': { type: 'string' },
        novel: { type: 'boolean' },
        distinct: { type: 'boolean' },
        'max-candidates': { type: 'string' },
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
  const { json, help, ...rest } = values;
  // --min-len -> min_len: sampler.mjs takes Python's argument names.
  const sample = Object.fromEntries(Object.entries(rest).map(([key, value]) => [key.replaceAll('-', '_'), value]));
  return { model: positionals[0], json, sample };
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
  const { info, model } = openSampler(bytes, args.model); // not a sampler, or a rule we do not know: exit 1
  let request;
  try {
    request = sampleFeeds(ort, info, args.sample, { label: option });
  } catch (err) {
    throw err instanceof SamplerArgumentError ? new UsageError(err.message) : err;
  }

  // `model` takes rule 2's constraints as plain inputs (see openSampler). Log errors only: a
  // file's overridable initialisers draw a warning each at session creation. One thread is
  // fastest for the sampler's many small operations (as in Python's runtime.load).
  const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3, intraOpNumThreads: 1 });
  const { names, found } = readNames(await session.run(request.feeds, request.fetches));
  if (args.json) process.stdout.write(JSON.stringify(names) + '\n');
  else if (names.length) process.stdout.write(names.join('\n') + '\n'); // no names: no lines (one empty name: one empty line)
  if (found < request.count) console.error(`generate.mjs: warning: ${shortMessage(found, request.count, option)}`);
}

main().catch((err) => {
  console.error(`generate.mjs: ${err.message}`);
  if (err instanceof UsageError) console.error(USAGE);
  process.exitCode = err instanceof UsageError ? 2 : 1;
});
