#!/usr/bin/env node
// Names per second from the namegen JavaScript package in Node (onnxruntime-node), on one
// intra-op thread (the package's default) and on onnxruntime's default (one thread per core),
// in one run, alternating the two so that the machine's load hits both alike.
//
//   node bench/node_threads.mjs SAMPLER.onnx [--count 1000] [--seconds 3] [--threads 1,0]
//
// Needs js/node_modules (npm ci in js/) or examples/node/node_modules (npm ci there).
// Prints a Markdown table: per thread setting, names per second at the median call, the best and
// median call, and the ratio to the first setting.
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { load } from '../js/src/index.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    count: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1,0' },
  },
});
if (positionals.length !== 1) {
  console.error('usage: node bench/node_threads.mjs SAMPLER.onnx [--count 1000] [--seconds 3] [--threads 1,0]');
  process.exit(2);
}
const count = Number(values.count), seconds = Number(values.seconds), settings = values.threads.split(',').map(Number);

/** onnxruntime-node from js/ (its dev dependency) or from examples/node. */
function onnxruntime() {
  for (const base of ['../js/package.json', '../examples/node/package.json']) {
    try {
      return createRequire(new URL(base, import.meta.url))('onnxruntime-node');
    } catch { /* the next */ }
  }
  throw new Error('onnxruntime-node is not installed: npm ci --ignore-scripts in js/ or in examples/node');
}
const ort = onnxruntime();

const models = await Promise.all(settings.map((threads) => load(positionals[0], { threads, ort })));
const times = settings.map(() => []);
for (const model of models) await model.sample(count, { seed: 0 }); // warm up
const started = performance.now();
for (let call = 1; (performance.now() - started) / 1000 < seconds * settings.length || times[0].length < 5; call++) {
  for (const [k, model] of models.entries()) { // alternate: the same seeds, the same load
    const t = performance.now();
    await model.sample(count, { seed: call });
    times[k].push(performance.now() - t);
  }
}

const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
const rate = (k) => count / (median(times[k]) / 1000);
console.log(`${models[0].metadata.plugin} sampler (${models[0].metadata.sampler_loop ?? 'loop ?'}), ${count.toLocaleString('en-US')} names a call, `
  + `${times[0].length} calls each, onnxruntime-node ${ort.env?.versions?.node ?? ort.env?.versions?.common ?? '?'}, Node ${process.versions.node}, ${availableParallelism()} cores\n`);
console.log('| intra-op threads | names/s (median call) | best call | median call | vs first |');
console.log('|---|---:|---:|---:|---:|');
for (const [k, threads] of settings.entries()) {
  const label = threads === 0 ? "0 (onnxruntime's default)" : String(threads);
  console.log(`| ${label} | ${Math.round(rate(k)).toLocaleString('en-US')} | ${Math.min(...times[k]).toFixed(2)} ms `
    + `| ${median(times[k]).toFixed(2)} ms | ${(rate(k) / rate(0)).toFixed(2)}x |`);
}
