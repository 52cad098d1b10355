"""namegen.runs, the run workflow behind `namegen fit`, `evaluate`, `export onnx` and the zoo:
a fit records where its names came from and keeps a validated export; the splits and held-out
names are rebuilt from that record; the kept export answers only for the run it was kept for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import namegen
from namegen import NamegenError, runs, runtime
from namegen.data import fingerprint, read_names, split_names

PLUGINS_DIR = Path(__file__).parent / "plugins"


@pytest.fixture(scope="module")
def fitted_run(tmp_path_factory, bundled_names):
    """A counts run fitted by runs.fit on a small file, with the lines it logged."""
    root = tmp_path_factory.mktemp("runs")
    data = root / "names.txt"
    data.write_text("\n".join(bundled_names[::40]) + "\n", encoding="utf-8")
    lines = []
    model = runs.fit("counts", str(data), root / "run", seed=7, log=lines.append)
    return model, root / "run", data, lines


@pytest.fixture
def run_copy(fitted_run, tmp_path):
    shutil.copytree(fitted_run[1], tmp_path / "run")
    return tmp_path / "run"


def test_fit_records_its_data_and_keeps_an_export(fitted_run):
    model, run, data, lines = fitted_run
    training = json.loads((run / "config.json").read_text())["training"]
    assert training["data"] == str(data.resolve()) and training["data_sha256"] == fingerprint(data)
    assert training["split_seed"] == 7 and training["lowercase"] is False
    test = split_names(read_names(data), 7).test
    assert training["test_nll"] == pytest.approx(model.score(model.scorable(test)[0]).nll)
    assert lines[0].startswith("fitting 'counts' on ") and lines[0].endswith(f"from {data}")
    own, why = runs.kept_export(run)
    assert why is None and own is not None and own.validation.passed
    assert own.model.sample(20, seed=3) == model.sample(20, seed=3)
    assert own.sampler == (run / "model.onnx").read_bytes()
    assert own.scorer == runtime.scorer_path(run / "model.onnx").read_bytes()


def test_the_recorded_splits_are_the_fits(fitted_run):
    model, run, data, _ = fitted_run
    split = split_names(read_names(data), 7)
    assert runs.recorded_splits(run, model.training_) == {"train": split.train, "val": split.val, "test": split.test}
    assert runs.held_out_names(model) == split.test


def test_with_val_data_there_is_no_test_split(tmp_path, bundled_names):
    (tmp_path / "train.txt").write_text("\n".join(bundled_names[:300:2]) + "\n", encoding="utf-8")
    (tmp_path / "val.txt").write_text("\n".join(bundled_names[1:300:2]) + "\n", encoding="utf-8")
    model = runs.fit("counts", str(tmp_path / "train.txt"), tmp_path / "run", val_data=tmp_path / "val.txt", log=lambda line: None)
    splits = runs.recorded_splits(tmp_path / "run", model.training_)
    assert splits == {"train": bundled_names[:300:2], "val": bundled_names[1:300:2]}
    assert runs.held_out_names(model) == bundled_names[1:300:2]
    assert "test_nll" not in model.training_


def test_changed_or_missing_data_is_refused(fitted_run, tmp_path):
    model, run, data, _ = fitted_run
    info = dict(model.training_, data=str(tmp_path / "names.txt"))
    (tmp_path / "names.txt").write_text(data.read_text(encoding="utf-8") + "zed\n", encoding="utf-8")
    with pytest.raises(NamegenError, match="changed since"):
        runs.recorded_names(run, info, "data")
    (tmp_path / "names.txt").unlink()
    with pytest.raises(NamegenError, match="is gone"):
        runs.recorded_splits(run, info)
    with pytest.raises(NamegenError, match="does not record its training data"):
        runs.recorded_splits(run, {})
    model_elsewhere = namegen.create("counts").fit(["emma", "olivia"])
    model_elsewhere.training_.update(info)
    assert runs.held_out_names(model_elsewhere) is None


def test_score_split_leaves_out_names_it_cannot_score(fitted_run):
    model = fitted_run[0]
    lines = []
    score, excluded = runs.score_split(model, "test", ["emma", "zo\u00eb", "noah"], lines.append)
    assert excluded == 1 and score.names == 2
    assert score.nll == pytest.approx(model.score(["emma", "noah"]).nll)
    assert lines == ["test: 1 of 3 names hold characters the model never saw ('\u00eb', e.g. 'zo\u00eb'); they are left out of the test NLL"]
    with pytest.raises(NamegenError, match="no test name can be scored"):
        runs.score_split(model, "test", ["\u00eb\u00eb"], lines.append)


def test_evaluate_scores_each_non_empty_split(fitted_run):
    model = fitted_run[0]
    scores = runs.evaluate(model, {"train": ["emma"], "val": [], "test": ["noah", "zo\u00eb"]}, log=lambda line: None)
    assert list(scores) == ["train", "test"] and scores["test"].names == 1
    floored = runs.evaluate(model, {"test": ["noah", "zo\u00eb"]}, unseen_floor=1e-4)
    assert floored["test"].names == 2


def test_load_gives_the_saved_model_with_a_plugins_dir(tmp_path, bundled_names, fitted_run):
    model, run = fitted_run[:2]
    assert runs.load(run).sample(10, seed=1) == model.sample(10, seed=1)
    (tmp_path / "names.txt").write_text("\n".join(bundled_names[::60]) + "\n", encoding="utf-8")
    tiny = runs.fit("tiny-mlp", str(tmp_path / "names.txt"), tmp_path / "tiny", params=namegen.registry.get("tiny-mlp").test_hyperparams,
                    log=lambda line: None)
    assert runs.load(tmp_path / "tiny", PLUGINS_DIR).sample(10, seed=1) == tiny.sample(10, seed=1)


def test_export_copies_the_kept_export(run_copy, tmp_path):
    validation = runs.export(run_copy, tmp_path / "out" / "x.onnx", log=pytest.fail)
    assert (tmp_path / "out" / "x.onnx").read_bytes() == (run_copy / "model.onnx").read_bytes()
    assert runtime.scorer_path(tmp_path / "out" / "x.onnx").read_bytes() == runtime.scorer_path(run_copy / "model.onnx").read_bytes()
    assert validation == runs.kept_export(run_copy)[0].validation


def test_export_without_known_names_is_built_and_leaves_the_kept_one(run_copy, tmp_path):
    kept = (run_copy / "model.onnx").read_bytes()
    validation = runs.export(run_copy, tmp_path / "private.onnx", training_names=False, log=pytest.fail)
    assert validation.passed and (tmp_path / "private.onnx").read_bytes() != kept
    assert (run_copy / "model.onnx").read_bytes() == kept


def test_an_altered_kept_export_is_not_used_and_export_replaces_it(run_copy, tmp_path):
    runtime.scorer_path(run_copy / "model.onnx").write_bytes(b"not an export")
    own, why = runs.kept_export(run_copy)
    assert own is None and why == "model.onnx or model.scorer.onnx changed since it was kept"
    lines = []
    runs.export(run_copy, tmp_path / "x.onnx", log=lines.append)
    assert lines == [f"kept this export in {run_copy} too, for sample and score (the one kept there could not answer: {why})"]
    assert runs.kept_export(run_copy)[1] is None and (run_copy / "model.onnx").read_bytes() == (tmp_path / "x.onnx").read_bytes()


def test_keep_export_says_whether_it_kept(fitted_run, run_copy):
    model = fitted_run[0]
    assert runs.keep_export(model, run_copy, []) is True
    namegen.create("counts", alpha=0.1).fit(["xavier", "yvonne"]).save(run_copy)  # another save meanwhile
    lines = []
    assert runs.keep_export(model, run_copy, [], log=lines.append) is False
    assert "another save replaced its model" in lines[0]
    assert runs.kept_export(run_copy) == (None, None)
