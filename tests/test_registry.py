"""The plugin registry (built-ins, entry points, a local folder) and hyper-parameters."""

import sys
from dataclasses import dataclass

import pytest
import torch
from _cli import run_many

import namegen
from namegen import registry


@pytest.fixture
def clean_registry(monkeypatch):
    """Let a test register plugins freely: the registry is restored afterwards."""
    monkeypatch.setattr(registry, "_plugins", dict(registry._plugins))
    monkeypatch.setattr(registry, "_discovered", registry._discovered)
    return registry


class _Net(torch.nn.Module):
    block_size = 1

    def __init__(self, vocab_size):
        super().__init__()
        self.table = torch.nn.Parameter(torch.zeros(vocab_size, vocab_size))

    def forward(self, context):
        return self.table[context[:, -1]]


def test_available_lists_builtins_and_test_plugin():
    names = namegen.available()
    assert {"counts", "linear", "tiny-mlp"} <= set(names)
    assert names == sorted(names)


def test_available_filters_with_a_pattern():
    assert namegen.available("lin*") == ["linear"]
    assert namegen.available("c?unts") == ["counts"]
    assert namegen.available("no-such-*") == []


def test_unknown_plugin_lists_the_available_ones():
    with pytest.raises(namegen.NamegenError) as info:
        namegen.create("lineer")
    message = str(info.value)
    assert "lineer" in message
    for name in ("counts", "linear", "tiny-mlp"):
        assert name in message


def test_unknown_hyperparameter_names_it_and_lists_the_valid_ones():
    with pytest.raises(namegen.NamegenError) as info:
        namegen.create("linear", foo=1)
    message = str(info.value)
    assert "'foo'" in message
    for valid in ("l2", "steps", "lr"):
        assert valid in message


def test_string_hyperparameters_are_coerced():
    model = namegen.create("linear", l2="0.5", steps="7")
    assert model.config.l2 == 0.5 and isinstance(model.config.l2, float)
    assert model.config.steps == 7 and isinstance(model.config.steps, int)
    assert namegen.create("counts", alpha="0.25").config.alpha == 0.25
    assert namegen.create("tiny-mlp", hidden="8").config.hidden == 8
    # an int is fine where a float is wanted
    assert namegen.create("linear", l2=1).config.l2 == 1.0


@pytest.mark.parametrize(
    "hyperparams",
    [{"l2": "abc"}, {"steps": "many"}, {"steps": 1.5}, {"steps": "2.5"}, {"l2": True}, {"l2": None}, {"steps": [3]}],
)
def test_wrong_hyperparameter_types_are_rejected(hyperparams):
    (key,) = hyperparams
    with pytest.raises(namegen.NamegenError, match=key):
        namegen.create("linear", **hyperparams)


def test_hyperparameter_values_are_validated():
    with pytest.raises(namegen.NamegenError):
        namegen.create("linear", l2=-1)
    with pytest.raises(namegen.NamegenError):
        namegen.create("linear", steps=0)


def test_two_plugins_claiming_one_name_is_an_error(clean_registry):
    class FirstClaimant(namegen.NameModel):
        @dataclass
        class Config:
            pass

    class SecondClaimant(namegen.NameModel):
        @dataclass
        class Config:
            pass

    namegen.register("test-duplicate-name")(FirstClaimant)
    with pytest.raises(namegen.NamegenError) as info:
        namegen.register("test-duplicate-name")(SecondClaimant)
    message = str(info.value)
    assert "FirstClaimant" in message and "SecondClaimant" in message
    assert registry.get("test-duplicate-name") is FirstClaimant  # the first claim stands


def test_register_rejects_a_class_that_is_not_a_name_model(clean_registry):
    with pytest.raises(TypeError):
        namegen.register("test-not-a-model")(dict)
    assert "test-not-a-model" not in namegen.available()


def test_a_registered_plugin_is_created_and_fitted_by_the_shared_layer(clean_registry):
    @namegen.register("test-inline")
    class Inline(namegen.NameModel):
        @dataclass
        class Config(namegen.TrainConfig):
            steps: int = 20
            eval_every: int = 10

        def build_network(self, vocab_size, max_len):
            return _Net(vocab_size)

    assert "test-inline" in namegen.available()
    model = namegen.create("test-inline", steps=5).fit(["ab", "ba", "abba"])
    assert isinstance(model, Inline) and model.plugin_name == "test-inline"
    assert model.config.steps == 5
    assert len(model.sample(3, seed=1)) == 3


FAKE_EP_MODULE = '''
from dataclasses import dataclass

import torch

import namegen


class FakeNet(torch.nn.Module):
    block_size = 1

    def __init__(self, vocab_size):
        super().__init__()
        self.table = torch.nn.Parameter(torch.zeros(vocab_size, vocab_size))

    def forward(self, context):
        return self.table[context[:, -1]]


class FakePlugin(namegen.NameModel):
    """Fake plugin installed through an entry point (not decorated)."""

    @dataclass
    class Config:
        width: int = 3

    def build_network(self, vocab_size, max_len):
        return FakeNet(vocab_size)

    def fit_network(self, train, val, progress):
        return {"method": "none"}
'''


def test_entry_point_plugins_are_discovered(tmp_path, monkeypatch, clean_registry):
    (tmp_path / "fake_ep_plugin.py").write_text(FAKE_EP_MODULE)
    info = tmp_path / "fake_ep_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-ep-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[namegen.plugins]\nfake-ep = fake_ep_plugin:FakePlugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fake_ep_plugin", raising=False)
    assert "fake-ep" not in namegen.available()  # not discovered yet: discovery already ran
    registry._discovered = False  # restored by clean_registry

    try:
        assert "fake-ep" in namegen.available()
        assert {"counts", "linear", "tiny-mlp"} <= set(namegen.available())  # nothing lost
        model = namegen.create("fake-ep", width="5")
        assert type(model).__name__ == "FakePlugin" and type(model).__module__ == "fake_ep_plugin"
        assert model.plugin_name == "fake-ep" and model.config.width == 5
        model.fit(["ab", "abc"])
        assert all(set(name) <= set("abc") for name in model.sample(5, seed=3))
    finally:
        sys.modules.pop("fake_ep_plugin", None)


def test_a_broken_entry_point_warns_and_spares_the_others(tmp_path, monkeypatch, clean_registry, capsys):
    info = tmp_path / "broken_ep_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-ep-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[namegen.plugins]\nbroken-ep = no_such_module_for_namegen:Thing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry._discovered = False
    names = namegen.available()
    assert "broken-ep" not in names and {"counts", "linear"} <= set(names)
    assert "broken-ep" in capsys.readouterr().err


DIR_PLUGIN = '''
from dataclasses import dataclass

import torch

import namegen


class Net(torch.nn.Module):
    block_size = 2

    def __init__(self, vocab_size):
        super().__init__()
        self.table = torch.nn.Parameter(torch.zeros(vocab_size, vocab_size))

    def forward(self, context):
        return self.table[context[:, -1]]


@namegen.register("from-plugins-dir")
class FromDir(namegen.NameModel):
    """A plugin loaded from a --plugins-dir folder."""

    @dataclass
    class Config:
        pass

    def build_network(self, vocab_size, max_len):
        return Net(vocab_size)
'''


@pytest.fixture(scope="module")
def plugins_dir_runs(tmp_path_factory):
    """`namegen plugins` with a good plugins folder, with none, and with a broken one."""
    root = tmp_path_factory.mktemp("plugins-dir")
    good, broken = root / "myplugins", root / "broken"
    good.mkdir()
    broken.mkdir()
    (good / "from_dir.py").write_text(DIR_PLUGIN)
    (broken / "bad_plugin.py").write_text("import namegen\nraise RuntimeError('this plugin is broken')\n")
    with_dir, plain, with_broken = run_many([
        (["plugins", "--plugins-dir", good], root),
        (["plugins"], root),
        (["plugins", "--plugins-dir", broken], root),
    ])
    return with_dir, plain, with_broken


def test_plugins_dir_from_the_cli(plugins_dir_runs):
    result, plain, _ = plugins_dir_runs
    assert result.returncode == 0, result.stderr
    listed = {line.split("\t")[0]: line for line in result.stdout.splitlines()}
    assert {"counts", "linear", "from-plugins-dir"} <= set(listed)
    assert "loaded from a --plugins-dir folder" in listed["from-plugins-dir"]
    # without the folder the plugin is not there
    assert plain.returncode == 0 and "from-plugins-dir" not in plain.stdout
    assert {"counts", "linear"} <= {line.split("\t")[0] for line in plain.stdout.splitlines()}


def test_plugins_dir_with_a_broken_file_is_a_one_line_error(plugins_dir_runs):
    result = plugins_dir_runs[2]
    assert result.returncode == 2
    assert len(result.stderr_lines) == 1 and result.stderr_lines[0].startswith("error:")
    assert "bad_plugin.py" in result.stderr and "this plugin is broken" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_load_plugins_dir_in_process(tmp_path, clean_registry):
    (tmp_path / "another.py").write_text(DIR_PLUGIN.replace("from-plugins-dir", "test-dir-inprocess"))
    try:
        assert namegen.load_plugins_dir(tmp_path) == ["test-dir-inprocess"]
        assert "test-dir-inprocess" in namegen.available()
    finally:
        sys.modules.pop("namegen_local_plugins.another", None)
    with pytest.raises(namegen.NamegenError, match="does not exist"):
        namegen.load_plugins_dir(tmp_path / "nowhere")


def test_plugin_file_import_error_is_a_namegen_error(tmp_path, clean_registry):
    (tmp_path / "syntax_error.py").write_text("def broken(:\n")
    with pytest.raises(namegen.NamegenError, match="syntax_error.py"):
        namegen.load_plugins_dir(tmp_path)
    assert "namegen_local_plugins.syntax_error" not in sys.modules  # a fixed file can be retried

