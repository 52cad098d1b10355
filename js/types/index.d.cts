// The Node entry: `import { load } from 'namegen'` or `const { load } = require('namegen')` (types
// as CommonJS, which ES modules import too).
import type { Bytes, LoadOptions, NamegenModel } from './model.cjs';

export * from './model.cjs';

/**
 * Load a sampler export with onnxruntime-node: `namegen export onnx` writes NAME.onnx and,
 * beside it, NAME.scorer.onnx, which logLikelihood reads on first use.
 * @param source the sampler's path (or file: URL), or its bytes
 * @throws {NamegenError}
 */
export declare function load(source: string | URL | Bytes, options?: LoadOptions<string | URL>): Promise<NamegenModel>;

/** The naming rule: the scorer of `x/NAME.onnx` is `x/NAME.scorer.onnx`. */
export declare function scorerPath(path: string): string;
