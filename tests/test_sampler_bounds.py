"""Hostile input: the raw ONNX sampler (fed directly, past the runtimes' checks) clamps every
input so that a call's memory and work stay bounded, clamping only what Python refuses, so
accepted inputs keep their names; and the Python sampling APIs refuse bad arguments with a
message that names the argument as the caller wrote it."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch

from namegen import NamegenError, NamegenWarning, runtime, sampling
from tests._cli import run_many

SEED = 3


@pytest.fixture(scope="module")
def linear(onnx_export):
    return onnx_export("linear")


@pytest.fixture(scope="module")
def session(linear):
    """The raw sampler: nothing checks its inputs but the graph itself."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(linear.sampler), options, providers=["CPUExecutionProvider"])


def feeds(count: int = 20, temperature: float = 1.0, **extra) -> dict[str, np.ndarray]:
    given = {"seed": np.array(SEED, np.int64), "count": np.array(count, np.int64), "temperature": np.array(temperature, np.float32)}
    return given | {key: np.asarray(value, np.bool_ if isinstance(value, bool) else np.int64) for key, value in extra.items()}


def quiet(sample, *args, **kwargs) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NamegenWarning)
        return sample(*args, **kwargs)


# A hostile call runs in a child process: one that still blew up would take the child down, not
# the test run, and the child's peak memory is its own.
HOSTILE = r"""
import json, os, sys, time
import numpy as np, onnxruntime as ort
options = ort.SessionOptions()
options.log_severity_level = 3
options.intra_op_num_threads = 1
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
feeds = {key: np.array(value, np.float32 if key == "temperature" else np.bool_ if isinstance(value, bool) else np.int64)
         for key, value in json.loads(sys.argv[2]).items()}
start = time.perf_counter()
names, found = session.run(["names", "found"], feeds)
seconds = time.perf_counter() - start
peak_mb = None  # VmHWM, not ru_maxrss, which keeps the parent's peak across fork and exec
if os.path.exists("/proc/self/status"):
    peak_mb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
print(json.dumps({"found": int(found), "head": names[:50].tolist(), "seconds": seconds, "peak_mb": peak_mb}))
"""


def hostile(exported, max_mb: int = 2048, **call) -> dict:
    """The raw sampler's answer to `call` (seed SEED and temperature 1 unless given), from a
    child process that must finish within 120 s and max_mb of memory."""
    call = {"seed": SEED, "temperature": 1.0} | call
    done = subprocess.run([sys.executable, "-c", HOSTILE, str(exported.sampler), json.dumps(call)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["peak_mb"] is None or result["peak_mb"] < max_mb, result
    return result


# ------------------------------------------------------------------------ count x max_len


def test_graph_clamps_count_times_max_len(linear, session):
    """count 10**6 at max_len 10**4 once took 6.5 GB and failed; now count is cut to the most
    Python accepts at that max_len (its [count, max_len] int64 tokens: 512 MiB)."""
    max_len = sampling.MAX_LEN
    result = hostile(linear, max_mb=2048, count=10**6, max_len=max_len)
    assert result["found"] == sampling.MAX_CELLS // max_len
    assert result["found"] * max_len <= sampling.MAX_CELLS < (result["found"] + 1) * max_len
    assert result["head"] == session.run(["names"], feeds(50, max_len=max_len))[0].tolist()


# ------------------------------------------------------------------------------ batches


def test_batches_hold_at_most_max_batch_rows():
    assert sampling.MAX_BATCH >= sampling.MAX_COUNT  # an unconstrained call's one batch of count is never cut
    assert sampling.batch_cap(1) == sampling.batch_cap(2) == sampling.MAX_BATCH  # short names: rows, not cells, bound it
    assert sampling.batch_cap(100) == sampling.MAX_CELLS // 100
    assert sampling.batch_cap(100, contains=3) == sampling.MAX_CELLS // 400


def test_distinct_one_character_names_stay_bounded(linear, session):
    """distinct, max_len 1 and a huge budget once took 10.9 GB: every 1-character name is drawn
    within a few candidates, and the rest of the budget is spent drawing repeats."""
    graph = hostile(linear, max_mb=1024, count=30, max_len=1, distinct=True, max_candidates=10**18)
    python = quiet(linear.model.sample, 30, seed=SEED, max_len=1, distinct=True, max_candidates=sampling.MAX_CANDIDATES)
    assert graph["head"] == python == quiet(linear.runtime.sample, 30, seed=SEED, max_len=1, distinct=True,
                                            max_candidates=sampling.MAX_CANDIDATES)
    assert graph["found"] == len(python) == len(linear.runtime.vocab) - 1  # every character once, then the budget ran out


# ------------------------------------------------------------------------------- budget


def test_max_candidates_is_at_most_a_million(linear):
    assert sampling.MAX_CANDIDATES == 1_000_000
    for sample in (linear.model.sample, linear.runtime.sample):
        quiet(sample, 2, suffix="qzxj", max_len=sampling.MAX_LEN, max_candidates=sampling.MAX_CANDIDATES)  # accepted
        with pytest.raises(NamegenError, match=r"^max_candidates must be an integer from 1 to 1,000,000, got 1000001$"):
            sample(2, suffix="a", max_candidates=sampling.MAX_CANDIDATES + 1)


def test_budget_is_bounded_by_the_work_of_its_candidates():
    cost = lambda max_len: sampling.MIN_TOKEN_COST * max_len  # noqa: E731 - a small network without a step form
    assert sampling.Constraints(max_len=100, suffix=(1,)).budget(10, cost(100)) == sampling.MIN_CANDIDATES  # the default, below both bounds
    assert sampling.Constraints(max_len=1000, suffix=(1,)).budget(10, cost(1000)) == 2**22 // 1000  # the work bound
    assert sampling.Constraints(max_len=1000, suffix=(1,), max_candidates=10**6).budget(10, cost(1000)) == 2**22 // 1000
    assert sampling.Constraints(max_len=4, suffix=(1,), max_candidates=10**6).budget(10, cost(4)) == sampling.MAX_CANDIDATES
    assert sampling.Constraints(max_len=1000, suffix=(1,), max_candidates=7).budget(10, cost(1000)) == 7
    # never below count: a call Python accepts (count x max_len within MAX_CELLS) keeps all its names
    assert sampling.Constraints(max_len=100).budget(600_000, cost(100)) == 600_000
    assert sampling.Constraints(max_len=100, suffix=(1,)).budget(600_000, cost(100)) == 600_000


class Stepped(torch.nn.Linear):
    block_size = 10

    def initial_state(self):
        return []

    def step(self, token, state):
        return self(token), state


def test_a_candidate_costs_more_in_a_wider_network_and_past_the_window_of_a_step_form():
    small, wide, stepped = torch.nn.Linear(10, 10), torch.nn.Linear(1000, 1000), Stepped(1000, 1000)  # 110 and 1,001,000 parameters
    assert sampling.candidate_cost(small, 20) == 20 * sampling.MIN_TOKEN_COST
    assert sampling.candidate_cost(wide, 20) == 20 * 1_001_000
    assert sampling.candidate_cost(stepped, 8) == 8 * 1_001_000  # one step a token
    assert sampling.candidate_cost(stepped, 12) == (10 + 2 * 10) * 1_001_000  # then the whole window of 10


def test_budget_clamp_is_the_same_in_torch_and_the_graph(linear, session):
    """At max_len 10,000 a call draws at most 2**22 / 10,000 = 419 candidates, however many it
    is allowed: the answer is the first passing names among exactly those."""
    max_len = sampling.MAX_LEN
    budget = sampling.MAX_CANDIDATE_WORK // sampling.candidate_cost(linear.model.network_, max_len)
    stream = linear.runtime.sample(budget, seed=SEED, max_len=max_len)  # the candidates, in order
    passing = [name for name in stream if name.endswith("a")]
    count = len(passing) + 5  # more than the budget can give
    torch_names = quiet(linear.model.sample, count, seed=SEED, suffix="a", max_len=max_len, max_candidates=sampling.MAX_CANDIDATES)
    assert torch_names == passing
    assert quiet(linear.runtime.sample, count, seed=SEED, suffix="a", max_len=max_len, max_candidates=10**6) == passing
    suffix = [linear.runtime.vocab.encode("a")[0]]
    graph = session.run(["names"], feeds(count, suffix=suffix, max_len=max_len, max_candidates=10**18))[0]
    assert graph.tolist() == passing


def test_unconstrained_call_beyond_the_candidate_cells_keeps_every_name(linear):
    max_len = sampling.MAX_LEN
    count = sampling.MAX_CANDIDATE_WORK // sampling.candidate_cost(linear.model.network_, max_len) + 1  # count x max_len within MAX_CELLS: accepted
    assert len(linear.runtime.sample(count, seed=SEED, max_len=max_len)) == count


def test_contains_with_a_huge_budget_ends_soon(linear):
    """contains of 8 characters with max_candidates 10**18 once ran past 300 s (10**8 candidates):
    now it draws at most 1,000,000 (about 10 s on a loaded 2-core machine)."""
    V = len(linear.runtime.vocab)
    result = hostile(linear, max_mb=2048, count=10, contains=[1 + k % (V - 1) for k in range(8)], max_candidates=10**18)
    assert result["found"] == 0, result  # 8 characters in a row: none of a million candidates holds them


# ---------------------------------------------------------------------------- temperature


def test_graph_clamps_temperature_into_the_accepted_range(linear, session):
    names = lambda temperature: session.run(["names"], feeds(temperature=temperature))[0].tolist()  # noqa: E731
    coldest, hottest = names(sampling.MIN_TEMPERATURE), names(sampling.MAX_TEMPERATURE)
    assert all(coldest) and coldest != hottest
    assert names(0.0) == names(-np.inf) == names(-1.0) == names(-1e-45) == coldest  # 0 gave empty names, -1 an inverted pick
    assert names(np.inf) == hottest
    assert names(np.nan) == names(1.0)
    # the range's ends are accepted by Python and give the same names there
    assert linear.model.sample(20, seed=SEED, temperature=sampling.MIN_TEMPERATURE) == coldest
    assert linear.model.sample(20, seed=SEED, temperature=sampling.MAX_TEMPERATURE) == hottest


def test_python_accepts_exactly_the_clamped_range(linear):
    """check_temperature's range is the graph's clamp: float32's smallest positive to its largest."""
    assert sampling.check_temperature(sampling.MIN_TEMPERATURE) == sampling.MIN_TEMPERATURE == 2.0**-149
    assert sampling.check_temperature(sampling.MAX_TEMPERATURE) == sampling.MAX_TEMPERATURE == float(np.finfo(np.float32).max)
    for outside in (2.0**-151, 3.5e38, 10**400):  # 0 and infinity as a float32
        with pytest.raises(NamegenError, match=r"^temperature must be a positive number at most 3\.4028234663852886e\+38 "
                                               r"\(float32's largest\), got "):
            linear.model.sample(3, temperature=outside)


@pytest.mark.parametrize("temperature", ["1", b"1", True, np.True_, None, [1.0]])
def test_temperature_must_be_a_number(linear, temperature):
    for sample in (linear.model.sample, linear.model.sample_tokens, linear.runtime.sample, linear.runtime.sample_tokens):
        with pytest.raises(NamegenError, match=r"^temperature must be a number, got "):
            sample(3, seed=1, temperature=temperature)


def test_numpy_and_integer_temperatures_are_numbers(linear):
    expected = linear.model.sample(5, seed=1, temperature=2.0)
    for temperature in (2, np.float32(2), np.float64(2), np.int64(2)):
        assert linear.model.sample(5, seed=1, temperature=temperature) == expected
        assert linear.runtime.sample(5, seed=1, temperature=temperature) == expected


# -------------------------------------------------------------------------------- threads


@pytest.mark.parametrize("threads", [-1, True, False, 1.5, "2", None, 1 << 31])
def test_runtime_threads_must_be_a_thread_count(linear, threads):
    with pytest.raises(NamegenError, match=r"^threads must be an integer from 0 \(onnxruntime's default\) to 2,147,483,647, got "):
        runtime.load(linear.sampler, threads=threads)


def test_runtime_threads_zero_is_onnxruntimes_default(linear):
    assert runtime.load(linear.sampler, threads=0).sample(5, seed=1) == runtime.load(linear.sampler, threads=np.int64(2)).sample(5, seed=1)


# ------------------------------------------------------------------------------- messages


def test_count_messages_name_the_argument(linear):
    for sample in (linear.model.sample, linear.runtime.sample):  # both take it as `n`
        with pytest.raises(NamegenError, match=r"^n must be an integer from 1 to 1,000,000, got 0$"):
            sample(0)


def test_cli_count_and_temperature_messages(tmp_path, linear):
    linear.model.save(tmp_path / "run")
    count, temperature = run_many([(["sample", "run", "-n", "0"], tmp_path), (["sample", "run", "-t", "3.5e38"], tmp_path)])
    assert count.returncode == 2 and count.stdout == ""
    assert count.stderr_lines == ["error: -n/--count must be an integer from 1 to 1,000,000, got 0"]
    assert temperature.returncode == 2 and temperature.stderr_lines == [
        "error: temperature must be a positive number at most 3.4028234663852886e+38 (float32's largest), got 3.5e+38"]


def test_a_networks_own_bounds_are_the_same_in_torch_and_the_graph(fitted, tmp_path, monkeypatch):
    """The candidates a call may draw shrink with the network's parameters, and a wide network's
    batches hold fewer rows: torch and the graph still draw the same names, and batches of
    MIN_BATCH rows change none of them."""
    from namegen.exports import sampler
    from namegen.exports.onnx import export

    model = fitted("transformer")  # the network runs inside the sampler's loop
    monkeypatch.setattr(sampling, "MIN_TOKEN_COST", 1)
    monkeypatch.setattr(sampling, "MAX_CANDIDATE_WORK", sampling.candidate_cost(model.network_, 20) * 300)  # 300 candidates of 20 tokens
    monkeypatch.setattr(sampler, "MAX_NETWORK_BYTES", 1)
    plan = sampler.plan_for(len(model.vocab_), model.block_size)
    assert sampler.network_batch_rows(model, plan, step_form=True) == sampler.BatchRows(sampling.MIN_BATCH, sampling.MIN_BATCH)
    exported = runtime.load(export(model, tmp_path / "bounded.onnx", names=fitted.split.test).sampler)
    torch_names = quiet(model.sample, 200, seed=SEED, suffix="a", max_len=20)
    assert 0 < len(torch_names) < 200  # the budget of 300 candidates ran out
    assert quiet(exported.sample, 200, seed=SEED, suffix="a", max_len=20) == torch_names
    assert exported.sample(300, seed=SEED) == model.sample(300, seed=SEED)  # five batches instead of one
