#!/usr/bin/env node
// Generate names from a namegen ONNX sampler with stock onnxruntime-node.
//
//   node generate.mjs MODEL.onnx [--count N] [--seed S] [--temperature T] [--json]
//                     [--prefix P] [--suffix S] [--contains C] [--min-len N] [--max-len N]
//                     [--novel] [--distinct] [--max-candidates N]
//
// The names are exactly those of Python's `runtime.load(MODEL).sample(N, seed=S, temperature=T,
// prefix=P, ...)`: all of the sampling (network, random numbers, decoding, the constraints)
// happens inside the ONNX graph. The namegen package (../../js) checks the arguments as Python
// does and runs the graph with onnxruntime-node.
import { parseArgs } from 'node:util';
import { DEFAULTS, NamegenError, load } from 'namegen';

const USAGE = 'usage: node generate.mjs MODEL.onnx [--count N] [--seed S] [--temperature T] [--json]\n'
  + '                        [--prefix P] [--suffix S] [--contains C] [--min-len N] [--max-len N]\n'
  + '                        [--novel] [--distinct] [--max-candidates N]';

class UsageError extends Error {}

/** How messages name an argument: the option that sets it (minLen -> --min-len). @param {string} name */
const option = (name) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

function parseCommandLine(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: {
        // Values stay strings: the namegen package checks them the way Python checks its arguments.
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
  const { json, help, count, ...rest } = values;
  // --min-len -> minLen: the package's option names.
  const options = Object.fromEntries(Object.entries(rest).map(([key, value]) => [key.replace(/-([a-z])/g, (_, c) => c.toUpperCase()), value]));
  return { model: positionals[0], json, count, options };
}

async function main() {
  const args = parseCommandLine(process.argv.slice(2));
  if (args.help) { console.log(USAGE); return; }

  // A file that is not a sampler (or of a sampling rule the package does not know) is a
  // NamegenError without an `option`: exit 1. A bad argument names its option: exit 2.
  const warnings = [];
  const model = await load(args.model, { label: option, warn: (message) => warnings.push(message) });
  const names = await model.sample(args.count, args.options);
  if (args.json) process.stdout.write(JSON.stringify(names) + '\n');
  else if (names.length) process.stdout.write(names.join('\n') + '\n'); // no names (the budget ran out): no lines
  for (const message of warnings) console.error(`generate.mjs: warning: ${message}`);
}

main().catch((err) => {
  const usage = err instanceof UsageError || (err instanceof NamegenError && err.option !== undefined);
  console.error(`generate.mjs: ${err.message}`);
  if (usage) console.error(USAGE);
  process.exitCode = usage ? 2 : 1;
});
