"""Bounded sizes, bounded training and plugins that misbehave: each ends in one clear error (or,
for a vocabulary too large to export, a warning before training), never in a traceback, an
exhausted machine or a run that cannot be used.

Every case that would allocate without its check runs the command line in child processes under
a memory limit (RLIMIT_AS) and a timeout, so that a regression fails fast instead of taking the
machine's memory.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from _cli import DRIVER, Result, assert_one_error, run_many, write_names

import namegen
from namegen import NamegenError, NamegenWarning, registry
from namegen.vocab import Vocab

pytestmark = pytest.mark.slow  # command-line runs, fits and exports of their own

NAMES = ["emma", "olivia", "ava", "mia", "luna", "ella", "mila", "aria", "lily", "nora", "zoe", "leah", "anna", "eva", "ivy"]
MEMORY_LIMIT = 4 << 30  # per child process: torch takes under 1 GB; every refused case asks for far more than this






def run_limited(cases: list[tuple[list, Path]]) -> list[Result]:
    """`namegen ARGS` per case, as tests/_cli.run_many does, but under MEMORY_LIMIT and a timeout."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    payload = [{"args": [str(a) for a in args], "cwd": str(cwd)} for args, cwd in cases]
    done = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(payload), capture_output=True, text=True,
                          timeout=240, preexec_fn=limit)
    assert done.returncode == 0, f"CLI driver failed:\n{done.stderr}"
    return [Result(tuple(p["args"]), **r) for p, r in zip(payload, json.loads(done.stdout))]


# ---- sizes ------------------------------------------------------------------------------------------------

OVERSIZED = [  # (plugin, hyper-parameters, what the error must say)
    ("cnn", ["block_size=1048576"], ["'cnn'", "block_size=1048576", "contexts of 1,048,576 tokens", "at most 2.0 GB"]),
    ("cnn", ["block_size=65536", "batch_size=4096"], ["'cnn'", "block_size=65536", "activations", "at most 4.0 GB"]),
    ("transformer", ["layers=1000000000"], ["'transformer'", "layers=1000000000", "at most"]),
    ("mlp", ["layers=1000000"], ["'mlp'", "layers=1000000", "at most 50,000,000 parameters"]),
    ("mlp", ["layers=1000000000"], ["'mlp'", "layers=1000000000", "at most"]),
    ("mlp", ["hidden=100000000"], ["hidden=100000000", "parameters"]),
    ("mlp", ["embed=1000000000000"], ["embed=1000000000000", "parameters"]),
    ("cnn", ["hidden=1000000000000"], ["hidden=1000000000000", "parameters"]),
    ("rnn", ["hidden=1000000000"], ["'rnn'", "hidden=1000000000", "parameters"]),
    ("transformer", ["width=1000000000"], ["'transformer'", "width=1000000000", "parameters"]),
    ("mlp", ["batch_size=1000000"], ["batch_size=1000000", "activations", "lower batch_size"]),
    ("transformer", ["batch_size=1000000"], ["batch_size=1000000", "activations"]),
    ("mlp", ["batch_size=1000000000000"], ["batch_size", "1,048,576", "1000000000000"]),
    ("ngram", ["order=1000000000"], ["order", "62", "1000000000"]),
    ("mlp", ["ngram_mix=1000000000"], ["ngram_mix", "62"]),
]


def test_oversized_networks_and_batches_are_refused_before_anything_is_allocated(tmp_path):
    data = write_names(tmp_path / "names.txt", NAMES * 10)
    cases = [(["fit", "--plugin", plugin, "--data", data, "--out", tmp_path / f"run{i}",
               *[arg for p in params for arg in ("-P", p)]], tmp_path) for i, (plugin, params, _) in enumerate(OVERSIZED)]
    started = time.perf_counter()
    results = run_limited(cases)
    for (plugin, params, fragments), result in zip(OVERSIZED, results):
        assert_one_error(result, *fragments)
        assert result.seconds < 30, (plugin, params, result.seconds)
    assert not any(tmp_path.glob("run*"))
    assert time.perf_counter() - started < 180


def test_the_api_refuses_the_same_way(tmp_path):
    script = textwrap.dedent("""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (%d, %d))
        import namegen
        try:
            namegen.create("transformer", layers=10**9, steps=1).fit(%r)
        except namegen.NamegenError as err:
            print(err)
            sys.exit(0)
        sys.exit(1)
    """ % (MEMORY_LIMIT, MEMORY_LIMIT, NAMES))  # noqa: UP031 - the script's braces would clash with str.format
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "'transformer' network would have more than" in done.stdout and "layers=1000000000" in done.stdout


@pytest.mark.parametrize("plugin", registry.available())
def test_every_plugin_default_stays_well_inside_the_limits(plugin, bundled_names):
    """The defaults on the bundled data, and a batch 8 times the default: no limit is near."""
    from namegen.train import MAX_ACTIVATION_BYTES, MAX_PARAMETERS, activation_bytes

    model = namegen.create(plugin)
    model.vocab_, model.max_len_ = Vocab.from_names(bundled_names), 2 * max(map(len, bundled_names))
    model._check_sizes(bundled_names, bundled_names[:100])  # raises over a limit
    network = model._build(torch.device("meta"))
    assert sum(p.numel() for p in network.parameters()) < MAX_PARAMETERS / 50
    batch_size = getattr(model.config, "batch_size", None)
    if batch_size:
        assert activation_bytes(network, [len(n) for n in bundled_names], 8 * batch_size) < MAX_ACTIVATION_BYTES / 4


# ---- bounded training: linear --------------------------------------------------------------------------------


def test_linear_stops_at_its_time_limit_and_keeps_what_it_reached():
    started = time.perf_counter()
    model = namegen.create("linear", steps=1_000_000, time_limit=0.5).fit(NAMES)
    assert time.perf_counter() - started < 20
    assert model.training_["stopped"] == "time limit" and 0 < model.training_["steps"] < 1_000_000
    assert math.isfinite(model.training_["loss"]) and math.isfinite(model.training_["train_nll"])
    assert model.sample(3, seed=1)
    assert namegen.create("linear", steps=50).fit(NAMES).training_["stopped"] == "steps"


@pytest.mark.parametrize("params, fragment", [({"steps": 10**12}, "steps must be from 1 to 1,000,000"),
                                              ({"time_limit": 0}, "time_limit must be above 0")])
def test_linear_refuses_unbounded_settings(params, fragment):
    with pytest.raises(NamegenError, match=fragment):
        namegen.create("linear", **params)


def test_linear_shows_progress(monkeypatch):
    from namegen.plugins import linear

    updates = []

    class Recorder:
        def __init__(self, description, total, enabled=True, delay=1.0):
            self.enabled = enabled

        def update(self, completed, **fields):
            if self.enabled:
                updates.append((completed, fields))

        def close(self):
            pass

    monkeypatch.setattr(linear, "LazyProgress", Recorder)
    namegen.create("linear", steps=1_000_000, time_limit=0.6).fit(NAMES, progress=True)
    assert updates and all("loss" in fields and "left" in fields for _, fields in updates)
    updates.clear()
    namegen.create("linear", steps=1_000_000, time_limit=0.6).fit(NAMES)
    assert updates == []


def test_linear_honours_the_command_line_time_limit(tmp_path):
    data = write_names(tmp_path / "names.txt", NAMES * 10)
    (result,) = run_many([(["fit", "--plugin", "linear", "-P", "steps=1000000", "--time-limit", "1s", "--data", data,
                            "--out", tmp_path / "run"], tmp_path)])
    assert result.returncode == 0, result.stderr
    assert "time limit reached at step" in result.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["training"]["stopped"] == "time limit"


# ---- seeds -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [2**70, 2**63, -1])
def test_a_seed_out_of_range_is_refused_at_create(seed):
    with pytest.raises(NamegenError, match=r"seed must be from 0 to 2\*\*63 - 1"):
        namegen.create("mlp", seed=seed)


def test_the_largest_seed_fits():
    namegen.create("tiny-mlp", seed=2**63 - 1, steps=2, eval_every=1).fit(NAMES)


def test_a_seed_out_of_range_is_one_error_on_the_command_line(tmp_path):
    data = write_names(tmp_path / "names.txt", NAMES * 10)
    (result,) = run_many([(["fit", "--plugin", "mlp", "-P", f"seed={2**70}", "--data", data, "--out", tmp_path / "run"], tmp_path)])
    assert_one_error(result, "seed", str(2**70))


# ---- no probability of zero, no Infinity in JSON -----------------------------------------------------------------


def test_alpha_zero_is_one_error_on_the_command_line(tmp_path):
    data = write_names(tmp_path / "names.txt", NAMES * 10)
    (result,) = run_many([(["fit", "--plugin", "counts", "-P", "alpha=0", "--data", data, "--out", tmp_path / "run"], tmp_path)])
    assert_one_error(result, "alpha must be above 0")
    assert not (tmp_path / "run").exists()


def test_a_non_finite_figure_is_never_written_to_config_json(tmp_path):
    model = namegen.create("counts").fit(NAMES)
    model.training_["val_nll"] = float("inf")
    with pytest.raises(NamegenError, match=r"config.json: training.val_nll is not a finite number; nothing was saved"):
        model.save(tmp_path / "run")
    assert not any((tmp_path / "run").glob("*")) if (tmp_path / "run").exists() else True


def test_a_non_finite_default_is_refused_at_create():
    @dataclass
    class Config:
        smoothing: float = float("inf")

    class Odd(namegen.NameModel):
        plugin_name = "limits-odd"

    Odd.Config = Config
    with pytest.raises(NamegenError, match="'smoothing' must be a finite number"):
        Odd()


# ---- plugins that misbehave --------------------------------------------------------------------------------------


def test_a_plugin_file_that_exits_at_import_is_an_error(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "limits_exits.py").write_text("import sys\nsys.exit(0)\n")
    with pytest.raises(NamegenError, match=r"limits_exits\.py.*SystemExit"):
        namegen.load_plugins_dir(folder)
    data = write_names(tmp_path / "names.txt", NAMES * 10)
    (result,) = run_many([(["fit", "--plugin", "counts", "--plugins-dir", folder, "--data", data, "--out", tmp_path / "run"], tmp_path)])
    assert_one_error(result, "limits_exits.py", "failed to import")
    assert not (tmp_path / "run").exists()


def test_ctrl_c_while_importing_a_plugin_file_still_interrupts(tmp_path):
    (tmp_path / "limits_interrupted.py").write_text("raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        namegen.load_plugins_dir(tmp_path)


class WideNetwork(torch.nn.Module):
    block_size = 2

    def __init__(self, vocab_size: int, extra: int = 3, flat: bool = False, dtype=torch.float32):
        super().__init__()
        self.vocab_size, self.extra, self.flat, self.dtype = vocab_size, extra, flat, dtype
        self.weight = torch.nn.Parameter(torch.zeros(vocab_size + extra))

    def forward(self, context):
        out = self.weight.expand(len(context), -1) + context[:, -1:].float()
        return out[:, 0] if self.flat else out.to(self.dtype)


class SequenceNetwork(torch.nn.Module):
    block_size = 2

    def __init__(self, vocab_size: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(vocab_size))

    def forward(self, context):
        return self.weight.expand(len(context), -1) + 0 * context[:, -1:]

    def forward_sequence(self, stream):  # one window short
        return self.weight.expand(len(stream), stream.shape[1] - self.block_size, -1).clone()


def shaped_plugin(name: str, network):
    @dataclass
    class Config(namegen.TrainConfig):
        steps: int = 5

    class Shaped(namegen.NameModel):
        def build_network(self, vocab_size, max_len):
            return network(vocab_size)

    Shaped.Config = Config
    return namegen.register(name)(Shaped)


@pytest.fixture
def unregister():
    names = []
    yield names
    for name in names:
        registry._plugins.pop(name, None)


@pytest.mark.parametrize("name, network, fragments", [
    ("limits-wide", WideNetwork, ["forward returned a float32 tensor of shape [2, {V3}]", "float logits [2, {V}]"]),
    ("limits-flat", lambda v: WideNetwork(v, extra=0, flat=True), ["forward returned a float32 tensor of shape [2]"]),
    ("limits-int", lambda v: WideNetwork(v, extra=0, dtype=torch.int64), ["forward returned a int64 tensor"]),
    ("limits-seq", SequenceNetwork, ["forward_sequence returned a float32 tensor of shape [2, 2, {V}]", "[2, 3, {V}]"]),
])
def test_a_network_of_the_wrong_output_shape_is_refused_before_training(unregister, name, network, fragments):
    unregister.append(name)
    model = shaped_plugin(name, network)()
    V = len(set("".join(NAMES))) + 1
    with pytest.raises(NamegenError, match=f"plugin '{name}'") as raised:
        model.fit(NAMES)
    for fragment in fragments:
        assert fragment.format(V=V, V3=V + 3) in str(raised.value)
    assert model.network_ is None


def test_a_network_of_the_wrong_shape_is_one_error_on_the_command_line(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "limits_cli_wide.py").write_text(textwrap.dedent("""
        from dataclasses import dataclass
        import torch, namegen

        class Wide(torch.nn.Module):
            block_size = 1

            def __init__(self, vocab_size):
                super().__init__()
                self.out = torch.nn.Linear(1, vocab_size + 3)

            def forward(self, context):
                return self.out(context.float())

        @namegen.register("limits-cli-wide")
        class WidePlugin(namegen.NameModel):
            \"\"\"Logits three too wide.\"\"\"

            @dataclass
            class Config(namegen.TrainConfig):
                steps: int = 5

            def build_network(self, vocab_size, max_len):
                return Wide(vocab_size)
    """))
    data = write_names(tmp_path / "names.txt", NAMES * 10)
    (result,) = run_many([(["fit", "--plugin", "limits-cli-wide", "--plugins-dir", folder, "--data", data, "--out", tmp_path / "run"], tmp_path)])
    assert_one_error(result, "'limits-cli-wide'", "forward returned", "float logits [2, ")
    assert not (tmp_path / "run").exists()


# ---- a vocabulary the export cannot hold -------------------------------------------------------------------------

WIDE_NAMES = ["".join(chr(0x4E00 + (7 * i + j) % 300) for j in range(4)) for i in range(300)]


def test_a_vocabulary_over_the_export_limit_warns_before_training_and_still_fits():
    with pytest.warns(NamegenWarning, match=r"300 distinct characters.*ONNX export handles at most 255") as caught:
        model = namegen.create("counts").fit(WIDE_NAMES)
    assert len(caught) == 1
    assert len(model.sample(5, seed=0)) == 5
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", NamegenWarning)
        namegen.create("counts").fit(NAMES)  # a small vocabulary: no warning


def test_the_command_line_prints_the_export_warning(tmp_path):
    data = write_names(tmp_path / "names.txt", WIDE_NAMES)
    (result,) = run_many([(["fit", "--plugin", "counts", "--data", data, "--out", tmp_path / "run"], tmp_path)])
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr_lines if line.startswith("warning: ")]
    assert len(warnings) == 1 and "cannot be exported" in warnings[0], result.stderr
    assert "Traceback" not in result.stderr and "NamegenWarning" not in result.stderr
    assert (tmp_path / "run" / "config.json").is_file()
