"""`namegen sample` and `namegen score` of an ONNX export file and of a pre-built model, in a
process where torch, safetensors and onnx cannot be imported (as in `pip install namegen`),
their --format options, and the one-line errors of the commands that need the train extra."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from namegen import runtime
from tests._cli import Result, assert_one_error

pytestmark = pytest.mark.slow  # command-line runs, fits and exports of their own

# The console script's entry point with the train extra's modules made unimportable.
DRIVER = r"""
import sys
for m in ("torch", "safetensors", "onnx", "onnxscript", "matplotlib"):
    sys.modules[m] = None  # `import torch` now raises ModuleNotFoundError, as where it is not installed
sys.argv = ["namegen", *sys.argv[1:]]
from namegen.entry import main
main()
"""
PREBUILT = runtime.pretrained()[0]  # whichever ships first: the tests need one
CONSTRAINED = ["-n", "12", "--seed", "5", "-t", "0.9", "--prefix", "a", "--suffix", "a", "--contains", "l", "--min-len", "4",
               "--max-len", "12", "--novel", "--distinct", "--max-candidates", "50000"]
CONSTRAINTS = dict(seed=5, temperature=0.9, prefix="a", suffix="a", contains="l", min_len=4, max_len=12, novel=True, distinct=True,
                   max_candidates=50_000)


def torch_free(args: list, cwd: Path) -> Result:
    done = subprocess.run([sys.executable, "-c", DRIVER, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)
    return Result(tuple(map(str, args)), done.returncode, done.stdout, done.stderr)


def ok(result: Result) -> str:
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def export(onnx_export):
    return onnx_export("linear")


def test_sample_a_pre_built_model_with_every_constraint(tmp_path):
    out = ok(torch_free(["sample", PREBUILT, *CONSTRAINED, "--format", "json"], tmp_path))
    assert json.loads(out) == runtime.load_pretrained(PREBUILT).sample(12, **CONSTRAINTS)
    assert out.count("\n") == 1  # one JSON array


def test_exclude_names_and_an_exclude_file(tmp_path):
    """--exclude (repeated) and --exclude-file add up to one list: the names runtime.sample excludes."""
    plain = runtime.load_pretrained(PREBUILT).sample(8, seed=2)
    (tmp_path / "block.txt").write_text("\n".join(plain[2:4]) + "\n")
    args = ["sample", PREBUILT, "-n", "8", "--seed", "2", "--exclude", plain[0], "--exclude", plain[1], "--exclude-file", "block.txt"]
    names = ok(torch_free(args, tmp_path)).splitlines()
    assert names == runtime.load_pretrained(PREBUILT).sample(8, seed=2, exclude=plain[:4])
    assert not set(names) & set(plain[:4]) and names != plain


def test_sample_an_export_file(export, tmp_path):
    out = ok(torch_free(["sample", export.sampler, "-n", "30", "--seed", "9", "--format", "jsonl"], tmp_path))
    assert [json.loads(line) for line in out.splitlines()] == export.model.sample(30, seed=9)
    out = ok(torch_free(["sample", export.sampler, *CONSTRAINED], tmp_path))
    assert out.splitlines() == export.runtime.sample(12, **CONSTRAINTS)


def test_score_in_each_format(export, tmp_path):
    names = ["emma", "noah", "ava"]
    expected = export.model.log_likelihood(names)
    rows = json.loads(ok(torch_free(["score", export.sampler, *names, "--format", "json"], tmp_path)))
    lines = [json.loads(line) for line in ok(torch_free(["score", PREBUILT, *names, "--format", "jsonl"], tmp_path)).splitlines()]
    text = ok(torch_free(["score", PREBUILT, *names], tmp_path)).splitlines()
    assert [row["name"] for row in rows] == [row["name"] for row in lines] == names
    assert [row["log_likelihood"] for row in rows] == pytest.approx(expected.tolist(), abs=1e-4)
    prebuilt = runtime.load_pretrained(PREBUILT).log_likelihood(names).tolist()
    assert [row["log_likelihood"] for row in lines] == pytest.approx(prebuilt, abs=1e-6)
    for row in rows + lines:
        assert set(row) == {"name", "log_likelihood", "nll_per_char", "perplexity"}
        assert row["nll_per_char"] == pytest.approx(-row["log_likelihood"] / (len(row["name"]) + 1))
        assert row["perplexity"] == pytest.approx(math.exp(row["nll_per_char"]))
    assert text[0] == "name\tlog_likelihood\tnll_per_char\tperplexity"
    assert [float(line.split("\t")[1]) for line in text[1:]] == pytest.approx(prebuilt, abs=1e-4)


def test_a_folder_or_file_of_that_name_wins_over_the_pre_built_model(export, tmp_path):
    shutil.copy(export.sampler, tmp_path / PREBUILT)
    shutil.copy(export.scorer, tmp_path / f"{PREBUILT}.scorer.onnx")
    assert ok(torch_free(["sample", PREBUILT], tmp_path)).splitlines() == export.model.sample(10)
    (tmp_path / PREBUILT).unlink()
    (tmp_path / PREBUILT).mkdir()
    assert_one_error(torch_free(["sample", PREBUILT], tmp_path), "holds no namegen model")


def test_commands_that_need_torch_say_to_install_the_train_extra(fitted, tmp_path):
    fitted("counts").save(tmp_path / "run")  # saved without a kept export: only torch can answer
    assert_one_error(torch_free(["fit", "--plugin", "linear", "--out", "fresh"], tmp_path),
                     "namegen fit needs the train extra (torch is not installed): pip install 'namegen[train]'")
    assert not (tmp_path / "fresh").exists()
    assert_one_error(torch_free(["evaluate", "run"], tmp_path), "namegen evaluate needs the train extra")
    assert_one_error(torch_free(["sample", "run"], tmp_path), "run keeps no ONNX export that can answer",
                     "needs the train extra", "pip install 'namegen[train]'")
    assert_one_error(torch_free(["score", "run", "emma"], tmp_path), "needs the train extra")


def test_bad_targets_and_options_are_one_line_errors(export, tmp_path):
    known = ", ".join(runtime.pretrained())
    assert_one_error(torch_free(["sample", "no-such-model"], tmp_path), "'no-such-model' does not exist",
                     f"pre-built models: {known}")
    assert_one_error(torch_free(["score", export.scorer, "emma"], tmp_path), "is a 'namegen-scorer', not a 'namegen-sampler'")
    assert_one_error(torch_free(["score", PREBUILT, "emma", "--unseen-floor", "1e-6"], tmp_path), "--unseen-floor needs a run folder")
    assert_one_error(torch_free(["score", PREBUILT, "zo\u00eb"], tmp_path), "'\u00eb'", "not in the model's vocabulary")
    assert_one_error(torch_free(["sample", PREBUILT, "--prefix", "\u00e9"], tmp_path), "prefix")
    assert_one_error(torch_free(["sample", PREBUILT, "-n", "0"], tmp_path), "-n/--count")
    (tmp_path / "noise.onnx").write_bytes(b"not an onnx file")
    assert_one_error(torch_free(["sample", "noise.onnx"], tmp_path), "not a loadable ONNX model")
    usage = torch_free(["sample", PREBUILT, "--format", "xml"], tmp_path)  # typer's usage error
    assert usage.returncode == 2 and usage.stdout == "" and "Traceback" not in usage.stderr and "xml" in usage.stderr


def test_help_names_the_targets_and_formats(tmp_path):
    for command in ("sample", "score"):
        out = ok(torch_free([command, "--help"], tmp_path))
        assert "TARGET" in out and "pre-built" in out and PREBUILT in out and "--format" in out and "jsonl" in out
