"""Writing an export's two files (torch-free: `namegen export onnx` copies a run's own export
through here without importing torch)."""

from __future__ import annotations

import glob
from pathlib import Path

from ..checkpoint import folder_lock, os_error, remove_stale_temporaries, write_atomic
from ..errors import NamegenError
from ..runtime import scorer_path


def check_export_path(path: Path) -> None:
    if path.is_dir():
        raise NamegenError(f"{str(path)!r} is a folder; give the sampler's file path (NAME.onnx)")


def write_export(path: Path, sampler: bytes, scorer: bytes) -> None:
    """The scorer, then the sampler, each atomically, under an exclusive lock on the folder
    (clearing the temporaries a killed export left). Both carry one export_id, so a pair whose
    second rename never happened is caught by the runtime."""
    check_export_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise os_error("create", path.parent, err) from None
    with folder_lock(path.parent):
        remove_stale_temporaries(path.parent, [glob.escape(path.name), glob.escape(scorer_path(path).name)])
        write_atomic(scorer_path(path), scorer)
        write_atomic(path, sampler)
