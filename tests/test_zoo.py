"""`namegen zoo`, the leaderboard. One quick zoo over five plugins (the built-ins
and the test plugins) on a small file, checked as a person would check it: against
`namegen evaluate` of the saved runs, a recomputation of the samples, the export files, and the
Markdown table beside the CSV. Then the errors, each refused before anything is written."""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
from pathlib import Path

import pytest
from _cli import assert_one_error, run_many, run_real

import namegen
from namegen import runtime
from namegen.data import read_names, split_names
from namegen.zoo import COLUMNS

pytestmark = pytest.mark.slow  # command-line runs, fits and exports of their own

PLUGINS_DIR = Path(__file__).parent / "plugins"
PLUGINS = ["counts", "linear", "ngram", "tiny-mlp", "tiny-conv"]
HEADER = ["plugin", "parameters", "fit_seconds", "peak_memory_mb", "train_nll", "val_nll", "test_nll", "test_perplexity",
          "onnx_kb", "onnx_names_per_s_1", "onnx_names_per_s_1000", "torch_names_per_s_1", "torch_names_per_s_1000",
          "novel", "distinct"]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory, bundled_names):
    root = tmp_path_factory.mktemp("zoo")
    names = bundled_names[::40]
    # One test name with a character no training or validation name has: the zoo must leave it
    # out of the test NLL as `fit` and `evaluate` do.
    test_index = split_names(list(range(len(names))), seed=42).test[0]
    names[test_index] = "zo\u00eb"
    data = root / "names.txt"
    data.write_text("\n".join(names) + "\n", encoding="utf-8")
    out = root / "zoo"
    result = run_real(["zoo", "--quick", "--data", data, "--plugins", ",".join(PLUGINS), "--plugins-dir", PLUGINS_DIR,
                       "--out", out, "--time-limit", "10m"], root)
    assert result.returncode == 0, result.stderr
    evaluations = dict(zip(PLUGINS, run_many([(["evaluate", out / "runs" / p, "--plugins-dir", PLUGINS_DIR], root) for p in PLUGINS])))
    with open(out / "leaderboard.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = {row["plugin"]: row for row in reader}
        header = reader.fieldnames
    return {"root": root, "data": data, "out": out, "result": result, "evaluations": evaluations, "rows": rows,
            "header": header, "split": split_names(read_names(data), 42)}


def test_the_csv_has_one_row_per_plugin_best_first(zoo):
    assert zoo["header"] == HEADER
    assert sorted(zoo["rows"]) == sorted(PLUGINS)
    with open(zoo["out"] / "leaderboard.csv", newline="", encoding="utf-8") as f:
        order = [row["test_nll"] for row in csv.DictReader(f)]
    assert [float(x) for x in order] == sorted(float(x) for x in order)
    for row in zoo["rows"].values():
        assert all(row[key] != "" for key in HEADER), row  # every figure measured (peak memory too, on Linux)


@pytest.mark.parametrize("plugin", PLUGINS)
def test_nlls_are_what_evaluate_prints(zoo, plugin):
    evaluation = zoo["evaluations"][plugin]
    assert evaluation.returncode == 0, evaluation.stderr
    printed = {line.split("\t")[0]: line.split("\t") for line in evaluation.stdout.splitlines()[1:]}
    row = zoo["rows"][plugin]
    for split in ("train", "val", "test"):
        assert float(row[f"{split}_nll"]) == pytest.approx(float(printed[split][2]), abs=1e-4)
    assert float(row["test_perplexity"]) == pytest.approx(math.exp(float(row["test_nll"])), rel=1e-4)
    assert int(printed["test"][1]) == len(zoo["split"].test) - 1  # zoë left out, as evaluate leaves it out


@pytest.mark.parametrize("plugin", PLUGINS)
def test_the_run_is_the_plugins_quick_fit_with_the_time_limit(zoo, plugin):
    model = namegen.load(zoo["out"] / "runs" / plugin)
    row = zoo["rows"][plugin]
    assert int(row["parameters"]) == sum(t.numel() for t in model.network_.state_dict().values())
    assert float(row["fit_seconds"]) == pytest.approx(model.training_["fit_seconds"], abs=1e-3)
    for key, value in namegen.registry.get(plugin).test_hyperparams.items():
        assert model.hyperparams[key] == value
    if "time_limit" in model.hyperparams:  # trained by the shared trainer: --time-limit passed through
        assert 500 < model.hyperparams["time_limit"] <= 600 - 30  # what training had: 10m less the reserve and the start-up
    # Each fit ran in a process of its own: Python and torch alone take over 50 MB.
    assert 50 < float(row["peak_memory_mb"]) < 16_000


@pytest.mark.parametrize("plugin", PLUGINS)
def test_novel_and_distinct_shares_recompute(zoo, plugin):
    names = namegen.load(zoo["out"] / "runs" / plugin).sample(1000, seed=0)
    split = zoo["split"]
    known = {*split.train, *split.val, *split.test}  # novel: no name of the data, whichever split
    row = zoo["rows"][plugin]
    assert float(row["novel"]) == pytest.approx(sum(n not in known for n in names) / 1000, abs=1e-9)
    assert float(row["distinct"]) == pytest.approx(len(set(names)) / 1000, abs=1e-9)


@pytest.mark.parametrize("plugin", PLUGINS)
def test_the_export_is_the_runs_and_its_size_is_reported(zoo, plugin):
    sampler = zoo["out"] / "exports" / f"{plugin}.onnx"
    assert sampler.is_file() and runtime.scorer_path(sampler).is_file()
    kept = zoo["out"] / "runs" / plugin / "model.onnx"  # the export the fit kept, not a second one
    assert sampler.read_bytes() == kept.read_bytes()
    assert runtime.scorer_path(sampler).read_bytes() == runtime.scorer_path(kept).read_bytes()
    row = zoo["rows"][plugin]
    assert float(row["onnx_kb"]) == pytest.approx(sampler.stat().st_size / 1024, abs=0.05)
    model = namegen.load(zoo["out"] / "runs" / plugin)
    assert runtime.load(sampler).sample(20, seed=5) == model.sample(20, seed=5)
    for key in HEADER[9:13]:
        assert float(row[key]) > 0


def markdown_rows(text: str) -> dict[str, dict[str, str]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    titles = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [dict(zip(titles, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[2:]]
    return {row["plugin"]: row for row in rows}


def test_the_markdown_table_holds_the_same_numbers_and_is_printed(zoo):
    text = (zoo["out"] / "leaderboard.md").read_text(encoding="utf-8")
    assert zoo["result"].stdout == text
    table = markdown_rows(text)
    assert sorted(table) == sorted(PLUGINS)
    for plugin, row in zoo["rows"].items():
        for column in COLUMNS[1:]:
            shown = table[plugin][column.title]
            value = float(shown.replace(",", "").rstrip("%")) / (100 if shown.endswith("%") else 1)
            decimals = len(shown.rstrip("%").partition(".")[2]) + (2 if shown.endswith("%") else 0)
            assert value == pytest.approx(float(row[column.key]), abs=0.51 * 10 ** -decimals), (plugin, column.key, shown)
    assert re.search(r"\b1 left out of the test NLL", text), text  # zoë


def test_the_leaderboard_names_its_data_and_settings(zoo):
    text = (zoo["out"] / "leaderboard.md").read_text(encoding="utf-8")
    split = zoo["split"]
    for fragment in (str(zoo["data"]), f"{len(split.train):,} train", "seed 42", "test_hyperparams (--quick)", "time limit 600 s"):
        assert fragment in text




def test_errors_are_one_line_and_write_nothing(tmp_path, bundled_names):
    data = tmp_path / "names.txt"
    data.write_text("\n".join(bundled_names[::200]) + "\n", encoding="utf-8")
    (tmp_path / "a-file").write_text("not a folder\n")
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("mine\n")
    immutable = tmp_path / "immutable"
    immutable.mkdir()
    frozen = subprocess.run(["chattr", "+i", str(immutable)], capture_output=True).returncode == 0
    base = ["zoo", "--quick", "--data", data]
    cases = {
        "unknown plugin": (base + ["--plugins", "counts,lineer", "--out", tmp_path / "z1"], ["unknown plugin 'lineer'", "available: "]),
        "no plugin": (base + ["--plugins", " , ", "--out", tmp_path / "z2"], ["--plugins names no plugin"]),
        "missing data": (["zoo", "--data", tmp_path / "missing.txt", "--out", tmp_path / "z3"], ["missing.txt", "does not exist"]),
        "out is a file": (base + ["--plugins", "counts", "--out", tmp_path / "a-file"], ["a-file", "is a file"]),
        "out under a file": (base + ["--plugins", "counts", "--out", tmp_path / "a-file" / "zoo"], ["is a file"]),
        "someone else's folder": (base + ["--plugins", "counts", "--out", tmp_path / "theirs"], ["notes.txt", "choose a new folder"]),
        "bad time limit": (base + ["--time-limit", "soon", "--out", tmp_path / "z4"], ["--time-limit"]),
        **({"unwritable": (base + ["--plugins", "counts", "--out", immutable / "zoo"], ["cannot write into"])} if frozen else {}),
    }
    try:
        results = dict(zip(cases, run_many([(args, tmp_path) for args, _ in cases.values()])))
        assert not any(immutable.iterdir())
    finally:
        if frozen:
            subprocess.run(["chattr", "-i", str(immutable)], check=False)
    for case, (_, fragments) in cases.items():
        assert_one_error(results[case], *fragments)
    for folder in ("z1", "z2", "z3", "z4"):
        assert not (tmp_path / folder).exists()
    assert sorted(p.name for p in (tmp_path / "theirs").iterdir()) == ["notes.txt"]
    assert (tmp_path / "a-file").read_text() == "not a folder\n"
    if not frozen:
        pytest.skip("chattr +i is not available here: the unwritable --out case did not run")


def test_a_failing_fit_stops_the_zoo_without_a_leaderboard(tmp_path, bundled_names):
    data = tmp_path / "names.txt"
    data.write_text("\n".join(bundled_names[::200]) + "\n", encoding="utf-8")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text(
        "import namegen\n"
        "from dataclasses import dataclass\n"
        "@namegen.register('broken')\n"
        "class Broken(namegen.NameModel):\n"
        "    @dataclass\n"
        "    class Config:\n"
        "        pass\n"
        "    def build_network(self, vocab_size, max_len):\n"
        "        raise namegen.NamegenError('this plugin cannot fit')\n")
    result = run_real(["zoo", "--data", data, "--plugins", "counts,broken", "--plugins-dir", plugins, "--out", tmp_path / "zoo"], tmp_path)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors[0] == "error: this plugin cannot fit"  # the child's own error, then the zoo's
    assert "fitting 'broken' failed" in errors[-1] and "no leaderboard was written" in errors[-1]
    assert (tmp_path / "zoo" / "runs" / "counts" / "config.json").is_file()  # what was fitted stays, whole
    assert not list((tmp_path / "zoo").glob("leaderboard*"))
    assert json.loads((tmp_path / "zoo" / "runs" / "counts" / "config.json").read_text())["plugin"] == "counts"


def test_a_run_without_a_kept_export_is_exported_for_the_leaderboard(tmp_path, bundled_names):
    from namegen import runs
    from namegen.zoo import measure

    data = tmp_path / "names.txt"
    data.write_text("\n".join(bundled_names[::100]) + "\n", encoding="utf-8")
    model = runs.fit("counts", str(data), tmp_path / "run", log=lambda line: None)
    for path in (tmp_path / "run" / "model.onnx", runtime.scorer_path(tmp_path / "run" / "model.onnx")):
        path.unlink()  # as a fit whose time limit ran out before its export was kept
    row = measure(tmp_path / "run", tmp_path / "exports" / "counts.onnx", split_names(read_names(data), 42), None)
    exported = runtime.load(tmp_path / "exports" / "counts.onnx")
    assert exported.sample(20, seed=5) == model.sample(20, seed=5)
    assert row["onnx_kb"] == round((tmp_path / "exports" / "counts.onnx").stat().st_size / 1024, 1)


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc (Linux)")
def test_peak_memory_is_the_fits_own_not_the_parents(tmp_path, bundled_names):
    """A forked child inherits its parent's peak in ru_maxrss (Linux carries it across exec), so a
    zoo whose own process grew would report its size for every later plugin."""
    import numpy as np

    from namegen.zoo import fit_in_child

    data = tmp_path / "names.txt"
    data.write_text("\n".join(bundled_names[::100]) + "\n", encoding="utf-8")
    ballast = np.ones(300 * 2**20 // 8)  # 300 MiB, touched: resident in this process
    status = Path("/proc/self/status").read_text()
    ours = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024
    peak = fit_in_child("counts", str(data), tmp_path / "run", 42, {}, None, None)
    del ballast
    assert 50 < peak < ours - 250, (peak, ours)
    assert namegen.load(tmp_path / "run").plugin_name == "counts"
