"""Run an ONNX export with numpy and onnxruntime only: no torch, for apps that embed a model.

    from namegen import runtime
    model = runtime.load("exports/linear.onnx")     # finds exports/linear.scorer.onnx beside it
    model.sample(10, seed=7, temperature=0.8)       # the same names as the torch model gives
    model.log_likelihood(["emma"])
    runtime.load_pretrained("ngram")                # a pre-built model that ships with namegen
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from . import sampling
from .data import check_names
from .errors import NamegenError, warn_short
from .layout import SCORER_SUFFIX, scorer_path  # noqa: F401 - the runtime's API too
from .vocab import Vocab

REQUIRED_METADATA = ("namegen_format", "vocab", "max_len", "max_count", "sampling_rule_version")
SAMPLER_FORMAT, SCORER_FORMAT = "namegen-sampler", "namegen-scorer"


def _session(path: Path, expected_format: str, threads: int, model_bytes: bytes | None = None) -> tuple[ort.InferenceSession, dict[str, str]]:
    """A session of the export at `path` (or of `model_bytes`, an export not yet written there)."""
    if model_bytes is None and not path.is_file():
        raise NamegenError(f"ONNX file {str(path)!r} does not exist; write one with `namegen export onnx RUN`")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3  # rule 2's inputs are initialisers an app may override, which onnxruntime warns about
    try:
        session = ort.InferenceSession(model_bytes if model_bytes is not None else str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for unreadable files
        raise NamegenError(f"{path} is not a loadable ONNX model: {str(err).splitlines()[0]}") from None
    meta = session.get_modelmeta().custom_metadata_map
    missing = [key for key in REQUIRED_METADATA if key not in meta]
    if missing:
        raise NamegenError(f"{path} is not a namegen export: its metadata lacks {', '.join(missing)}")
    if meta["namegen_format"] != expected_format:
        raise NamegenError(f"{path} is a {meta['namegen_format']!r}, not a {expected_format!r}")
    rule = _metadata_int(path, meta, "sampling_rule_version", 1, 1 << 31)
    if rule > sampling.SAMPLING_RULE_VERSION:
        raise NamegenError(f"{path} uses sampling rule {rule}; this namegen knows rules up to {sampling.SAMPLING_RULE_VERSION}; upgrade namegen")
    return session, meta


def _metadata_int(path: Path, meta: dict[str, str], key: str, low: int, high: int) -> int:
    """An integer field of an export's metadata, checked against its range (hand-edited files)."""
    try:
        value = int(meta[key])
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise NamegenError(f"{path} has damaged metadata: {key} must be an integer from {low:,} to {high:,}, got {meta[key]!r}")
    return value


def _metadata_vocab(path: Path, meta: dict[str, str]) -> Vocab:
    try:
        chars = json.loads(meta["vocab"])
        if not isinstance(chars, str) or len(chars) > 256:
            raise ValueError("a JSON string of at most 256 characters")
        return Vocab(tuple(chars))
    except (ValueError, NamegenError) as err:  # json.JSONDecodeError is a ValueError
        raise NamegenError(f"{path} has damaged metadata: vocab is not a valid vocabulary ({err})") from None
    except RecursionError:  # JSON nested deeper than the parser goes
        raise NamegenError(f"{path} has damaged metadata: vocab is not a valid vocabulary (nested too deeply)") from None


class ExportedModel:
    """A sampler export (and its scorer, when it is beside it) behind the NameModel calls."""

    def __init__(self, path: str | Path, threads: int = 1, sampler_bytes: bytes | None = None, scorer_bytes: bytes | None = None):
        """The export at `path`; with `sampler_bytes` and `scorer_bytes`, the export about to be
        written there (namegen.exports.validate runs it before anything is written)."""
        # onnxruntime takes a C int, and a negative one silently; a bool is an int to Python but never meant as a count
        if not isinstance(threads, (int, np.integer)) or isinstance(threads, bool) or not 0 <= threads < 1 << 31:
            raise NamegenError(f"threads must be an integer from 0 (onnxruntime's default) to {(1 << 31) - 1:,}, got {threads!r}")
        threads = int(threads)
        self.path, self.threads, self._scorer_bytes = Path(path), threads, scorer_bytes
        self.session, self.metadata = _session(self.path, SAMPLER_FORMAT, threads, sampler_bytes)
        self.vocab = _metadata_vocab(self.path, self.metadata)
        self.max_len = _metadata_int(self.path, self.metadata, "max_len", 1, sampling.MAX_LEN)
        self.max_count = _metadata_int(self.path, self.metadata, "max_count", 1, sampling.MAX_COUNT)
        self.rule = int(self.metadata["sampling_rule_version"])
        # How many names novel rejects; exports before known_names (training names only) say training_names.
        key = "known_names" if "known_names" in self.metadata else "training_names"
        self.known_names = _metadata_int(self.path, self.metadata, key, 0, 1 << 40) if key in self.metadata else 0
        self.training_names = self.known_names  # the former name
        # Exports before exclude lack its input (an overridable initialiser, like every constraint's).
        self.takes_exclude = any(i.name == "exclude" for i in self.session.get_overridable_initializers())
        self._scorer = None

    def sample(self, n: int, seed: int = 0, temperature: float = 1.0, **constraints) -> list[str]:
        """`n` names, exactly those of the torch model's sample(n, seed=seed, temperature=temperature,
        **constraints): the constraints of sampling rule 2 (prefix, suffix, contains, min_len,
        max_len, novel, exclude, distinct, max_candidates). Fewer names, with a NamegenWarning, when
        the candidate budget runs out."""
        names = self.sample_tokens(n, seed, temperature, names=True, **constraints)
        if len(names) < n:
            warn_short(len(names), n)
        return names

    def sample_tokens(self, n: int, seed: int = 0, temperature: float = 1.0, names: bool = False, **constraints):
        """Token ids [found, max_len] (or, with `names`, the names) of `sample`."""
        feeds = self.feeds(n, seed, temperature, **constraints)
        (out,) = self.session.run(["names" if names else "tokens"], feeds)
        return out.tolist() if names else out

    def feeds(self, n: int, seed: int = 0, temperature: float = 1.0, **constraints) -> dict[str, np.ndarray]:
        """The sampler's inputs for these arguments, each checked first: a bad value is a
        NamegenError naming it, never a call that returns garbage."""
        n = sampling.check_count(n, self.max_count)
        seed = sampling.check_seed(seed)
        temperature = sampling.check_temperature(temperature)
        feeds = {"seed": np.array(seed & sampling.SEED_MASK, np.int64), "count": np.array(n, np.int64),
                 "temperature": np.array(temperature, np.float32)}
        if not constraints:
            sampling.check_max_len(self.max_len, n)  # count x max_len within MAX_CELLS, as with constraints
            return feeds
        if self.rule < 2:
            raise NamegenError(f"{self.path} was exported before namegen had constraints (sampling rule {self.rule}); export it again")
        known = True if self.known_names else None  # novelty is tested inside the graph
        rule = sampling.check_constraints(self.vocab, n, self.max_len, known, **constraints)
        for key, tokens in (("prefix", rule.prefix), ("suffix", rule.suffix), ("contains", rule.contains)):
            feeds[key] = np.array(tokens, np.int64)
        feeds.update(min_len=np.array(rule.min_len, np.int64), max_len=np.array(rule.max_len, np.int64),
                     distinct=np.array(rule.distinct), max_candidates=np.array(rule.max_candidates or 0, np.int64))
        if self.known_names:
            feeds["novel"] = np.array(rule.novel is not None)
        if rule.exclude:  # only names the vocabulary spells: no other can be drawn
            if not self.takes_exclude:
                raise NamegenError(f"exclude needs an export with an exclude input, and {self.path} was exported before namegen had it; export it again")
            feeds["exclude"] = np.array(sorted(self.vocab.decode(tokens) for tokens in rule.exclude), dtype=object)
        return feeds

    @property
    def scorer(self) -> ort.InferenceSession:
        if self._scorer is None:
            path = scorer_path(self.path)
            scorer, meta = _session(path, SCORER_FORMAT, self.threads, self._scorer_bytes)
            # One export writes both files with one id; different ids mean the pair was mixed
            # (an export killed between its two renames, or files copied from two exports).
            if meta.get("export_id") != self.metadata.get("export_id"):
                raise NamegenError(f"{path} and {self.path} come from different exports; export the run again")
            self._scorer = scorer
        return self._scorer

    def log_likelihood(self, names: list[str]) -> np.ndarray:
        """Natural-log likelihood of each name (end token included), float32, from the scorer."""
        encoded = [self.vocab.encode(name) for name in check_names(names, "names", allow_empty=True)]
        tokens = np.zeros((len(encoded), max(map(len, encoded), default=0)), np.int64)
        for row, ids in zip(tokens, encoded):
            row[: len(ids)] = ids
        if not len(tokens):
            return np.zeros(0, np.float32)
        return self.scorer.run(["log_likelihood"], {"tokens": tokens})[0]


def load(path: str | Path, threads: int = 1) -> ExportedModel:
    """The sampler that `namegen export onnx` wrote at `path`; its scorer is found beside it.

    `threads` is onnxruntime's intra-op thread count. The sampler's operations are small and
    many, so one thread is fastest on small machines; 0 lets onnxruntime choose.
    """
    return ExportedModel(path, threads)


# ---- pre-built models ---------------------------------------------------------------------------------
# Exports of built-in plugins fitted on the bundled data, shipped inside the package (and, the
# same files, in the npm package's models/). scripts/build_pretrained.py writes them and
# manifest.json, which says what each is: plugin, hyper-parameters, data, test NLL, and the
# names seed 0 draws, which the tests hold every runtime to.

PRETRAINED_DIR = Path(__file__).with_name("pretrained")
PRETRAINED_MANIFEST = "manifest.json"


def pretrained_manifest() -> dict:
    """manifest.json of the pre-built models: {"format": ..., "models": {NAME: {...}}}; an
    install without any has {"models": {}}."""
    path = PRETRAINED_DIR / PRETRAINED_MANIFEST
    if not path.is_file():
        return {"models": {}}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise NamegenError(f"the pre-built models' manifest {path} is unreadable ({err}); reinstall namegen") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), dict):
        raise NamegenError(f"the pre-built models' manifest {path} is damaged; reinstall namegen")
    return manifest


def pretrained() -> list[str]:
    """Names of the pre-built models that ship with namegen, sorted (e.g. ['ngram', 'transformer'])."""
    return sorted(pretrained_manifest()["models"])


def pretrained_path(name: str, models: dict | None = None) -> Path:
    """The sampler file of pre-built model `name` (its scorer is beside it); `models`: the
    manifest's, when the caller has read it already."""
    models = pretrained_manifest()["models"] if models is None else models
    if not isinstance(name, str) or name not in models:
        known = ", ".join(sorted(models)) or "none ship with this install"
        raise NamegenError(f"unknown pre-built model {name!r}; pre-built models: {known}")
    entry = models[name]
    sampler = entry.get("sampler") if isinstance(entry, dict) else None
    if not isinstance(sampler, str) or Path(sampler).name != sampler:  # a plain file name: never outside the folder
        raise NamegenError(f"the pre-built models' manifest names no valid sampler file for {name!r}; reinstall namegen")
    return PRETRAINED_DIR / sampler


def load_pretrained(name: str, threads: int = 1) -> ExportedModel:
    """Pre-built model `name` (see `pretrained()`), as `load` gives an export: its sampler and scorer.

        from namegen import runtime
        runtime.load_pretrained("ngram").sample(10, seed=0)   # the names manifest.json promises
    """
    models = pretrained_manifest()["models"]
    path = pretrained_path(name, models)
    model = ExportedModel(path, threads)
    # The manifest and the files are written by one build; a mismatch is a half-updated folder.
    if model.metadata.get("export_id") != models[name].get("export_id"):
        raise NamegenError(f"{path} is not the export the pre-built models' manifest describes; reinstall namegen "
                           "(or rerun scripts/build_pretrained.py)")
    return model
