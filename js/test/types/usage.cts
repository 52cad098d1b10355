// Compiled, never run, by test/types.test.mjs: a CommonJS module (TypeScript's node16 resolution) uses the types too.
import { load, loadPretrained, NamegenError } from 'namegen';
async function main() { const m = await load('x.onnx'); console.log(await m.sample(3), NamegenError, (await loadPretrained('ngram')).vocab); }
main();
