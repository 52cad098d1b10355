"""Exports validate themselves (one validator for export(), the CLI and
the tests), and namegen.testing.check_plugin runs the contract suite on any plugin."""

from __future__ import annotations

import json
from dataclasses import dataclass

import onnx
import pytest
import torch
from _cli import run_many
from onnx import numpy_helper

import namegen
from namegen import NamegenError, runtime
from namegen.exports.onnx import build_sampler, build_scorer, export_network
from namegen.exports.validate import CONSTRAINED_COUNT, SAMPLER_COUNT, SAMPLER_RUNS, SCORER_TOLERANCE, validate
from namegen.testing import check_plugin

PLUGINS = namegen.available()
by_plugin = pytest.mark.parametrize("plugin", PLUGINS)


@by_plugin
def test_every_export_passed_its_own_validation(plugin, onnx_export, record_property):
    exported = onnx_export(plugin)
    validation = exported.validation
    record_property(f"max_abs_diff [{plugin}] export validation, scorer log-likelihood", validation.scorer_max_abs_diff)
    assert validation.passed and validation.scorer_max_abs_diff <= SCORER_TOLERANCE
    # rule 1's runs, and rule 2's constrained call (fewer than CONSTRAINED_COUNT when a small model runs out of distinct names)
    unconstrained = SAMPLER_COUNT * len(SAMPLER_RUNS)
    assert validation.sampler_names_equal == validation.sampler_names
    assert unconstrained < validation.sampler_names <= unconstrained + CONSTRAINED_COUNT
    assert validation.scorer_names > 50  # the held-out names, not a handful
    recorded = json.loads(exported.runtime.metadata["validation"])
    assert recorded["sampler_names_equal"] == validation.sampler_names_equal
    assert recorded["scorer_max_abs_diff"] == pytest.approx(validation.scorer_max_abs_diff)


def pair_bytes(model):
    return build_sampler(model, export_network(model, float64=True)).SerializeToString(), \
        build_scorer(model, export_network(model)).SerializeToString()


def test_the_validator_catches_a_graph_of_another_model(fitted, tmp_path):
    model = fitted("linear")
    other = namegen.create("linear", l2=5.0).fit(fitted.split.train, fitted.split.val)  # same vocabulary, other weights
    assert other.vocab_ == model.vocab_
    sampler, scorer = pair_bytes(other)
    with pytest.raises(NamegenError, match="does not match the torch model"):
        validate(model, runtime.ExportedModel(tmp_path / "x.onnx", sampler_bytes=sampler, scorer_bytes=scorer), fitted.split.test)
    sampler, scorer = pair_bytes(model)
    assert validate(model, runtime.ExportedModel(tmp_path / "x.onnx", sampler_bytes=sampler, scorer_bytes=scorer)).passed
    assert not list(tmp_path.iterdir())  # validation runs in memory: nothing is written


def test_a_failing_validation_writes_nothing(fitted, tmp_path, monkeypatch):
    from namegen.exports import onnx as onnx_export_module

    model = fitted("counts")
    original = onnx_export_module.build_scorer

    def scorer_of_a_nudged_network(model_, network):  # a scorer whose weights are 1% off
        proto = original(model_, network)
        for init in proto.graph.initializer:
            if init.name.startswith("network/") and init.data_type == onnx.TensorProto.FLOAT:
                init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 1.01, init.name))
        return proto

    monkeypatch.setattr(onnx_export_module, "build_scorer", scorer_of_a_nudged_network)
    with pytest.raises(NamegenError, match="scorer max"):
        onnx_export_module.export(model, tmp_path / "out" / "m.onnx")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_the_cli_reports_the_validation(fitted, tmp_path):
    fitted("linear").save(tmp_path / "run")
    (result,) = run_many([(["export", "onnx", tmp_path / "run", "--out", tmp_path / "m.onnx"], tmp_path)])
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("validated: scorer max |Δ log p| ") and "(tolerance 1e-04)" in lines[0]
    total = SAMPLER_COUNT * len(SAMPLER_RUNS) + CONSTRAINED_COUNT  # linear on these names finds all 300 constrained ones
    assert lines[0].endswith(f"sampler {total:,}/{total:,} names equal")


# ---- namegen.testing.check_plugin ----------------------------------------------------------------------------


@pytest.mark.parametrize("plugin", ["transformer", "tiny-mlp"])  # test_contract runs every check on every plugin
def test_check_plugin_passes_a_plugin_in_one_call(plugin):
    """The one-call form third-party authors run: every check, its figures in one summary."""
    figures = check_plugin(plugin)
    assert figures["plugin"] == plugin and figures["sampler_names_equal"] == figures["sampler_names"]
    assert figures["identity_float32"] <= 1e-5 and figures["identity_float64"] <= 1e-5


class WindowNetwork(torch.nn.Module):
    """A tiny network over the last 2 tokens; `broken` makes forward_sequence disagree with forward."""

    block_size = 2

    def __init__(self, vocab_size: int, broken: bool):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab_size, 4)
        self.out = torch.nn.Linear(8, vocab_size)
        self.broken = broken

    def forward(self, context):
        return self.out(self.embed(context).flatten(1))

    def forward_sequence(self, stream):
        windows = stream.unfold(1, 2, 1)
        logits = self(windows.reshape(-1, 2)).reshape(*windows.shape[:2], -1)
        return logits + 0.1 if self.broken else logits


class SteppingNetwork(WindowNetwork):
    """WindowNetwork with a step form (its state: the last token's embedding); `broken` makes
    the step form disagree with forward instead."""

    def forward_sequence(self, stream):
        return WindowNetwork.forward_sequence(self, stream) - (0.1 if self.broken else 0.0)  # undo the base's break

    def initial_state(self):
        return [self.embed.weight[:1]]  # before the stream: the boundary token

    def step(self, token, state):
        embedded = self.embed(token)
        logits = self.out(torch.cat([state[0], embedded], dim=1))
        return logits + (0.1 if self.broken else 0.0), [embedded]


def make_plugin(name: str, broken: bool, network: type = WindowNetwork):
    @namegen.register(name)
    class Plugin(namegen.NameModel):
        """Test-only: a two-token window, right or deliberately wrong."""

        @dataclass
        class Config(namegen.TrainConfig):
            steps: int = 200
            warmup_steps: int = 10
            lr: float = 1e-2
            eval_every: int = 100

        def build_network(self, vocab_size, max_len):
            return network(vocab_size, broken)

    return Plugin


@pytest.fixture
def registry_snapshot():
    """Plugins registered by a test are gone after it: registry-wide tests see only the real ones."""
    from namegen import registry

    before = dict(registry._plugins)
    yield
    registry._plugins.clear()
    registry._plugins.update(before)


def test_check_plugin_accepts_a_class_and_catches_a_broken_identity(registry_snapshot):
    good = make_plugin("check-good", broken=False)
    assert check_plugin(good)["plugin"] == "check-good"
    make_plugin("check-broken", broken=True)
    with pytest.raises(AssertionError, match=r"check_plugin\('check-broken'\): forward_sequence differs from forward by 0.1"):
        check_plugin("check-broken")
    with pytest.raises(AssertionError, match="not a registered"):
        check_plugin(type("Loose", (namegen.NameModel,), {}))


def test_check_plugin_holds_a_step_form_to_forward(registry_snapshot):
    assert check_plugin(make_plugin("check-stepping", broken=False, network=SteppingNetwork))["step_identity_float64"] <= 1e-12
    make_plugin("check-stepping-broken", broken=True, network=SteppingNetwork)
    with pytest.raises(AssertionError, match=r"check_plugin\('check-stepping-broken'\): the step form differs from forward by 0.1"):
        check_plugin("check-stepping-broken")


@pytest.mark.parametrize("dropped", ["exclude", "novel"])
def test_the_validator_checks_exclude_and_novel(fitted, tmp_path, monkeypatch, dropped):
    """A runtime that loses the exclude or novel input draws other names under rule 2: caught.
    (novel on a model of a few short names, whose candidates are often known names.)"""
    model = fitted("linear") if dropped == "exclude" else namegen.create("counts").fit(["aab", "abba", "bab", "baab", "abab", "bba"])
    sampler = build_sampler(model, export_network(model, float64=True), known=model.known_set()).SerializeToString()
    scorer = build_scorer(model, export_network(model)).SerializeToString()
    exported = runtime.ExportedModel(tmp_path / "x.onnx", sampler_bytes=sampler, scorer_bytes=scorer)
    assert validate(model, exported).passed
    feeds = runtime.ExportedModel.feeds
    monkeypatch.setattr(runtime.ExportedModel, "feeds", lambda self, *args, **kwargs: {
        key: value for key, value in feeds(self, *args, **kwargs).items() if key != dropped})
    with pytest.raises(NamegenError, match="does not match the torch model"):
        validate(model, exported)
