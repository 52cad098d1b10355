// The browser entry: `import { load } from 'namegen/web'`.
import type { Bytes, LoadOptions, NamegenModel, PretrainedOptions } from './model.cjs';

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

/**
 * Load a pre-built model that ships in the package (fetched from the package's models/ folder, beside src/ (new URL('../models/', import.meta.url))): an export of
 * a built-in plugin fitted on namegen's bundled data, described by models/manifest.json.
 * @param name one of `await pretrained()`, e.g. 'ngram'
 * @throws {NamegenError} for an unknown name (`option` 'name'; the message lists the known ones)
 */
export declare function loadPretrained(name: string, options?: PretrainedOptions): Promise<NamegenModel>;

/** The names of the pre-built models that ship in the package, sorted. */
export declare function pretrained(): Promise<string[]>;
