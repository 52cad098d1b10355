"""The snappy command line: `plugins` and `--help` without importing a plugin, and `sample`,
`score` and `export onnx` through the run's own ONNX export (kept by `fit`), without torch,
giving what the torch model gives; a run whose export is stale falls back to torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import namegen
from namegen import registry, runtime
from tests._cli import run_many

# Runs the command line in a fresh interpreter and reports whether torch got imported.
DRIVER = """
import atexit, sys
atexit.register(lambda: print("TORCH" if "torch" in sys.modules else "NO TORCH", file=sys.stderr))
sys.argv = ["namegen", *sys.argv[1:]]
from namegen.entry import main
main()
"""


def run_cold(args: list, cwd: Path) -> tuple[int, str, str, bool]:
    done = subprocess.run([sys.executable, "-c", DRIVER, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)
    *errors, last = done.stderr.strip().splitlines() or [""]
    return done.returncode, done.stdout, "\n".join(errors), last == "TORCH"


def test_stored_listing_is_the_builtins():
    """namegen/plugins/_listing.tsv is what importing the built-ins gives (rewrite it with
    `python -m namegen.registry` after changing a built-in's defaults or docstring)."""
    assert registry.BUILTIN_LISTING.read_text(encoding="utf-8") == registry.builtin_listing()


@pytest.fixture(scope="module")
def fitted_run(tmp_path_factory, bundled_names):
    root = tmp_path_factory.mktemp("fast")
    (root / "names.txt").write_text("\n".join(bundled_names[::10]) + "\n", encoding="utf-8")
    (result,) = run_many([(["fit", "--plugin", "linear", "--data", "names.txt", "--out", "run"], root)])
    assert result.returncode == 0, result.stderr
    return root


def test_fit_keeps_a_validated_export_of_the_run(fitted_run):
    config = json.loads((fitted_run / "run" / "config.json").read_text())
    exported = runtime.load(fitted_run / "run" / "model.onnx")
    assert exported.metadata["run_weights_sha256"] == config["weights_sha256"]
    assert json.loads(exported.metadata["validation"])["sampler_names_equal"] > 0


@pytest.mark.parametrize("args", [
    ["plugins"], ["--help"], ["sample", "--help"],
    ["sample", "run", "-n", "30", "--seed", "4", "--prefix", "a", "--distinct", "--novel"],
    ["score", "run", "emma", "noah"],
    ["export", "onnx", "run", "--out", "copied.onnx"],
])
def test_commands_that_need_no_torch(fitted_run, args):
    code, out, err, torch_imported = run_cold(args, fitted_run)
    assert code == 0, err
    assert not torch_imported, f"namegen {' '.join(args)} imported torch"


def test_answers_through_the_export_equal_torchs(fitted_run):
    model = namegen.load(fitted_run / "run")
    code, out, err, _ = run_cold(["sample", "run", "-n", "30", "--seed", "4", "--prefix", "a", "--distinct", "--novel"], fitted_run)
    assert out.splitlines() == model.sample(30, seed=4, prefix="a", distinct=True, novel=True)
    code, out, err, _ = run_cold(["score", "run", "emma", "noah"], fitted_run)
    for line, ll in zip(out.splitlines()[1:], model.log_likelihood(["emma", "noah"])):
        assert float(line.split("\t")[1]) == pytest.approx(ll, abs=1e-4)
    code, out, err, _ = run_cold(["export", "onnx", "run", "--out", "copied.onnx"], fitted_run)
    # the kept export's validation, copied with it: 3 x 200 names and 100 under rule 2 (fit checks fewer than export's 3,300)
    assert err.startswith("validated: scorer max |Δ log p|") and "700/700 names equal" in err
    copied = runtime.load(fitted_run / "copied.onnx")
    assert copied.sample(200, seed=9) == model.sample(200, seed=9)
    assert copied.log_likelihood(["emma"]) == pytest.approx(model.log_likelihood(["emma"]), abs=1e-4)


def test_a_stale_export_is_never_used(fitted_run, tmp_path):
    """A run saved again (new weights) keeps its old model.onnx until the next fit: the CLI must
    then answer with the new weights, through torch."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(fitted_run / "run", run)
    other = namegen.create("counts", alpha=5.0).fit(namegen.load(run).training_names_[:300])
    other.save(run)
    code, out, err, torch_imported = run_cold(["sample", run, "-n", "20", "--seed", "1"], tmp_path)
    assert code == 0 and torch_imported
    assert out.splitlines() == other.sample(20, seed=1)


def test_unseen_characters_in_score_still_say_what_to_do(fitted_run):
    code, out, err, _ = run_cold(["score", "run", "zoë"], fitted_run)
    assert code == 2 and out == "" and "--unseen-floor" in err
