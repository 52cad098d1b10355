"""The ONNX export (namegen.exports.onnx) against the torch model it came from, for every plugin.

Every test is parametrised over the registry (conftest loads tests/plugins), so a plugin added
later is covered with no new test code. Each plugin is fitted and exported once per session
(the `onnx_export` fixture in conftest).

The figures the issue asks to see (max |log p_onnx - log p_torch|) are printed, recorded with
record_property, and listed in the terminal summary by conftest's pytest_terminal_summary.
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, numpy_helper
from safetensors.numpy import load_file

import namegen
from namegen import mixture, runtime, sampling
from namegen.checkpoint import KNOWN_NAMES
from namegen.data import examples
from namegen.exports.onnx import OPSET, build_sampler, export_network

PLUGINS = namegen.available()
by_plugin = pytest.mark.parametrize("plugin", PLUGINS)

LOGP_TOL = 1e-5
SEEDS = [*range(15), 2**31 - 1, 2**31, 2**62 - 1, -5, 2**62 + 7]  # 20 seeds; the last two are taken mod 2**62
TEMPERATURES = [0.5, 1.0, 2.0]


def report(record_property, plugin: str, what: str, value: float) -> None:
    print(f"[{plugin}] {what} = {value:.3g}")
    record_property(f"max_abs_diff [{plugin}] {what}", float(value))


def session(model_proto: onnx.ModelProto | str) -> ort.InferenceSession:
    source = model_proto.SerializeToString() if isinstance(model_proto, onnx.ModelProto) else str(model_proto)
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"])


def held_out(fitted, model) -> list[str]:
    """The split's test names (never seen in fitting) that the model's vocabulary can spell."""
    names = [n for n in fitted.split.test if all(c in model.vocab_.index for c in n)]
    assert len(names) >= 0.9 * len(fitted.split.test), "most held-out names should be encodable"
    return names


def log_softmax64(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def assert_same_tokens(ort_tokens: np.ndarray, torch_tokens: np.ndarray, vocab, what: str) -> None:
    assert ort_tokens.shape == torch_tokens.shape, f"{what}: shapes {ort_tokens.shape} (onnx) vs {torch_tokens.shape} (torch)"
    if not np.array_equal(ort_tokens, torch_tokens):
        pytest.fail(describe_token_mismatch(ort_tokens, torch_tokens, vocab, what), pytrace=False)


def describe_token_mismatch(ort_tokens: np.ndarray, torch_tokens: np.ndarray, vocab, what: str) -> str:
    rows = np.nonzero((ort_tokens != torch_tokens).any(axis=1))[0]
    lines = [f"{what}: {len(rows)} of {len(ort_tokens)} names differ between onnxruntime and torch"]
    for i in rows[:5]:
        step = int(np.nonzero(ort_tokens[i] != torch_tokens[i])[0][0])
        lines.append(f"  name #{i}, first at step {step}: onnx token {ort_tokens[i, step]} vs torch {torch_tokens[i, step]} "
                     f"(onnx {vocab.decode(ort_tokens[i].tolist())!r}, torch {vocab.decode(torch_tokens[i].tolist())!r})")
    return "\n".join(lines)


# ---- (a) log-probabilities: the network alone, and through the scorer graph --------------------------


@by_plugin
def test_network_log_probs_match_torch(plugin, onnx_export, fitted, record_property):
    model = onnx_export(plugin).model
    network = export_network(model)
    assert [i.name for i in network.graph.input] == ["context"]
    assert [o.name for o in network.graph.output] == ["logits"]

    encoded = [model.vocab_.encode(n) for n in held_out(fitted, model)]
    held_contexts = examples(encoded, model.block_size)[0]
    rng = np.random.default_rng(12345)
    random_contexts = rng.integers(0, len(model.vocab_), size=(2000, model.block_size), dtype=np.int64)

    sess = session(network)
    for label, contexts in (("held-out contexts", held_contexts), ("random contexts", random_contexts)):
        (logits,) = sess.run(["logits"], {"context": contexts})
        assert logits.shape == (len(contexts), len(model.vocab_))
        assert logits.dtype == np.float32
        logp_ort = log_softmax64(logits)
        logp_torch = model.token_log_probs(torch.from_numpy(contexts)).numpy().astype(np.float64)
        assert np.isfinite(logp_ort).all() and np.isfinite(logp_torch).all()
        diff = float(np.abs(logp_ort - logp_torch).max())
        report(record_property, plugin, f"network log p, {len(contexts)} {label}", diff)
        assert diff <= LOGP_TOL, f"[{plugin}] {label}: max |log p_onnx - log p_torch| = {diff:.3g} > {LOGP_TOL}"


@by_plugin
def test_scorer_token_log_probs_match_torch(plugin, onnx_export, fitted, record_property):
    exported = onnx_export(plugin)
    model = exported.model
    names = held_out(fitted, model)
    encoded = [model.vocab_.encode(n) for n in names]
    width = max(map(len, encoded))
    tokens = np.zeros((len(encoded), width), np.int64)
    for row, ids in zip(tokens, encoded):
        row[: len(ids)] = ids

    log_likelihood, token_log_probs = session(exported.scorer).run(["log_likelihood", "token_log_probs"], {"tokens": tokens})
    assert log_likelihood.dtype == np.float32 and log_likelihood.shape == (len(names),)
    assert token_log_probs.dtype == np.float32 and token_log_probs.shape == (len(names), width + 1)

    contexts, targets, owners = examples(encoded, model.block_size)
    starts = np.concatenate([[0], np.cumsum([len(e) + 1 for e in encoded])[:-1]])
    positions = np.arange(len(owners)) - starts[owners]
    expected = model.token_log_probs(torch.from_numpy(contexts)).gather(1, torch.from_numpy(targets)[:, None])[:, 0].numpy()
    got = token_log_probs[owners, positions]
    diff = float(np.abs(got.astype(np.float64) - expected).max())
    report(record_property, plugin, "scorer token_log_probs, held-out names", diff)
    assert diff <= LOGP_TOL, f"[{plugin}] scorer token_log_probs differ from torch by up to {diff:.3g} > {LOGP_TOL}"

    past_end = np.arange(width + 1)[None, :] > np.array([len(e) for e in encoded])[:, None]
    assert (token_log_probs[past_end] == 0).all(), "token_log_probs must be 0 past each name's end token"
    np.testing.assert_allclose(log_likelihood, token_log_probs.astype(np.float64).sum(axis=1), rtol=0, atol=1e-4)

    # Extra padding columns change nothing; one name alone scores as it does in the batch.
    padded = np.concatenate([tokens[:3], np.zeros((3, 4), np.int64)], axis=1)
    alone = session(exported.scorer).run(["log_likelihood"], {"tokens": padded})[0]
    np.testing.assert_allclose(alone, log_likelihood[:3], rtol=0, atol=1e-5)


# ---- (b) names: onnxruntime's equal torch's exactly ----------------------------------------------------


@by_plugin
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_sampler_names_equal_torch(plugin, temperature, onnx_export):
    exported = onnx_export(plugin)
    model, rt = exported.model, exported.runtime
    for seed in SEEDS:
        torch_tokens = model.sample_tokens(1000, seed=seed, temperature=temperature)
        ort_tokens = rt.sample_tokens(1000, seed=seed, temperature=temperature)
        assert ort_tokens.dtype == np.int64 and ort_tokens.shape == (1000, model.max_len_)
        what = f"[{plugin}] seed {seed}, temperature {temperature}"
        assert_same_tokens(ort_tokens, torch_tokens, model.vocab_, what)
        ort_names = rt.sample(1000, seed=seed, temperature=temperature)
        torch_names = model.sample(1000, seed=seed, temperature=temperature) if seed in (0, -5) else \
            [model.vocab_.decode(row) for row in torch_tokens.tolist()]  # what model.sample returns, without sampling twice
        assert ort_names == torch_names, f"{what}: names differ where tokens agree (the graph's string join)"


@by_plugin
def test_sampler_seed_is_taken_modulo_2_62(plugin, onnx_export):
    exported = onnx_export(plugin)
    model, rt = exported.model, exported.runtime
    for seed, same in ((-5, (-5) & sampling.SEED_MASK), (2**62 + 7, 7), (2**62, 0)):
        expected = model.sample(300, seed=same)
        assert model.sample(300, seed=seed) == expected, f"torch: seed {seed} should act as {same}"
        assert rt.sample(300, seed=seed) == expected, f"onnx: seed {seed} should act as {same}, as in torch"
    assert rt.sample(300, seed=1) != rt.sample(300, seed=2)


@by_plugin
def test_sampler_small_counts_equal_torch(plugin, onnx_export):
    """count=1, and counts around the sampler's switch between its few-names and many-names loops."""
    exported = onnx_export(plugin)
    model, rt = exported.model, exported.runtime
    for seed in (0, 1, 99, 2**62 - 1):
        assert_same_tokens(rt.sample_tokens(1, seed=seed), model.sample_tokens(1, seed=seed), model.vocab_, f"[{plugin}] count 1, seed {seed}")
        assert rt.sample(1, seed=seed) == model.sample(1, seed=seed)
    reference = model.sample_tokens(140, seed=5, temperature=1.5)
    for n in (1, 2, 31, 32, 33, 64, 127, 128, 129, 140):
        # Name i depends on (seed, i, temperature) only, not on how many names are drawn with it.
        assert_same_tokens(rt.sample_tokens(n, seed=5, temperature=1.5), reference[:n], model.vocab_, f"[{plugin}] count {n}")
        assert rt.sample(n, seed=5, temperature=1.5) == [model.vocab_.decode(row) for row in reference[:n].tolist()]


@by_plugin
def test_sampler_100k_names_equal_torch(plugin, onnx_export):
    exported = onnx_export(plugin)
    model, rt = exported.model, exported.runtime
    seed, n = 1, 100_000
    torch_tokens = model.sample_tokens(n, seed=seed, temperature=1.0)
    ort_tokens = rt.sample_tokens(n, seed=seed, temperature=1.0)
    assert ort_tokens.shape == (n, model.max_len_)
    assert_same_tokens(ort_tokens, torch_tokens, model.vocab_, f"[{plugin}] {n:,} names, seed {seed}, temperature 1")
    assert rt.sample(n, seed=seed) == [model.vocab_.decode(row) for row in torch_tokens.tolist()]


@by_plugin
def test_sampler_extreme_temperatures_equal_torch(plugin, onnx_export):
    """Near-greedy and near-uniform draws: the second makes names run to max_len (the Loop's cut)."""
    exported = onnx_export(plugin)
    model, rt = exported.model, exported.runtime
    for temperature in (0.05, 50.0):
        torch_tokens = model.sample_tokens(500, seed=3, temperature=temperature)
        ort_tokens = rt.sample_tokens(500, seed=3, temperature=temperature)
        assert_same_tokens(ort_tokens, torch_tokens, model.vocab_, f"[{plugin}] temperature {temperature}")
        assert rt.sample(500, seed=3, temperature=temperature) == [model.vocab_.decode(r) for r in torch_tokens.tolist()]
    assert (ort_tokens[:, -1] != 0).any(), "at temperature 50 some names should reach max_len"


@by_plugin
def test_sampler_tokens_are_zero_padded(plugin, onnx_export):
    exported = onnx_export(plugin)
    tokens = exported.runtime.sample_tokens(2000, seed=11, temperature=2.0)
    ended = np.cumsum(tokens == 0, axis=1) > 0
    assert (tokens[ended] == 0).all(), "after a name's end token every position must be 0"
    assert ((tokens >= 0) & (tokens < len(exported.model.vocab_))).all()
    names = exported.runtime.sample(2000, seed=11, temperature=2.0)
    assert names == [exported.runtime.vocab.decode(row) for row in tokens.tolist()]
    assert max(map(len, names)) <= exported.runtime.max_len


@pytest.fixture(scope="module")
def network_loop_sampler(onnx_export):
    """Per plugin, the sampler built with the network inside the loop (table_limit=0), the path a
    plugin with too many contexts to tabulate takes; the registry's plugins tabulate by default."""
    if "table_limit" not in inspect.signature(build_sampler).parameters:
        pytest.skip("build_sampler has no table_limit: a single sampling path")
    cache = {}

    def get(plugin: str) -> ort.InferenceSession:
        if plugin not in cache:
            model = onnx_export(plugin).model
            cache[plugin] = session(build_sampler(model, export_network(model), table_limit=0))
        return cache[plugin]

    return get


@by_plugin
def test_network_loop_sampler_equals_torch(plugin, onnx_export, network_loop_sampler):
    model = onnx_export(plugin).model
    sess = network_loop_sampler(plugin)
    for seed, count, temperature in ((0, 1, 1.0), (7, 33, 0.5), (2**62 - 1, 1000, 1.0), (3, 1000, 2.0), (11, 300, 50.0)):
        feeds = {"seed": np.array(seed, np.int64), "count": np.array(count, np.int64), "temperature": np.array(temperature, np.float32)}
        names, tokens = sess.run(["names", "tokens"], feeds)
        torch_tokens = model.sample_tokens(count, seed=seed, temperature=temperature)
        assert_same_tokens(tokens, torch_tokens, model.vocab_, f"[{plugin}] network loop, seed {seed}, count {count}, temperature {temperature}")
        assert names.tolist() == [model.vocab_.decode(row) for row in torch_tokens.tolist()]


# ---- the files: metadata, validity, weights, interface, atomic writes -------------------------------


@by_plugin
def test_metadata(plugin, onnx_export):
    exported = onnx_export(plugin)
    model = exported.model
    for path, kind in ((exported.sampler, runtime.SAMPLER_FORMAT), (exported.scorer, runtime.SCORER_FORMAT)):
        meta = {p.key: p.value for p in onnx.load(path).metadata_props}
        assert set(meta) >= {"namegen_format", "namegen_version", "vocab", "plugin", "hyperparams", "block_size",
                             "max_len", "max_count", "sampling_rule_version", "opset"}, f"{path.name}: {sorted(meta)}"
        assert meta["namegen_format"] == kind
        assert meta["namegen_version"] == namegen.__version__
        assert json.loads(meta["vocab"]) == "".join(model.vocab_.chars)
        assert meta["plugin"] == plugin == model.plugin_name
        assert json.loads(meta["hyperparams"]) == model.hyperparams
        assert int(meta["block_size"]) == model.block_size
        assert int(meta["max_len"]) == model.max_len_
        assert int(meta["max_count"]) == sampling.MAX_COUNT
        assert json.loads(meta["limits"]) == {"max_name_len": sampling.MAX_LEN, "max_cells": sampling.MAX_CELLS,
                                              "max_candidates": sampling.MAX_CANDIDATES}
        assert int(meta["sampling_rule_version"]) == sampling.SAMPLING_RULE_VERSION
        assert int(meta["opset"]) == OPSET
    rt = exported.runtime
    assert rt.vocab.chars == model.vocab_.chars
    assert rt.max_len == model.max_len_ and rt.max_count == sampling.MAX_COUNT
    assert rt.metadata["plugin"] == plugin


@by_plugin
def test_files_pass_the_onnx_checker(plugin, onnx_export):
    exported = onnx_export(plugin)
    for path in (exported.sampler, exported.scorer):
        proto = onnx.load(path)
        onnx.checker.check_model(proto, full_check=True)
        opsets = {o.domain: o.version for o in proto.opset_import}
        assert opsets.get("", opsets.get("ai.onnx")) == OPSET, f"{path.name}: opset imports {opsets}"
        assert not proto.functions, f"{path.name}: local functions"


def value_info(v) -> tuple:
    t = v.type.tensor_type
    return v.name, t.elem_type, len(t.shape.dim)


@by_plugin
def test_interface(plugin, onnx_export):
    exported = onnx_export(plugin)
    sampler, scorer = onnx.load(exported.sampler).graph, onnx.load(exported.scorer).graph
    initializers = {i.name for i in sampler.initializer}
    inputs = [value_info(v) for v in sampler.input if v.name not in initializers]
    assert inputs == [("seed", TensorProto.INT64, 0), ("count", TensorProto.INT64, 0), ("temperature", TensorProto.FLOAT, 0)]
    optional = [value_info(v) for v in sampler.input if v.name in initializers]  # rule 2's, with defaults
    assert optional == [("prefix", TensorProto.INT64, 1), ("suffix", TensorProto.INT64, 1), ("contains", TensorProto.INT64, 1),
                        ("min_len", TensorProto.INT64, 0), ("max_len", TensorProto.INT64, 0), ("novel", TensorProto.BOOL, 0),
                        ("exclude", TensorProto.STRING, 1), ("distinct", TensorProto.BOOL, 0), ("max_candidates", TensorProto.INT64, 0)]
    assert [value_info(v) for v in sampler.output] == [("names", TensorProto.STRING, 1), ("tokens", TensorProto.INT64, 2),
                                                       ("found", TensorProto.INT64, 0)]
    initializers = {i.name for i in scorer.initializer}
    assert [value_info(v) for v in scorer.input if v.name not in initializers] == [("tokens", TensorProto.INT64, 2)]
    assert [value_info(v) for v in scorer.output] == [("log_likelihood", TensorProto.FLOAT, 1), ("token_log_probs", TensorProto.FLOAT, 2)]

    # Straight through onnxruntime, as an app would call it.
    names, tokens = session(exported.sampler).run(
        ["names", "tokens"], {"seed": np.array(4, np.int64), "count": np.array(7, np.int64), "temperature": np.array(1.0, np.float32)})
    assert names.shape == (7,) and tokens.shape == (7, exported.model.max_len_) and tokens.dtype == np.int64
    assert names.tolist() == exported.model.sample(7, seed=4)


@by_plugin
def test_exported_weights_are_the_checkpoint_bytes(plugin, onnx_export, tmp_path):
    """Every state_dict tensor of the network is an initializer `network/<key>` of both files,
    byte for byte the tensor of the run's weights-*.safetensors."""
    exported = onnx_export(plugin)
    exported.model.save(tmp_path / "run")
    (weights_file,) = (tmp_path / "run").glob("weights-*.safetensors")
    checkpoint = load_file(weights_file)
    names = checkpoint.pop(KNOWN_NAMES)  # the one tensor beside the network's: the known names, for novel=True
    assert names.tobytes().decode().split("\n") == list(exported.model.known_names_)
    state = {k: v.numpy() for k, v in exported.model.network_.state_dict().items()}
    assert set(checkpoint) == set(state)
    for key, tensor in checkpoint.items():
        assert tensor.tobytes() == state[key].tobytes(), f"checkpoint tensor {key!r} is not the model's"

    problems = []
    # a mixed-in n-gram's transition table serves only the step form, which the sampler runs and the scorer does not
    step_only = {"transitions"} if isinstance(exported.model.network_, mixture.SteppedNgramMixture) else set()
    for path in (exported.sampler, exported.scorer):
        inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}
        for key, tensor in checkpoint.items():
            if path == exported.scorer and key in step_only:
                continue
            name = f"network/{key}"
            if name not in inits:
                twins = [n for n, a in inits.items() if a.dtype == tensor.dtype and a.shape == tensor.shape and a.tobytes() == tensor.tobytes()]
                problems.append(f"{path.name}: no initializer {name!r} ({tensor.dtype} {list(tensor.shape)})"
                                + (f"; its exact bytes are there under {twins}" if twins else "; its bytes are nowhere among the initializers"))
                continue
            array = inits[name]
            if array.dtype != tensor.dtype or array.shape != tensor.shape or array.tobytes() != tensor.tobytes():
                problems.append(f"{path.name}: {name!r} is {array.dtype} {list(array.shape)}, not the checkpoint's bytes "
                                f"({tensor.dtype} {list(tensor.shape)})")
    assert not problems, f"[{plugin}] exported weights do not keep their checkpoint names/bytes:\n  " + "\n  ".join(problems)


@by_plugin
def test_export_leaves_no_temporary_files(plugin, onnx_export):
    exported = onnx_export(plugin)
    assert exported.scorer == runtime.scorer_path(exported.sampler) == exported.folder / f"{plugin}.scorer.onnx"
    left = sorted(p.name for p in exported.folder.iterdir())
    assert left == sorted([exported.sampler.name, exported.scorer.name]), f"export folder holds {left}"
    assert not [p for p in exported.folder.rglob("*") if p.name.endswith(".tmp")]


def test_scorer_path_rule(tmp_path):
    assert runtime.scorer_path(tmp_path / "x" / "NAME.onnx") == tmp_path / "x" / "NAME.scorer.onnx"
    assert runtime.scorer_path("exports/run.v2.onnx").name == "run.v2.scorer.onnx"


def test_names_are_never_empty_in_torch_or_onnx(tmp_path):
    """A model that often ends a name before its first character (counts with a huge alpha puts
    P(. | .) near 1/V) still never samples an empty name, and both runtimes agree."""
    from conftest import SMALL_NAMES

    from namegen.exports.onnx import export

    model = namegen.create("counts", alpha=1000.0).fit(SMALL_NAMES)
    assert np.exp(model.token_log_probs(torch.zeros(1, 1, dtype=torch.int64))[0, 0].item()) > 0.03
    path = tmp_path / "wide.onnx"
    export(model, path)
    for count in (20, 3000):  # the dense loop and the binary-search loop
        names = model.sample(count, seed=5)
        assert all(names), "an empty name was sampled"
        assert runtime.load(path).sample(count, seed=5) == names


def test_export_rejects_a_vocabulary_over_256_tokens(tmp_path):
    """The sampler keeps token ids in uint8; a larger vocabulary is a clear error, not a wrong file."""
    from namegen.exports.onnx import export

    names = ["".join(chr(0x4E00 + 3 * i + j) for j in range(3)) for i in range(100)]  # 300 distinct characters
    model = namegen.create("counts").fit(names)
    with pytest.raises(namegen.NamegenError, match="256"):
        export(model, tmp_path / "big.onnx")
    assert not list(tmp_path.iterdir())
