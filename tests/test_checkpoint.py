"""Run folders: config.json plus content-named safetensors weights, atomic, checked at load."""

import json
import shutil
import struct

import numpy as np
import pytest

import namegen
from namegen import checkpoint

NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "liam", "noah", "lucas", "ella"]


@pytest.fixture(scope="module")
def model():
    return namegen.create("linear", l2=0.05, steps=50).fit(NAMES[:10], NAMES[10:])


@pytest.fixture(scope="module")
def other_model():
    return namegen.create("linear", l2=0.5, steps=20).fit(NAMES[2:], NAMES[:2])


@pytest.fixture
def run(model, tmp_path):
    return model.save(tmp_path / "run")


def weights_files(folder):
    return sorted(folder.glob("weights-*.safetensors"))


def test_save_writes_config_and_one_weights_file(model, run):
    assert sorted(p.name for p in run.iterdir()) == ["config.json", weights_files(run)[0].name]
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["plugin"] == "linear"
    assert config["hyperparams"] == {"l2": 0.05, "steps": 50, "lr": 10.0, "time_limit": None}
    assert config["vocab"] == "".join(model.vocab_.chars) and config["vocab"][0] == "."
    assert config["namegen_version"] == namegen.__version__
    assert config["training"]["train_names"] == 10 and config["training"]["val_names"] == 2
    assert config["weights"] == weights_files(run)[0].name
    assert config["max_len"] == model.max_len_ and config["block_size"] == 1


def test_load_reproduces_the_model(model, run):
    loaded = namegen.load(run)
    assert type(loaded) is type(model) and loaded.hyperparams == model.hyperparams
    assert loaded.vocab_ == model.vocab_ and loaded.max_len_ == model.max_len_
    assert loaded.training_ == json.loads(json.dumps(model.training_))
    np.testing.assert_array_equal(loaded.log_likelihood(NAMES), model.log_likelihood(NAMES))
    assert loaded.sample(100, seed=3) == model.sample(100, seed=3)
    assert namegen.load(str(run)).sample(5, seed=1) == model.sample(5, seed=1)


def test_files_hold_no_pickle(run):
    json.loads((run / "config.json").read_text(encoding="utf-8"))  # plain JSON
    (weights,) = weights_files(run)
    raw = weights.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    assert raw[8:9] == b"{" and 8 + header_len <= len(raw)
    header = json.loads(raw[8 : 8 + header_len])
    assert set(header) - {"__metadata__"} == {"weight", "bias", "namegen.known_names"}
    assert all(entry["dtype"] == "F32" for key, entry in header.items() if key not in ("__metadata__", "namegen.known_names"))
    assert header["namegen.known_names"]["dtype"] == "U8"  # the names, UTF-8 bytes: data, not code
    assert b"\x80\x04\x95" not in raw and not raw.startswith(b"PK")  # no pickle, no torch zip


def test_resaving_replaces_the_old_weights(model, other_model, run):
    old = weights_files(run)
    other_model.save(run)
    new = weights_files(run)
    assert len(new) == 1 and new != old
    assert namegen.load(run).sample(50, seed=2) == other_model.sample(50, seed=2)
    # the same model saved again names the same file
    other_model.save(run)
    assert weights_files(run) == new


def test_an_interrupted_save_leaves_the_old_model(model, other_model, run, monkeypatch):
    real_replace = checkpoint.os.replace
    calls = []

    def failing_replace(src, dst):
        calls.append(str(dst))
        if str(dst).endswith("config.json"):
            raise OSError("disk full (simulated)")
        return real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", failing_replace)
    with pytest.raises(namegen.NamegenError, match="cannot write .*config.json.*simulated"):
        other_model.save(run)
    monkeypatch.undo()
    assert len(calls) == 2 and calls[0].endswith(".safetensors")  # weights first, then the switch
    loaded = namegen.load(run)
    assert loaded.hyperparams == model.hyperparams
    assert loaded.sample(100, seed=4) == model.sample(100, seed=4)
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]
    # a later save succeeds and cleans up
    other_model.save(run)
    assert len(weights_files(run)) == 1
    assert namegen.load(run).sample(20, seed=4) == other_model.sample(20, seed=4)


def test_truncated_weights_are_caught(run):
    (weights,) = weights_files(run)
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(namegen.NamegenError, match="truncated or altered"):
        namegen.load(run)


def test_an_altered_byte_is_caught(run):
    (weights,) = weights_files(run)
    raw = bytearray(weights.read_bytes())
    raw[-3] ^= 0x01
    weights.write_bytes(bytes(raw))
    with pytest.raises(namegen.NamegenError, match="truncated or altered"):
        namegen.load(run)


def test_missing_weights_file_is_caught(run):
    weights_files(run)[0].unlink()
    with pytest.raises(namegen.NamegenError, match="weights"):
        namegen.load(run)


@pytest.mark.parametrize("damage", [
    lambda text: text[: len(text) // 2],  # cut short
    lambda text: "",  # emptied
    lambda text: "[1, 2]",  # JSON, not a config
    lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "vocab"}),  # a key gone
    lambda text: json.dumps({**json.loads(text), "format": "other"}),
])
def test_damaged_config_is_caught(run, damage):
    config = run / "config.json"
    config.write_text(damage(config.read_text(encoding="utf-8")))
    with pytest.raises(namegen.NamegenError, match="config.json"):
        namegen.load(run)


def test_binary_garbage_config_is_caught(run):
    (run / "config.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(namegen.NamegenError, match="damaged"):
        namegen.load(run)


def test_config_from_a_newer_format_is_caught(run):
    config = json.loads((run / "config.json").read_text())
    config["format_version"] = 99
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(namegen.NamegenError, match="newer"):
        namegen.load(run)


def test_folder_without_config_is_caught(run, tmp_path):
    (run / "config.json").unlink()
    with pytest.raises(namegen.NamegenError, match="no namegen model"):
        namegen.load(run)
    (tmp_path / "empty").mkdir()
    with pytest.raises(namegen.NamegenError, match="no namegen model"):
        namegen.load(tmp_path / "empty")


def test_missing_folder_is_caught(tmp_path):
    with pytest.raises(namegen.NamegenError, match="does not exist"):
        namegen.load(tmp_path / "nowhere")


def test_unknown_plugin_in_config_lists_the_available_ones(run):
    config = json.loads((run / "config.json").read_text())
    config["plugin"] = "retired-plugin"
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(namegen.NamegenError) as info:
        namegen.load(run)
    message = str(info.value)
    assert "retired-plugin" in message and "counts" in message and "linear" in message


def test_weights_of_another_shape_are_caught(run, tmp_path):
    small = namegen.create("linear", steps=5).fit(["ab", "ba"]).save(tmp_path / "small")
    config = json.loads((run / "config.json").read_text())
    (weights,) = weights_files(small)
    small_config = json.loads((small / "config.json").read_text())
    shutil.copy(weights, run / weights.name)
    config.update(weights=weights.name, weights_sha256=small_config["weights_sha256"])
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(namegen.NamegenError, match="does not fit"):
        namegen.load(run)


def test_saving_an_unfitted_model_is_an_error(tmp_path):
    with pytest.raises(namegen.NamegenError, match="not fitted"):
        namegen.create("counts").save(tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_the_model_gives_and_takes_its_state(model):
    state = model.to_state()
    assert json.loads(json.dumps({k: v for k, v in state.items() if k != "known_names"})) == {
        "plugin": "linear", "hyperparams": model.hyperparams, "vocab": "".join(model.vocab_.chars), "block_size": 1,
        "max_len": model.max_len_, "training": json.loads(json.dumps(model.training_))}
    assert state["known_names"] == model.known_names_
    rebuilt = type(model).from_state(state)
    with pytest.raises(namegen.NamegenError, match="not fitted"):  # until its network is filled
        rebuilt.sample(1)
    assert rebuilt.load_tensors(model.tensors()) is rebuilt
    assert rebuilt.to_state() == state
    assert rebuilt.sample(50, seed=5, novel=True) == model.sample(50, seed=5, novel=True)
    state["training"]["train_names"] = -1  # the state is the caller's own copy
    assert model.training_["train_names"] == 10 and rebuilt.training_["train_names"] == 10


def test_checkpoint_only_serialises():
    """checkpoint.py reaches the model only through its public state methods: no `_` attribute of
    anything, and no attribute of the model set but the sha256 of the weights it saved or loaded."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(checkpoint.__file__).read_text(encoding="utf-8"))
    private = sorted({node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr.startswith("_")})
    assert private == []
    set_on_model = {target.attr for node in ast.walk(tree) if isinstance(node, ast.Assign) for target in node.targets
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "model"}
    assert set_on_model == {"weights_sha256_"}
