"""Shared gradient training, for every plugin that does not fit itself.

Batches: a network with `forward_sequence` trains on whole names (teacher forcing: one stream
per name, every next token a target), names of like lengths batched together; any other network
on (context, next) pairs.
Optimiser: AdamW, linear warm-up then cosine decay to a floor, gradient clipping.
Stopping: after `steps`, after `patience` evaluations without a better val NLL, at
`time_limit`, or on Ctrl-C; each way keeps the weights with the best val NLL.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .contract import has_sequence_form
from .errors import NamegenError
from .layout import HISTORY_COLUMNS

# Sizes a fit may ask for (docs/plugins.md), checked before anything is allocated (namegen.model).
MAX_PARAMETERS = 50_000_000  # a network's parameters (200 MB in float32; AdamW keeps three more copies)
MAX_MODULES = 10_000  # submodules of a network: a bound on building one before its parameters add up
MAX_ACTIVATION_BYTES = 4 << 30  # what one training batch keeps for the backward pass, estimated
MAX_CONTEXT_BYTES = 2 << 30  # the (context, next) pairs of the training or validation names, int64 [N, block_size]
MAX_BATCH_SIZE = 1 << 20
MAX_NGRAM_ORDER = 62  # n-grams are base-V int64 numbers: V >= 2 overflows above it (namegen.kneser_ney.check_order)
MAX_SEED = 2**63 - 1  # torch's generators take 64 bits


@dataclass
class TrainConfig:
    """Hyper-parameters of the shared trainer; a plugin's Config inherits them.

    They are checked when the Config is made (namegen.create). A plugin adds checks of its own
    fields in its Config's `__post_init__`; the trainer's checks run before it whether or not
    it calls `super().__post_init__()`.
    """

    steps: int = 3000  # optimiser steps at most
    batch_size: int = 512  # next-token targets per step (sequence networks: whole names adding up to about this many)
    lr: float = 3e-3  # peak learning rate, reached after the warm-up
    warmup_steps: int = 100  # linear warm-up from lr / warmup_steps to lr
    min_lr_fraction: float = 0.1  # the cosine decay ends at lr * min_lr_fraction at the last step
    weight_decay: float = 0.01  # AdamW's, on weight matrices and embeddings (not on biases or gains)
    grad_clip: float = 1.0  # largest global gradient norm; 0 turns clipping off
    eval_every: int = 250  # steps between evaluations of the val NLL
    patience: int = 4  # evaluations without a better val NLL before stopping
    time_limit: float | None = None  # seconds; training stops then and keeps the best weights so far
    seed: int = 0  # weight initialisation and minibatch order
    # After training: mix in an interpolated Kneser-Ney n-gram of this order counted on the training
    # names, weighted to minimise the val NLL (namegen.mixture); 0 mixes in nothing.
    ngram_mix: int = 0

    def __post_init__(self):
        check_train_config(self)

    def __init_subclass__(cls, **kwargs):
        # A subclass's own __post_init__ replaces ours; wrap it so the trainer's checks still run.
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("__post_init__")
        if own is not None:
            @functools.wraps(own)
            def __post_init__(self):
                check_train_config(self)
                own(self)

            cls.__post_init__ = __post_init__


def check_at_least_one(config, *names: str) -> None:
    """For a plugin's own size fields (layers, hidden, ...): each must be an integer of at least 1."""
    for name in names:
        if getattr(config, name) < 1:
            raise NamegenError(f"hyper-parameter {name} must be at least 1, got {getattr(config, name)!r}")


def check_train_config(config: TrainConfig) -> None:
    """A NamegenError naming the first trainer hyper-parameter out of range."""
    dropout = getattr(config, "dropout", None)  # the networks' own, when a plugin has one
    rules = [
        ("steps", config.steps >= 1, "at least 1"),
        ("batch_size", 1 <= config.batch_size <= MAX_BATCH_SIZE, f"from 1 to {MAX_BATCH_SIZE:,}"),
        ("lr", config.lr > 0, "above 0"),
        ("warmup_steps", config.warmup_steps >= 0, "0 or more"),
        ("min_lr_fraction", 0 <= config.min_lr_fraction <= 1, "between 0 and 1"),
        ("weight_decay", config.weight_decay >= 0, "0 or more"),
        ("grad_clip", config.grad_clip >= 0, "0 (off) or more"),
        ("eval_every", config.eval_every >= 1, "at least 1"),
        ("patience", config.patience >= 1, "at least 1"),
        ("time_limit", config.time_limit is None or config.time_limit > 0, "above 0 seconds (or None for no limit)"),
        ("ngram_mix", 0 <= config.ngram_mix <= MAX_NGRAM_ORDER, f"0 (no n-gram) or an n-gram order from 1 to {MAX_NGRAM_ORDER}"),
        ("seed", 0 <= config.seed <= MAX_SEED, f"from 0 to 2**63 - 1 ({MAX_SEED:,})"),
        ("dropout", dropout is None or 0 <= dropout < 1, "at least 0 and below 1"),
    ]
    for name, ok, rule in rules:
        if not ok:
            raise NamegenError(f"hyper-parameter {name} must be {rule}, got {getattr(config, name)!r}")


@dataclass
class Examples:
    """(context, next) pairs: contexts int64 [N, block_size], targets int64 [N]; owners int64 [N]
    numbers the name each pair belongs to (0, 1, ... in order), so whole names can be rebuilt."""

    contexts: torch.Tensor
    targets: torch.Tensor
    owners: torch.Tensor | None = None


class NameRows:
    """The names of `data` one per row, for sequence networks: `streams` int64 [n, block_size + W - 1]
    (block_size boundary tokens, the name, 0-padded) and `targets` int64 [n, W] (the name's tokens
    and its end token, -1-padded), W being the most targets of any name."""

    def __init__(self, data: Examples, block_size: int):
        self.block_size = block_size
        self.counts = torch.bincount(data.owners)  # targets per name: its length + 1
        starts = torch.cumsum(self.counts, 0) - self.counts
        position = torch.arange(len(data.owners)) - starts[data.owners]
        self.targets = torch.full((len(self.counts), int(self.counts.max())), -1, dtype=torch.int64)
        self.targets[data.owners, position] = data.targets
        self.streams = torch.zeros(len(self.counts), block_size + self.targets.shape[1] - 1, dtype=torch.int64)
        self.streams[:, block_size:] = self.targets[:, :-1].clamp(min=0)  # end token and padding: 0

    def __len__(self) -> int:
        return len(self.counts)

    def batch(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Streams and targets of names `rows`, cut to the longest of them."""
        width = int(self.counts[rows].max())
        return self.streams[rows, : self.block_size + width - 1], self.targets[rows, :width]


def sequence_logits(network: torch.nn.Module, stream: torch.Tensor) -> torch.Tensor:
    """Logits of every window of `stream` int64 [B, S]: float [B, S - block_size + 1, V], where
    [:, j] is network(stream[:, j : j + block_size]). Uses the network's `forward_sequence` when
    it has one (the faster way, equal by contract), else runs `forward` on the unfolded windows."""
    if has_sequence_form(network):
        return network.forward_sequence(stream)
    windows = stream.unfold(1, network.block_size, 1)  # [B, S - block_size + 1, block_size]
    return network(windows.reshape(-1, network.block_size)).reshape(*windows.shape[:2], -1)


def batch_loss(network: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of a pair batch (contexts [B, block_size], targets [B]) or of a name batch
    (streams [B, S], targets [B, S - block_size + 1], -1 where there is no target)."""
    device = network_device(network)  # batches are drawn on the CPU; the network may train elsewhere
    inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
    logits = network(inputs) if targets.dim() == 1 else sequence_logits(network, inputs)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1, reduction=reduction)


def network_device(network: torch.nn.Module) -> torch.device:
    tensor = next(network.parameters(), None)
    if tensor is None:
        tensor = next(network.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def uses_sequences(network: torch.nn.Module, data: Examples) -> bool:
    return has_sequence_form(network) and data.owners is not None


@torch.no_grad()
def mean_nll(network, data: Examples, batch: int = 65536) -> float:
    """Mean NLL per target of `data`, in batches of about `batch` targets."""
    if uses_sequences(network, data):
        names = NameRows(data, network.block_size)
        by_length = names.counts.argsort(stable=True)  # chunks of like lengths: less padding to compute
        chunks = (names.batch(rows) for rows in by_length.split(max(1, batch // names.targets.shape[1])))
    else:
        chunks = ((data.contexts[i : i + batch], data.targets[i : i + batch]) for i in range(0, len(data.targets), batch))
    total = sum(batch_loss(network, inputs, targets, reduction="sum").item() for inputs, targets in chunks)
    return total / max(1, len(data.targets))


@torch.no_grad()
def pair_logits(network: torch.nn.Module, data: Examples, batch: int = 65536) -> torch.Tensor:
    """The network's logits for every (context, next) pair of `data` (targets >= 0; contexts may
    be wider than the network reads), in their order: float [N, V] on the CPU. A network with
    `forward_sequence` reads each name once, as the trainer does, instead of one window per pair:
    equal within float32 rounding, and many times faster for a transformer."""
    device = network_device(network)
    if not uses_sequences(network, data):
        contexts = data.contexts[:, data.contexts.shape[1] - network.block_size :]
        return torch.cat([network(contexts[i : i + batch].to(device)).cpu() for i in range(0, len(contexts), batch)])
    names = NameRows(data, network.block_size)
    starts = torch.cumsum(names.counts, 0) - names.counts  # each name's first pair
    out = None
    for rows in names.counts.argsort(stable=True).split(max(1, batch // names.targets.shape[1])):  # like lengths: less padding
        streams, targets = names.batch(rows)
        logits = sequence_logits(network, streams.to(device)).cpu()
        real = targets >= 0
        if out is None:
            out = logits.new_empty(len(data.targets), logits.shape[-1])
        out[(starts[rows, None] + torch.arange(targets.shape[1]))[real]] = logits[real]
    return out


class TooLarge(Exception):
    """Raised inside a network's construction by `size_guard` (namegen.model turns it into a NamegenError)."""


@contextlib.contextmanager
def size_guard():
    """Stop building a network as soon as its parameters exceed MAX_PARAMETERS or its submodules
    MAX_MODULES: counted as they are registered, so that layers=10**9 ends after a few
    thousand, not after hours (and, on the meta device, before any memory is taken)."""
    from torch.nn.modules.module import register_module_module_registration_hook, register_module_parameter_registration_hook

    counted = {"parameters": 0, "modules": 0}

    def on_parameter(module, name, parameter):
        counted["parameters"] += parameter.numel() if parameter is not None else 0
        if counted["parameters"] > MAX_PARAMETERS:
            raise TooLarge(f"more than {MAX_PARAMETERS:,} parameters", f"{MAX_PARAMETERS:,} parameters")

    def on_module(module, name, submodule):
        counted["modules"] += 1
        if counted["modules"] > MAX_MODULES:
            raise TooLarge(f"more than {MAX_MODULES:,} submodules", f"{MAX_MODULES:,} submodules")

    handles = [register_module_parameter_registration_hook(on_parameter), register_module_module_registration_hook(on_module)]
    try:
        yield counted
    finally:
        for handle in handles:
            handle.remove()


def activation_bytes(network: torch.nn.Module, lengths: list[int], batch_size: int) -> int:
    """What one training step's forward pass keeps for the backward pass (bytes), for `network`
    on the meta device (no memory, no arithmetic): every tensor autograd saves, weights aside.
    `lengths`: the training names' lengths. Sequence batches are taken at their worst: as many
    names as `batch_size` targets of the shortest names hold, each as wide as the longest."""
    bs = network.block_size
    if has_sequence_form(network):
        counts = [n + 1 for n in lengths]  # a name's targets: its characters and its end token
        names, width = -(-batch_size // min(counts)), max(counts)
        inputs = torch.zeros(names, bs + width - 1, dtype=torch.int64, device="meta")
        targets = torch.zeros(names, width, dtype=torch.int64, device="meta")
    else:
        inputs = torch.zeros(batch_size, bs, dtype=torch.int64, device="meta")
        targets = torch.zeros(batch_size, dtype=torch.int64, device="meta")
    weights = {id(p) for p in network.parameters()}
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        if id(tensor) not in weights and id(tensor._base) not in weights:
            total += tensor.numel() * tensor.element_size()
        return tensor

    network.train()
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        batch_loss(network, inputs, targets)
    return total


def learning_rate(step: int, config: TrainConfig) -> float:
    """The learning rate of optimiser step `step` (1-based): a linear warm-up to `lr` over
    `warmup_steps`, then a cosine decay to `lr * min_lr_fraction` at step `steps`."""
    if step <= config.warmup_steps:
        return config.lr * step / config.warmup_steps
    floor = config.lr * config.min_lr_fraction
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps))
    return floor + (config.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def parameter_groups(network: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices and embeddings only: decaying biases, gains and start states
    pulls them to 0 for no regularising gain (as nanoGPT does)."""
    params = [p for p in network.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


POOLED_BATCHES = 16  # name batches drawn at once and cut by length (see NameBatches)


def batch_drawer(network: torch.nn.Module, data: Examples, batch_size: int, generator: torch.Generator):
    """A function that draws one random minibatch (inputs, targets) of about `batch_size` targets."""
    if uses_sequences(network, data):
        return NameBatches(NameRows(data, network.block_size), batch_size, generator)

    def pairs():
        rows = torch.randint(len(data.targets), (batch_size,), generator=generator)
        return data.contexts[rows], data.targets[rows]

    return pairs


class NameBatches:
    """Minibatches of whole names, about `batch_size` targets each. A batch is padded to its
    longest name, so names drawn at random waste a third of the positions a step computes
    (names.txt: 63% are targets). Instead POOLED_BATCHES batches' worth of random names are drawn
    at once, sorted by length and cut into POOLED_BATCHES equal shares of their targets (95% of
    the positions are targets), and the batches are served in random order: every name is still drawn uniformly, every batch
    still weighs about `batch_size` targets, and a step costs a third less."""

    def __init__(self, names: NameRows, batch_size: int, generator: torch.Generator):
        self.names, self.generator = names, generator
        self.per_pool = max(1, round(POOLED_BATCHES * batch_size * len(names) / int(names.counts.sum())))
        self.queue: list[torch.Tensor] = []

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.queue:
            self.queue = self.pool()
        return self.names.batch(self.queue.pop())

    def pool(self) -> list[torch.Tensor]:
        rows = torch.randint(len(self.names), (self.per_pool,), generator=self.generator)
        counts = self.names.counts[rows]
        order = counts.argsort(stable=True)
        rows, counts = rows[order], counts[order]
        before = torch.cumsum(counts, 0) - counts  # targets before each name: cut into POOLED_BATCHES equal shares
        batch = torch.div(before * POOLED_BATCHES, counts.sum(), rounding_mode="floor")
        batches = list(rows.split(torch.unique_consecutive(batch, return_counts=True)[1].tolist()))
        return [batches[i] for i in torch.randperm(len(batches), generator=self.generator).tolist()]


def fit_gradient(network: torch.nn.Module, train: Examples, val: Examples | None, config: TrainConfig,
                 progress: bool = False) -> dict:
    """Minimise the mean NLL of `train` with AdamW; evaluate the val NLL (the train NLL without
    `val`) every `eval_every` steps, and end with the weights of the best evaluation. Returns a
    summary: steps done, why training stopped, the best step and NLL, and the loss history."""
    start = time.perf_counter()
    deadline = start + config.time_limit if config.time_limit else math.inf
    draw = batch_drawer(network, train, config.batch_size, torch.Generator().manual_seed(config.seed))
    # fused: one kernel updates every parameter (the per-parameter loop took ~10% of a small transformer's step)
    optimizer = torch.optim.AdamW(parameter_groups(network, config.weight_decay), lr=config.lr, fused=True)
    history = {column: [] for column in HISTORY_COLUMNS}
    best = {"nll": math.inf, "step": 0, "state": None}
    losses: list[float] = []  # minibatch losses since the last evaluation
    done, since_best, stopped, shown = 0, 0, "steps", 0.0
    bar = LazyProgress("fit", config.steps, enabled=progress)

    def evaluate() -> None:
        nonlocal since_best
        network.eval()  # dropout off
        score = mean_nll(network, val if val is not None else train)
        network.train()
        train_nll = sum(losses) / len(losses) if losses else math.nan
        losses.clear()
        row = (done, time.perf_counter() - start, train_nll, score, learning_rate(max(1, done), config))
        for column, value in zip(HISTORY_COLUMNS, row):
            history[column].append(value)
        if score < best["nll"]:
            best.update(nll=score, step=done, state=copy.deepcopy(network.state_dict()))
            since_best = 0
        else:
            since_best += 1

    network.train()
    interrupts, restore = catch_interrupts()
    try:
        for step in range(1, config.steps + 1):
            if interrupts:  # Ctrl-C: stop here and keep the best weights so far
                stopped = "interrupted"
                break
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, config)
            loss = batch_loss(network, *draw())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(network.parameters(), config.grad_clip)
            optimizer.step()
            done = step
            losses.append(loss.item())
            if not math.isfinite(losses[-1]):  # fail now: every later step would be NaN too
                raise NamegenError(f"training diverged at step {step} (minibatch NLL {losses[-1]}); lower the learning rate "
                                   f"(lr={config.lr}); nothing was saved")
            now = time.perf_counter()
            if step % config.eval_every == 0 or step == config.steps or now >= deadline:
                evaluate()
                if since_best >= config.patience:
                    stopped = "patience"
                elif now >= deadline:
                    stopped = "time limit"
                if stopped != "steps":
                    break
            if now - shown >= 0.25 or step % config.eval_every == 0:
                shown = now
                left = min((now - start) / step * (config.steps - step), deadline - now)
                recent = sum(losses) / len(losses) if losses else history["train_nll"][-1]
                bar.update(step, train=recent, val=history["val_nll"][-1] if history["val_nll"] else None,
                           elapsed=format_seconds(now - start), left=format_seconds(left))
    except KeyboardInterrupt:  # a second Ctrl-C, or one raised where catch_interrupts could not listen
        stopped = "interrupted"
    finally:
        restore()
        bar.close()
    if best["state"] is None:  # interrupted before the first evaluation: the weights as they are
        evaluate()
    if best["state"] is None:  # no evaluation gave a finite NLL: nothing worth keeping
        raise NamegenError(f"training diverged (the NLL is {history['val_nll'][-1]}); lower the learning rate (lr={config.lr}); nothing was saved")
    network.load_state_dict(best["state"])
    network.eval()
    return {"steps": done, "stopped": stopped, "best_step": best["step"], "best_nll": best["nll"],
            "history": compact_history(history)}


def catch_interrupts() -> tuple[list, Callable[[], None]]:
    """While training runs in the main thread, a first Ctrl-C only asks the loop to stop at the
    next step (it appends to the returned list); a second one raises KeyboardInterrupt. Raising
    at once, wherever the main thread is, would land the exception inside torch or the progress
    bar's refresh; between steps nothing is half done. Returns (requests, restore the previous
    handler)."""
    requests: list = []
    if threading.current_thread() is not threading.main_thread():
        return requests, lambda: None
    previous = signal.getsignal(signal.SIGINT)
    if previous in (signal.SIG_IGN, None):  # a background job, or a handler not set from Python: leave it
        return requests, lambda: None

    def request(signum, frame):
        if requests:
            raise KeyboardInterrupt
        requests.append(signum)

    signal.signal(signal.SIGINT, request)
    return requests, lambda: signal.signal(signal.SIGINT, previous)


def compact_history(history: dict) -> dict:
    """Columnar lists, rounded for a small config.json: seconds to ms, NLLs to 6 decimals, lr to 6 digits."""
    rounded = {"seconds": lambda v: round(v, 3), "train_nll": lambda v: None if math.isnan(v) else round(v, 6),
               "val_nll": lambda v: round(v, 6), "lr": lambda v: float(f"{v:.6g}")}
    return {column: [rounded.get(column, int)(v) for v in values] for column, values in history.items()}


def format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(round(max(0.0, seconds))), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class LazyProgress:
    """A rich progress bar on stderr that appears only once a task has run for `delay` seconds,
    so quick fits print nothing."""

    def __init__(self, description: str, total: int, enabled: bool = True, delay: float = 1.0):
        self.description, self.total, self.enabled, self.delay = description, total, enabled, delay
        self.start, self.bar, self.task = time.perf_counter(), None, None

    def update(self, completed: int, **fields) -> None:
        """Move to `completed` and show `fields` as "name value" (floats to 4 decimals; None hidden)."""
        if not self.enabled:
            return
        if self.bar is None:
            if time.perf_counter() - self.start < self.delay:
                return
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn

            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("step {task.completed}/{task.total}"),
                TextColumn("{task.fields[status]}"),
                console=Console(file=sys.stderr), transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=self.total, status="")
        status = " ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items() if v is not None)
        self.bar.update(self.task, completed=completed, status=status)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
