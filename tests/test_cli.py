"""The `namegen` command, run as child processes (see _cli.py), and its errors.

All invocations run up front in two batches (fit first, then everything that reads the runs),
so the module pays the torch import only a few times; each test then checks its own results.
"""

import json
import math
import shutil

import pytest
from _cli import run_many, run_real

import namegen
from namegen.data import split_names

pytestmark = pytest.mark.slow  # command-line runs, fits and exports of their own


@pytest.fixture(scope="module")
def world(tmp_path_factory, bundled_names):
    root = tmp_path_factory.mktemp("cli")
    files = {
        "data": "\n".join(bundled_names[::40]) + "\n",
        "val": "\n".join(bundled_names[7::300]) + "\n",
        "other": "emma\nnoah\nava\nliam\n",
        "unseen": "emma\nzo\u00eb\n",
    }
    paths = {}
    for key, text in files.items():
        paths[key] = root / f"{key}.txt"
        paths[key].write_text(text, encoding="utf-8")
    paths["empty"] = root / "empty.txt"
    paths["empty"].write_bytes(b"")
    paths["blank"] = root / "blank.txt"
    paths["blank"].write_bytes(b"  \n\n\t\n")
    paths["latin1"] = root / "latin1.txt"
    paths["latin1"].write_bytes("emma\nzo\u00eb\n".encode("latin-1"))
    (root / "nomodel").mkdir()
    (root / "fresh").mkdir()
    run, run_val = root / "run", root / "run-val"
    data = paths["data"]

    first = {
        "fit": ["fit", "--plugin", "counts", "--data", data, "--out", run],
        "fit_val": ["fit", "--plugin", "counts", "--data", data, "--val-data", paths["val"], "--out", run_val],
        "plugins": ["plugins"],
        "help": ["--help"],
        "help_plugins": ["plugins", "--help"],
        "help_fit": ["fit", "--help"],
        "help_sample": ["sample", "--help"],
        "help_score": ["score", "--help"],
        "help_evaluate": ["evaluate", "--help"],
        "err_missing_data": ["fit", "--plugin", "counts", "--data", root / "missing.txt", "--out", root / "x1"],
        "err_empty_data": ["fit", "--plugin", "counts", "--data", paths["empty"], "--out", root / "x2"],
        "err_blank_data": ["fit", "--plugin", "counts", "--data", paths["blank"], "--out", root / "x3"],
        "err_latin1_data": ["fit", "--plugin", "counts", "--data", paths["latin1"], "--out", root / "x4"],
        "err_unknown_plugin": ["fit", "--plugin", "no-such-plugin", "--data", data, "--out", root / "x5"],
        "err_unknown_param": ["fit", "--plugin", "counts", "--data", data, "-P", "foo=1", "--out", root / "x6"],
        "err_bad_param_value": ["fit", "--plugin", "linear", "--data", data, "-P", "steps=many", "--out", root / "x7"],
        "err_param_syntax": ["fit", "--plugin", "linear", "--data", data, "-P", "steps", "--out", root / "x8"],
        "err_no_run": ["sample", root / "nowhere", "-n", "3"],
        "err_no_model": ["sample", root / "nomodel", "-n", "3"],
    }
    cases = [(args, root) for args in first.values()]
    first["fit_bundled"] = ["fit", "--plugin", "linear"]  # no --data, no --out, in an empty folder
    cases.append((first["fit_bundled"], root / "fresh"))
    results = dict(zip(first, run_many(cases)))

    truncated = root / "run-truncated"
    if run.is_dir():
        shutil.copytree(run, truncated)
        for weights in truncated.glob("weights-*.safetensors"):
            weights.write_bytes(weights.read_bytes()[:-16])
    sample = ["sample", run, "-n", "5", "--seed", "7", "--temperature", "0.8"]
    second = {
        "sample": sample,
        "sample_again": sample,
        "sample_other_seed": ["sample", run, "-n", "5", "--seed", "8", "--temperature", "0.8"],
        "sample_prefix": ["sample", run, "-n", "20", "--prefix", "ma", "--max-len", "6"],
        "score": ["score", run, "emma", "noah"],
        "score_floor": ["score", run, "emma", "zo\u00eb", "--unseen-floor", "1e-6"],
        "evaluate": ["evaluate", run],
        "evaluate_data": ["evaluate", run, "--data", paths["other"]],
        "evaluate_val": ["evaluate", run_val],
        "err_n_zero": ["sample", run, "-n", "0"],
        "err_n_negative": ["sample", run, "-n", "-3"],
        "err_temperature_zero": ["sample", run, "--temperature", "0"],
        "err_temperature_negative": ["sample", run, "--temperature", "-1"],
        "err_truncated": ["sample", truncated, "-n", "3"],
        "err_unseen": ["score", run, "emma", "zo\u00eb"],
        "err_unseen_evaluate": ["evaluate", run, "--data", paths["unseen"]],
        "err_bad_floor": ["score", run, "emma", "--unseen-floor", "2"],
    }
    results.update(zip(second, run_many([(args, root) for args in second.values()])))
    results["real_sample"] = run_real(sample, root)
    return {"root": root, "run": run, "run_val": run_val, "paths": paths, "results": results}


def ok(world, key):
    result = world["results"][key]
    assert result.returncode == 0, f"{result.args}: exit {result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def one_line_error(world, key, *fragments):
    """Exit 2, one `error:` line on stderr, nothing on stdout."""
    result = world["results"][key]
    assert result.returncode == 2, f"{result.args}: exit {result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    lines = result.stderr_lines
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and len(lines[0]) > len("error: ")
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_fit_writes_a_run_and_logs_to_stderr(world, bundled_names):
    result = ok(world, "fit")
    assert result.stdout == ""
    n = len(bundled_names[::40])
    split = split_names(bundled_names[::40], 42)
    assert f"on {len(split.train)} names (val {len(split.val)}, test {len(split.test)})" in result.stderr
    config = json.loads((world["run"] / "config.json").read_text())
    assert config["plugin"] == "counts"
    assert config["training"]["train_names"] == len(split.train) and len(split.train) == int(0.8 * n)
    assert config["training"]["data"] == str(world["paths"]["data"])


def test_fit_with_val_data_uses_all_data_for_training(world, bundled_names):
    result = ok(world, "fit_val")
    names, val = bundled_names[::40], bundled_names[7::300]
    assert f"on {len(names)} names (val {len(val)}, test 0)" in result.stderr
    training = json.loads((world["run_val"] / "config.json").read_text())["training"]
    assert training["train_names"] == len(names) and training["val_names"] == len(val)
    assert training["val_data"] == str(world["paths"]["val"]) and "test_nll" not in training


def test_fit_defaults_to_linear_on_the_bundled_data(world):
    ok(world, "fit_bundled")
    config = json.loads((world["root"] / "fresh" / "runs" / "linear" / "config.json").read_text())
    assert config["plugin"] == "linear" and config["training"]["data"] == "bundled"
    assert config["training"]["train_names"] > 20_000
    assert 2.3 < config["training"]["val_nll"] < 2.7


def test_sample_prints_exactly_the_names(world):
    result = ok(world, "sample")
    assert result.stderr == ""
    lines = result.stdout.split("\n")
    assert lines[-1] == "" and len(lines) == 6  # five names, each ending in a newline
    expected = namegen.load(world["run"]).sample(5, seed=7, temperature=0.8)
    assert lines[:5] == expected
    vocab = set(namegen.load(world["run"]).vocab_.chars[1:])
    assert all(set(name) <= vocab for name in lines[:5])


def test_sample_same_seed_same_names(world):
    first, again, other = ok(world, "sample"), ok(world, "sample_again"), ok(world, "sample_other_seed")
    assert first.stdout == again.stdout
    assert other.stdout != first.stdout


def test_the_installed_console_script_agrees(world):
    real = world["results"]["real_sample"]
    assert real.returncode == 0, real.stderr
    assert real.stdout == ok(world, "sample").stdout


def test_sample_prefix_and_max_len(world):
    names = ok(world, "sample_prefix").stdout.splitlines()
    assert len(names) == 20
    assert all(name.startswith("ma") and len(name) <= 6 for name in names)


def test_score_prints_tsv(world):
    lines = ok(world, "score").stdout.splitlines()
    assert lines[0].split("\t") == ["name", "log_likelihood", "nll_per_char", "perplexity"]
    assert len(lines) == 3
    model = namegen.load(world["run"])
    for line, name, ll in zip(lines[1:], ["emma", "noah"], model.log_likelihood(["emma", "noah"])):
        cells = line.split("\t")
        assert cells[0] == name
        assert float(cells[1]) == pytest.approx(ll, abs=1e-4)
        assert float(cells[2]) == pytest.approx(-ll / (len(name) + 1), abs=1e-4)
        assert float(cells[3]) == pytest.approx(math.exp(-ll / (len(name) + 1)), rel=1e-3)


def test_unseen_floor_scores_an_unseen_character(world):
    lines = ok(world, "score_floor").stdout.splitlines()
    row = lines[2].split("\t")
    assert row[0] == "zo\u00eb" and math.isfinite(float(row[1]))
    # the unseen character costs log(1e-6), so the name scores far below a normal one
    assert float(row[1]) < math.log(1e-6) < float(lines[1].split("\t")[1])


def test_evaluate_prints_the_splits(world, bundled_names):
    lines = ok(world, "evaluate").stdout.splitlines()
    assert lines[0].split("\t") == ["split", "names", "nll_per_char", "perplexity"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert list(rows) == ["train", "val", "test"]
    split = split_names(bundled_names[::40], 42)
    model = namegen.load(world["run"])
    for name in rows:
        names = getattr(split, name)
        assert int(rows[name][1]) == len(names)
        assert float(rows[name][2]) == pytest.approx(model.score(names).nll, abs=1e-4)


def test_evaluate_with_data_and_with_val_data(world):
    lines = ok(world, "evaluate_data").stdout.splitlines()
    assert len(lines) == 2 and lines[1].split("\t")[:2] == ["data", "4"]
    expected = namegen.load(world["run"]).score(["emma", "noah", "ava", "liam"]).nll
    assert float(lines[1].split("\t")[2]) == pytest.approx(expected, abs=1e-4)
    rows = [line.split("\t")[0] for line in ok(world, "evaluate_val").stdout.splitlines()[1:]]
    assert rows == ["train", "val"]


def test_plugins_lists_the_builtins(world):
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in ok(world, "plugins").stdout.splitlines()}
    assert {"counts", "linear"} <= set(rows)
    assert rows["linear"][1] == "l2=0.01, steps=1000, lr=10.0, time_limit=None"  # hyper-parameters with their defaults
    assert rows["counts"][1] == "alpha=1.0"


@pytest.mark.parametrize("command, options", [
    ("", ["fit", "sample", "score", "evaluate", "plugins"]),
    ("plugins", ["--plugins-dir"]),
    ("fit", ["--plugin", "--data", "--val-data", "--out", "--seed", "--param", "--lowercase", "--plugins-dir"]),
    ("sample", ["--count", "--seed", "--temperature", "--max-len", "--prefix"]),
    ("score", ["--unseen-floor", "NAME"]),
    ("evaluate", ["--data", "--unseen-floor", "--lowercase"]),
])
def test_help(world, command, options):
    result = ok(world, f"help_{command}" if command else "help")
    assert "Usage:" in result.stdout
    for option in options:
        assert option in result.stdout


def test_error_missing_data_file(world):
    one_line_error(world, "err_missing_data", "missing.txt", "does not exist")


def test_error_empty_data_file(world):
    one_line_error(world, "err_empty_data", "no names")
    one_line_error(world, "err_blank_data", "no names")


def test_error_non_utf8_data_file(world):
    one_line_error(world, "err_latin1_data", "line 2", "UTF-8")


@pytest.mark.parametrize("key", ["err_n_zero", "err_n_negative"])
def test_error_bad_count(world, key):
    one_line_error(world, key, "-n/--count must be an integer from 1")


@pytest.mark.parametrize("key", ["err_temperature_zero", "err_temperature_negative"])
def test_error_bad_temperature(world, key):
    one_line_error(world, key, "temperature")


def test_error_run_folder_missing(world):
    one_line_error(world, "err_no_run", "nowhere", "does not exist")


def test_error_folder_without_a_model(world):
    one_line_error(world, "err_no_model", "no namegen model")


def test_error_truncated_weights(world):
    one_line_error(world, "err_truncated", "truncated or altered")


def test_error_unknown_plugin(world):
    one_line_error(world, "err_unknown_plugin", "no-such-plugin", "counts", "linear")
    assert not (world["root"] / "x5").exists()


def test_error_unknown_hyperparameter(world):
    one_line_error(world, "err_unknown_param", "'foo'", "alpha")
    one_line_error(world, "err_bad_param_value", "steps", "many")
    one_line_error(world, "err_param_syntax", "KEY=VALUE")


def test_error_unseen_character(world):
    one_line_error(world, "err_unseen", "'\u00eb'")
    one_line_error(world, "err_unseen_evaluate", "'\u00eb'")
    one_line_error(world, "err_bad_floor", "unseen_floor")

