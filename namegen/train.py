"""Shared gradient training: minibatches of (context, next) pairs, AdamW, early stop on val NLL."""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import NamegenError


@dataclass
class TrainConfig:
    """Hyper-parameters of the shared trainer; a plugin's Config inherits them."""

    steps: int = 3000
    batch_size: int = 512
    lr: float = 3e-3
    weight_decay: float = 0.01
    eval_every: int = 250
    patience: int = 4  # evaluations without a better val NLL before stopping
    seed: int = 0  # weight initialisation and minibatch order


@dataclass
class Examples:
    """(context, next) pairs: contexts int64 [N, block_size], targets int64 [N]."""

    contexts: torch.Tensor
    targets: torch.Tensor


class LazyProgress:
    """A rich progress bar on stderr that appears only once a task has run for `delay` seconds,
    so quick fits print nothing."""

    def __init__(self, description: str, total: int, enabled: bool = True, delay: float = 1.0):
        self.description, self.total, self.enabled, self.delay = description, total, enabled, delay
        self.start, self.bar, self.task = time.perf_counter(), None, None

    def update(self, completed: int, **fields) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.perf_counter() - self.start < self.delay:
                return
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                console=Console(file=sys.stderr), transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=self.total, status="")
        status = " ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
        self.bar.update(self.task, completed=completed, status=status)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@torch.no_grad()
def mean_nll(network, data: Examples, batch: int = 65536) -> float:
    total = 0.0
    for i in range(0, len(data.targets), batch):
        logits = network(data.contexts[i : i + batch])
        total += F.cross_entropy(logits, data.targets[i : i + batch], reduction="sum").item()
    return total / max(1, len(data.targets))


def fit_gradient(network: torch.nn.Module, train: Examples, val: Examples | None, config: TrainConfig,
                 progress: bool = False) -> dict:
    """Minimise the mean NLL of `train` with AdamW on minibatches; keep the weights with the best
    val NLL and stop after `patience` evaluations without improvement. Returns a summary."""
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps)
    best, best_state, since_best, step = float("inf"), None, 0, 0
    bar = LazyProgress("fit", config.steps, enabled=progress)
    network.train()
    try:
        for step in range(1, config.steps + 1):
            batch = torch.randint(len(train.targets), (config.batch_size,), generator=generator)
            loss = F.cross_entropy(network(train.contexts[batch]), train.targets[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if step % config.eval_every == 0 or step == config.steps:
                network.eval()
                score = mean_nll(network, val if val is not None else train)
                network.train()
                if score < best:
                    best, best_state, since_best = score, copy.deepcopy(network.state_dict()), 0
                else:
                    since_best += 1
                bar.update(step, loss=loss.item(), val=score)
                if since_best >= config.patience:
                    break
            elif step % 25 == 0:
                bar.update(step, loss=loss.item())
    finally:
        bar.close()
    if best_state is None:  # the NLL was never finite: nothing worth keeping
        raise NamegenError(f"training diverged (the NLL became {score}); lower the learning rate (lr={config.lr}); nothing was saved")
    network.load_state_dict(best_state)
    network.eval()
    return {"steps": step, "best_nll": best}
