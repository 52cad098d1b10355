"""The pre-built models that ship in the wheel (namegen/pretrained/) and the npm package
(js/models/): each is a validated export of the current format, described by manifest.json,
loads without torch, and draws exactly the names its manifest promises. The tests iterate over
whatever is shipped (scripts/build_pretrained.py decides that)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import namegen
from namegen import NamegenError, data, runtime, sampling

ROOT = Path(__file__).resolve().parent.parent
JS_MODELS = ROOT / "js" / "models"
MANIFEST = runtime.pretrained_manifest()
SHIPPED = sorted(MANIFEST["models"])
by_model = pytest.mark.parametrize("name", SHIPPED)

# A process in which torch, safetensors and onnx cannot be imported (as in `pip install namegen`).
BLOCK_TRAIN_EXTRA = "import sys\nfor m in ('torch', 'safetensors', 'onnx', 'onnxscript', 'matplotlib'): sys.modules[m] = None\n"
TORCH_FREE = BLOCK_TRAIN_EXTRA + r"""
import json
from namegen import runtime
out = {}
for name in runtime.pretrained():
    promise = runtime.pretrained_manifest()["models"][name]["promise"]
    model = runtime.load_pretrained(name)
    out[name] = {"names": model.sample(promise["count"], seed=promise["seed"], temperature=promise["temperature"]),
                 "log_likelihood": model.log_likelihood(["emma"]).tolist()}
print(json.dumps(out))
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_at_least_one_model_ships():
    assert MANIFEST.get("format") == "namegen-pretrained"
    assert SHIPPED and runtime.pretrained() == SHIPPED


def test_the_folder_holds_exactly_the_manifests_files():
    listed = {file for entry in MANIFEST["models"].values() for file in (entry["sampler"], entry["scorer"])}
    assert {path.name for path in runtime.PRETRAINED_DIR.glob("*.onnx")} == listed


def test_the_npm_copies_are_byte_identical():
    ours = {path.name: path.read_bytes() for path in runtime.PRETRAINED_DIR.iterdir() if path.suffix in (".onnx", ".json")}
    theirs = {path.name: path.read_bytes() for path in JS_MODELS.iterdir() if path.suffix in (".onnx", ".json")}
    assert sorted(theirs) == sorted(ours), "rerun scripts/build_pretrained.py --copy-js"
    for name in ours:
        assert theirs[name] == ours[name], f"js/models/{name} differs from namegen/pretrained/{name}: rerun scripts/build_pretrained.py --copy-js"


@by_model
def test_a_validated_export_of_the_current_format(name):
    entry = MANIFEST["models"][name]
    sampler, scorer = runtime.PRETRAINED_DIR / entry["sampler"], runtime.PRETRAINED_DIR / entry["scorer"]
    assert (sha256(sampler), sha256(scorer)) == (entry["sampler_sha256"], entry["scorer_sha256"])
    assert (sampler.stat().st_size, scorer.stat().st_size) == (entry["sampler_bytes"], entry["scorer_bytes"])
    model = runtime.load_pretrained(name)
    meta = model.metadata
    assert meta["namegen_format"] == "namegen-sampler" and model.scorer.get_modelmeta().custom_metadata_map["namegen_format"] == "namegen-scorer"
    assert int(meta["sampling_rule_version"]) == sampling.SAMPLING_RULE_VERSION == entry["sampling_rule_version"]
    assert meta["plugin"] == entry["plugin"] and meta["export_id"] == entry["export_id"]
    validation = json.loads(meta["validation"])  # what `export` wrote once its self-check passed
    assert validation == entry["validation"]
    assert validation["sampler_names_equal"] == validation["sampler_names"] >= 3000  # the full validation, not the kept export's
    assert validation["scorer_max_abs_diff"] <= validation["scorer_tolerance"]
    assert model.known_names == entry["known_names"] > 0  # novel works


@by_model
def test_fitted_with_the_plugins_defaults_on_the_bundled_data(name):
    entry = MANIFEST["models"][name]
    assert entry["defaults"] is True and entry["hyperparams"] == namegen.create(entry["plugin"]).hyperparams
    assert entry["data"]["sha256"] == data.fingerprint(data.BUNDLED)
    split = data.split_names(data.read_names(data.BUNDLED), entry["split"]["seed"])
    assert [entry["split"][k] for k in ("train", "val", "test")] == [len(split.train), len(split.val), len(split.test)]
    assert 1.0 < entry["test_nll"] < 2.5


@by_model
def test_draws_the_promised_names(name):
    promise = MANIFEST["models"][name]["promise"]
    model = runtime.load_pretrained(name)
    assert len(promise["names"]) == promise["count"] == 10
    assert model.sample(promise["count"], seed=promise["seed"], temperature=promise["temperature"]) == promise["names"]


def test_loads_samples_and_scores_without_torch():
    done = subprocess.run([sys.executable, "-c", TORCH_FREE], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert sorted(result) == SHIPPED
    for name, got in result.items():
        assert got["names"] == MANIFEST["models"][name]["promise"]["names"]
        assert got["log_likelihood"] == pytest.approx(runtime.load_pretrained(name).log_likelihood(["emma"]).tolist())


@pytest.mark.parametrize("bad", ["no-such-model", "", "../ngram", 3, None])
def test_an_unknown_name_lists_the_known_ones(bad):
    with pytest.raises(NamegenError, match="unknown pre-built model") as info:
        runtime.load_pretrained(bad)
    assert all(name in str(info.value) for name in SHIPPED)


def test_a_manifest_that_does_not_match_its_files_is_refused(tmp_path, monkeypatch):
    name = SHIPPED[0]
    entry = MANIFEST["models"][name]
    for file in (entry["sampler"], entry["scorer"]):
        (tmp_path / file).write_bytes((runtime.PRETRAINED_DIR / file).read_bytes())
    (tmp_path / runtime.PRETRAINED_MANIFEST).write_text(json.dumps({"models": {name: {**entry, "export_id": "0" * 32}}}))
    monkeypatch.setattr(runtime, "PRETRAINED_DIR", tmp_path)
    with pytest.raises(NamegenError, match="not the export the pre-built models' manifest describes"):
        runtime.load_pretrained(name)
    (tmp_path / runtime.PRETRAINED_MANIFEST).write_text("{not json")
    with pytest.raises(NamegenError, match="manifest .* is unreadable"):
        runtime.pretrained()
