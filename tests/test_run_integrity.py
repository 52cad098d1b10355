"""A run answers as one model whichever way it is read: the export `fit` keeps in the run is used
only for the weights it was made from and the config.json it was kept with, unaltered (else the
CLI answers through torch, and `export onnx` replaces it), and the CLI's torch-free path and
`namegen.load` accept and refuse the same config.json, field by field, including fields that
contradict the weights."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from _cli import assert_one_error, run_many
from onnx import numpy_helper

import namegen
from namegen import NamegenError, runs, runtime
from namegen.exports.onnx import export

pytestmark = pytest.mark.slow  # command-line runs, fits and exports of their own

NAMES = ["emma", "olivia", "ava", "mia", "luna", "ella", "mila", "aria", "lily", "nora", "zoe", "leah", "anna", "eva", "ivy"]

# The command line in a fresh interpreter, reporting whether torch got imported (the kept export
# answers without it).
DRIVER = """
import atexit, sys
atexit.register(lambda: print("TORCH" if "torch" in sys.modules else "NO TORCH", file=sys.stderr))
sys.argv = ["namegen", *sys.argv[1:]]
from namegen.entry import main
main()
"""


def run_cold(args: list, cwd: Path) -> tuple[subprocess.CompletedProcess, bool]:
    done = subprocess.run([sys.executable, "-c", DRIVER, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)
    *lines, last = done.stderr.strip().splitlines() or [""]
    done.stderr = "\n".join(lines)
    return done, last == "TORCH"




def read_config(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())


def write_config(run: Path, config: dict) -> None:
    (run / "config.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def kept(tmp_path_factory, bundled_names):
    """A linear run fitted by the CLI, so with the export `fit` keeps."""
    root = tmp_path_factory.mktemp("kept")
    (root / "names.txt").write_text("\n".join(bundled_names[::20]) + "\n", encoding="utf-8")
    (result,) = run_many([(["fit", "--plugin", "linear", "-P", "steps=50", "--data", "names.txt", "--out", "run"], root)])
    assert result.returncode == 0, result.stderr
    assert "kept_export" in read_config(root / "run")
    return root / "run"


@pytest.fixture
def run(kept, tmp_path):
    shutil.copytree(kept, tmp_path / "run")
    return tmp_path / "run"


@pytest.fixture(scope="module")
def other():
    return namegen.create("counts", alpha=0.1).fit(["xavier", "yvonne", "zack", "xena"])


def imposter(model, run: Path, where: Path) -> Path:
    """An export of `model` dressed as `run`'s: tagged with the run's weights, as a kept one is."""
    sampler, _ = export(model, where / "imposter.onnx", metadata={"run_weights_sha256": read_config(run)["weights_sha256"]})
    return sampler


# ---- the kept export belongs to the weights it was made from -------------------------------------------------


def test_an_export_built_before_another_save_is_not_kept(tmp_path, other, capsys):
    """Two fits into one folder: the first saves, the second saves, then the first's export is
    ready. It must not be kept for the second fit's weights."""
    run = tmp_path / "run"
    first = namegen.create("linear", steps=30).fit(NAMES)
    first.save(run)
    other.save(run)
    runs.keep_export(first, run, [])
    assert "another save replaced its model" in capsys.readouterr().err
    assert "kept_export" not in read_config(run) and not (run / "model.onnx").exists()
    (result,) = run_many([(["sample", run, "-n", "20", "--seed", "3"], tmp_path)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == other.sample(20, seed=3) == namegen.load(run).sample(20, seed=3)


def test_a_save_after_the_export_was_kept_retires_it(tmp_path, other):
    run = tmp_path / "run"
    first = namegen.create("linear", steps=30).fit(NAMES)
    first.save(run)
    runs.keep_export(first, run, [])
    assert "kept_export" in read_config(run)
    other.save(run)
    (result,) = run_many([(["sample", run, "-n", "20", "--seed", "3"], tmp_path)])
    assert result.stdout.splitlines() == other.sample(20, seed=3)
    assert "note:" not in result.stderr  # a run saved again simply has no kept export


def test_two_concurrent_fits_into_one_folder_answer_as_one_model(tmp_path, bundled_names):
    (tmp_path / "names.txt").write_text("\n".join(bundled_names[::80]) + "\n", encoding="utf-8")
    fits = run_many([(["fit", "--plugin", "ngram", "-P", "order=3", "--data", "names.txt", "--out", "run"], tmp_path),
                     (["fit", "--plugin", "counts", "--data", "names.txt", "--out", "run"], tmp_path)])
    for fit in fits:
        assert fit.returncode == 0, fit.stderr
    loaded = namegen.load(tmp_path / "run")
    (sample, score) = run_many([(["sample", "run", "-n", "30", "--seed", "5"], tmp_path), (["score", "run", "emma", "noah"], tmp_path)])
    assert sample.stdout.splitlines() == loaded.sample(30, seed=5)
    for line, ll in zip(score.stdout.splitlines()[1:], loaded.log_likelihood(["emma", "noah"])):
        assert float(line.split("\t")[1]) == pytest.approx(ll, abs=1e-4)


# ---- an altered or mixed kept export is never used -------------------------------------------------------------


def test_a_kept_export_replaced_by_another_models_is_not_used(run, other, tmp_path):
    sampler = imposter(other, run, tmp_path)
    shutil.copy(sampler, run / "model.onnx")
    shutil.copy(runtime.scorer_path(sampler), runtime.scorer_path(run / "model.onnx"))
    model = namegen.load(run)
    sample, score, copied = run_many([(["sample", run, "-n", "20", "--seed", "2"], tmp_path), (["score", run, "emma"], tmp_path),
                                      (["export", "onnx", run, "--out", tmp_path / "copy.onnx"], tmp_path)])
    assert sample.stdout.splitlines() == model.sample(20, seed=2)
    assert "note: not using the ONNX export kept" in sample.stderr
    assert float(score.stdout.splitlines()[1].split("\t")[1]) == pytest.approx(model.log_likelihood(["emma"])[0], abs=1e-4)
    assert copied.returncode == 0, copied.stderr
    assert runtime.load(tmp_path / "copy.onnx").sample(50, seed=1) == model.sample(50, seed=1)


def largest_float_initializer(proto: onnx.ModelProto):
    tensors = [t for t in proto.graph.initializer if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE)]
    return max(tensors, key=lambda t: np.prod(t.dims))


def test_one_value_changed_in_the_kept_sampler_sends_the_cli_to_torch(run, tmp_path):
    proto = onnx.load(str(run / "model.onnx"))
    tensor = largest_float_initializer(proto)
    values = numpy_helper.to_array(tensor).copy()
    values.flat[np.argmax(values)] -= 20.0  # the likeliest next character after some context, now unlikely
    tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
    onnx.save(proto, str(run / "model.onnx"))
    model = namegen.load(run)
    sample, torch_imported = run_cold(["sample", run, "-n", "200", "--seed", "4"], tmp_path)
    assert sample.returncode == 0 and torch_imported, sample.stderr
    assert sample.stdout.splitlines() == model.sample(200, seed=4)
    assert "model.onnx or model.scorer.onnx changed" in sample.stderr
    copied, _ = run_cold(["export", "onnx", run, "--out", tmp_path / "copy.onnx"], tmp_path)
    assert copied.returncode == 0, copied.stderr
    assert runtime.load(tmp_path / "copy.onnx").sample(200, seed=4) == model.sample(200, seed=4)


def test_a_swapped_scorer_falls_back_to_torch_and_export_onnx_repairs_the_run(run, other, tmp_path):
    shutil.copy(runtime.scorer_path(imposter(other, run, tmp_path)), runtime.scorer_path(run / "model.onnx"))
    model = namegen.load(run)
    (score,) = run_many([(["score", run, "emma", "noah"], tmp_path)])
    assert score.returncode == 0, score.stderr
    for line, ll in zip(score.stdout.splitlines()[1:], model.log_likelihood(["emma", "noah"])):
        assert float(line.split("\t")[1]) == pytest.approx(ll, abs=1e-4)
    (repair,) = run_many([(["export", "onnx", run, "--out", tmp_path / "fresh.onnx"], tmp_path)])
    assert repair.returncode == 0 and f"kept this export in {run} too" in repair.stderr, repair.stderr
    score, torch_imported = run_cold(["score", run, "emma", "noah"], tmp_path)
    assert score.returncode == 0 and not torch_imported and score.stderr == "", score.stderr
    for line, ll in zip(score.stdout.splitlines()[1:], model.log_likelihood(["emma", "noah"])):
        assert float(line.split("\t")[1]) == pytest.approx(ll, abs=1e-4)
    kept = runtime.load(run / "model.onnx")
    assert kept.sample(100, seed=8) == model.sample(100, seed=8)


def test_export_onnx_repairs_a_run_saved_again_since_fit(run, other, tmp_path):
    other.save(run)  # model.onnx is the previous model's now
    (repair,) = run_many([(["export", "onnx", run, "--out", tmp_path / "x.onnx"], tmp_path)])
    assert repair.returncode == 0, repair.stderr
    sample, torch_imported = run_cold(["sample", run, "-n", "20", "--seed", "6"], tmp_path)
    assert not torch_imported and sample.stdout.splitlines() == other.sample(20, seed=6)


# ---- both load paths check config.json the same way ---------------------------------------------------------------


def history(**columns) -> dict:
    return {"step": [1, 2], "seconds": [0.1, 0.2], "train_nll": [2.5, None], "val_nll": [2.6, 2.4], "lr": [0.1, 0.1], **columns}


def test_the_history_columns_checked_are_the_trainers():
    from namegen import checkpoint, train

    assert checkpoint.HISTORY_COLUMNS == train.HISTORY_COLUMNS


EDITS = {
    "vocab empty": (lambda c: c.update(vocab=""), "vocab"),
    "vocab control character": (lambda c: c.update(vocab=c["vocab"] + "\x07"), "vocab"),
    "plugin unknown": (lambda c: c.update(plugin="nosuch"), "nosuch"),
    "plugin empty": (lambda c: c.update(plugin=""), "plugin"),
    "hyperparameter type": (lambda c: c["hyperparams"].update(l2="heavy"), "l2"),
    "hyperparameter unknown": (lambda c: c["hyperparams"].update(depth=3), "depth"),
    "format_version negative": (lambda c: c.update(format_version=-1), "format_version"),
    "format_version zero": (lambda c: c.update(format_version=0), "format_version"),
    "format_version missing": (lambda c: c.pop("format_version"), "format_version"),
    "block_size zero": (lambda c: c.update(block_size=0), "block_size"),
    "block_size text": (lambda c: c.update(block_size="1"), "block_size"),
    "block_size wrong": (lambda c: c.update(block_size=2), "block_size is 2 but the network reads 1"),
    "history text": (lambda c: c["training"].update(history="bad"), "training.history"),
    "history uneven": (lambda c: c["training"].update(history=history(lr=[0.1])), "training.history"),
    "history text values": (lambda c: c["training"].update(history=history(step=["1", "2"])), "training.history"),
    "history column missing": (lambda c: c["training"].update(history={k: v for k, v in history().items() if k != "lr"}), "training.history"),
    "split seed text": (lambda c: c["training"].update(split_seed="42"), "training.split_seed"),
    "kept_export damaged": (lambda c: c.update(kept_export={"sampler_sha256": "x"}), "kept_export"),
}


def test_a_hand_edited_config_is_the_same_error_both_ways(kept, tmp_path):
    """sample, score and export onnx (the kept export's way) refuse what namegen.load refuses, with its message."""
    errors, cases = {}, []
    for label, (edit, fragment) in EDITS.items():
        run = tmp_path / label.replace(" ", "-")
        shutil.copytree(kept, run)
        config = read_config(run)
        edit(config)
        write_config(run, config)
        with pytest.raises(NamegenError) as raised:
            namegen.load(run)
        assert fragment in str(raised.value), label
        errors[label] = str(raised.value).split("; available")[0]  # the test process has more plugins than the CLI
        cases += [(["sample", run, "-n", "3"], tmp_path), (["score", run, "emma"], tmp_path),
                  (["export", "onnx", run, "--out", run.with_suffix(".onnx")], tmp_path)]
    results = iter(run_many(cases))
    for label, (_, fragment) in EDITS.items():
        for result in (next(results), next(results), next(results)):
            assert assert_one_error(result, fragment).startswith(f"error: {errors[label]}"), label
    assert not list(tmp_path.glob("*.onnx"))


def test_a_deeply_nested_config_is_a_damaged_config(run, tmp_path):
    (run / "config.json").write_text("[" * 100_000)
    with pytest.raises(NamegenError, match="damaged"):
        namegen.load(run)
    for result in run_many([(["sample", run, "-n", "3"], tmp_path), (["score", run, "emma"], tmp_path),
                            (["evaluate", run], tmp_path), (["plot", "curves", run, "--out", tmp_path / "c.png"], tmp_path)]):
        assert_one_error(result, "config.json is damaged")


def test_deeply_nested_export_metadata_is_damaged_metadata(tmp_path, other):
    sampler, _ = export(other, tmp_path / "m.onnx")
    proto = onnx.load(str(sampler))
    onnx.helper.set_model_props(proto, {**{p.key: p.value for p in proto.metadata_props}, "vocab": "[" * 100_000})
    onnx.save(proto, str(sampler))
    with pytest.raises(NamegenError, match="vocab is not a valid vocabulary"):
        runtime.load(sampler)


def test_an_edited_max_len_is_obeyed_both_ways(run, tmp_path):
    config = read_config(run)
    config["max_len"] = 3
    write_config(run, config)
    model = namegen.load(run)
    (sample,) = run_many([(["sample", run, "-n", "50", "--seed", "1"], tmp_path)])
    assert sample.returncode == 0, sample.stderr
    assert sample.stdout.splitlines() == model.sample(50, seed=1)
    assert max(map(len, sample.stdout.splitlines())) <= 3
    assert "config.json changed since the export was kept" in sample.stderr


# ---- a config that contradicts the weights ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    run = tmp_path_factory.mktemp("mixed") / "run"
    namegen.create("mlp", block_size=3, steps=20, eval_every=10, hidden=8, embed=4, ngram_mix=6).fit(NAMES, NAMES[:4]).save(run)
    return run


@pytest.mark.parametrize("order", [5, 7, 2])
def test_an_edited_ngram_mix_contradicts_the_weights(mixed, tmp_path, order):
    run = tmp_path / "run"
    shutil.copytree(mixed, run)
    config = read_config(run)
    config["hyperparams"]["ngram_mix"] = order
    write_config(run, config)
    with pytest.raises(NamegenError, match=f"config.json contradicts its weights: ngram_mix is {order} but the weights hold a 6-gram"):
        namegen.load(run)
    (result,) = run_many([(["sample", run, "-n", "3"], tmp_path)])
    assert_one_error(result, f"ngram_mix is {order} but the weights hold a 6-gram")


@pytest.mark.parametrize("order, stored", [(6, 5), (4, 5)])
def test_an_edited_ngram_order_contradicts_the_weights(tmp_path, order, stored):
    run = tmp_path / "run"
    namegen.create("ngram", order=stored).fit(NAMES).save(run)
    config = read_config(run)
    config["hyperparams"]["order"] = order
    write_config(run, config)
    with pytest.raises(NamegenError, match=f"order is {order} but the weights hold a {stored}-gram"):
        namegen.load(run)


def test_an_ngram_of_short_names_still_loads(tmp_path):
    """Names shorter than the order leave the longest contexts empty: the trie is a lower
    order's, and that is no contradiction."""
    model = namegen.create("ngram", order=6).fit(["ab", "ba", "a", "b"])
    model.save(tmp_path / "run")
    assert namegen.load(tmp_path / "run").sample(20, seed=1) == model.sample(20, seed=1)
