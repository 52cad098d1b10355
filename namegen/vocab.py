"""Characters <-> token ids. Index 0 is the boundary token '.', which starts and ends every name."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .errors import NamegenError

BOUNDARY = "."


@dataclass(frozen=True)
class Vocab:
    """The ordered characters of a model; `chars[0]` is always the boundary token."""

    chars: tuple[str, ...]
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.chars or self.chars[0] != BOUNDARY:
            raise NamegenError(f"a vocabulary must start with the boundary token {BOUNDARY!r}")
        if len(set(self.chars)) != len(self.chars) or any(len(c) != 1 for c in self.chars):
            raise NamegenError("a vocabulary must hold distinct single characters")
        object.__setattr__(self, "index", {c: i for i, c in enumerate(self.chars)})

    @classmethod
    def from_names(cls, names: Iterable[str]) -> Vocab:
        seen = set().union(*map(set, names))
        if BOUNDARY in seen:
            bad = next(n for n in names if BOUNDARY in n)
            raise NamegenError(f"name {bad!r} contains {BOUNDARY!r}, the boundary token; remove it from the data")
        return cls((BOUNDARY, *sorted(seen)))

    def __len__(self) -> int:
        return len(self.chars)

    def covers(self, name: str) -> bool:
        """Whether every character of `name` is in the vocabulary (the boundary token is not a character)."""
        return all(ch in self.index and ch != BOUNDARY for ch in name)

    def encode(self, name: str, unseen: int | None = None) -> list[int]:
        """Token ids of `name` (no boundary tokens). An unseen character raises, unless `unseen` gives its id."""
        ids = []
        for ch in name:
            i = self.index.get(ch, unseen)
            if i is None or ch == BOUNDARY:
                raise NamegenError(f"character {ch!r} in {name!r} is not in the model's vocabulary ({''.join(self.chars[1:])!r})")
            ids.append(i)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """The name spelled by `ids`, stopping at the first boundary token."""
        out = []
        for i in ids:
            if i == 0:
                break
            out.append(self.chars[i])
        return "".join(out)
