"""Sampling rule 2 (constraints): what each constraint means, that the ONNX sampler draws the
torch sampler's names under every constraint for every plugin, and that bad input to either
is refused with a message naming it, while the graph stays bounded on any input."""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest

import namegen
from namegen import NamegenError, NamegenWarning, sampling
from tests._cli import run_many

PLUGINS = namegen.available()

# Constraint sets the equality tests run, for every plugin. Letters common in the bundled names.
COMBINATIONS = [
    {},
    {"prefix": "ma"},
    {"prefix": "e", "min_len": 4, "max_len": 7},
    {"suffix": "a"},
    {"contains": "an"},
    {"min_len": 6},
    {"novel": True},
    {"distinct": True},
    {"novel": True, "distinct": True, "suffix": "n"},
    {"prefix": "a", "suffix": "a", "contains": "r", "min_len": 4, "max_len": 9, "novel": True, "distinct": True},
    {"exclude": ["a", "n", "ja", "an", "ma", "A", "é", ""]},  # common names, and some that can never be drawn
    {"prefix": "ma", "exclude": ["ma", "mah", "mal"], "novel": True, "distinct": True},
    {"suffix": "a", "max_candidates": 40},  # the budget, not the count, ends the call
    {"suffix": "qzxj"},  # impossible in practice: the budget runs out, nothing comes back
]


def quiet_sample(model, *args, **kwargs) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NamegenWarning)
        return model.sample(*args, **kwargs)


@pytest.fixture(scope="module")
def linear(fitted):
    return fitted("linear")


# ----------------------------------------------------------------------- what the rule means


def candidates(model, count, seed, **rule1) -> list[str]:
    """Rule 2's candidate stream: names 0 .. count-1 with the prefix forced and min/max length."""
    return model.sample(count, seed=seed, **rule1)


@pytest.mark.parametrize("seed", [0, 5])
def test_answer_is_the_first_passing_candidates_in_order(linear, seed):
    stream = candidates(linear, 3000, seed, prefix="a", min_len=3, max_len=9)
    train = set(linear.known_names_)
    passing = [name for name in stream if name.endswith("n") and "r" in name and name not in train]
    distinct = list(dict.fromkeys(passing))
    got = linear.sample(25, seed=seed, prefix="a", suffix="n", contains="r", min_len=3, max_len=9, novel=True, distinct=True)
    assert got == distinct[:25]
    assert linear.sample(25, seed=seed, prefix="a", suffix="n", contains="r", min_len=3, max_len=9, novel=True) == passing[:25]


def test_each_constraint_holds(linear):
    train = set(linear.known_names_)
    names = linear.sample(300, seed=2, prefix="ma", suffix="a", contains="r", min_len=5, max_len=9, novel=True, distinct=True)
    assert len(names) == 300
    assert all(n.startswith("ma") and n.endswith("a") and "r" in n and 5 <= len(n) <= 9 for n in names)
    assert not set(names) & train and len(set(names)) == len(names)


def test_exclude_drops_exactly_its_names(linear):
    stream = candidates(linear, 400, 0)
    exclude = ["a", "n", "ja", "A", "é", ""]  # the last three can never be drawn: not an error
    assert {"a", "n", "ja"} <= set(stream[:150])  # so the test below rejects something
    assert linear.sample(100, seed=0, exclude=exclude) == [n for n in stream if n not in exclude][:100]
    assert linear.sample(100, seed=0, exclude=("A", "é")) == stream[:100]  # nothing it can draw: rule 1's names
    assert linear.sample(100, seed=0, exclude=[]) == stream[:100]


def test_novel_rejects_every_name_of_the_data():
    """The known names are train, val and `known_names` (a test split): none comes back under
    novel, while the model itself (vocabulary, weights, NLL) is that of a fit without them."""
    train, val, test = ["aab", "abba", "bab", "baab", "abab", "bbaa"], ["aaba", "bba"], ["ab", "ba", "abc", "aaa"]
    plain = namegen.create("counts").fit(train, val)
    known = namegen.create("counts").fit(train, val, known_names=test)
    assert known.known_names_ == tuple(sorted(set(train + val + ["ab", "ba", "aaa"])))  # 'abc' cannot be drawn: left out
    assert known.vocab_ == plain.vocab_ and known.score(test[:2]).nll == plain.score(test[:2]).nll
    assert {k: v for k, v in known.training_.items() if k != "fit_seconds"} == {k: v for k, v in plain.training_.items() if k != "fit_seconds"}
    assert {"ab", "ba"} <= set(plain.sample(200, seed=1, novel=True))  # test names: only the known names keep them out
    novel = known.sample(200, seed=1, novel=True)
    assert len(novel) == 200 and not set(novel) & set(train + val + test)
    alone = namegen.create("counts").fit(train + test[:2])  # fit(names): the known names are those names
    assert alone.known_names_ == tuple(sorted(train + test[:2]))


def test_known_names_set_has_no_false_negatives():
    """Every known name is found; another name matches with probability keys / 2**bits (at most
    KNOWN_LOAD / 2**REMAINDER_BITS), the same in torch and the graph."""
    rng = np.random.default_rng(0)
    names = sorted({tuple(rng.integers(1, 27, rng.integers(1, 13)).tolist()) for _ in range(5000)})[:4000]
    known = sampling.KnownNames.of(names)
    assert known.names == 4000 and known.bits == 10 + sampling.REMAINDER_BITS  # 1,024 buckets: at most 4 names each on average
    rows = np.zeros((len(names), 12), np.int64)
    for row, ids in zip(rows, names):
        row[: len(ids)] = ids
    assert known.holds(rows).all()
    others = np.zeros((20000, 14), np.int64)
    others[:, 12:] = rng.integers(1, 27, (20000, 2))  # 13 and 14 characters: no known name is that long
    others[:, :12] = rng.integers(1, 27, (20000, 12))
    assert known.holds(others).sum() <= 2 * 20000 * len(known.keys) / 2**known.bits + 3  # twice the rate, at most
    counts, remainders, most = known.tables()
    assert counts.dtype == np.uint8 and remainders.dtype == np.uint16 and len(remainders) == len(known.keys) and counts.sum() == len(known.keys)
    assert sampling.fingerprint_rows([[3, 1, 0, 0]], 62) == sampling.fingerprint_rows([[3, 1]], 62)  # padding changes nothing
    empty = sampling.KnownNames.of([])
    assert not empty.holds(rows[:3]).any() and len(empty.tables()[1]) == 1


def test_min_len_masks_the_end_and_max_len_cuts(linear):
    short = linear.sample(2000, seed=1)
    assert min(map(len, short)) < 4  # without it, short names are common
    names = linear.sample(2000, seed=1, min_len=4, max_len=6)
    assert min(map(len, names)) >= 4 and max(map(len, names)) <= 6
    assert max(map(len, names)) == 6  # some are cut at max_len


def test_no_constraint_keeps_rule_1(linear):
    """Every existing seed keeps its names: defaults and explicit no-op constraints change nothing."""
    plain = linear.sample(500, seed=17, temperature=0.9)
    assert linear.sample(500, seed=17, temperature=0.9, prefix="", suffix="", contains="", min_len=1,
                         novel=False, distinct=False) == plain


def test_prefix_alone_rejects_nothing(linear):
    names = linear.sample(400, seed=4, prefix="jo")
    assert len(names) == 400 and all(n.startswith("jo") for n in names)


def test_budget_bounds_the_candidates_examined(linear):
    stream = candidates(linear, 60, 3)
    with pytest.warns(NamegenWarning, match="only .* of 50 names"):
        got = linear.sample(50, seed=3, suffix="a", max_candidates=60)
    assert got == [n for n in stream if n.endswith("a")][:50]


def test_exhausted_budget_returns_fewer_and_warns(linear):
    with pytest.warns(NamegenWarning, match="only 0 of 5 names met the constraints"):
        assert linear.sample(5, seed=0, suffix="qzxj") == []


def test_next_batch_follows_the_pass_rate():
    assert sampling.next_batch_size(1000, 0, 1000, 1000) == 2000  # nothing passed yet: twice the last
    assert sampling.next_batch_size(1000, 900, 1000, 1000) == 139  # 100 more at 90%, and a quarter more
    assert sampling.next_batch_size(1000, 10, 1000, 1000) == 123_750  # 990 more at 1%
    assert sampling.next_batch_size(10, 9, 10, 10) == sampling.MIN_BATCH


def test_common_constraints_take_few_batches(linear, monkeypatch):
    """novel passes most candidates: the second batch is sized to finish, not doubled."""
    drawn = []
    original = sampling.sample_tokens
    monkeypatch.setattr(sampling, "sample_tokens", lambda network, count, *args: drawn.append(count) or original(network, count, *args))
    names = linear.sample(1000, seed=3, novel=True)
    assert len(names) == 1000 and len(drawn) <= 3 and sum(drawn) < 1.6 * 1000, drawn


def test_distinct_never_repeats_across_batches(linear):
    """Enough names that rule 2 needs several candidate batches (each twice the last)."""
    names = quiet_sample(linear, 1500, seed=8, distinct=True, max_len=4)
    assert len(set(names)) == len(names) > 1000


@pytest.mark.parametrize("kwargs, message", [
    ({"prefix": "é"}, "prefix 'é' cannot be drawn"),
    ({"suffix": "a.b"}, "suffix 'a.b' cannot be drawn"),
    ({"contains": 3}, "contains must be a string"),
    ({"min_len": 0}, "min_len must be an integer from 1"),
    ({"min_len": 9, "max_len": 8}, "min_len must be an integer from 1 to max_len"),
    ({"max_len": 2, "prefix": "ab"}, "max_len must be an integer from 3"),
    ({"max_candidates": 0}, "max_candidates must be an integer from 1"),
    ({"max_candidates": 10**9}, "max_candidates must be an integer from 1"),
    ({"novel": "yes"}, "novel must be True or False"),
    ({"exclude": "maria"}, "exclude must be a list of names, not one string"),
    ({"exclude": 5}, "exclude must be a list of names"),
    ({"exclude": ["maria", None]}, "exclude must hold names \\(strings\\), got None"),
    ({"distinct": 1}, "distinct must be True or False"),
])
def test_bad_constraints_are_clear_errors(linear, kwargs, message):
    with pytest.raises(NamegenError, match=message):
        linear.sample(5, **kwargs)


def test_novel_needs_known_names(linear):
    bare = namegen.create("linear")
    bare.__dict__.update(linear.__dict__)
    bare.known_names_ = None  # a run saved before namegen kept them
    with pytest.raises(NamegenError, match="novel needs the known names"):
        bare.sample(3, novel=True)
    assert bare.sample(3, seed=1) == linear.sample(3, seed=1)


def test_known_names_survive_save_and_load(linear, tmp_path):
    linear.save(tmp_path / "run")
    loaded = namegen.load(tmp_path / "run")
    assert loaded.known_names_ == linear.known_names_
    assert loaded.sample(50, seed=2, novel=True, distinct=True) == linear.sample(50, seed=2, novel=True, distinct=True)


def test_a_run_with_training_names_only_still_loads(fitted, tmp_path):
    """Format 3 kept the training split under namegen.training_names: they load as the known names."""
    import hashlib
    import json

    from safetensors.torch import load_file, save

    from namegen.checkpoint import KNOWN_NAMES, TRAINING_NAMES

    model = fitted("counts")
    model.save(tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    tensors = load_file(tmp_path / "run" / config["weights"])
    tensors[TRAINING_NAMES] = tensors.pop(KNOWN_NAMES)
    weights = save(tensors)
    digest = hashlib.sha256(weights).hexdigest()
    (tmp_path / "run" / config["weights"]).unlink()
    config.update(format_version=3, weights=f"weights-{digest[:16]}.safetensors", weights_sha256=digest)
    (tmp_path / "run" / config["weights"]).write_bytes(weights)
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    loaded = namegen.load(tmp_path / "run")
    assert loaded.known_names_ == model.known_names_ and loaded.training_names_ == model.known_names_
    assert loaded.sample(40, seed=3, novel=True) == model.sample(40, seed=3, novel=True)


# ------------------------------------------------------------------ the ONNX sampler agrees


@pytest.mark.parametrize("plugin", PLUGINS)
def test_onnx_sampler_draws_torchs_names_under_every_constraint(onnx_export, plugin, record_property):
    exported = onnx_export(plugin)
    model, rt = exported.model, exported.runtime
    compared = 0
    for rule in COMBINATIONS:
        for seed, count, temperature in ((0, 40, 1.0), (7, 3, 1.4)):
            expected = quiet_sample(model, count, seed=seed, temperature=temperature, **rule)
            got = quiet_sample(rt, count, seed=seed, temperature=temperature, **rule)
            assert got == expected, f"[{plugin}] {rule} seed {seed} count {count}"
            compared += len(expected)
    record_property(f"[{plugin}] constrained names equal, torch vs onnxruntime", compared)


@pytest.mark.parametrize("plugin", ["linear", "transformer"])
def test_onnx_sampler_many_seeds(onnx_export, plugin):
    """More seeds and sizes on one tabulated and one stepwise sampler, and distinct/novel calls
    that take several candidate batches."""
    exported = onnx_export(plugin)
    for seed in range(12):
        count = (1, 127, 129, 300)[seed % 4]
        rule = COMBINATIONS[seed % len(COMBINATIONS)] | {"distinct": seed % 2 == 0}
        assert quiet_sample(exported.runtime, count, seed=seed, **rule) == quiet_sample(exported.model, count, seed=seed, **rule), (seed, rule)


def test_onnx_found_output_and_warning(onnx_export):
    rt = onnx_export("linear").runtime
    feeds = rt.feeds(4, seed=0, suffix="qzxj", max_candidates=500)
    names, found = rt.session.run(["names", "found"], feeds)
    assert found == 0 and names.shape == (0,)
    with pytest.warns(NamegenWarning, match="only 0 of 4"):
        assert rt.sample(4, suffix="qzxj", max_candidates=500) == []


def test_export_without_training_names(fitted, tmp_path):
    from namegen import runtime
    from namegen.exports.onnx import export

    model = fitted("linear")
    path = export(model, tmp_path / "private.onnx", training_names=False).sampler
    longest = max(model.known_names_, key=len)
    assert longest.encode() not in path.read_bytes()  # no known name travels in the file
    private = runtime.load(path)
    assert private.metadata["known_names"] == private.metadata["training_names"] == "0" and private.known_names == 0
    with pytest.raises(NamegenError, match="novel needs the known names"):
        private.sample(3, novel=True)
    assert private.sample(20, seed=1, distinct=True) == model.sample(20, seed=1, distinct=True)
    with_names = export(model, tmp_path / "public.onnx").sampler
    public = runtime.load(with_names)
    assert public.known_names == len(model.known_names_) and public.metadata["training_names"] == str(len(model.known_names_))
    # Fingerprints, not strings: about 2.3 bytes a name (uint16 remainders, a uint8 count a bucket), plus the lookup's nodes
    assert with_names.stat().st_size - path.stat().st_size < 2.5 * len(model.known_names_) + 3000
    assert longest.encode() not in with_names.read_bytes()


def test_exports_before_known_names_and_exclude(fitted, tmp_path):
    """An export that says training_names (not known_names) feeds novel as before; one without the
    exclude input refuses exclude with a message, and samples the rest."""
    import onnx

    from namegen import runtime
    from namegen.exports.onnx import export

    model = fitted("linear")
    proto = onnx.load(export(model, tmp_path / "new.onnx").sampler)
    for entry in [e for e in proto.metadata_props if e.key in ("known_names", "known_names_bits")]:
        proto.metadata_props.remove(entry)
    inputs = [i for i in proto.graph.input if i.name != "exclude"]  # its initialiser stays: a constant, no longer an input
    del proto.graph.input[:]
    proto.graph.input.extend(inputs)
    onnx.save(proto, tmp_path / "old.onnx")
    old = runtime.load(tmp_path / "old.onnx")
    assert old.known_names == len(model.known_names_) and not old.takes_exclude
    assert old.sample(30, seed=2, novel=True) == model.sample(30, seed=2, novel=True)
    with pytest.raises(NamegenError, match="exclude needs an export with an exclude input"):
        old.sample(5, exclude=["a"])
    assert old.sample(5, exclude=["é"]) == model.sample(5)  # no name it can draw: nothing to feed


@pytest.mark.parametrize("bucket_bits", [0, 16])
def test_onnx_novel_at_every_fingerprint_width(tmp_path, monkeypatch, bucket_bits):
    """One bucket (16-bit fingerprints), and 2**16 (32 bits: the high half, which sets of over
    2**17 names use), on a model whose candidates are often known names: torch's names in the graph."""
    from namegen import runtime
    from namegen.exports.onnx import export

    monkeypatch.setattr(sampling, "known_bucket_bits", lambda names: bucket_bits)
    model = namegen.create("counts").fit(["aab", "abba", "bab", "baab", "abab", "bba", "ab", "ba"])
    assert model.known_set().bits == bucket_bits + sampling.REMAINDER_BITS
    rt = runtime.load(export(model, tmp_path / "m.onnx").sampler)
    assert rt.metadata["known_names_bits"] == str(bucket_bits + sampling.REMAINDER_BITS)
    for seed in range(3):
        rule = {"novel": True, "distinct": seed == 2, "exclude": ["aaa"] if seed == 1 else None}
        expected = quiet_sample(model, 60, seed=seed, **rule)
        assert quiet_sample(rt, 60, seed=seed, **rule) == expected and not set(expected) & set(model.known_names_)
    assert set(quiet_sample(model, 60, seed=0)) & set(model.known_names_)  # without novel, known names come up


# ---------------------------------------------------------------- bad input to the graph


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 0}, "^n must be an integer from 1 to 1,000,000, got 0$"),
    ({"n": sampling.MAX_COUNT + 1}, "^n must be an integer from 1"),
    ({"temperature": 0.0}, "temperature must be a positive number"),
    ({"temperature": float("nan")}, "temperature must be a positive number"),
    ({"temperature": -1.0}, "temperature must be a positive number"),
    ({"prefix": "é"}, "prefix 'é' cannot be drawn"),
    ({"max_len": 0}, "max_len must be an integer"),
])
def test_runtime_refuses_bad_input_before_the_graph(onnx_export, kwargs, message):
    rt = onnx_export("linear").runtime
    args = {"n": 5} | kwargs
    with pytest.raises(NamegenError, match=message):
        rt.sample(args.pop("n"), **args)


@pytest.mark.parametrize("plugin", ["linear", "rnn"])
def test_graph_stays_bounded_on_any_input(onnx_export, plugin):
    """Fed directly (no runtime checks), out-of-range values are clamped: the call returns,
    at most `count` names, never more than max_len long."""
    rt = onnx_export(plugin).runtime
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(rt.path), options, providers=["CPUExecutionProvider"])
    V = len(rt.vocab)
    base = {"seed": np.array(1, np.int64), "count": np.array(5, np.int64), "temperature": np.array(1.0, np.float32)}
    cases = [
        {"count": np.array(0, np.int64)},
        {"count": np.array(-7, np.int64)},
        {"max_len": np.array(-3, np.int64)},
        {"max_len": np.array(1 << 40, np.int64), "count": np.array(2, np.int64)},
        {"min_len": np.array(1 << 40, np.int64)},
        {"max_candidates": np.array(-1, np.int64), "suffix": np.array([1, 1, 1, 1, 1, 1], np.int64)},
        {"prefix": np.array([0, V + 5, -2], np.int64)},
        {"contains": np.arange(20_000, dtype=np.int64) % V},
        {"exclude": np.array(["a", "é", "", "a"] * 1000, object)},  # names it cannot draw are no error in the graph either
        {"temperature": np.array(np.nan, np.float32)},
        {"temperature": np.array(-1.0, np.float32)},
        {"temperature": np.array(0.0, np.float32)},
    ]
    for case in cases:
        feeds = base | case
        names, tokens, found = session.run(["names", "tokens", "found"], feeds)
        count = max(0, int(feeds["count"]))
        assert found == len(names) <= count and tokens.shape[0] == found, case
        assert tokens.shape[1] <= sampling.MAX_LEN, case


# ---------------------------------------------------------------------------------- CLI


def test_cli_constraints(tmp_path, linear):
    linear.save(tmp_path / "run")
    args = ["sample", "run", "-n", "12", "--seed", "7", "--prefix", "ma", "--suffix", "a", "--min-len", "4",
            "--max-len", "8", "--novel", "--distinct"]
    ok, exhausted, unseen, bad = run_many([
        (args, tmp_path),
        (["sample", "run", "-n", "3", "--suffix", "qzxj", "--max-candidates", "300"], tmp_path),
        (["sample", "run", "--prefix", "é"], tmp_path),
        (["sample", "run", "--min-len", "0"], tmp_path),
    ])
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == linear.sample(12, seed=7, prefix="ma", suffix="a", min_len=4, max_len=8, novel=True, distinct=True)
    assert exhausted.returncode == 0 and exhausted.stdout == ""
    assert exhausted.stderr.strip() == "warning: only 0 of 3 names met the constraints within the candidate budget " \
                                    "(raise max_candidates, or loosen the constraints)"
    for result, message in ((unseen, "prefix 'é' cannot be drawn"), (bad, "min_len must be an integer from 1")):
        assert result.returncode == 2 and message in result.stderr and len(result.stderr_lines) == 1, result.stderr


def test_budget_applies_without_a_rejecting_constraint(onnx_export):
    """max_candidates bounds the candidates even when every one passes: the first 5 names."""
    exported = onnx_export("linear")
    for sampler in (exported.model, exported.runtime):
        with pytest.warns(NamegenWarning, match="only 5 of 10"):
            assert sampler.sample(10, seed=1, prefix="a", max_candidates=5) == exported.model.sample(5, seed=1, prefix="a")


def test_runtime_checks_count_times_max_len_without_constraints(tmp_path):
    from namegen import runtime
    from namegen.exports.onnx import export

    model = namegen.create("counts").fit(["ab" * 20, "ba", "abba"])  # max_len 80: count x max_len can pass 2**26
    rt = runtime.load(export(model, tmp_path / "long.onnx").sampler)
    with pytest.raises(NamegenError, match="too much for one call"):
        rt.sample(sampling.MAX_CELLS // rt.max_len + 1)
