// Types shared by the Node entry ('namegen') and the browser entry ('namegen/web'). A .d.cts, so
// that both ES modules and CommonJS (TypeScript's node16 resolution, which cannot require() an ES
// module) may import them.

/** A file: a path or URL (the entry's kind), or its bytes. */
export type Bytes = Uint8Array | ArrayBuffer;

/** An integer: a number, a bigint, or a string of digits (a command line's or a form's text). */
export type Integer = number | bigint | string;

/**
 * The options of `sample` and `draw`: sampling rules 1 (seed, temperature) and 2 (the
 * constraints; an export of rule 1 refuses them). An option left out, or undefined, is not
 * given; a constraint given at all, even an empty prefix, needs a rule 2 export, as in Python.
 */
export interface SampleOptions {
  /** Any integer, taken modulo 2**62 (default 0). Beyond 2**53, pass a bigint or a string. */
  seed?: Integer;
  /** Above 0 and finite as a float32 (default 1.0); lower is safer, higher is wilder. */
  temperature?: number | string;
  /** Every name starts with it (drawing starts after it). */
  prefix?: string;
  /** Every name ends with it. */
  suffix?: string;
  /** Every name contains it. */
  contains?: string;
  /** Names have at least this many characters: 1 (the default) to maxLen. */
  minLen?: Integer;
  /** Names have at most this many characters: longer than the prefix, at most 10,000 (default: the export's max_len). */
  maxLen?: Integer;
  /** No name is one of the known names: every name of the data the model was fitted on (needs an export that holds them). */
  novel?: boolean | '1' | '0' | 'true' | 'false';
  /** No name is one of these (compared as given, no case folding); a name with a character outside the vocabulary can never be drawn anyway. */
  exclude?: Iterable<string>;
  /** No name comes twice. */
  distinct?: boolean | '1' | '0' | 'true' | 'false';
  /** How many candidates the sampler may draw: 1 to 100,000,000 (default: max(10,000, 100 x count) when a constraint can reject). */
  maxCandidates?: Integer;
}

/** What `draw` gives: the names, and what was fed and found. */
export interface Draw {
  /** The names: `found` of them, in the sampler's order. */
  names: string[];
  /** How many names were asked for. */
  count: number;
  /** How many met the constraints: less than `count` only when the candidate budget ran out. */
  found: number;
  /** found < count. */
  short: boolean;
  /** When short: the warning `sample` reports, e.g. "only 3 of 30 names met the constraints within the candidate budget (raise maxCandidates, or loosen the constraints)". */
  warning: string | undefined;
  /** The seed fed to the sampler: the one given, modulo 2**62. */
  seed: bigint;
  /** The temperature fed to the sampler, as a float32. */
  temperature: number;
}

/** A loaded export: its sampler, and its scorer on first use. */
export interface NamegenModel {
  /**
   * `count` (1 to maxCount, default 10) names: exactly those of Python's
   * `namegen.runtime.load(path).sample(count, seed=..., temperature=..., prefix=..., min_len=..., ...)`.
   * Fewer when the candidate budget ran out, reported through load's `warn` option.
   * @throws {NamegenError} naming the bad argument
   */
  sample(count?: Integer, options?: SampleOptions): Promise<string[]>;
  /** `sample`, with what it fed and found; it gives the warning (when short) instead of reporting it. */
  draw(count?: Integer, options?: SampleOptions): Promise<Draw>;
  /**
   * Natural-log likelihood of each name (end token included), float32, from the scorer:
   * Python's `log_likelihood(names)`. Names are non-empty strings of the model's characters.
   */
  logLikelihood(names: Iterable<string>): Promise<Float32Array>;
  /** Free the onnxruntime sessions; the model cannot be used afterwards. */
  release(): Promise<void>;
  /** The characters; token id = index; vocab[0] is the boundary '.', never part of a name. */
  readonly vocab: readonly string[];
  /** All of the sampler's metadata_props (plugin, hyperparams, export_id, validation, ...). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Most names one call draws. */
  readonly maxCount: number;
  /** The export's default max_len: names are cut there. */
  readonly maxLen: number;
  /** The sampling rule: 1 (no constraints) or 2. */
  readonly rule: number;
  /** How many names the sampler holds (as fingerprints) for `novel`: every name of the data the model was fitted on (0: none). */
  readonly knownNames: number;
  /** @deprecated The former name of `knownNames` (exports before it held the training names alone). */
  readonly trainingNames: number;
  /** How messages name the file. */
  readonly source: string;
}

export interface LoadOptions<Source> {
  /** The scorer, for logLikelihood (default: NAME.scorer.onnx beside a sampler NAME.onnx given by path or URL). */
  scorer?: Source | Bytes;
  /** onnxruntime's threads (default 1, the fastest for the sampler; 0: onnxruntime's default). */
  threads?: number;
  /** The onnxruntime module to use (default: the entry's peer dependency). */
  ort?: unknown;
  /** How error messages name an option, e.g. (option) => `--${option}` (default: its own name). */
  label?: (option: string) => string;
  /** How `sample` reports fewer names than asked for (default: a NamegenWarning). */
  warn?: (message: string) => void;
}

/** The options of `loadPretrained`: load's, but `scorer` (a pre-built model's ships beside it). */
export type PretrainedOptions = Omit<LoadOptions<never>, 'scorer'>;

/** The one error of the package: a bad argument (`option` names it) or a file it cannot run (`option` undefined). */
export declare class NamegenError extends Error {
  constructor(message: string, option?: string);
  readonly name: 'NamegenError';
  readonly option: string | undefined;
}

/** The defaults of `sample`. */
export declare const DEFAULTS: Readonly<{ count: 10; seed: 0; temperature: 1 }>;
/** Rule 2's options, in the order they are checked. */
export declare const CONSTRAINTS: readonly ['prefix', 'suffix', 'contains', 'minLen', 'maxLen', 'novel', 'exclude', 'distinct', 'maxCandidates'];
/** Every option of `sample` and `draw`. */
export declare const SAMPLE_OPTIONS: readonly string[];
/** The sampling rules this package runs. */
export declare const KNOWN_RULES: readonly number[];
/** The boundary token '.': starts and ends every name; never a character of one. */
export declare const BOUNDARY: '.';
export declare const MAX_COUNT: number;
export declare const MAX_LEN: number;
export declare const MAX_CELLS: number;
export declare const MAX_CANDIDATES: number;

/** An ONNX file's metadata_props, read from its bytes (onnxruntime's JavaScript API does not expose them). */
export declare function onnxMetadata(bytes: Uint8Array): Record<string, string>;
/** The model with the named overridable initialisers made plain graph inputs (see the README). */
export declare function promoteInitializers(bytes: Uint8Array, names: readonly string[]): { model: Uint8Array; promoted: string[] };
