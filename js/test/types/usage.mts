// Compiled, never run, by test/types.test.mjs: how an ES module uses the package's types.
import { load, loadPretrained, pretrained, NamegenError, CONSTRAINTS, type NamegenModel, type Draw } from 'namegen';
import * as web from 'namegen/web';
const model: NamegenModel = await load('exports/linear.onnx', { threads: 1, label: (o) => `--${o}` });
const names: string[] = await model.sample(20, { seed: 7n, temperature: 0.8, prefix: 'ma', minLen: 3, novel: true });
const drawn: Draw = await model.draw(5, { maxCandidates: '100', exclude: new Set(['emma']) });
const holds: number = model.knownNames;
const seed: bigint = drawn.seed;
const ll: Float32Array = await model.logLikelihood(names);
const v: readonly string[] = model.vocab;
const c: string = CONSTRAINTS[0];
try { await model.sample(0); } catch (err) { if (err instanceof NamegenError) console.log(err.option ?? 'file'); }
const m2 = await web.load(new Uint8Array(3), { scorer: 'x.scorer.onnx' });
console.log(names, seed, ll, v, c, m2.maxLen, web.scorerUrl('http://x/a.onnx'), holds);
// @ts-expect-error: snake_case options are not options
await model.sample(3, { min_len: 3 });
const known: string[] = await pretrained();
const prebuilt: NamegenModel = await loadPretrained(known[0], { threads: 1 });
const webPrebuilt: NamegenModel = await web.loadPretrained('ngram', { warn: console.warn });
console.log(prebuilt.maxLen, webPrebuilt.maxLen, await web.pretrained());
// @ts-expect-error: a pre-built model's scorer ships beside it
await loadPretrained('ngram', { scorer: 'x.scorer.onnx' });
