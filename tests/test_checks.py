"""namegen.testing's named checks: parametrisation, skips, the reports, and the checks that
catch a network breaking the contract or the export's constraints up front."""

from __future__ import annotations

import re
import unittest
import warnings
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

import namegen
from namegen.contract import SequenceNetwork, StepNetwork, WindowNetwork, has_sequence_form, has_step_form, is_window_network
from namegen.testing import CHECKS, Subject, check_plugin, parametrize_with_checks

BY_NAME = {check.name: check for check in CHECKS}
NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail", "liam", "noah",
         "william", "james", "oliver", "benjamin", "elijah", "lucas", "mason", "logan"] * 3


def test_the_checks_have_distinct_names_and_the_export_comes_last():
    names = [check.name for check in CHECKS]
    assert len(set(names)) == len(names) and names[-1] == "onnx_export"
    # the export's constraints are checked before anything that takes long
    constraints = [names.index(name) for name in ("export_vocabulary", "runs_in_float64", "onnx_float64_operators")]
    assert max(constraints) < names.index("scores_held_out_names")


def test_parametrize_with_checks_gives_one_test_per_plugin_and_check():
    mark = parametrize_with_checks(["counts", namegen.registry.get("tiny-mlp")])
    argnames, params = mark.args
    assert argnames == "plugin, check" and len(params) == 2 * len(CHECKS)
    assert [p.id for p in params[:2]] == ["counts-fit_returns_self", "counts-window_form"]
    assert params[len(CHECKS)].values == ("tiny-mlp", CHECKS[0])


def test_a_check_reports_pass_and_skip_on_its_own(plugin_subject):
    subject = plugin_subject("counts")
    assert BY_NAME["fit_returns_self"].run(subject).status == "passed"
    skipped = BY_NAME["step_identity"].run(subject)
    assert skipped.status == "skipped" and "no step form" in skipped.reason
    with pytest.raises(unittest.SkipTest, match="no step form"):  # what pytest reports as a skip
        BY_NAME["step_identity"](subject)
    assert BY_NAME["step_identity"].run(plugin_subject("rnn")).status == "passed"


def test_the_contract_protocols_tell_the_forms():
    rnn = namegen.create("rnn").build_network(27, 16)
    linear = namegen.create("linear").build_network(27, 16)
    conv = namegen.create("tiny-conv").build_network(27, 16)
    assert all(isinstance(n, WindowNetwork) and is_window_network(n) for n in (rnn, linear, conv))
    assert isinstance(rnn, StepNetwork) and has_step_form(rnn) and has_sequence_form(rnn)
    assert isinstance(conv, SequenceNetwork) and not has_step_form(conv)
    assert not isinstance(linear, SequenceNetwork) and not has_sequence_form(linear) and not has_step_form(linear)
    assert not is_window_network(torch.nn.Linear(2, 2))  # no block_size
    broken = namegen.create("tiny-mlp").build_network(27, 16)
    broken.block_size = 0
    assert not is_window_network(broken)


# ---- networks that break one rule each --------------------------------------------------------------------------


class Window(torch.nn.Module):
    """A two-token window: embeddings, then `mix` of them, then logits."""

    block_size = 2

    def __init__(self, vocab_size: int):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab_size, 4)
        self.out = torch.nn.Linear(8, vocab_size)

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x.flatten(1))

    def forward(self, context):
        return self.out(self.mix(self.embed(context)))


class ExactGelu(Window):
    def mix(self, x):
        return F.gelu(x.flatten(1))  # exports as Erf


class Convolved(Window):
    def __init__(self, vocab_size):
        super().__init__(vocab_size)
        self.conv = torch.nn.Conv1d(4, 8, kernel_size=2)

    def mix(self, x):
        return self.conv(x.transpose(1, 2))[:, :, 0]


class Float32Only(Window):
    def forward(self, context):
        return super().forward(context).float()  # float32 even when the network runs in float64


class BatchMixing(Window):
    def forward(self, context):
        logits = super().forward(context)
        return logits - logits.mean(dim=0)  # each row depends on the others


@pytest.fixture
def make_plugin():
    """Register a plugin of a given network, untrained (fit leaves the initial weights): gone after the test."""
    from namegen import registry

    before = dict(registry._plugins)

    def make(name: str, network: type, changes_config: bool = False):
        @namegen.register(name)
        class Plugin(namegen.NameModel):
            @dataclass
            class Config:
                width: int = 4

            def build_network(self, vocab_size, max_len):
                return network(vocab_size)

            def fit_network(self, train, val, progress):
                if changes_config:
                    self.config.width = 5
                return {}

        return Plugin

    yield make
    registry._plugins.clear()
    registry._plugins.update(before)


@pytest.mark.parametrize("network, check, message", [
    (ExactGelu, "onnx_float64_operators", "exports to Gelu, which onnxruntime cannot run in float64.*write the tanh form out"),
    (Convolved, "onnx_float64_operators", "exports to Conv, which onnxruntime cannot run in float64.*Linear over neighbouring positions"),
    (Float32Only, "runs_in_float64", "forward of the network in float64 .* gives torch.float32 .*follow its input's dtype"),
    (BatchMixing, "batch_independence", "changes by .* with the other names scored beside it"),
])
def test_a_network_breaking_a_rule_fails_the_check_that_names_the_fix(make_plugin, tmp_path, network, check, message):
    make_plugin("check-rule", network)
    result = BY_NAME[check].run(Subject("check-rule", NAMES, workdir=tmp_path))
    assert result.status == "failed"
    assert re.search(message, result.reason), result.reason
    assert BY_NAME["window_form"].run(Subject("check-rule", NAMES, workdir=tmp_path)).status == "passed"


def test_check_plugin_stops_at_an_export_constraint_before_the_export(make_plugin):
    make_plugin("check-gelu", ExactGelu)
    with pytest.raises(AssertionError, match=r"check_plugin\('check-gelu'\): the forward form exports to Gelu"):
        check_plugin("check-gelu", NAMES)


def test_a_vocabulary_the_export_cannot_hold_is_caught_up_front(make_plugin, tmp_path):
    make_plugin("check-wide", Window)
    names = [chr(0x4E00 + i) + chr(0x4E00 + i + 1) for i in range(0, 600, 2)]  # 600 distinct characters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", namegen.NamegenWarning)  # fit's own warning says the same
        result = BY_NAME["export_vocabulary"].run(Subject("check-wide", names, workdir=tmp_path))
    assert result.status == "failed" and "the ONNX export takes at most 255: fit on fewer distinct characters" in result.reason


def test_hyperparameters_that_fit_changes_fail_their_round_trip(make_plugin, tmp_path):
    make_plugin("check-drifting", Window, changes_config=True)
    result = BY_NAME["hyperparams_round_trip"].run(Subject("check-drifting", NAMES, workdir=tmp_path))
    assert result.status == "failed" and "fit() changed the hyper-parameters" in result.reason
    make_plugin("check-steady", Window)
    assert BY_NAME["hyperparams_round_trip"].run(Subject("check-steady", NAMES, workdir=tmp_path / "steady")).status == "passed"


def test_a_failing_check_names_the_plugin_and_the_check(make_plugin, tmp_path):
    make_plugin("check-mixing", BatchMixing)
    with pytest.raises(AssertionError, match=r"plugin 'check-mixing' fails batch_independence: a name's log-likelihood"):
        BY_NAME["batch_independence"](Subject("check-mixing", NAMES, workdir=tmp_path))
