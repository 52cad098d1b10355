"""What namegen's files are called and what a run records, in one place that imports nothing:
the trainer, the checkpoint, the runtime and the pictures all read it."""

from __future__ import annotations

from pathlib import Path

SCORER_SUFFIX = ".scorer.onnx"  # an export's scorer sits beside its sampler: NAME.onnx and NAME.scorer.onnx
HISTORY_COLUMNS = ("step", "seconds", "train_nll", "val_nll", "lr")  # the trainer's loss history in config.json


def scorer_path(sampler_path: str | Path) -> Path:
    """The scorer beside the sampler at `sampler_path`."""
    path = Path(sampler_path)
    return path.with_name(path.name.removesuffix(".onnx") + SCORER_SUFFIX)
