"""Writing files safely: atomic replacement, refusal of targets a write would destroy, and an
advisory lock per folder. Nothing here knows about runs or exports; torch-free, so the CLI's
torch-free paths use it too.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from .errors import NamegenError

TMP_SUFFIX = ".tmp"
PROBE_PREFIX = ".namegen-probe-"


def os_error(action: str, path: Path | str, err: OSError) -> NamegenError:
    """An operating-system failure as the one-line error users see (`cannot write X: Read-only file system`)."""
    return NamegenError(f"cannot {action} {str(path)!r}: {err.strerror or err}")


def check_file_target(path: Path) -> None:
    """Refuse a `path` that a file written there would destroy rather than replace: a folder, or
    anything that is not a regular file (a device such as /dev/full, a FIFO, a socket). The
    rename that makes writes atomic would put a regular file in its place. A symbolic link is
    followed: a link to a regular file is replaced (the file it points to is left alone)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise NamegenError(f"cannot write {str(path)!r}: a part of that path is a file, not a folder") from None
    except OSError as err:
        raise os_error("write", path, err) from None
    if stat.S_ISDIR(mode):
        raise NamegenError(f"cannot write {str(path)!r}: it is a folder")
    if not stat.S_ISREG(mode):
        raise NamegenError(f"cannot write {str(path)!r}: it is not a regular file (a device, FIFO or socket); "
                           "give the path of a file")


def probe_writable(folder: Path, action: str, path: Path | str) -> None:
    """Create and remove a probe file in the existing `folder`: a read-only file system, an
    immutable folder or a missing permission is found now, before minutes of work, and told
    as `cannot <action> <path>: ...`."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=PROBE_PREFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise os_error(action, path, err) from None


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it into place. On any failure
    (a full disk, a read-only folder) the temporary file is removed and `path` is untouched."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        check_file_target(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as err:
        raise os_error("write", path, err) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            Path(tmp).unlink(missing_ok=True)


def remove_stale_temporaries(folder: Path, patterns: list[str]) -> None:
    """Remove what write_atomic left behind, for files matching the glob `patterns`, when a
    process was killed mid-write. Call only under `folder_lock`: no other writer is using them."""
    for pattern in patterns:
        for stale in folder.glob(f".{pattern}.*{TMP_SUFFIX}"):
            stale.unlink(missing_ok=True)


@contextlib.contextmanager
def folder_lock(folder: Path, exclusive: bool = True):
    """An advisory lock on `folder` itself (flock on its descriptor: no lock file to leave behind).
    Writers take it exclusively and readers shared, so a reader never sees a folder half-way
    through a writer's changes, and two writers into one folder run one after the other."""
    if fcntl is None:  # not POSIX: writes are still atomic, only not serialised
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as err:
        raise os_error("open", folder, err) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock
