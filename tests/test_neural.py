"""The neural plugins (mlp, cnn, rnn, transformer): the sequence identity each one promises,
the properties the sampler and the export rely on, and what the registry-wide tests (which
use only each plugin's test_hyperparams) do not reach: LSTM cells, several layers, dropout.

The identity: for a stream (names right-padded with 0, left-padded with block_size zeros),
forward_sequence(stream)[:, j] == forward(stream[:, j : j + block_size]) for every j.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import onnx
import pytest
import torch

import namegen
from namegen.exports.onnx import build_sampler, export_network

NEURAL = ["mlp", "cnn", "rnn", "transformer"]
SEQUENCE = ["cnn", "rnn", "transformer"]  # the ones with their own forward_sequence
# Variants beyond test_hyperparams, built untrained (the identity holds for any weights).
VARIANTS = {
    "cnn": [{"block_size": 8, "embed": 5, "hidden": 12}, {"block_size": 1, "embed": 5, "hidden": 12}],
    "rnn": [{"cell": "lstm", "layers": 2, "embed": 6, "hidden": 10}, {"cell": "gru", "layers": 2, "embed": 6, "hidden": 10}],
    "transformer": [{"layers": 2, "heads": 4, "width": 16}],
}
ID_TOL = 1e-5


def streams(names: list[str], vocab, block_size: int) -> torch.Tensor:
    """The names as one batch: block_size zeros, the name, its end token, right-padded with 0."""
    encoded = [vocab.encode(n) for n in names]
    width = block_size + max(map(len, encoded)) + 1
    stream = torch.zeros(len(encoded), width, dtype=torch.int64)
    for row, ids in zip(stream, encoded):
        row[block_size : block_size + len(ids)] = torch.tensor(ids)
    return stream


def identity_gap(network: torch.nn.Module, stream: torch.Tensor) -> float:
    bs = network.block_size
    with torch.no_grad():
        sequence = network.forward_sequence(stream)
        windows = torch.stack([network(stream[:, j : j + bs]) for j in range(stream.shape[1] - bs + 1)], dim=1)
        assert sequence.shape == windows.shape == (len(stream), stream.shape[1] - bs + 1, windows.shape[-1])
    assert sequence.dtype == windows.dtype == next(network.parameters()).dtype
    return float((sequence - windows).abs().max())


def networks(fitted, plugin: str):
    """The plugin's fitted test model, and untrained variants on the same vocabulary and max_len."""
    model = fitted(plugin)
    yield "test_hyperparams", model.network_.eval()
    for hyperparams in VARIANTS.get(plugin, []):
        variant = namegen.create(plugin, **hyperparams)
        with torch.random.fork_rng():
            torch.manual_seed(1)
            yield json.dumps(hyperparams), variant.build_network(len(model.vocab_), model.max_len_).eval()


@pytest.mark.parametrize("plugin", SEQUENCE)
def test_forward_sequence_equals_forward_on_every_window(plugin, fitted, record_property):
    model = fitted(plugin)
    longest = sorted(fitted.split.train, key=len)[-8:]  # the longest training names, in one right-padded batch
    mixed = longest[:3] + fitted.split.train[:5]  # short names padded far to the right
    # A name longer than block_size - 2 characters (sampled names reach max_len): windows that cut it.
    long_name = ("abcdefghijklmnopqrstuvwxyz" * 4)[: model.max_len_ + 5]
    for label, network in networks(fitted, plugin):
        for dtype in (torch.float32, torch.float64):
            net = copy.deepcopy(network).to(dtype)
            for names in (longest, mixed, [long_name, "a"]):
                gap = identity_gap(net, streams(names, model.vocab_, net.block_size))
                record_property(f"max_abs_diff [{plugin}] identity {str(dtype)[6:]}, {label}, {len(names)} names", gap)
                assert gap <= ID_TOL, f"[{plugin}] {label} {dtype}: forward_sequence differs from forward by {gap:.3g}"


@pytest.mark.parametrize("plugin", ["rnn", "transformer"])
def test_whole_name_models_read_the_whole_name(plugin, fitted):
    """block_size is max_len, and the first character still matters at the last position."""
    model = fitted(plugin)
    assert model.block_size == model.max_len_
    a, b = (model.vocab_.encode(n) for n in ("annabell", "bnnabell"))
    contexts = torch.zeros(2, model.block_size, dtype=torch.int64)
    contexts[0, -len(a) :], contexts[1, -len(b) :] = torch.tensor(a), torch.tensor(b)
    log_probs = model.token_log_probs(contexts)
    assert (log_probs[0] - log_probs[1]).abs().max() > 1e-4


@pytest.mark.parametrize("plugin", NEURAL)
def test_rows_are_independent_and_float64_is_float64(plugin, fitted):
    """The sampler drops finished rows and tabulation batches every context, so a row's logits
    may not depend on the others; and the network must compute in float64 when asked."""
    model = fitted(plugin)
    generator = torch.Generator().manual_seed(0)
    contexts = torch.randint(len(model.vocab_), (64, model.block_size), generator=generator)
    contexts[:16, : model.block_size // 2] = 0  # leading boundary tokens, as at the start of a name
    contexts[16:20] = 0
    with torch.no_grad():
        batch = model.network_(contexts)
        alone = torch.cat([model.network_(contexts[i : i + 1]) for i in range(len(contexts))])
        torch.testing.assert_close(batch, alone, atol=1e-5, rtol=0)
        wide = copy.deepcopy(model.network_).double()(contexts)
    assert batch.dtype == torch.float32 and wide.dtype == torch.float64
    assert (wide - batch.double()).abs().max() < 1e-4
    state = model.network_.state_dict(keep_vars=True)
    assert all(t.dtype == torch.float32 for t in state.values() if t.is_floating_point())  # integer tables: a mixed-in n-gram's
    kept = {id(t) for t in state.values()}
    assert all(id(p) in kept for p in model.network_.parameters()), "learned tensors outside state_dict"


@pytest.mark.parametrize("plugin", ["rnn", "transformer"])
def test_whole_name_models_sample_through_their_step_form(plugin, onnx_export):
    """Too many contexts to tabulate: the exported sampler must run the network inside its Loop,
    by their step form, so the registry-wide sampler tests exercise that path on these plugins."""
    meta = {p.key: p.value for p in onnx.load(onnx_export(plugin).sampler).metadata_props}
    assert meta["sampler_loop"] == "incremental"


@pytest.mark.parametrize("plugin", NEURAL)
def test_dropout_acts_in_training_only(plugin, fitted):
    model = fitted(plugin)
    network = namegen.create(plugin, **{**type(model).test_hyperparams, "dropout": 0.5}).build_network(len(model.vocab_), model.max_len_)
    contexts = torch.randint(1, len(model.vocab_), (8, network.block_size), generator=torch.Generator().manual_seed(0))
    network.train()
    assert not torch.equal(network(contexts), network(contexts))
    network.eval()
    assert torch.equal(network(contexts), network(contexts))


@pytest.fixture(scope="module")
def lstm(fitted):
    """A 2-layer LSTM with dropout (briefly trained), exported: the cell the registry tests do not use."""
    model = namegen.create("rnn", cell="lstm", layers=2, embed=6, hidden=10, dropout=0.1, steps=60, eval_every=30)
    model.fit(fitted.split.train, fitted.split.val)
    return model, export_network(model, float64=True)


def test_lstm_exports_and_samples_exactly(lstm, record_property):
    model, network64 = lstm
    import onnxruntime as ort

    contexts = torch.randint(len(model.vocab_), (300, model.block_size), generator=torch.Generator().manual_seed(3))
    contexts[:100, :-5] = 0
    session = ort.InferenceSession(network64.SerializeToString(), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"context": contexts.numpy()})
    expected = model._sampling_network(model.network_)(contexts).detach().numpy()
    gap = float(np.abs(logits - expected).max())
    record_property("max_abs_diff [rnn lstm] float64 network logits, onnxruntime vs torch", gap)
    assert logits.dtype == np.float64 and gap < 1e-9

    sampler = ort.InferenceSession(build_sampler(model, network64).SerializeToString(), providers=["CPUExecutionProvider"])
    for seed, count, temperature in ((0, 1, 1.0), (5, 40, 0.7), (9, 500, 1.0), (2, 200, 20.0)):
        feeds = {"seed": np.array(seed, np.int64), "count": np.array(count, np.int64), "temperature": np.array(temperature, np.float32)}
        names, tokens = sampler.run(["names", "tokens"], feeds)
        np.testing.assert_array_equal(tokens, model.sample_tokens(count, seed=seed, temperature=temperature))
        assert names.tolist() == model.sample(count, seed=seed, temperature=temperature)


@pytest.mark.parametrize("plugin, bad, message", [
    ("cnn", {"block_size": 6}, "power of two"),
    ("cnn", {"block_size": 0}, "power of two"),
    ("rnn", {"cell": "rnn"}, "'gru' or 'lstm'"),
    ("rnn", {"hidden": 0}, "hidden"),
    ("transformer", {"width": 30, "heads": 4}, "multiple of heads"),
    ("mlp", {"block_size": 0}, "block_size"),
    ("mlp", {"dropout": 1.0}, "dropout"),
    ("transformer", {"dropout": -0.1}, "dropout"),
])
def test_bad_hyperparameters_are_clear_errors(plugin, bad, message):
    with pytest.raises(namegen.NamegenError, match=message) as info:
        namegen.create(plugin, **bad)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("plugin", NEURAL)
def test_plugins_are_listed_with_a_one_line_description(plugin):
    cls = namegen.registry.get(plugin)
    assert cls.__doc__ and len(cls.__doc__.strip().splitlines()) == 1
    assert set(cls.test_hyperparams) <= set(cls.Config.__dataclass_fields__)


@pytest.mark.parametrize("plugin", NEURAL)
def test_test_sized_fit_learns_something(plugin, fitted):
    model = fitted(plugin)
    assert model.score(fitted.split.val).nll < math.log(len(model.vocab_)) - 0.5
