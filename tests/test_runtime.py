"""namegen.runtime (numpy + onnxruntime, no torch) on exports of every plugin, bad input to it,
and `namegen export onnx` on the command line.

Plugins come from the registry (conftest loads tests/plugins); each is fitted and exported once
per session by conftest's `onnx_export` fixture.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import namegen
from namegen import NamegenError, runtime, sampling

PLUGINS = namegen.available()
by_plugin = pytest.mark.parametrize("plugin", PLUGINS)
PLUGINS_DIR = Path(__file__).parent / "plugins"
CLI = [sys.executable, "-c", "from namegen.cli import main; main()"]
LL_TOL = 1e-4


def held_out(fitted, model) -> list[str]:
    names = [n for n in fitted.split.test if all(c in model.vocab_.index for c in n)]
    assert len(names) >= 0.9 * len(fitted.split.test)
    return names


# ---- (c) scorer log-likelihoods -----------------------------------------------------------------------


@by_plugin
def test_log_likelihood_matches_torch(plugin, onnx_export, fitted, record_property):
    exported = onnx_export(plugin)
    names = held_out(fitted, exported.model)
    ours = exported.runtime.log_likelihood(names)
    theirs = exported.model.log_likelihood(names)
    assert ours.shape == (len(names),) and ours.dtype == np.float32
    assert np.isfinite(ours).all() and (ours < 0).all()
    diff = float(np.abs(ours.astype(np.float64) - theirs).max())
    print(f"[{plugin}] max |log_likelihood_onnx - log_likelihood_torch| over {len(names)} held-out names = {diff:.3g}")
    record_property(f"max_abs_diff [{plugin}] runtime log_likelihood, {len(names)} held-out names", diff)
    assert diff <= LL_TOL, f"[{plugin}] scorer log-likelihoods differ from torch's by up to {diff:.3g} > {LL_TOL}"

    # One name at a time scores as it does in a batch padded to a longer name.
    for name in names[:5]:
        assert abs(float(exported.runtime.log_likelihood([name])[0]) - float(theirs[names.index(name)])) <= LL_TOL


@by_plugin
def test_log_likelihood_of_sampled_names(plugin, onnx_export):
    """Names the sampler draws (including long ones and, maybe, empty ones) score as in torch."""
    exported = onnx_export(plugin)
    names = [n for n in exported.runtime.sample(300, seed=21, temperature=2.0) if n]
    diff = np.abs(exported.runtime.log_likelihood(names).astype(np.float64) - exported.model.log_likelihood(names)).max()
    assert diff <= LL_TOL, f"[{plugin}] {diff:.3g}"


@by_plugin
def test_log_likelihood_of_no_names(plugin, onnx_export):
    """torch's NameModel.log_likelihood([]) is an empty array; the runtime should agree."""
    exported = onnx_export(plugin)
    assert exported.model.log_likelihood([]).shape == (0,)
    try:
        result = exported.runtime.log_likelihood([])
    except NamegenError:
        return  # a clear refusal would also do
    except Exception as err:  # noqa: BLE001
        pytest.fail(f"[{plugin}] runtime.log_likelihood([]) raised {type(err).__name__}, not an empty array or a NamegenError: "
                    f"{str(err).splitlines()[0][:300]}", pytrace=False)
    assert np.asarray(result).shape == (0,)


# ---- torch-free ---------------------------------------------------------------------------------------

TORCH_FREE = r"""
import json, sys
from namegen import runtime
model = runtime.load(sys.argv[1])
names = model.sample(10, seed=7, temperature=0.8)
ll = model.log_likelihood([n for n in names if n] or ["a"]).tolist()
print(json.dumps({"torch_imported": "torch" in sys.modules, "names": names, "log_likelihood": ll,
                  "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "namegen"))}))
"""


@by_plugin
def test_runtime_works_without_torch(plugin, onnx_export):
    exported = onnx_export(plugin)
    done = subprocess.run([sys.executable, "-c", TORCH_FREE, str(exported.sampler)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["torch_imported"] is False, f"namegen.runtime imported torch; modules: {result['modules']}"
    expected = exported.model.sample(10, seed=7, temperature=0.8)
    assert result["names"] == expected
    scored = [n for n in expected if n] or ["a"]
    np.testing.assert_allclose(result["log_likelihood"], exported.model.log_likelihood(scored), rtol=0, atol=LL_TOL)


# ---- bad input: a clear NamegenError --------------------------------------------------------------------


def test_load_missing_file(tmp_path):
    with pytest.raises(NamegenError, match="does not exist"):
        runtime.load(tmp_path / "nope.onnx")


def test_load_directory(tmp_path):
    with pytest.raises(NamegenError):
        runtime.load(tmp_path)


def test_load_file_that_is_not_onnx(tmp_path):
    path = tmp_path / "noise.onnx"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(NamegenError, match="not a loadable ONNX model") as info:
        runtime.load(path)
    assert "\n" not in str(info.value)


def test_load_onnx_model_that_is_not_a_namegen_export(tmp_path):
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / "identity.onnx"
    onnx.save(model, path)
    with pytest.raises(NamegenError, match="not a namegen export") as info:
        runtime.load(path)
    assert "vocab" in str(info.value), f"the message should name the missing metadata: {info.value}"


@by_plugin
def test_load_scorer_as_sampler(plugin, onnx_export):
    exported = onnx_export(plugin)
    with pytest.raises(NamegenError, match=runtime.SAMPLER_FORMAT) as info:
        runtime.load(exported.scorer)
    assert runtime.SCORER_FORMAT in str(info.value)


@by_plugin
def test_missing_scorer_is_a_clear_error(plugin, onnx_export, tmp_path):
    exported = onnx_export(plugin)
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(exported.sampler.read_bytes())
    model = runtime.load(lone)
    assert model.sample(3, seed=1) == exported.model.sample(3, seed=1)
    with pytest.raises(NamegenError, match="lone.scorer.onnx"):
        model.log_likelihood(["anna"])


@by_plugin
@pytest.mark.parametrize("count", [0, -1, sampling.MAX_COUNT + 1, 2.5, True, "3", None])
def test_sample_rejects_bad_counts(plugin, onnx_export, count):
    rt = onnx_export(plugin).runtime
    assert rt.max_count == sampling.MAX_COUNT
    with pytest.raises(NamegenError, match="^n must be an integer from 1 to "):
        rt.sample(count)
    with pytest.raises(NamegenError, match="^n must be an integer from 1 to "):
        rt.sample_tokens(count)


@by_plugin
@pytest.mark.parametrize("temperature", [0, -1, float("nan"), float("inf"), -0.0, 1e-50])
def test_sample_rejects_bad_temperatures(plugin, onnx_export, temperature):
    rt = onnx_export(plugin).runtime
    with pytest.raises(NamegenError, match="temperature"):
        rt.sample(5, temperature=temperature)


@by_plugin
def test_log_likelihood_names_the_unseen_character(plugin, onnx_export):
    exported = onnx_export(plugin)
    unseen = next(c for c in "ëß9Z#ø" if c not in exported.model.vocab_.index)
    with pytest.raises(NamegenError, match=repr(unseen)):
        exported.runtime.log_likelihood(["anna", f"zo{unseen}"])
    with pytest.raises(NamegenError, match="not one string"):
        exported.runtime.log_likelihood("anna")


@by_plugin
def test_log_likelihood_rejects_what_torch_rejects(plugin, onnx_export):
    """The torch model refuses empty names, non-strings and the boundary character with a
    NamegenError; the runtime should refuse the same inputs the same way."""
    exported = onnx_export(plugin)
    problems = []
    for bad in ([""], ["anna", 3], ["a.b"]):
        with pytest.raises(NamegenError):
            exported.model.log_likelihood(bad)
        try:
            result = exported.runtime.log_likelihood(bad)
            problems.append(f"log_likelihood({bad!r}) returned {result!r}")
        except NamegenError:
            pass
        except Exception as err:  # noqa: BLE001
            problems.append(f"log_likelihood({bad!r}) raised {type(err).__name__}: {err}")
    assert not problems, f"[{plugin}] runtime accepts or mishandles what torch rejects:\n  " + "\n  ".join(problems)


# ---- the CLI: `namegen export onnx RUN [--out PATH]` ------------------------------------------------------


def run_cli(args: list, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)


def assert_clean_error(done: subprocess.CompletedProcess, *needles: str) -> None:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, f"exit {done.returncode}; stderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), f"want one 'error:' line, got:\n{done.stderr}"
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert done.stdout == ""


@pytest.fixture(scope="module")
def cli_exports(fitted, tmp_path_factory):
    """Every plugin's run saved under runs/, then exported by the CLI twice: with the default
    path (in a fresh working directory) and with --out in a nested folder that does not exist.
    The invocations run two at a time; each is its own process."""
    root = tmp_path_factory.mktemp("cli")
    jobs = {}
    for plugin in PLUGINS:
        run = root / "runs" / f"run-of-{plugin}"
        fitted(plugin).save(run)
        for how, extra in (("default", []), ("out", ["--out", Path("deep") / "er" / f"x-{plugin}.onnx"])):
            cwd = root / f"{how}-{plugin}"
            cwd.mkdir()
            jobs[plugin, how] = (["export", "onnx", run, "--plugins-dir", PLUGINS_DIR, *extra], cwd)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(run_cli, args, cwd) for key, (args, cwd) in jobs.items()}
        return {key: (future.result(), jobs[key][1]) for key, future in futures.items()}


def check_written(done, cwd: Path, expected: Path, model) -> None:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.strip() == str(expected), f"stdout {done.stdout!r}"
    written = sorted(str(p.relative_to(cwd)) for p in cwd.rglob("*") if p.is_file())
    assert written == sorted([str(expected), str(runtime.scorer_path(expected))]), written
    loaded = runtime.load(cwd / expected)
    assert loaded.metadata["plugin"] == model.plugin_name
    for seed, temperature in ((0, 1.0), (42, 0.7)):
        assert loaded.sample(200, seed=seed, temperature=temperature) == model.sample(200, seed=seed, temperature=temperature)
    names = model.sample(20, seed=3)
    names = [n for n in names if n] or ["a"]
    np.testing.assert_allclose(loaded.log_likelihood(names), model.log_likelihood(names), rtol=0, atol=LL_TOL)


@by_plugin
def test_cli_export_default_path(plugin, cli_exports, fitted):
    done, cwd = cli_exports[plugin, "default"]
    check_written(done, cwd, Path("exports") / f"run-of-{plugin}.onnx", fitted(plugin))


@by_plugin
def test_cli_export_out_in_new_nested_folder(plugin, cli_exports, fitted):
    done, cwd = cli_exports[plugin, "out"]
    check_written(done, cwd, Path("deep") / "er" / f"x-{plugin}.onnx", fitted(plugin))


def test_cli_export_of_missing_run(tmp_path):
    done = run_cli(["export", "onnx", "no-such-run"], tmp_path)
    assert_clean_error(done, "no-such-run")
    assert not (tmp_path / "exports").exists()
