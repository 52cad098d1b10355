"""`mlp`: Bengio et al. (2003) as in makemore: embed the last block_size characters, concatenate,
then hidden layers of Linear, LayerNorm and tanh. LayerNorm, not the lectures' BatchNorm: it needs
no batch statistics, so a name scores the same alone or in a batch, in training or not.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..model import NameModel
from ..registry import register
from ..train import TrainConfig, check_at_least_one


class MLPNetwork(nn.Module):
    def __init__(self, vocab_size: int, block_size: int, embed: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.block_size = block_size
        self.embed = nn.Embedding(vocab_size, embed)
        self.hidden = nn.Sequential()  # grown layer by layer: namegen's size guard stops a huge `layers` early
        for layer in range(layers):
            for module in (nn.Linear(hidden if layer else block_size * embed, hidden), nn.LayerNorm(hidden), nn.Tanh(), nn.Dropout(dropout)):
                self.hidden.append(module)
        self.head = nn.Linear(hidden if layers else block_size * embed, vocab_size)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(self.embed(context).flatten(1)))


@register("mlp")
class MLP(NameModel):
    """Bengio et al. 2003 (makemore's MLP): embeddings of the last block_size characters, LayerNorm-tanh hidden layers."""

    @dataclass
    class Config(TrainConfig):
        block_size: int = 8  # characters of context
        embed: int = 24
        hidden: int = 512
        layers: int = 1
        dropout: float = 0.2
        steps: int = 12000  # more gains little on names.txt
        eval_every: int = 500
        patience: int = 6
        ngram_mix: int = 6  # a Kneser-Ney 6-gram mixed in after training (namegen.mixture; 0: none)

        def __post_init__(self):
            check_at_least_one(self, "block_size", "embed", "hidden", "layers")  # dropout: the trainer's checks

    # block_size 2: V**2 contexts, so the exported sampler takes its tabulated loop (cnn runs its network
    # on the whole window at every step; rnn and transformer have a step form)
    test_hyperparams = {"block_size": 2, "embed": 4, "hidden": 16, "steps": 200, "eval_every": 50, "lr": 0.01, "dropout": 0.0}

    def build_network(self, vocab_size: int, max_len: int) -> MLPNetwork:
        c = self.config
        return MLPNetwork(vocab_size, c.block_size, c.embed, c.hidden, c.layers, c.dropout)
