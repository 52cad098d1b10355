"""The optional step form (`initial_state`, `step`): one token in, a carried state, the logits
`forward` gives for the same history, to 1e-9 in float64; and the samplers that use it (torch
and ONNX) draw exactly the names of the window-by-window samplers, across the step where a name
outgrows block_size and the step form hands over to the windows.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

import namegen
from namegen import mixture, registry, sampling
from namegen.exports import loops
from namegen.exports import sampler as sampler_module
from namegen.exports.network import export_network, export_step_network
from namegen.exports.sampler import build_sampler
from namegen.testing import STEP_TOLERANCE, step_identity_error

VARIANTS = {  # beyond test_hyperparams, untrained: the identity holds for any weights
    "rnn": [{"cell": "lstm", "layers": 2, "embed": 6, "hidden": 10}, {"cell": "gru", "layers": 3, "embed": 6, "hidden": 10}],
    "transformer": [{"layers": 2, "heads": 4, "width": 16}],
}


def stepping() -> list[str]:
    """Every registered plugin whose network has a step form (built-in or test-only)."""
    found = []
    for name in registry.available():
        model = namegen.create(name, **registry.get(name).test_hyperparams)
        if sampling.has_step_form(model.build_network(5, 4)):
            found.append(name)
    return found


def test_the_recurrent_and_attention_plugins_have_a_step_form():
    assert {"rnn", "transformer"} <= set(stepping())
    assert not {"counts", "linear", "ngram", "mlp", "cnn"} & set(stepping())


def networks(fitted, plugin: str):
    model = fitted(plugin)
    yield "test_hyperparams", model.network_.eval()
    for hyperparams in VARIANTS.get(plugin, []):
        with torch.random.fork_rng():
            torch.manual_seed(2)
            yield json.dumps(hyperparams), namegen.create(plugin, **hyperparams).build_network(len(model.vocab_), model.max_len_).eval()


@pytest.mark.parametrize("plugin", stepping())
def test_step_form_equals_forward(plugin, fitted, record_property):
    model = fitted(plugin)
    longest = [model.vocab_.encode(n) for n in sorted(fitted.split.train, key=len)[-6:]]
    mixed = longest[:2] + [model.vocab_.encode(n) for n in fitted.split.train[:6]]  # short names end early: 0s after them
    longer = [model.vocab_.encode(("abcdefghijklmnopqrstuvwxyz" * 4)[: model.max_len_ + 5]), [1]]  # up to block_size - 1 characters
    for label, network in networks(fitted, plugin):
        net = copy.deepcopy(network).double()
        for names in (longest, mixed, longer):
            gap = step_identity_error(net, names)
            record_property(f"max_abs_diff [{plugin}] step form vs forward float64, {label}, {len(names)} names", gap)
            assert gap <= STEP_TOLERANCE, f"[{plugin}] {label}: the step form differs from forward by {gap:.3g}"


def windows_only(monkeypatch):
    monkeypatch.setattr(sampling, "has_step_form", lambda network: False)


# Where the step form starts and ends: no prefix; a prefix that leaves one step to it; a prefix
# of block_size characters (none: the windows from the start); names that outgrow block_size.
def edge_cases(model) -> list[dict]:
    bs, letters = model.block_size, "abcdefghijklmnopqrstuvwxyz" * 4
    return [dict(), dict(prefix="ma", min_len=4), dict(prefix=letters[: bs - 1], max_len=bs + 4),
            dict(prefix=letters[:bs], max_len=bs + 3), dict(temperature=4.0, max_len=bs + 6)]


@pytest.mark.parametrize("plugin", stepping())
def test_torch_sampler_draws_the_windows_names(plugin, fitted, monkeypatch):
    model = fitted(plugin)
    for case in edge_cases(model):
        kwargs = {"temperature": 1.0, **case}
        incremental = model.sample_tokens(300, seed=7, **kwargs)
        with monkeypatch.context() as patch:
            windows_only(patch)
            windowed = model.sample_tokens(300, seed=7, **kwargs)
        np.testing.assert_array_equal(incremental, windowed, err_msg=f"[{plugin}] {case}")
    # the long-temperature case really outgrows the window, so the hand-over is exercised
    assert (model.sample_tokens(300, seed=7, temperature=4.0, max_len=model.block_size + 6) != 0).sum(axis=1).max() > model.block_size


def feeds(model, count: int, seed: int, temperature: float = 1.0, prefix: str = "", **rest) -> dict:
    out = {"seed": np.array(seed, np.int64), "count": np.array(count, np.int64), "temperature": np.array(temperature, np.float32),
           "prefix": np.array(model.vocab_.encode(prefix), np.int64)}
    return out | {key: np.array(value, np.int64) for key, value in rest.items()}


@pytest.mark.parametrize("plugin", stepping())
def test_onnx_step_network_equals_torch(plugin, fitted, record_property):
    model = fitted(plugin)
    step = export_step_network(model)
    session = ort.InferenceSession(step.proto.SerializeToString(), providers=["CPUExecutionProvider"])
    network = model._sampling_network(model.network_)
    names = [model.vocab_.encode(n) for n in sorted(fitted.split.train, key=len)[-5:]]
    tokens = torch.zeros(len(names), model.block_size - 1, dtype=torch.int64)
    for row, ids in zip(tokens, names):
        ids = ids[: model.block_size - 2]
        row[1 : 1 + len(ids)] = torch.tensor(ids)  # position 0: the boundary token
    state = [s.expand(len(names), *s.shape[1:]) for s in network.initial_state()]
    ort_state = [np.repeat(s, len(names), axis=0) for s in step.initial]
    gap = 0.0
    for t in range(tokens.shape[1]):
        with torch.no_grad():
            logits, state = network.step(tokens[:, t], state)
        ort_logits, *ort_state = session.run(None, {"token": tokens[:, t].numpy(), **{f"state{i}": s for i, s in enumerate(ort_state)}})
        gap = max(gap, float(np.abs(ort_logits - logits.numpy()).max()))
    record_property(f"max_abs_diff [{plugin}] step form float64, onnxruntime vs torch", gap)
    assert ort_logits.dtype == np.float64 and gap < STEP_TOLERANCE


@pytest.mark.parametrize("plugin", stepping())
def test_onnx_sampler_steps_incrementally_and_draws_torch_names(plugin, fitted, onnx_export):
    model = fitted(plugin)
    runtime = namegen.runtime.load(onnx_export(plugin).sampler)
    assert runtime.metadata["sampler_loop"] == "incremental"
    assert runtime.metadata["step_form"].startswith("float32, names with a close call drawn again in float64")
    windowed = ort.InferenceSession(build_sampler(model, export_network(model, float64=True), step_form=False).SerializeToString(),
                                    providers=["CPUExecutionProvider"])
    for case in edge_cases(model):
        expected = model.sample_tokens(300, seed=11, **case)
        np.testing.assert_array_equal(runtime.sample_tokens(300, seed=11, **case), expected, err_msg=f"[{plugin}] {case}")
        # the window-by-window graph (the exporter's other path) draws them too
        (tokens,) = windowed.run(["tokens"], feeds(model, 300, 11, **case))
        np.testing.assert_array_equal(tokens, expected, err_msg=f"[{plugin}] windows, {case}")


def test_the_step_form_shares_the_weights(fitted, onnx_export):
    """The sampler holds each weight once, though the step form and the windows both read it."""
    import onnx

    graph = onnx.load(onnx_export("transformer").sampler).graph
    names = [init.name for init in graph.initializer if init.name.startswith("network/")]
    assert len(names) == len(set(names)) == len(fitted("transformer").network_.state_dict())


def session_of(proto) -> ort.InferenceSession:
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("plugin", stepping())
def test_names_with_a_close_call_are_drawn_again_in_float64(plugin, fitted, monkeypatch):
    """Every name with a close call of the float32 step form is drawn again by the float64 one.
    Here the float32 step form is a wrong one (its output bias shifted), passed off as accurate:
    trusted to within 1 (every pick a close call) the names are still torch's, all drawn again;
    trusted as usual, they are not (so drawing again did the work)."""
    model = fitted(plugin)
    wrong = copy.deepcopy(model)
    with torch.no_grad():
        inner = wrong.network_.network if isinstance(wrong.network_, mixture.NgramMixture) else wrong.network_
        inner.head.bias += torch.linspace(-1, 1, len(model.vocab_))
    exported = sampler_module.export_step_network

    def step_forms(m, float64=True):
        if float64:
            return exported(m)
        step = exported(wrong, float64=False)
        for init in step.proto.graph.initializer:  # its own weights: the sampler stores weights by name, once
            for node in step.proto.graph.node:
                node.input[:] = [f"wrong.{i}" if i == init.name else i for i in node.input]
            init.name = f"wrong.{init.name}"
        return step

    monkeypatch.setattr(sampler_module, "export_step_network", step_forms)
    monkeypatch.setattr(sampler_module, "measure_logit_error", lambda m, step: 1e-7)
    trusted = loops.trusted_logit_error
    monkeypatch.setattr(loops, "trusted_logit_error", lambda measured: 1.0)
    everything_redrawn = session_of(build_sampler(model, export_network(model, float64=True)))
    monkeypatch.setattr(loops, "trusted_logit_error", trusted)
    misled = session_of(build_sampler(model, export_network(model, float64=True)))
    for case in edge_cases(model)[:3]:
        expected = model.sample_tokens(200, seed=4, **case)
        (tokens,) = everything_redrawn.run(["tokens"], feeds(model, 200, 4, **case))
        np.testing.assert_array_equal(tokens, expected, err_msg=f"[{plugin}] {case}")
        (tokens,) = misled.run(["tokens"], feeds(model, 200, 4, **case))
        assert not np.array_equal(tokens, expected)


@pytest.mark.parametrize("plugin", stepping())
def test_float32_logits_measured_and_float64_when_they_stray(plugin, fitted, monkeypatch):
    model = fitted(plugin)
    error = sampler_module.measure_logit_error(model, export_step_network(model, float64=False))
    assert 0 < error <= loops.MAX_LOGIT_ERROR  # float32 rounds, but far less than the guard allows
    monkeypatch.setattr(sampler_module, "MAX_LOGIT_ERROR", error / 2)  # as if it had measured too far off
    proto = build_sampler(model, export_network(model, float64=True))
    assert {p.key: p.value for p in proto.metadata_props}["step_form"] == "float64"
    (tokens,) = session_of(proto).run(["tokens"], feeds(model, 300, 8, temperature=0.8))
    np.testing.assert_array_equal(tokens, model.sample_tokens(300, seed=8, temperature=0.8))


def test_a_step_form_that_does_not_export_leaves_the_windows(fitted, monkeypatch):
    model = fitted("transformer")

    def untraceable(m, float64=True):
        raise RuntimeError("cannot trace this")

    monkeypatch.setattr(sampler_module, "export_step_network", untraceable)
    with pytest.warns(namegen.NamegenWarning, match="step form did not export .*cannot trace this"):
        proto = build_sampler(model, export_network(model, float64=True))
    assert {p.key: p.value for p in proto.metadata_props}["sampler_loop"] == "stepwise"
    (tokens,) = session_of(proto).run(["tokens"], feeds(model, 200, 6))
    np.testing.assert_array_equal(tokens, model.sample_tokens(200, seed=6))


@pytest.mark.parametrize("plugin", stepping())
def test_the_sampler_rebuilds_the_ngram_once_and_holds_the_windows_once(plugin, fitted, onnx_export):
    """What a spliced network computes from its weights alone (a mixed-in n-gram's tables) is
    computed once, in the main graph, not in every copy of the network; the float64 draw of the
    names with a close call shares the window loop with the float32 draw."""
    import onnx

    from namegen.exports.graph import subgraphs

    assert mixture.NgramMixture in type(fitted(plugin).network_).__mro__
    graph = onnx.load(onnx_export(plugin).sampler).graph
    ngram = {init.name for init in graph.initializer if init.name.startswith("network/ngram.")}
    assert ngram and {i for node in graph.node for i in node.input} >= ngram
    loops = [sub for sub in subgraphs(graph) if sub is not graph]
    assert not [i for sub in loops for node in sub.node for i in node.input if i in ngram]
    bodies = [sub.name for sub in loops]  # a Loop body is named after its loop
    assert bodies.count("net") == 1 and "exact/net" not in bodies and "exact/step" in bodies, bodies
