#!/usr/bin/env node
// Generate names from a namegen ONNX sampler with stock onnxruntime-node.
//
//   node generate.mjs [MODEL.onnx | --pretrained NAME] [--count N] [--seed S] [--temperature T] [--json]
//                     [--prefix P] [--suffix S] [--contains C] [--min-len N] [--max-len N]
//                     [--novel] [--distinct] [--max-candidates N]
//
// Without MODEL.onnx or --pretrained, the model is the best of the pre-built models that ship in
// the namegen package (the lowest test NLL in its models/manifest.json).
// The names are exactly those of Python's `runtime.load(MODEL).sample(N, seed=S, temperature=T,
// prefix=P, ...)` (`runtime.load_pretrained(NAME)` for a pre-built one): all of the sampling
// (network, random numbers, decoding, the constraints) happens inside the ONNX graph. The namegen
// package (../../js) checks the arguments as Python does and runs the graph with onnxruntime-node.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULTS, NamegenError, load, loadPretrained } from 'namegen';

const USAGE = 'usage: node generate.mjs [MODEL.onnx | --pretrained NAME] [--count N] [--seed S] [--temperature T] [--json]\n'
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
        pretrained: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError(err.message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  if (positionals.length > 1) throw new UsageError(`expected at most one MODEL.onnx, got ${positionals.length} positional arguments`);
  if (positionals.length && values.pretrained !== undefined) throw new UsageError('give MODEL.onnx or --pretrained NAME, not both');
  const { json, help, count, pretrained, ...rest } = values;
  // --min-len -> minLen: the package's option names.
  const options = Object.fromEntries(Object.entries(rest).map(([key, value]) => [key.replace(/-([a-z])/g, (_, c) => c.toUpperCase()), value]));
  return { model: positionals[0], pretrained, json, count, options };
}

/** The pre-built models of the namegen package's models/manifest.json, best (lowest test NLL) first. */
function pretrainedModels() {
  // The package exports its package.json; its models/ folder is beside it.
  const path = new URL('models/manifest.json', pathToFileURL(createRequire(import.meta.url).resolve('namegen/package.json')));
  let models;
  try {
    ({ models } = JSON.parse(readFileSync(path, 'utf8')));
  } catch (err) {
    if (err.code === 'ENOENT') return [];
    throw new NamegenError(`cannot read the namegen package's pre-built models (${err.message}); reinstall it`);
  }
  const nll = ([, entry]) => (Number.isFinite(entry?.test_nll) ? entry.test_nll : Infinity);
  return Object.entries(models ?? {}).sort((a, b) => nll(a) - nll(b)).map(([name, entry]) => ({ name, ...entry }));
}

async function main() {
  const args = parseCommandLine(process.argv.slice(2));
  if (args.help) {
    const shipped = pretrainedModels().map((m, i) => `  ${m.name}${i ? '' : ' (the default)'}: test NLL ${m.test_nll}, ${Math.round(m.sampler_bytes / 1000)} KB`);
    console.log(`${USAGE}\n\npre-built models (--pretrained NAME):\n${shipped.join('\n') || '  none ship with the namegen package'}`);
    return;
  }

  // A file that is not a sampler (or of a sampling rule the package does not know) is a
  // NamegenError without an `option`: exit 1. A bad argument names its option: exit 2.
  const warnings = [];
  const loadOptions = { label: option, warn: (message) => warnings.push(message) };
  let model;
  if (args.model !== undefined) {
    model = await load(args.model, loadOptions);
  } else {
    const name = args.pretrained ?? pretrainedModels()[0]?.name;
    if (name === undefined) throw new UsageError('no pre-built model ships with the namegen package: give MODEL.onnx');
    try {
      model = await loadPretrained(name, loadOptions);
    } catch (err) {
      // An unknown name is the option's fault: say which option.
      if (err instanceof NamegenError && err.option === 'name') throw new UsageError(`--pretrained: ${err.message}`);
      throw err;
    }
  }
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
