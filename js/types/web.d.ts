// The browser entry: `import { load } from 'namegen/web'`.
import type { Bytes, LoadOptions, NamegenModel } from './model.cjs';

export * from './model.cjs';

/**
 * Load a sampler export with onnxruntime-web (WebAssembly): `namegen export onnx` writes
 * NAME.onnx and, beside it, NAME.scorer.onnx, which logLikelihood fetches on first use.
 * @param source the sampler's URL (relative to the page), or its bytes
 * @throws {NamegenError}
 */
export declare function load(source: string | URL | Bytes, options?: LoadOptions<string | URL>): Promise<NamegenModel>;

/** The naming rule: the scorer of `x/NAME.onnx` is `x/NAME.scorer.onnx`. */
export declare function scorerUrl(url: string): string;
