"""A test-only plugin with `forward_sequence`: a tiny causal convolution (WaveNet-style).

It exists so that the shared trainer's sequence path (whole names, teacher forcing), the
identity forward_sequence(stream)[:, j] == forward(stream[:, j : j + block_size]) and the
export of such a network are exercised before the neural zoo lands. Nothing outside this file
knows about it.

Two valid convolutions with kernel 2, dilations 1 and 2, give a receptive field of 4 tokens =
block_size: over a stream they give one output per window, and over one window exactly one.
Each convolution is a Linear over neighbouring positions, not conv1d: onnxruntime's CPU Conv
has no float64 kernel, and the sampler runs networks in float64.
"""

from dataclasses import dataclass
from typing import ClassVar

import torch

import namegen


class TinyConvNetwork(torch.nn.Module):
    block_size = 4

    def __init__(self, vocab_size: int, embed: int, hidden: int, dropout: float):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab_size, embed)
        self.conv1 = torch.nn.Linear(2 * embed, hidden)  # kernel 2, dilation 1
        self.conv2 = torch.nn.Linear(2 * hidden, hidden)  # kernel 2, dilation 2
        self.dropout = torch.nn.Dropout(dropout)
        self.out = torch.nn.Linear(hidden, vocab_size)

    def forward_sequence(self, stream: torch.Tensor) -> torch.Tensor:
        """int64 [B, S] -> logits [B, S - 3, V]: output j sees stream[:, j : j + 4] only."""
        x = self.embed(stream)
        h = torch.tanh(self.conv1(torch.cat([x[:, :-1], x[:, 1:]], dim=-1)))
        h = torch.tanh(self.conv2(torch.cat([h[:, :-2], h[:, 2:]], dim=-1)))
        return self.out(self.dropout(h))

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.forward_sequence(context)[:, 0]  # a 4-token stream has exactly one window


@namegen.register("tiny-conv")
class TinyConv(namegen.NameModel):
    """Test-only: a tiny causal convolution over the last 4 characters, trained on whole names."""

    @dataclass
    class Config(namegen.TrainConfig):
        embed: int = 8
        hidden: int = 24
        dropout: float = 0.0
        steps: int = 300
        eval_every: int = 50

        def __post_init__(self):  # the trainer's checks run too (TrainConfig wraps this)
            if self.embed < 1 or self.hidden < 1:
                raise namegen.NamegenError(f"embed and hidden must be at least 1, got embed={self.embed}, hidden={self.hidden}")

    test_hyperparams: ClassVar[dict] = {"steps": 200, "lr": 0.01, "dropout": 0.1}

    def build_network(self, vocab_size: int, max_len: int) -> TinyConvNetwork:
        return TinyConvNetwork(vocab_size, self.config.embed, self.config.hidden, self.config.dropout)
