"""`fit --time-limit` bounds the whole command: training gets the limit less a reserve for what
follows it, and the export that `fit` keeps in the run is given up, with a note, once the
deadline passes before it is done. That export's validation checks fewer names than `export
onnx` (seconds, not minutes) and still refuses a wrong export."""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import namegen
from namegen import NamegenError, runs, runtime
from namegen.checkpoint import read_config
from namegen.exports import onnx as onnx_module
from namegen.exports import validate as validation
from namegen.exports.onnx import build_sampler, build_scorer, export_network
from namegen.exports.validate import KEPT, SAMPLER_RUNS, OutOfTime, validate

pytestmark = pytest.mark.slow  # command-line runs, fits and exports of their own

NAMES = ["emma", "olivia", "ava", "mia", "luna", "ella", "mila", "aria", "lily", "nora", "zoe", "leah", "anna", "eva", "ivy"]


# ---- what training gets of the limit ----------------------------------------------------------------------------


def test_training_gets_the_limit_less_the_reserve(monkeypatch):
    monkeypatch.setattr(runs.time, "monotonic", lambda: 1000.0)
    assert runs.training_seconds(90, deadline=1090.0) == 90 - 0.25 * 90  # a quarter of a short limit
    assert runs.training_seconds(600, deadline=1600.0) == 600 - 30  # at most 30 s of a long one
    assert runs.training_seconds(90, deadline=1080.0) == 80 - 0.25 * 90  # the start-up spent so far counts too
    assert runs.training_seconds(10, deadline=1001.0) == 0.001  # no time left for training: one step


def test_the_python_api_time_limit_is_training_time_alone():
    # fit() takes time_limit as given: only the command line sets aside the reserve
    model = namegen.create("linear", steps=1_000_000, time_limit=0.3).fit(NAMES)
    assert model.config.time_limit == 0.3 and model.training_["stopped"] == "time limit"


# ---- the kept export under a deadline ---------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    model = namegen.create("linear", steps=30).fit(NAMES)
    model.save(tmp_path / "run")
    return model, tmp_path / "run"


def assert_nothing_kept(run):
    assert not (run / "model.onnx").exists() and not runtime.scorer_path(run / "model.onnx").exists()
    assert "kept_export" not in read_config(run)
    assert runs.kept_export(run) == (None, None)  # the run answers through torch, without a note


def test_no_time_left_keeps_no_export_and_says_so(saved, capsys, monkeypatch):
    model, run = saved
    monkeypatch.setattr(onnx_module, "build_sampler", lambda *args, **kwargs: pytest.fail("the export was started"))
    runs.keep_export(model, run, [], deadline=time.monotonic() - 1)
    err = capsys.readouterr().err
    assert err.startswith("note: no ONNX export kept in the run (the time limit ran out before the export was built); "
                          "sample and score will use torch")
    assert f"namegen export onnx {run}" in err
    assert_nothing_kept(run)
    assert namegen.load(run).sample(5, seed=1) == model.sample(5, seed=1)


@pytest.mark.parametrize("slow, then", [("build_sampler", "build_scorer"), ("build_scorer", "validate"), ("validate", None)])
def test_a_deadline_that_passes_midway_gives_the_export_up(saved, capsys, monkeypatch, slow, then):
    """The clock jumps past the deadline while one part runs: the export stops before the next
    part (`then`) starts."""
    model, run = saved
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(validation, "time", SimpleNamespace(monotonic=lambda: clock.now))
    if slow == "validate":  # the first sampler run of the validation takes the time left
        original_sample = namegen.NameModel.sample

        def sample(self, *args, **kwargs):
            clock.now = 100.0
            return original_sample(self, *args, **kwargs)

        monkeypatch.setattr(namegen.NameModel, "sample", sample)
    else:
        original = getattr(onnx_module, slow)

        def part(*args, **kwargs):
            clock.now = 100.0
            return original(*args, **kwargs)

        monkeypatch.setattr(onnx_module, slow, part)
    if then is not None:
        monkeypatch.setattr(onnx_module, then, lambda *args, **kwargs: pytest.fail(f"{then} ran after the deadline"))
    runs.keep_export(model, run, NAMES, deadline=50.0)
    err = capsys.readouterr().err
    stage = "built" if slow == "build_sampler" else "validated"
    assert err.startswith(f"note: no ONNX export kept in the run (the time limit ran out before the export was {stage})"), err
    assert_nothing_kept(run)


def test_with_time_left_the_export_is_kept_and_validated_on_fewer_names(saved, capsys):
    model, run = saved
    runs.keep_export(model, run, NAMES, deadline=time.monotonic() + 3600)
    assert capsys.readouterr().err == ""
    own, why = runs.kept_export(run)
    assert why is None and own is not None
    unconstrained = KEPT.sampler_count * len(SAMPLER_RUNS)
    assert own.validation.passed and unconstrained < own.validation.sampler_names <= unconstrained + KEPT.constrained_count
    assert KEPT.sampler_count < validation.SAMPLER_COUNT and KEPT.constrained_count < validation.CONSTRAINED_COUNT


def test_a_passed_deadline_stops_the_validation(fitted, tmp_path):
    model = fitted("linear")
    exported = runtime.ExportedModel(tmp_path / "x.onnx", sampler_bytes=build_sampler(model, export_network(model, float64=True)).SerializeToString(),
                                     scorer_bytes=build_scorer(model, export_network(model)).SerializeToString())
    with pytest.raises(OutOfTime, match="before the export was validated"):
        validate(model, exported, fitted.split.test, checks=KEPT, deadline=time.monotonic() - 1)


# ---- the kept export's shorter validation still refuses a wrong export -----------------------------------------


def pair(model, sampler_of=None, scorer_of=None):
    sampler_model, scorer_model = sampler_of or model, scorer_of or model
    return runtime.ExportedModel(
        Path("x.onnx"), sampler_bytes=build_sampler(sampler_model, export_network(sampler_model, float64=True),
                                              known=model.known_set()).SerializeToString(),
        scorer_bytes=build_scorer(scorer_model, export_network(scorer_model)).SerializeToString())


@pytest.fixture(scope="module")
def two_models(fitted):
    model = fitted("linear")
    other = namegen.create("linear", l2=5.0).fit(fitted.split.train, fitted.split.val)  # same vocabulary, other weights
    assert other.vocab_ == model.vocab_
    return model, other


def test_the_shorter_validation_refuses_another_models_sampler(two_models, fitted):
    model, other = two_models
    assert validate(model, pair(model), fitted.split.test, checks=KEPT).passed
    with pytest.raises(NamegenError, match="does not match the torch model") as refused:
        validate(model, pair(model, sampler_of=other), fitted.split.test, checks=KEPT)
    equal, total = (int(n.replace(",", "")) for n in re.search(r"sampler ([\d,]+)/([\d,]+) names equal", str(refused.value)).groups())
    assert equal < total  # the sampler is what failed: the scorer is the model's own
    assert "(tolerance 1e-04)" in str(refused.value)


def test_the_shorter_validation_refuses_another_models_scorer(two_models, fitted):
    model, other = two_models
    with pytest.raises(NamegenError, match="does not match the torch model") as refused:
        validate(model, pair(model, scorer_of=other), fitted.split.test, checks=KEPT)
    difference = float(re.search(r"scorer max \|Δ log p\| (\S+)", str(refused.value)).group(1))
    assert difference > validation.SCORER_TOLERANCE


def test_fit_keeps_no_export_whose_sampler_is_wrong(saved, capsys, monkeypatch):
    model, run = saved
    other = namegen.create("linear", steps=30, l2=5.0).fit(NAMES)
    original = onnx_module.build_sampler
    monkeypatch.setattr(onnx_module, "build_sampler",
                        lambda model_, network, **kwargs: original(other, export_network(other, float64=True), **kwargs))
    runs.keep_export(model, run, NAMES)
    err = capsys.readouterr().err
    assert err.startswith("note: no ONNX export kept in the run (the ONNX export of 'linear' does not match the torch model"), err
    assert_nothing_kept(run)
    assert namegen.load(run).sample(5, seed=1) == model.sample(5, seed=1)  # the run itself is whole
