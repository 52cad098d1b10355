"""ONNX export: a self-contained sampler and a scorer, built around the plugin's own network.

The network (context int64 [B, block_size] -> logits [B, V]) is exported with torch.onnx and
spliced in as a subgraph; everything around it is written by namegen, once, for every plugin:

* sampler (`NAME.onnx`): inputs `seed` int64 [], `count` int64 [], `temperature` float32 [] and
  rule 2's optional constraint inputs; outputs `names` string [found], `tokens` int64
  [found, max_len] (0-padded) and `found` int64 []. It draws by the rule of namegen.sampling
  (integer-hash uniforms, float64 inverse CDF, the network in float64), exactly as the torch
  sampler does. How it runs depends on sizes, never on the plugin: see `sampler.Plan`.
* scorer (`NAME.scorer.onnx`): input `tokens` int64 [B, T] (names without boundary tokens,
  0-padded); outputs `log_likelihood` float32 [B] (end token included) and
  `token_log_probs` float32 [B, T + 1] (log p of each observed token, 0 past the end).

Both carry the vocabulary and the rest of what an app needs in `metadata_props`.

The modules, by concern:

* `graph`: the node builder, If and Loop nodes with declared interfaces, splicing, metadata;
* `rule`: the randomness rule's primitives (hash, uniforms, float64 CDF, pick);
* `loops`: rule 1's step loops (dense, search, network) and the tables they read;
* `strings`: token rows to strings (simple and sorted joins);
* `sampler`: the plan, rule 2's loop over candidate batches, and the sampler graph;
* `scorer`: the scorer graph;
* `network`: the plugin's network through torch.onnx;
* this module: `export`, which builds both, validates them against torch and writes them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from ..runtime import ExportedModel, scorer_path
from .files import check_export_path, write_export
from .graph import OPSET, set_metadata
from .network import export_network
from .sampler import build_sampler
from .scorer import build_scorer
from .validate import FULL, Checks, Validation, check_deadline, validate


@dataclass(frozen=True)
class Exported:
    """What `export` wrote, and the validation it passed first."""

    sampler: Path
    scorer: Path
    validation: Validation

    def __iter__(self):  # `sampler, scorer = export(...)`
        return iter((self.sampler, self.scorer))


def export(model, path: str | Path, names: list[str] | None = None, training_names: bool = True,
           metadata: dict[str, str] | None = None) -> Exported:
    """Write the sampler to `path` and the scorer beside it (see `scorer_path`), once both have
    passed `validate` against the torch model (`names`: held-out names for the scorer check).
    The sampler carries the model's known names (as fingerprints) for `novel`, unless
    `training_names` is False (for privacy: the export then holds nothing of the names, and
    `novel` is an error). `metadata`: more
    entries for both files' metadata_props.

    Both files carry one fresh `export_id` and the validation figures in their metadata; the
    runtime refuses a pair whose ids differ, so an export killed between its two renames (new
    scorer, old sampler) is caught at load instead of scoring with another model. Exports into
    one folder hold an exclusive lock on it, and clear the temporaries that a killed export left."""
    path = Path(path)
    check_export_path(path)
    sampler, scorer, validation = build(model, path, names, training_names, metadata)
    write_export(path, sampler, scorer)
    return Exported(path, scorer_path(path), validation)


def build(model, path: str | Path, names: list[str] | None = None, training_names: bool = True,
          metadata: dict[str, str] | None = None, checks: Checks = FULL, deadline: float | None = None) -> tuple[bytes, bytes, Validation]:
    """What `export` writes, validated, without writing it: the sampler's and scorer's bytes
    (`path` names them in messages) and the validation they passed. `checks`: how many names the
    validation checks; `deadline` (time.monotonic()): raise OutOfTime between steps once it has passed."""
    path = Path(path)
    export_id = uuid.uuid4().hex
    known = model.known_set() if training_names else None
    sampler = build_sampler(model, export_network(model, float64=True), known=known)
    check_deadline(deadline, "the export was built")
    scorer = build_scorer(model, export_network(model))
    for proto in (sampler, scorer):
        set_metadata(proto, export_id=export_id, **(metadata or {}))
    check_deadline(deadline, "the export was validated")
    validation = validate(model, ExportedModel(path, sampler_bytes=sampler.SerializeToString(), scorer_bytes=scorer.SerializeToString()),
                         names, checks, deadline)
    for proto in (sampler, scorer):
        set_metadata(proto, validation=validation.as_metadata())
    return sampler.SerializeToString(), scorer.SerializeToString(), validation


__all__ = ["export", "build", "Exported", "scorer_path", "build_sampler", "build_scorer", "export_network", "OPSET"]
