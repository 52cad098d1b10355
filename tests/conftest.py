"""Shared fixtures. The test-only plugins in tests/plugins are loaded the way users load a
local folder (namegen.load_plugins_dir), so every registry-parametrised test covers them."""

from pathlib import Path

import pytest
import torch

import namegen
import namegen.registry
from namegen.data import read_names

HERE = Path(__file__).parent
namegen.load_plugins_dir(HERE / "plugins")

# One torch thread in the test process: the suite runs CLI children beside it, and torch's
# OpenMP threads spin-wait when another process holds a core (10-50x slower, measured).
torch.set_num_threads(1)

SHARED_NAMES = HERE.parent.parent / "shared" / "data" / "names.txt"
SMALL_NAMES = [
    "emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail",
    "emily", "ella", "elizabeth", "camila", "luna", "sofia", "avery", "mila", "aria", "scarlett",
    "liam", "noah", "william", "james", "oliver", "benjamin", "elijah", "lucas", "mason", "logan",
    "alexander", "ethan", "jacob", "michael", "daniel", "henry", "jackson", "sebastian", "aiden", "matthew",
]


@pytest.fixture(scope="session")
def bundled_names() -> list[str]:
    return read_names("bundled")


@pytest.fixture(scope="session")
def shared_names() -> list[str]:
    """The 32K-name benchmark corpus from ../shared; tests that need it skip cleanly without it."""
    if not SHARED_NAMES.is_file():
        pytest.skip(f"benchmark corpus {SHARED_NAMES} is absent")
    return read_names(SHARED_NAMES)


@pytest.fixture(scope="session")
def plugin_subject(bundled_names, tmp_path_factory):
    """Per plugin, one namegen.testing.Subject for the session: fitted with its test-sized
    hyper-parameters on a 2,000-name slice of the bundled data, then saved and exported, each
    once and only when a test first asks. `fitted`, `onnx_export` and the plugin checks share it."""
    from namegen.data import split_names
    from namegen.testing import Subject

    split = split_names(bundled_names[::15], seed=0)
    root = tmp_path_factory.mktemp("plugins")
    cache = {}

    def get(plugin: str) -> Subject:
        if plugin not in cache:
            cache[plugin] = Subject(plugin, workdir=root / plugin, split=split)
        return cache[plugin]

    get.split = split
    return get


@pytest.fixture(scope="session")
def fitted(plugin_subject):
    """One fitted model per plugin (`plugin_subject`'s), shared by the session; `fitted.split` is its data."""

    def get(plugin: str):
        return plugin_subject(plugin).model

    get.split = plugin_subject.split
    return get


@pytest.fixture(scope="session")
def onnx_export(plugin_subject):
    """Per plugin, exported once per session (`plugin_subject`'s export): `onnx_export(plugin)`
    gives .model (the `fitted` model), .sampler and .scorer (paths written by
    namegen.exports.onnx.export, each plugin in a folder of its own), .validation (what
    export's self-check reached on the held-out names) and .runtime (namegen.runtime.load of the sampler)."""
    from types import SimpleNamespace

    cache = {}

    def get(plugin: str):
        if plugin not in cache:
            from namegen import runtime

            subject = plugin_subject(plugin)
            exported = subject.exported
            cache[plugin] = SimpleNamespace(plugin=plugin, model=subject.model, sampler=exported.sampler, scorer=exported.scorer,
                                            folder=exported.sampler.parent, runtime=runtime.load(exported.sampler),
                                            validation=exported.validation)
        return cache[plugin]

    return get


def pytest_collection_modifyitems(items):
    """Tests that run the JavaScript clients (they take the `node` fixture) are marked `clients`."""
    for item in items:
        if "node" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.clients)


def pytest_terminal_summary(terminalreporter):
    """Show every figure a test recorded with record_property("max_abs_diff ...", value)."""
    rows = [(report.nodeid, key, value)
            for outcome in ("passed", "failed")
            for report in terminalreporter.stats.get(outcome, [])
            if getattr(report, "when", None) == "call"
            for key, value in getattr(report, "user_properties", ())
            if key.startswith("max_abs_diff")]
    if rows:
        terminalreporter.section("numeric agreement: max |difference| reached")
        for nodeid, key, value in rows:
            terminalreporter.write_line(f"{key.removeprefix('max_abs_diff').strip()} = {value:.3g}    ({nodeid})")
