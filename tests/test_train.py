"""The contract for sequence networks (forward_sequence) and the shared trainer.

The identity test is parametrised over the registry, so every plugin (built in, test-only, or
added later) is held to it; tests/plugins/tiny_conv.py is the test-only plugin that has a
`forward_sequence` before the neural zoo lands.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import pytest
import torch
from _cli import run_many
from conftest import HERE, SMALL_NAMES

import namegen
from namegen import train
from namegen.cli import parse_duration
from namegen.testing import identity_streams
from namegen.train import HISTORY_COLUMNS, Examples, NameRows, TrainConfig, batch_loss, fit_gradient, learning_rate, mean_nll, sequence_logits

PLUGINS = namegen.available()
by_plugin = pytest.mark.parametrize("plugin", PLUGINS)
IDENTITY_TOL = 1e-5


# ---- forward_sequence(stream)[:, j] == forward(stream[:, j : j + block_size]) ---------------------


@by_plugin
def test_forward_sequence_equals_forward_on_every_window(plugin, fitted, record_property):
    """On the longest training names and a mix of others, batched with padding, in float32 and in
    the float64 copy the sampler runs."""
    model = fitted(plugin)
    by_length = sorted(fitted.split.train, key=len)
    names = by_length[-8:] + fitted.split.train[:40]
    assert max(map(len, names)) == len(by_length[-1])
    stream, valid = identity_streams(model, names)
    for label, network in (("float32", model.network_), ("float64", copy.deepcopy(model.network_).double().eval())):
        assert not network.training
        with torch.no_grad():
            sequence = sequence_logits(network, stream)
            windows = torch.stack([network(stream[:, j : j + model.block_size]) for j in range(valid.shape[1])], dim=1)
        assert sequence.shape == (len(names), stream.shape[1] - model.block_size + 1, len(model.vocab_))
        assert sequence.dtype == windows.dtype == (torch.float64 if label == "float64" else torch.float32)
        diff = float((sequence - windows).abs()[valid].max())
        record_property(f"max_abs_diff [{plugin}] forward_sequence vs forward, {label}", diff)
        assert diff <= IDENTITY_TOL, f"[{plugin}] {label}: forward_sequence differs from forward by {diff:.3g}"


def test_a_test_plugin_exercises_forward_sequence():
    """The registry-wide tests above cover at least one network with its own forward_sequence."""
    with_sequence = [p for p in PLUGINS if hasattr(namegen.create(p).build_network(27, 16), "forward_sequence")]
    assert "tiny-conv" in with_sequence


class Recording(torch.nn.Module):
    """forward: the sum of the context; forward_sequence (optional): a marker of its calls."""

    block_size = 3

    def __init__(self, with_sequence: bool):
        super().__init__()
        self.calls = []
        if with_sequence:
            self.forward_sequence = lambda stream: self.calls.append(stream) or torch.full((len(stream), stream.shape[1] - 2, 1), -1.0)

    def forward(self, context):
        return context.sum(dim=1, keepdim=True).float()


def test_sequence_logits_uses_forward_sequence_when_present_and_windows_otherwise():
    stream = torch.tensor([[0, 0, 0, 1, 2, 3], [0, 0, 0, 4, 0, 0]])
    fast = Recording(with_sequence=True)
    assert (sequence_logits(fast, stream) == -1).all() and len(fast.calls) == 1
    windows = sequence_logits(Recording(with_sequence=False), stream)
    assert windows[..., 0].tolist() == [[0, 1, 3, 6], [0, 4, 4, 4]]


# ---- sequence batches --------------------------------------------------------------------------


def test_name_rows_pad_streams_with_zeros_and_targets_with_minus_one():
    data = Examples(*map(torch.tensor, ([[0, 0], [0, 1], [1, 2], [0, 0], [0, 3]], [1, 2, 0, 3, 0], [0, 0, 0, 1, 1])))
    rows = NameRows(data, block_size=2)
    assert rows.streams.tolist() == [[0, 0, 1, 2], [0, 0, 3, 0]]
    assert rows.targets.tolist() == [[1, 2, 0], [3, 0, -1]]
    streams, targets = rows.batch(torch.tensor([1]))  # cut to the longest name of the batch
    assert streams.tolist() == [[0, 0, 3]] and targets.tolist() == [[3, 0]]


def test_name_batches_are_cut_by_length_and_weigh_a_batch_of_targets_each():
    """Batches from one pool hold names of like lengths (little padding), about batch_size
    targets each, and between them every name drawn; names are drawn uniformly over pools."""
    from namegen.data import examples

    lengths = [1 + (i * 7) % 13 for i in range(600)]  # names of 1..13 tokens
    contexts, targets, owners = examples([[1] * n for n in lengths], 2)
    names = NameRows(Examples(*map(torch.from_numpy, (contexts, targets, owners))), block_size=2)
    draw = train.NameBatches(names, batch_size=64, generator=torch.Generator().manual_seed(0))
    pool = draw.pool()
    assert len(pool) == train.POOLED_BATCHES
    sizes = [int(names.counts[rows].sum()) for rows in pool]
    assert max(sizes) - min(sizes) <= 2 * 13  # cut into equal shares of the targets, give or take a name
    assert abs(sum(sizes) / len(sizes) - 64) < 8  # about batch_size each
    assert sum(map(len, pool)) == draw.per_pool
    useful = sum(sizes) / sum(len(rows) * int(names.counts[rows].max()) for rows in pool)
    random_rows = torch.randint(len(names), (draw.per_pool,), generator=torch.Generator().manual_seed(1)).split(len(pool[0]))
    random_useful = sum(int(names.counts[r].sum()) for r in random_rows) / sum(len(r) * int(names.counts[r].max()) for r in random_rows)
    assert useful > 0.9 > random_useful  # the point of pooling: a third fewer padded positions
    served = [draw() for _ in range(2 * train.POOLED_BATCHES)]  # two pools' worth, one batch per call
    assert all(streams.shape[1] == 2 + targets.shape[1] - 1 for streams, targets in served)
    counts = torch.bincount(torch.cat([torch.cat(draw.pool()) for _ in range(200)]), minlength=len(names))
    short = torch.tensor(lengths) <= 6
    assert abs(counts[short].float().mean() / counts[~short].float().mean() - 1) < 0.05  # uniform, not by length


@by_plugin
def test_sequence_batches_give_the_same_loss_as_pair_batches(plugin, fitted):
    """Whole names (teacher forcing, -1 padding ignored) score as their (context, next) pairs do,
    whether the network has forward_sequence or is unfolded into windows."""
    model = fitted(plugin)
    names = fitted.split.val[:60]
    data = model._examples(names)[0]
    streams, targets = NameRows(data, model.block_size).batch(torch.arange(len(names)))
    assert (targets == -1).any(), "the batch should hold names of different lengths"
    with torch.no_grad():
        by_names = batch_loss(model.network_, streams, targets).item()
        by_pairs = batch_loss(model.network_, data.contexts, data.targets).item()
    assert by_names == pytest.approx(by_pairs, abs=1e-6)
    assert mean_nll(model.network_, data) == pytest.approx(by_pairs, abs=1e-6)


def small_data(model_block_size: int = 3, names=SMALL_NAMES) -> tuple[Examples, int]:
    from namegen.data import examples
    from namegen.vocab import Vocab

    vocab = Vocab.from_names(names)
    contexts, targets, owners = examples([vocab.encode(n) for n in names], model_block_size)
    return Examples(*map(torch.from_numpy, (contexts, targets, owners))), len(vocab)


class PairMLP(torch.nn.Module):
    block_size = 3

    def __init__(self, vocab_size: int, dropout: float = 0.0):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab_size, 4)
        self.hidden = torch.nn.Linear(12, 16)
        self.dropout = torch.nn.Dropout(dropout)
        self.out = torch.nn.Linear(16, vocab_size)

    def forward(self, context):
        return self.out(self.dropout(torch.tanh(self.hidden(self.embed(context).flatten(1)))))


def test_pair_networks_train_on_pairs_and_sequence_networks_on_whole_names():
    data, vocab_size = small_data()
    seen = []
    conv = namegen.registry.get("tiny-conv")(embed=4, hidden=8).build_network(vocab_size, 16)
    for network in (PairMLP(vocab_size), conv):
        network.embed.register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape)))
        fit_gradient(network, data, None, TrainConfig(steps=1, batch_size=64, eval_every=10))
    pair_shape, conv_shape = seen[0], seen[2]  # the one training step of each (seen[1] is the MLP's evaluation)
    assert pair_shape == (64, 3)
    targets = [len(name) + 1 for name in SMALL_NAMES]  # about 64 targets' worth of whole names (of like lengths)
    assert 64 / max(targets) - 1 <= conv_shape[0] <= 64 / min(targets) + 1 and conv_shape[0] > 1
    assert 4 + 3 <= conv_shape[1] <= 4 + max(map(len, SMALL_NAMES)) - 1  # block_size boundary tokens, then names


# ---- the optimiser: schedule, clipping, dropout ------------------------------------------------------


def test_learning_rate_warms_up_linearly_then_decays_by_cosine_to_the_floor():
    config = TrainConfig(steps=1100, lr=0.01, warmup_steps=100, min_lr_fraction=0.1)
    assert learning_rate(1, config) == pytest.approx(0.0001)
    assert learning_rate(50, config) == pytest.approx(0.005)
    assert learning_rate(100, config) == pytest.approx(0.01)
    assert learning_rate(600, config) == pytest.approx((0.01 + 0.001) / 2)  # halfway through the cosine
    assert learning_rate(1100, config) == pytest.approx(0.001)
    values = [learning_rate(s, config) for s in range(100, 1101)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    no_warmup = TrainConfig(steps=10, lr=0.01, warmup_steps=0, min_lr_fraction=0.0)
    assert learning_rate(1, no_warmup) == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi / 10)))
    assert learning_rate(10, no_warmup) == 0.0


@pytest.fixture
def optimizer_steps():
    """Every optimiser step's (learning rate, global gradient norm), seen just before it applies."""
    seen = []

    def hook(optimizer, args, kwargs):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        seen.append((optimizer.param_groups[0]["lr"], torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item()))

    from torch.optim.optimizer import register_optimizer_step_pre_hook

    handle = register_optimizer_step_pre_hook(hook)
    yield seen
    handle.remove()


def test_the_trainer_follows_the_schedule(optimizer_steps):
    data, vocab_size = small_data()
    config = TrainConfig(steps=40, warmup_steps=10, lr=0.02, min_lr_fraction=0.2, eval_every=100)
    fit_gradient(PairMLP(vocab_size), data, None, config)
    assert [lr for lr, _ in optimizer_steps] == pytest.approx([learning_rate(s, config) for s in range(1, 41)])


def test_gradient_clipping_bounds_the_gradient_norm(optimizer_steps):
    data, vocab_size = small_data()
    fit_gradient(PairMLP(vocab_size), data, None, TrainConfig(steps=20, grad_clip=0.05, eval_every=100))
    clipped = [norm for _, norm in optimizer_steps]
    optimizer_steps.clear()
    fit_gradient(PairMLP(vocab_size), data, None, TrainConfig(steps=20, grad_clip=0, eval_every=100))
    unclipped = [norm for _, norm in optimizer_steps]
    assert max(clipped) <= 0.05 * (1 + 1e-4)
    assert min(unclipped) > 0.2, "without clipping these gradients are far larger (else this test proves nothing)"


def test_weight_decay_spares_biases_and_one_dimensional_parameters():
    groups = train.parameter_groups(PairMLP(5), weight_decay=0.1)
    decayed = {p.dim() for g in groups if g["weight_decay"] == 0.1 for p in g["params"]}
    spared = {p.dim() for g in groups if g["weight_decay"] == 0.0 for p in g["params"]}
    assert decayed == {2} and spared == {1}


def test_dropout_is_on_while_training_and_off_while_evaluating():
    data, vocab_size = small_data(4)
    network = namegen.registry.get("tiny-conv")(dropout=0.5).build_network(vocab_size, 16)
    modes = []  # (dropout module in train mode, gradients on) for each call
    network.dropout.register_forward_hook(lambda module, args, out: modes.append((module.training, torch.is_grad_enabled())))
    fit_gradient(network, data, data, TrainConfig(steps=6, eval_every=3))
    assert (True, True) in modes and (False, False) in modes
    assert all(training == grad for training, grad in modes), "training steps must run in train mode, evaluations in eval mode"
    assert not network.training


# ---- stopping: patience, time limit, Ctrl-C; history --------------------------------------------------


@pytest.fixture
def scripted_val(monkeypatch):
    """Replace the trainer's evaluation by scripted val NLLs; record the weights each one saw."""
    script = ScriptedNLL()
    monkeypatch.setattr(train, "mean_nll", script)
    return script


class ScriptedNLL:
    def __init__(self):
        self.values, self.states, self.delay = [], [], 0.0

    def __call__(self, network, data, batch=65536):
        self.states.append(copy.deepcopy(network.state_dict()))
        time.sleep(self.delay)
        return self.values[len(self.states) - 1]


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_patience_stops_training_and_keeps_the_best_weights(scripted_val):
    data, vocab_size = small_data()
    scripted_val.values = [3.0, 2.0, 2.5, 2.6, 1.0]
    network = PairMLP(vocab_size)
    summary = fit_gradient(network, data, data, TrainConfig(steps=100, eval_every=5, patience=2))
    assert summary["stopped"] == "patience" and summary["steps"] == 20
    assert summary["best_step"] == 10 and summary["best_nll"] == 2.0
    assert summary["history"]["val_nll"] == [3.0, 2.0, 2.5, 2.6]
    assert same_state(network.state_dict(), scripted_val.states[1])
    assert not same_state(network.state_dict(), scripted_val.states[-1])


def test_time_limit_stops_at_the_deadline_and_keeps_the_best_weights(scripted_val):
    data, vocab_size = small_data()
    scripted_val.values, scripted_val.delay = [3.0, 2.0] + [3.0] * 1000, 0.1
    network = PairMLP(vocab_size)
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])  # its first use imports for ~2 s: not inside the limit
    start = time.perf_counter()
    summary = fit_gradient(network, data, data, TrainConfig(steps=40, eval_every=1, patience=10_000, time_limit=1.0))
    elapsed = time.perf_counter() - start
    assert summary["stopped"] == "time limit" and 3 <= summary["steps"] < 40
    assert 1.0 <= elapsed < 10, f"took {elapsed:.1f} s for a 1 s limit"
    assert summary["best_step"] == 2 and same_state(network.state_dict(), scripted_val.states[1])


def test_time_limit_through_the_model(fitted):
    """A real fit (no scripted evaluation) with a time limit far below its steps."""
    split = fitted.split
    model = namegen.create("tiny-mlp", steps=20_000, eval_every=20, patience=10**6, time_limit=1.5).fit(split.train, split.val)
    info = model.training_
    assert info["stopped"] == "time limit" and info["steps"] < 20_000 and info["fit_seconds"] < 30
    history = info["history"]
    assert info["val_nll"] == pytest.approx(min(history["val_nll"]), abs=1e-5)  # the best weights, not the last
    assert history["step"][history["val_nll"].index(min(history["val_nll"]))] == info["best_step"]


def test_ctrl_c_in_the_trainer_keeps_the_best_weights(scripted_val):
    data, vocab_size = small_data()
    scripted_val.values = [2.0, 2.5, 2.7]
    network = PairMLP(vocab_size)
    calls = []

    def interrupt_on_step_12(module, args):
        calls.append(1)
        if len(calls) == 12 and torch.is_grad_enabled():
            raise KeyboardInterrupt

    network.register_forward_pre_hook(interrupt_on_step_12)
    summary = fit_gradient(network, data, data, TrainConfig(steps=100, eval_every=5, patience=10))
    assert summary["stopped"] == "interrupted" and summary["steps"] == 11 and summary["best_step"] == 5
    assert same_state(network.state_dict(), scripted_val.states[0]) and not network.training


def test_a_real_sigint_stops_at_the_next_step_and_a_second_raises(scripted_val, request):
    """SIGINT itself (not a KeyboardInterrupt raised by a hook): the first only asks the loop to
    stop before its next step, so no exception lands inside torch or the progress bar; a second
    raises at once; and the previous handler is back afterwards."""
    data, vocab_size = small_data()
    scripted_val.values = [2.0, 2.5, 2.7, 3.0]
    network, calls = PairMLP(vocab_size), []

    def signal_on_step(module, args):
        if torch.is_grad_enabled():
            calls.append(1)
            for _ in range(signals_at.get(len(calls), 0)):
                os.kill(os.getpid(), signal.SIGINT)

    network.register_forward_pre_hook(signal_on_step)
    ignored = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a background test run ignores SIGINT)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, ignored))
    before = signal.getsignal(signal.SIGINT)
    signals_at = {12: 1}
    summary = fit_gradient(network, data, data, TrainConfig(steps=100, eval_every=5, patience=10))
    assert summary["stopped"] == "interrupted" and summary["steps"] == 12 and summary["best_step"] == 5  # step 12 finished
    assert signal.getsignal(signal.SIGINT) is before
    calls.clear()
    network.train()
    signals_at = {3: 2}  # two inside step 3's forward: the second raises there, so step 3 never finishes
    summary = fit_gradient(network, data, data, TrainConfig(steps=100, eval_every=50))
    assert summary["stopped"] == "interrupted" and summary["steps"] == 2
    assert signal.getsignal(signal.SIGINT) is before


def test_ctrl_c_before_the_first_evaluation_keeps_the_weights_it_has():
    data, vocab_size = small_data()
    network = PairMLP(vocab_size)
    network.register_forward_pre_hook(lambda module, args: (_ for _ in ()).throw(KeyboardInterrupt) if torch.is_grad_enabled() else None)
    summary = fit_gradient(network, data, data, TrainConfig(steps=100, eval_every=5))
    assert summary["stopped"] == "interrupted" and summary["steps"] == 0 and math.isfinite(summary["best_nll"])
    assert summary["history"]["step"] == [0]


def test_history_is_recorded_and_saved(fitted, tmp_path):
    model = fitted("tiny-conv")
    history = model.training_["history"]
    assert tuple(history) == HISTORY_COLUMNS == ("step", "seconds", "train_nll", "val_nll", "lr")
    rows = len(history["step"])
    config = model.config
    assert rows == math.ceil(model.training_["steps"] / config.eval_every) and rows >= 3
    assert all(len(values) == rows for values in history.values())
    assert history["step"] == sorted(set(history["step"])) and history["step"][-1] == model.training_["steps"]
    assert history["seconds"] == sorted(history["seconds"])
    assert history["lr"] == pytest.approx([learning_rate(s, config) for s in history["step"]], rel=1e-5)
    assert history["train_nll"][0] > history["train_nll"][-1] and history["val_nll"][0] > history["val_nll"][-1]
    assert min(history["val_nll"]) == pytest.approx(model.training_["best_nll"], abs=1e-6)
    model.save(tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["training"]["history"]
    assert saved == history
    assert namegen.load(tmp_path / "run").training_["history"] == history


def test_progress_bar_shows_step_train_val_and_time_left(monkeypatch):
    updates = []

    class Recorder:
        def __init__(self, description, total, enabled=True, delay=1.0):
            assert total == 30 and enabled

        def update(self, completed, **fields):
            updates.append((completed, fields))

        def close(self):
            updates.append("closed")

    monkeypatch.setattr(train, "LazyProgress", Recorder)
    data, vocab_size = small_data()
    fit_gradient(PairMLP(vocab_size), data, data, TrainConfig(steps=30, eval_every=10), progress=True)
    assert updates[-1] == "closed"
    shown = updates[:-1]
    steps = [completed for completed, _ in shown]
    assert steps == sorted(steps) and {10, 20} <= set(steps)
    completed, fields = next(u for u in shown if u[0] == 20)
    assert {"train", "val", "left"} <= set(fields)
    assert isinstance(fields["train"], float) and isinstance(fields["val"], float)
    assert fields["left"].count(":") >= 1


# ---- validation of the trainer's hyper-parameters -------------------------------------------------------


@pytest.mark.parametrize("plugin", ["tiny-mlp", "tiny-conv"])
@pytest.mark.parametrize("key, value", [
    ("steps", 0), ("steps", -3), ("batch_size", 0), ("lr", 0.0), ("lr", -0.1), ("eval_every", 0), ("patience", 0),
    ("warmup_steps", -1), ("grad_clip", -1.0), ("weight_decay", -0.5), ("min_lr_fraction", 1.5),
    ("time_limit", 0.0), ("time_limit", -5.0),
])
def test_trainer_hyperparameters_are_checked_when_the_model_is_created(plugin, key, value):
    with pytest.raises(namegen.NamegenError) as info:
        namegen.create(plugin, **{key: value})
    message = str(info.value)
    assert key in message and repr(value) in message


@pytest.mark.parametrize("value", [1.0, 1.5, -0.1])
def test_dropout_is_checked_when_the_plugin_has_it(value):
    with pytest.raises(namegen.NamegenError, match=rf"dropout .*{value}"):
        namegen.create("tiny-conv", dropout=value)
    assert namegen.create("tiny-conv", dropout=0.0).config.dropout == 0.0


def test_a_plugin_config_with_its_own_post_init_still_gets_the_trainer_checks():
    @dataclass
    class Config(TrainConfig):
        width: int = 3

        def __post_init__(self):  # no super().__post_init__() call
            if self.width < 1:
                raise namegen.NamegenError(f"width must be at least 1, got {self.width}")

    with pytest.raises(namegen.NamegenError, match="steps"):
        Config(steps=0)
    with pytest.raises(namegen.NamegenError, match="width"):
        Config(width=0)
    with pytest.raises(namegen.NamegenError, match="embed"):  # tiny-conv's own check
        namegen.create("tiny-conv", embed=0)
    with pytest.raises(namegen.NamegenError, match="steps"):
        namegen.create("tiny-conv", steps=0)


def test_time_limit_is_optional_and_coerced():
    assert namegen.create("tiny-mlp").config.time_limit is None
    assert namegen.create("tiny-mlp", time_limit="90").config.time_limit == 90.0
    assert namegen.create("tiny-mlp", time_limit=None).config.time_limit is None
    with pytest.raises(namegen.NamegenError, match="time_limit"):
        namegen.create("tiny-mlp", time_limit="soon")


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("10m", 600), ("1.5h", 5400), ("600", 600), (" 2M ", 120), (".5", 0.5)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "0", "0s", "-5m", "10 minutes", "1d", "5mm"])
def test_parse_duration_rejects_bad_values(text):
    with pytest.raises(namegen.NamegenError, match="--time-limit"):
        parse_duration(text)


# ---- the command line: --time-limit and Ctrl-C --------------------------------------------------------


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory, bundled_names):
    root = tmp_path_factory.mktemp("train-cli")
    data = root / "names.txt"
    data.write_text("\n".join(bundled_names[::30]) + "\n", encoding="utf-8")
    plugins = ["--plugins-dir", HERE / "plugins"]
    cases = {
        "limited": ["fit", "--plugin", "tiny-mlp", *plugins, "--data", data, "--out", root / "limited", "--time-limit", "2s",
                    "-P", "steps=100000", "-P", "patience=1000000", "-P", "eval_every=20"],
        "counts": ["fit", "--plugin", "counts", "--data", data, "--out", root / "counts", "--time-limit", "10m"],
        "bad": ["fit", "--plugin", "tiny-mlp", *plugins, "--data", data, "--out", root / "bad", "--time-limit", "ten minutes"],
        "zero_steps": ["fit", "--plugin", "tiny-mlp", *plugins, "--data", data, "--out", root / "zero", "-P", "steps=0"],
        "help": ["fit", "--help"],
    }
    results = dict(zip(cases, run_many([(args, root) for args in cases.values()])))
    return root, results


def test_cli_time_limit_stops_the_fit(cli_runs):
    root, results = cli_runs
    result = results["limited"]
    assert result.returncode == 0, result.stderr
    assert "time limit reached at step" in result.stderr
    config = json.loads((root / "limited" / "config.json").read_text())
    # the command's 2 s, less the reserve for what follows training (a quarter) and the start-up: what training had
    assert 0 < config["hyperparams"]["time_limit"] <= 1.5 and config["training"]["stopped"] == "time limit"
    assert namegen.load(root / "limited").sample(3, seed=1)


def test_cli_time_limit_is_ignored_by_plugins_that_fit_themselves(cli_runs):
    root, results = cli_runs
    assert results["counts"].returncode == 0, results["counts"].stderr
    assert "time_limit" not in json.loads((root / "counts" / "config.json").read_text())["hyperparams"]


@pytest.mark.parametrize("key, fragment", [("bad", "'ten minutes'"), ("zero_steps", "steps")])
def test_cli_bad_trainer_settings_are_one_line_errors(cli_runs, key, fragment):
    result = cli_runs[1][key]
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr_lines) == 1 and result.stderr_lines[0].startswith("error:") and fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_help_explains_the_time_limit(cli_runs):
    text = " ".join(cli_runs[1]["help"].stdout.split())
    assert "--time-limit" in text and "1.5h" in text and "counts and ngram" in text and "Ctrl-C" in text


def test_ctrl_c_during_namegen_fit_saves_the_best_model(tmp_path, bundled_names):
    """A real `namegen fit` process with a long test-plugin config, sent SIGINT once its progress
    bar shows a val NLL: it saves the best weights, says so in one line, exits 130, no traceback."""
    data = tmp_path / "names.txt"
    data.write_text("\n".join(bundled_names[::30]) + "\n", encoding="utf-8")
    script = os.path.join(os.path.dirname(sys.executable), "namegen")
    command = [script] if os.path.exists(script) else [sys.executable, "-c", "from namegen.cli import main; main()"]
    # rich draws its bar into a pipe only when told the pipe is a terminal
    env = dict(os.environ, TTY_COMPATIBLE="1", TTY_INTERACTIVE="1", OMP_NUM_THREADS="1")
    process = subprocess.Popen(
        [*command, "fit", "--plugin", "tiny-conv", "--plugins-dir", str(HERE / "plugins"), "--data", str(data),
         "--out", str(tmp_path / "run"), "-P", "steps=10000000", "-P", "eval_every=20", "-P", "patience=1000000"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # a background test run may ignore SIGINT
    stderr = bytearray()
    reader = threading.Thread(target=lambda: [stderr.extend(chunk) for chunk in iter(lambda: process.stderr.read1(4096), b"")])
    reader.start()
    try:
        deadline = time.monotonic() + 120
        shows_val = re.compile(rb"val \d+\.\d{4}")  # the bar after the first evaluation
        while not shows_val.search(stderr) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert shows_val.search(stderr), f"the progress bar never showed a val NLL:\n{stderr.decode(errors='replace')}"
        process.send_signal(signal.SIGINT)
        returncode = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
        reader.join(timeout=10)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stderr.decode(errors="replace"))  # the bar's terminal codes
    assert returncode == 130, text
    assert "Traceback" not in text
    last = text.replace("\r", "\n").splitlines()[-1]
    assert last.startswith("interrupted: saved the best model so far (step ") and str(tmp_path / "run") in last
    model = namegen.load(tmp_path / "run")
    assert model.training_["stopped"] == "interrupted" and model.training_["steps"] < 10_000_000
    assert f"step {model.training_['best_step']}, val NLL {model.training_['val_nll']:.4f}" in last
    assert len(model.sample(5, seed=1)) == 5
