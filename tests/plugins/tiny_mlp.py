"""A test-only plugin: a tiny MLP over the last 3 characters (block_size = 3).

It lives here, and nowhere else, to prove that the shared layer (fit, score, sample,
save/load, ONNX export) is not bigram-only: nothing outside this file knows about it.
"""

from dataclasses import dataclass

import torch

import namegen


class TinyMLPNetwork(torch.nn.Module):
    block_size = 3

    def __init__(self, vocab_size: int, embed: int, hidden: int):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab_size, embed)
        self.hidden = torch.nn.Linear(self.block_size * embed, hidden)
        self.out = torch.nn.Linear(hidden, vocab_size)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(self.embed(context).flatten(1))))


@namegen.register("tiny-mlp")
class TinyMLP(namegen.NameModel):
    """Test-only: a tiny MLP over the last 3 characters."""

    @dataclass
    class Config(namegen.TrainConfig):
        embed: int = 4
        hidden: int = 16
        steps: int = 300
        eval_every: int = 100

    def build_network(self, vocab_size: int, max_len: int) -> TinyMLPNetwork:
        return TinyMLPNetwork(vocab_size, self.config.embed, self.config.hidden)
