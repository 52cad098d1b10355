"""`counts`: the bigram count table of the tutorial, with add-alpha smoothing."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import NamegenError
from ..model import NameModel
from ..registry import register
from ..train import Examples


def bigram_counts(data: Examples, vocab_size: int) -> torch.Tensor:
    """Table [V, V] of how often token b follows token a: one vectorised bincount."""
    flat = data.contexts[:, -1] * vocab_size + data.targets
    return torch.bincount(flat, minlength=vocab_size * vocab_size).reshape(vocab_size, vocab_size).double()


class CountsNetwork(torch.nn.Module):
    """log P(next | previous token): a row lookup in a table of log-probabilities."""

    block_size = 1

    def __init__(self, vocab_size: int):
        super().__init__()
        self.register_buffer("log_probs", torch.zeros(vocab_size, vocab_size))

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.log_probs[context[:, -1]]


@register("counts")
class Counts(NameModel):
    """Bigram counts with add-alpha smoothing (the makemore baseline)."""

    @dataclass
    class Config:
        alpha: float = 1.0  # added to every count; 1 is the tutorial's add-one smoothing

        def __post_init__(self):
            if not self.alpha > 0:  # 0 gives unseen bigrams probability 0: infinite NLLs, no export
                raise NamegenError(f"alpha must be above 0, got {self.alpha}")

    def build_network(self, vocab_size: int, max_len: int) -> CountsNetwork:
        return CountsNetwork(vocab_size)

    def fit_network(self, train, val, progress):
        table = bigram_counts(train, len(self.vocab_)) + self.config.alpha
        self.network_.log_probs.copy_((table / table.sum(dim=1, keepdim=True)).log().float())
        return {"method": "counting"}
