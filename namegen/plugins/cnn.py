"""`cnn`: a WaveNet-style hierarchical convolution (as in the makemore lectures): neighbouring characters
are fused pairwise, then neighbouring pairs, and so on, so block_size (a power of two)
characters become one vector after log2(block_size) levels. LayerNorm stands in for the
lecture's BatchNorm: it needs no batch statistics, so one name is scored as it is in a batch.

`forward` fuses disjoint pairs of one window; `forward_sequence` runs the same levels as
dilated (1, 2, 4, ...) valid convolutions over a whole stream, which gives every window's
output at once: position j of level k fuses positions j and j + 2**k of level k - 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..errors import NamegenError
from ..model import NameModel
from ..registry import register
from ..train import TrainConfig, check_at_least_one


class Fuse(nn.Module):
    """Two neighbouring vectors -> one: Linear on their concatenation, LayerNorm, tanh."""

    def __init__(self, width: int, hidden: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * width, hidden), nn.LayerNorm(hidden), nn.Tanh(), nn.Dropout(dropout))

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([left, right], dim=-1))


class CNNNetwork(nn.Module):
    def __init__(self, vocab_size: int, block_size: int, embed: int, hidden: int, dropout: float):
        super().__init__()
        self.block_size = block_size
        self.embed = nn.Embedding(vocab_size, embed)
        levels = block_size.bit_length() - 1
        self.levels = nn.ModuleList(Fuse(embed if k == 0 else hidden, hidden, dropout) for k in range(levels))
        self.head = nn.Linear(hidden if levels else embed, vocab_size)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        x = self.embed(context)  # [B, T, C]
        for fuse in self.levels:
            x = fuse(x[:, 0::2], x[:, 1::2])  # [B, T/2, hidden]: disjoint pairs
        return self.head(x[:, 0])

    def forward_sequence(self, stream: torch.Tensor) -> torch.Tensor:
        x = self.embed(stream)  # [B, S, C]
        for k, fuse in enumerate(self.levels):
            x = fuse(x[:, : -(2**k)], x[:, 2**k :])  # [B, S - (2**(k+1) - 1), hidden]: every pair, dilation 2**k
        return self.head(x)


@register("cnn")
class CNN(NameModel):
    """WaveNet-style hierarchical causal convolution (as in the makemore lectures) over the last block_size characters."""

    @dataclass
    class Config(TrainConfig):
        block_size: int = 16  # characters of context, a power of two: log2(block_size) levels of pairwise fusion
        embed: int = 24
        hidden: int = 256
        dropout: float = 0.2
        steps: int = 12000  # 20,000 gains little for twice the time
        eval_every: int = 500
        patience: int = 6
        ngram_mix: int = 6  # a Kneser-Ney 6-gram mixed in after training (namegen.mixture; 0: none)

        def __post_init__(self):
            if self.block_size < 1 or self.block_size & (self.block_size - 1):
                raise NamegenError(f"block_size must be a power of two (1, 2, 4, 8, ...), got {self.block_size}")
            check_at_least_one(self, "embed", "hidden")  # dropout: the trainer's checks

    test_hyperparams = {"block_size": 4, "embed": 4, "hidden": 16, "steps": 200, "eval_every": 50, "lr": 0.01, "dropout": 0.0}

    def build_network(self, vocab_size: int, max_len: int) -> CNNNetwork:
        c = self.config
        return CNNNetwork(vocab_size, c.block_size, c.embed, c.hidden, c.dropout)
