// The types: the sources' JSDoc and types/*.d.*, checked by TypeScript as an app's ES module and
// CommonJS module use them (tsconfig.json; test/types/usage.*), so the .d.ts cannot drift from the API.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const JS_DIR = fileURLToPath(new URL('..', import.meta.url));
const TSC = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));

test('TypeScript accepts the sources and the types as apps use them', { skip: !existsSync(TSC) && 'typescript is not installed: npm ci in js/' }, async () => {
  const result = await promisify(execFile)(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: JS_DIR }).catch((err) => err);
  assert.equal(result.code ?? 0, 0, `${result.stdout}${result.stderr}`);
});
