"""The torch-free install: `pip install <repo>` without extras gives namegen.runtime, the
pre-built models and the command's `sample` and `score` of those, with numpy, onnxruntime and
typer only. Built for real in a fresh venv (pip fetches them from the package index, or its
cache), so the pre-built models are checked as the wheel carries them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # command-line runs, fits and exports of their own

ROOT = Path(__file__).resolve().parent.parent

APP = textwrap.dedent("""
    import importlib.util, json, sys
    from namegen import runtime
    model = runtime.load(sys.argv[1])
    names = model.sample(50, seed=3, temperature=0.9, prefix="a", distinct=True)
    scores = model.log_likelihood(["emma", "ava"]).tolist()
    missing = [m for m in ("torch", "onnx", "safetensors") if importlib.util.find_spec(m) is None]
    print(json.dumps({"names": names, "scores": scores, "missing": missing, "loaded": sorted(m for m in ("torch", "onnx") if m in sys.modules)}))
""")


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("runtime-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"pip install of the runtime failed:\n{done.stderr[-3000:]}"
    return venv


def test_runtime_alone_loads_samples_and_scores(runtime_venv, onnx_export):
    exported = onnx_export("linear")
    done = subprocess.run([str(runtime_venv / "bin" / "python"), "-c", APP, str(exported.sampler)],
                          capture_output=True, text=True, timeout=120, cwd=runtime_venv.parent)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["missing"] == ["torch", "onnx", "safetensors"]  # none of them is installed
    assert result["loaded"] == []
    assert result["names"] == exported.model.sample(50, seed=3, temperature=0.9, prefix="a", distinct=True)
    assert result["scores"] == pytest.approx(exported.model.log_likelihood(["emma", "ava"]).tolist(), abs=1e-4)


def test_command_line_samples_and_scores_exports_and_pre_built_models(runtime_venv, onnx_export):
    from namegen import runtime

    namegen = str(runtime_venv / "bin" / "namegen")
    run = lambda *args: subprocess.run([namegen, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=runtime_venv.parent)  # noqa: E731
    for name, entry in runtime.pretrained_manifest()["models"].items():  # the files as the wheel installed them
        done = run("sample", name, "--format", "json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == entry["promise"]["names"]
    exported = onnx_export("linear")
    done = run("score", exported.sampler, "emma", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["log_likelihood"] == pytest.approx(float(exported.model.log_likelihood(["emma"])[0]), abs=1e-4)


def test_other_commands_say_they_need_the_train_extra(runtime_venv):
    done = subprocess.run([str(runtime_venv / "bin" / "namegen"), "fit", "--plugin", "linear", "--out", "never"],
                          capture_output=True, text=True, timeout=60, cwd=runtime_venv.parent)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: namegen fit needs the train extra (torch is not installed): pip install 'namegen[train]'; "
        "sample and score of an ONNX export or a pre-built model work without it"]
    assert not (runtime_venv.parent / "never").exists()
