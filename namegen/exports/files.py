"""Writing an export's two files (torch-free: `namegen export onnx` copies a run's own export
through here without importing torch)."""

from __future__ import annotations

import glob
from pathlib import Path

from ..errors import NamegenError
from ..files import check_file_target, folder_lock, os_error, remove_stale_temporaries, write_atomic
from ..runtime import scorer_path


def check_export_path(path: Path) -> None:
    """Refuse, before any work, a sampler path (or the scorer path beside it) where writing
    would destroy something: a folder, a device, a FIFO."""
    if path.is_dir():
        raise NamegenError(f"{str(path)!r} is a folder; give the sampler's file path (NAME.onnx)")
    for target in (path, scorer_path(path)):
        check_file_target(target)
    existing = next((p for p in path.absolute().parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise NamegenError(f"cannot write {str(path)!r}: {str(existing)!r} is a file, not a folder")


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
