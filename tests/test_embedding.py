"""Real clients of the ONNX export: examples/node (onnxruntime-node) and examples/web
(onnxruntime-web in headless Chromium) must give exactly the names Python gives.

They need `node`, the examples' node_modules and /usr/bin/chromium; scripts/install_clients.sh
installs them. Without them the tests skip and say what is missing.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode, urlsplit

import pytest

import namegen
from namegen import runtime
from namegen.data import split_names

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR, WEB_DIR = ROOT / "examples" / "node", ROOT / "examples" / "web"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
INSTALL_HINT = "run scripts/install_clients.sh"


def need(condition: bool, reason: str) -> None:
    if not condition:
        pytest.skip(f"{reason}; {INSTALL_HINT}")


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    need(path is not None, "`node` is not on PATH")
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory, bundled_names):
    """A small linear model, saved, reloaded and exported; `expected` gives Python's names."""
    from namegen.exports.onnx import export

    split = split_names(bundled_names[::15], seed=0)
    folder = tmp_path_factory.mktemp("embedding")
    namegen.create("linear").fit(split.train, split.val).save(folder / "run")
    torch_model = namegen.load(folder / "run")
    export(torch_model, folder / "model.onnx")
    exported = runtime.load(folder / "model.onnx")

    def expected(count: int, seed: int, temperature: float) -> list[str]:
        names = exported.sample(count, seed=seed, temperature=temperature)
        assert torch_model.sample(count, seed=seed, temperature=temperature) == names  # the export is faithful
        return names

    return SimpleNamespace(path=folder / "model.onnx", expected=expected)


# ---------------------------------------------------------------------------- node


@pytest.fixture(scope="module")
def generate(node):
    need((NODE_DIR / "node_modules" / "onnxruntime-node").is_dir(), "examples/node/node_modules/onnxruntime-node is missing")

    def run(*args) -> subprocess.CompletedProcess:
        return subprocess.run([node, str(NODE_DIR / "generate.mjs"), *map(str, args)], capture_output=True, text=True, timeout=60)

    return run


@pytest.mark.parametrize("count, seed, temperature", [
    (200, 123, 0.8),
    (50, 0, 1.0),
    (100, 987_654_321, 0.5),
    (30, 2**62 - 1, 1.7),
    (30, 2**62 + 5, 1.0),  # seeds are taken modulo 2**62 on both sides
    (30, -1, 1.0),
])
def test_node_names_match_python(generate, model, count, seed, temperature):
    result = generate(model.path, "--count", count, f"--seed={seed}", "--temperature", temperature, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == model.expected(count, seed, temperature)


def test_node_prints_one_name_a_line_with_defaults(generate, model):
    result = generate(model.path)  # --count 10 --seed 0 --temperature 1.0
    assert result.returncode == 0, result.stderr
    assert result.stdout == "".join(name + "\n" for name in model.expected(10, 0, 1.0))


@pytest.mark.parametrize("args, message", [
    ([], "expected one MODEL.onnx"),
    (["{model}", "--count", "0"], "--count"),
    (["{model}", "--count", "abc"], "--count"),
    (["{model}", "--count", "1000001"], "--count"),
    (["{model}", "--seed", "1.5"], "--seed"),
    (["{model}", "--temperature", "0"], "--temperature"),
    (["{model}", "--temperature", "nan"], "--temperature"),
    (["{model}", "--temperature", "1e-50"], "--temperature"),  # 0 as a float32, as Python says
    (["{model}", "--bogus"], "--bogus"),
    (["{model}", "extra.onnx"], "expected one MODEL.onnx"),
    (["no-such-model.onnx"], "cannot read no-such-model.onnx"),
])
def test_node_bad_arguments_exit_2(generate, model, args, message):
    result = generate(*[str(model.path) if a == "{model}" else a for a in args])
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "usage: node generate.mjs" in result.stderr
    assert result.stdout == ""


# ---------------------------------------------------------------------------- web


class ExampleHandler(SimpleHTTPRequestHandler):
    """Serves examples/web as `python -m http.server` would, and test files at the URL paths of `files`."""

    files: dict[str, Path]

    def do_GET(self):
        if urlsplit(self.path).path in self.files:
            body = self.files[urlsplit(self.path).path].read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            super().do_GET()

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def web_tools(node):
    need(Path(CHROMIUM).is_file(), f"Chromium is not installed at {CHROMIUM}")
    for package in ("onnxruntime-web", "playwright-core"):
        need((WEB_DIR / "node_modules" / package).is_dir(), f"examples/web/node_modules/{package} is missing")


@pytest.fixture(scope="module")
def served(web_tools):
    """A server of examples/web; tests add files to serve to `.files` (URL path -> file)."""
    files: dict[str, Path] = {}
    handler = type("Handler", (ExampleHandler,), {"files": files})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(WEB_DIR)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(page=f"http://127.0.0.1:{server.server_address[1]}/index.html", files=files)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def page_url(served, model):
    served.files["/model.onnx"] = model.path
    return served.page


@pytest.fixture(scope="module")
def check(node, page_url):
    def run(query: dict) -> subprocess.CompletedProcess:
        url = page_url + ("?" + urlencode(query) if query else "")
        env = {**os.environ, "CHROMIUM": CHROMIUM}
        return subprocess.run([node, str(WEB_DIR / "check.mjs"), url], capture_output=True, text=True, timeout=90, env=env)

    return run


@pytest.mark.parametrize("query, count, seed, temperature", [
    ({}, 10, 0, 1.0),  # the page's defaults
    ({"seed": 123, "count": 200, "temperature": 0.8}, 200, 123, 0.8),
])
def test_web_names_match_python(check, model, query, count, seed, temperature):
    result = check(query)
    assert result.returncode == 0, result.stderr
    first, second = map(json.loads, result.stdout.splitlines())
    assert first == model.expected(count, seed, temperature)
    assert second == model.expected(count, seed + 1, temperature)  # "More names" uses the next seed


def test_web_shows_errors(check):
    result = check({"model": "no-such-model.onnx"})
    assert result.returncode == 1
    assert "the page shows an error: could not load" in result.stderr and "HTTP 404" in result.stderr


# ---------------------------------------------------------------------------- every plugin
# The exports above are of `linear`, whose sampler only looks up a table. Each plugin's export
# (conftest's onnx_export: its test_hyperparams) runs its own network in float64 in the client,
# inside the sampler's loop for the whole-name models: a kernel that one onnxruntime build lacks
# would fail here, not in Python.


@pytest.mark.parametrize("plugin", namegen.available())
def test_node_names_match_python_for_every_plugin(generate, onnx_export, plugin):
    exported = onnx_export(plugin)
    for count, seed, temperature in ((200, 7, 1.0), (30, 2**62 - 1, 0.6)):
        result = generate(exported.sampler, "--count", count, f"--seed={seed}", "--temperature", temperature, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == exported.model.sample(count, seed=seed, temperature=temperature)


@pytest.mark.parametrize("plugin", namegen.available())
def test_web_names_match_python_for_every_plugin(served, check, onnx_export, plugin):
    exported = onnx_export(plugin)
    served.files[f"/{plugin}.onnx"] = exported.sampler
    result = check({"model": f"{plugin}.onnx", "seed": 9, "count": 100, "temperature": 1.3})
    assert result.returncode == 0, result.stderr
    first, second = map(json.loads, result.stdout.splitlines())
    assert first == exported.model.sample(100, seed=9, temperature=1.3)
    assert second == exported.model.sample(100, seed=10, temperature=1.3)
