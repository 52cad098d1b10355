"""`linear`: a one-hot input times a V x V weight plus a bias, as in the tutorial.

With one-hot inputs the loss depends on the data only through the V x V table of bigram
counts, so training runs on that table (V*V numbers) instead of on every pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import NamegenError
from ..model import NameModel
from ..registry import register
from .counts import bigram_counts


class LinearNetwork(torch.nn.Module):
    """logits = one_hot(previous token) @ weight + bias, computed as a row lookup."""

    block_size = 1

    def __init__(self, vocab_size: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(vocab_size, vocab_size))
        self.bias = torch.nn.Parameter(torch.zeros(vocab_size))

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.weight[context[:, -1]] + self.bias


@register("linear")
class Linear(NameModel):
    """One-hot linear layer with L2 regularisation, trained on the bigram count table."""

    @dataclass
    class Config:
        l2: float = 0.01  # weight of mean(W**2) in the loss, as in the tutorial
        steps: int = 1000  # full-batch gradient descent steps, as in the tutorial
        lr: float = 10.0  # the tutorial's learning rate

        def __post_init__(self):
            if not self.l2 >= 0:
                raise NamegenError(f"l2 must be >= 0, got {self.l2}")
            if self.steps < 1 or not self.lr > 0:
                raise NamegenError(f"steps must be >= 1 and lr > 0, got steps={self.steps}, lr={self.lr}")

    def build_network(self, vocab_size: int, max_len: int) -> LinearNetwork:
        return LinearNetwork(vocab_size)

    def fit_network(self, train, val, progress):
        # The tutorial's loop (full-batch gradient descent, lr 10, 1000 steps), with the mean NLL
        # over all pairs written as sum(count * -log p) / pair count over the table: the same loss
        # and gradient at V*V cost per step. Plain tensors, no torch.optim: importing it costs ~1 s.
        # A step that would raise the loss is refused and the learning rate halved: lr 10 never
        # raises it on names.txt (the tutorial's figures stand), but it oscillates forever on a
        # vocabulary of a few tokens, where one row of the table holds most of the data.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # 27x27 tensors: a second thread only adds hand-offs (measured: 5.4 s vs 0.18 s on a busy 2-core machine)
        try:
            return self._descend(train)
        finally:
            torch.set_num_threads(threads)

    def _descend(self, train) -> dict:
        counts = bigram_counts(train, len(self.vocab_)).float()
        total, l2 = counts.sum(), self.config.l2
        weight, bias = self.network_.weight, self.network_.bias
        lr, refused, previous = self.config.lr, 0, math.inf
        for step in range(self.config.steps + 1):  # the last pass only checks the last step
            loss = -(counts * F.log_softmax(weight + bias, dim=1)).sum() / total + l2 * (weight**2).mean()
            if not loss.item() <= previous + 1e-6 * abs(previous):  # the last step raised the loss beyond float32 noise, or made it NaN
                lr, refused = lr / 2, refused + 1
                with torch.no_grad():  # take back half of it: W - 2h*g + h*g is the halved step from where it started
                    weight += lr * weight.grad
                    bias += lr * bias.grad
                continue
            previous = loss.item()
            if step == self.config.steps:
                break
            weight.grad = bias.grad = None
            loss.backward()
            with torch.no_grad():
                weight -= lr * weight.grad
                bias -= lr * bias.grad
        return {"method": "gradient descent on bigram counts", "steps": self.config.steps, "loss": previous,
                "final_lr": lr, "refused_steps": refused}
