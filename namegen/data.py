"""Reading name files, deterministic splits, the bundled dataset, and (context, next) examples."""

from __future__ import annotations

import hashlib
import random
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import NamegenError
from .vocab import BOUNDARY

BUNDLED = "bundled"
BUNDLED_FILE = "us_baby_names_2017.txt"
MAX_NAME_LEN = 5000  # longer lines are not names: the sampling cap (twice the longest) must stay bounded
BOM = "\ufeff"


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a name (it holds the boundary token or a control character), or None."""
    if BOUNDARY in name:
        return f"contains {BOUNDARY!r}, the boundary token that ends every name"
    bad = next((c for c in name if unicodedata.category(c) == "Cc"), None)
    if bad is not None:  # NUL, tab, carriage return…: they would break one-name-per-line and TSV output
        return f"contains the control character {bad!r}"
    if len(name) > MAX_NAME_LEN:
        return f"is {len(name):,} characters long (at most {MAX_NAME_LEN:,})"
    return None


def check_names(names, what: str, allow_empty: bool = False) -> list[str]:
    """`names` as a list of non-empty strings, or a NamegenError that says what is wrong."""
    if isinstance(names, str):
        raise NamegenError(f"{what} must be a list of strings, not one string")
    names = list(names)
    if not names and not allow_empty:
        raise NamegenError(f"{what} are empty")
    bad = [n for n in names if not isinstance(n, str) or not n][:1]  # a list: the bad value may be None itself
    if bad:
        raise NamegenError(f"{what} must be non-empty strings, got {bad[0]!r}")
    return names


def check_name_characters(names: list[str], what: str) -> list[str]:
    """`names`, or a NamegenError for the first that holds a character no name may hold."""
    for name in names:
        problem = name_problem(name)
        if problem:
            raise NamegenError(f"{what}: {_shorten(name)} {problem}; remove it from the data")
    return names


def _shorten(name: str) -> str:
    return repr(name if len(name) <= 40 else name[:40] + "…")


def parse_names(raw: bytes, source: str, lowercase: bool = False) -> list[str]:
    """Names from the bytes of a UTF-8 file: one per line, blank lines and surrounding
    whitespace dropped, duplicates kept (they are frequency), a leading byte-order mark ignored.
    Every line is checked here, before any split, so a fit never fails on data it accepted."""
    names = []
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise NamegenError(f"{source} is not UTF-8: line {number}, byte {err.start + 1} ({line[err.start:err.start + 1]!r})") from None
        if number == 1:
            text = text.removeprefix(BOM)  # editors on Windows start UTF-8 files with one
        text = text.strip()
        if text:
            text = text.lower() if lowercase else text
            problem = name_problem(text)
            if problem:
                raise NamegenError(f"{source}, line {number}: {_shorten(text)} {problem}; remove it from the data")
            names.append(text)
    if not names:
        raise NamegenError(f"{source} holds no names (it is empty or blank); give a file with one name per line")
    return names


def read_names(path: str | Path, lowercase: bool = False) -> list[str]:
    """Names from a file; `path` may be "bundled" for the dataset that ships with namegen."""
    return parse_names(read_bytes(path), str(path), lowercase)


def read_bytes(path: str | Path) -> bytes:
    if str(path) == BUNDLED:
        return resources.files("namegen.datasets").joinpath(BUNDLED_FILE).read_bytes()
    path = Path(path)
    if not path.exists():
        raise NamegenError(f"data file {str(path)!r} does not exist")
    if not path.is_file():  # a folder, or a FIFO that would block the read
        raise NamegenError(f"data file {str(path)!r} is not a file")
    try:
        return path.read_bytes()
    except OSError as err:
        raise NamegenError(f"cannot read data file {str(path)!r}: {err.strerror or err}") from None


def recorded_path(path: str | Path) -> str:
    """How a run records a data file: absolute (or "bundled"), so that it is found from anywhere."""
    return BUNDLED if str(path) == BUNDLED else str(Path(path).resolve())


def fingerprint(path: str | Path) -> str:
    """sha256 of a data file, so `evaluate` can tell when the data changed since fitting."""
    return hashlib.sha256(read_bytes(path)).hexdigest()


@dataclass(frozen=True)
class Split:
    train: list[str]
    val: list[str]
    test: list[str]


def split_names(names: list[str], seed: int = 42) -> Split:
    """Deterministic 80/10/10 split: shuffle indices with random.Random(seed). With seed 42 it is
    the same split as the tutorial's reference script, so figures compare."""
    order = list(range(len(names)))
    random.Random(seed).shuffle(order)
    n = len(names)
    a, b = int(0.8 * n), int(0.9 * n)
    pick = lambda idx: [names[i] for i in idx]  # noqa: E731
    return Split(pick(order[:a]), pick(order[a:b]), pick(order[b:]))


def examples(encoded: list[list[int]], block_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (context, next) pair of every name, with the name each belongs to.

    A name of L characters gives L + 1 pairs (its end token included); each context holds the
    `block_size` previous tokens, left-padded with the boundary token 0.
    Returns contexts int64 [N, block_size], targets int64 [N], owners int64 [N].
    """
    lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
    names = np.arange(len(encoded))

    def position_within(counts: np.ndarray) -> np.ndarray:  # 0..count-1 for each group, concatenated
        return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)

    # One stream: each name is block_size boundary tokens, its tokens, and an end token.
    width = lengths + block_size + 1
    starts = np.cumsum(width) - width
    stream = np.zeros(int(width.sum()), dtype=np.int64)
    if lengths.sum():
        body = np.concatenate([np.asarray(e, dtype=np.int64) for e in encoded])
        stream[np.repeat(starts, lengths) + block_size + position_within(lengths)] = body
    # Targets: the name's tokens and its end token; each context is the block_size tokens before.
    owners = np.repeat(names, lengths + 1)
    target_pos = starts[owners] + block_size + position_within(lengths + 1)
    contexts = stream[target_pos[:, None] - block_size + np.arange(block_size)[None, :]]
    return contexts, stream[target_pos], owners
