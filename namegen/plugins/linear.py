"""`linear`: a one-hot input times a V x V weight plus a bias, as in the tutorial.

With one-hot inputs the loss depends on the data only through the V x V table of bigram
counts, so training runs on that table (V*V numbers) instead of on every pair.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import NamegenError
from ..model import NameModel
from ..registry import register
from ..train import LazyProgress, format_seconds
from .counts import bigram_counts

MAX_STEPS = 1_000_000  # a few minutes of descent on a 27-token table; far past convergence


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
        time_limit: float | None = None  # seconds; descent stops then and keeps the weights reached

        def __post_init__(self):
            if not self.l2 >= 0:
                raise NamegenError(f"l2 must be >= 0, got {self.l2}")
            if not 1 <= self.steps <= MAX_STEPS:
                raise NamegenError(f"steps must be from 1 to {MAX_STEPS:,}, got {self.steps}")
            if not self.lr > 0:
                raise NamegenError(f"lr must be above 0, got {self.lr}")
            if self.time_limit is not None and not self.time_limit > 0:
                raise NamegenError(f"time_limit must be above 0 seconds (or None for no limit), got {self.time_limit}")

    def build_network(self, vocab_size: int, max_len: int) -> LinearNetwork:
        return LinearNetwork(vocab_size)

    def fit_network(self, train, val, progress):
        # The tutorial's loop (full-batch gradient descent, lr 10, 1000 steps), with the mean NLL
        # over all pairs written as sum(count * -log p) / pair count over the table: the same loss
        # and gradient at V*V cost per step. Plain tensors, no torch.optim: importing it costs more than the fit.
        # A step that would raise the loss is refused and the learning rate halved: lr 10 never
        # raises it on names.txt (the tutorial's figures stand), but it oscillates forever on a
        # vocabulary of a few tokens, where one row of the table holds most of the data.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # 27x27 tensors: a second thread only adds hand-offs, and waits on a busy machine
        try:
            return self._descend(train, progress)
        finally:
            torch.set_num_threads(threads)

    def _descend(self, train, progress: bool = False) -> dict:
        counts = bigram_counts(train, len(self.vocab_)).float()
        total, l2 = counts.sum(), self.config.l2
        weight, bias = self.network_.weight, self.network_.bias
        lr, refused, previous = self.config.lr, 0, math.inf
        start = shown = time.perf_counter()
        deadline = start + self.config.time_limit if self.config.time_limit else math.inf
        done, stopped, steps = 0, "steps", self.config.steps
        bar = LazyProgress("fit", steps, enabled=progress)
        try:
            for step in range(steps + 1):  # the last pass only checks the last step
                loss = -(counts * F.log_softmax(weight + bias, dim=1)).sum() / total + l2 * (weight**2).mean()
                if not loss.item() <= previous + 1e-6 * abs(previous):  # the last step raised the loss beyond float32 noise, or made it NaN
                    lr, refused = lr / 2, refused + 1
                    with torch.no_grad():  # take back half of it: W - 2h*g + h*g is the halved step from where it started
                        weight += lr * weight.grad
                        bias += lr * bias.grad
                    continue
                previous, done = loss.item(), step
                now = time.perf_counter()
                if step == steps:
                    break
                if now >= deadline:  # checked only after an accepted step: the weights kept are those of `previous`
                    stopped = "time limit"
                    break
                if now - shown >= 0.25:
                    shown = now
                    left = min((now - start) / max(1, step) * (steps - step), deadline - now)
                    bar.update(step, loss=previous, elapsed=format_seconds(now - start), left=format_seconds(left))
                weight.grad = bias.grad = None
                loss.backward()
                with torch.no_grad():
                    weight -= lr * weight.grad
                    bias -= lr * bias.grad
        finally:
            bar.close()
        return {"method": "gradient descent on bigram counts", "steps": steps if stopped == "steps" else done, "stopped": stopped, "loss": previous,
                "final_lr": lr, "refused_steps": refused}
