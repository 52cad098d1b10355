"""Every path of the sampler graph, forced one at a time for every plugin, draws torch's names.

A `Plan` decides where the network runs (tabulated on every context and the search loop, or
inside the loop: by its step form in float32 with float64 redraws, by its step form in float64,
or on whole windows); sizes pick one, and these tests force each one the model's sizes allow,
so that no path is only ever taken by the models that happen to pick it.
"""

from __future__ import annotations

import warnings

import pytest

import namegen
from namegen import runtime
from namegen.errors import NamegenWarning
from namegen.exports import sampler
from namegen.exports.onnx import build_sampler, export_network

pytestmark = pytest.mark.slow  # command-line runs, fits and exports of their own

PLUGINS = namegen.available()


def calls(model) -> list[tuple[int, int, float, dict]]:
    """(seed, count, temperature, constraints): one name, a few, a few hundred, names longer than
    the window (the window loop after the step form), and constraints that reject."""
    longer = {"min_len": model.block_size + 2, "max_len": model.block_size + 4}
    return [(0, 1, 1.0, {}), (7, 40, 0.7, {}), (3, 300, 2.0, {}), (5, 20, 1.0, longer),
            (9, 30, 1.0, {"prefix": "a", "suffix": "a", "distinct": True})]


def forced_paths(model) -> dict[str, dict]:
    """Every path the model's sizes allow: name -> build_sampler arguments (and `exact`: force
    the float64 step form)."""
    plan = sampler.plan_for(len(model.vocab_), model.block_size)
    paths = {}
    if plan.contexts <= sampler.TABLE_LIMIT:
        paths["tabulated"] = {"plan": sampler.Plan(plan.contexts, 0)}
        paths["tabulated from 30 names"] = {"plan": sampler.Plan(plan.contexts, 30)}  # both sides: counts 1, 20 and 40, 300
    network = {"plan": sampler.Plan(plan.contexts, None)}
    if namegen.sampling.has_step_form(model._fitted()):
        paths["step form, float32 with float64 redraws"] = network
        paths["step form, float64"] = {**network, "exact": True}
    paths["windows"] = {**network, "step_form": False}
    return paths


@pytest.mark.parametrize("plugin", PLUGINS)
def test_every_sampler_path_draws_torchs_names(plugin, fitted, tmp_path, monkeypatch):
    model = fitted(plugin)
    network = export_network(model, float64=True)
    expected = {}
    for seed, count, temperature, constraints in calls(model):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NamegenWarning)  # a constrained call may find fewer names
            expected[seed] = model.sample(count, seed=seed, temperature=temperature, **constraints)
    for path, arguments in forced_paths(model).items():
        arguments = dict(arguments)
        with monkeypatch.context() as patched:
            if arguments.pop("exact", False):
                patched.setattr(sampler, "MAX_LOGIT_ERROR", -1.0)  # no float32 step form is trusted
            proto = build_sampler(model, network, **arguments)
        if "step form" in path:
            assert ("float32" in proto_meta(proto)["step_form"]) == ("float32" in path), f"[{plugin}] {path}"
        exported = runtime.ExportedModel(tmp_path / f"{plugin}.onnx", sampler_bytes=proto.SerializeToString())
        for seed, count, temperature, constraints in calls(model):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NamegenWarning)
                got = exported.sample(count, seed=seed, temperature=temperature, **constraints)
            assert got == expected[seed], f"[{plugin}] {path}: seed {seed}, count {count}, {constraints}"


def proto_meta(proto) -> dict[str, str]:
    return {p.key: p.value for p in proto.metadata_props}
