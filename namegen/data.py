"""Reading name files, deterministic splits, the bundled dataset, and (context, next) examples."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import NamegenError

BUNDLED = "bundled"
BUNDLED_FILE = "us_baby_names_2017.txt"


def check_names(names, what: str, allow_empty: bool = False) -> list[str]:
    """`names` as a list of non-empty strings, or a NamegenError that says what is wrong."""
    if isinstance(names, str):
        raise NamegenError(f"{what} must be a list of strings, not one string")
    names = list(names)
    if not names and not allow_empty:
        raise NamegenError(f"{what} are empty")
    bad = next((n for n in names if not isinstance(n, str) or not n), None)
    if bad is not None:
        raise NamegenError(f"{what} must be non-empty strings, got {bad!r}")
    return names


def parse_names(raw: bytes, source: str, lowercase: bool = False) -> list[str]:
    """Names from the bytes of a UTF-8 file: one per line, blank lines and surrounding
    whitespace dropped, duplicates kept (they are frequency)."""
    names = []
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise NamegenError(f"{source} is not UTF-8: line {number}, byte {err.start + 1} ({line[err.start:err.start + 1]!r})") from None
        text = text.strip()
        if text:
            names.append(text.lower() if lowercase else text)
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
    if not path.is_file():
        raise NamegenError(f"data file {str(path)!r} is not a file")
    return path.read_bytes()


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
