"""The JavaScript package in js/ (npm name `namegen`): its own tests, run with node's test runner
(`node --test`) in Node and in headless Chromium, against fixtures this file writes: exports of a
few plugins and the names and log-likelihoods Python's namegen.runtime gives for them. And the
README's JavaScript snippet, pasted as app.js into a fresh `npm init -y` folder outside the repo.

They need `node`, js/node_modules (`npm ci` there: onnxruntime-node, onnxruntime-web,
playwright-core and typescript are its dev dependencies) and /usr/bin/chromium; scripts/install_clients.sh
installs them. Without them the tests skip and say what is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from namegen import runtime
from namegen.errors import NamegenWarning
from tests._clients import need, node  # noqa: F401 - node is a fixture

ROOT = Path(__file__).resolve().parent.parent
JS_DIR = ROOT / "js"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PLUGINS = ("linear", "mlp", "rnn")  # a table lookup, a window network and a recurrent one, each inside the sampler's loop or not
README_SNIPPET = re.compile(r"<!-- js-snippet -->\s*```js\n(.*?)```\s*<!-- /js-snippet -->", re.S)

# (count, seed, temperature, constraints): seeds beyond 2**53 travel as strings and are given to
# the package as bigints; constraints use the package's option names.
CASES = [
    (10, 0, 1.0, {}),
    (200, 123, 0.8, {}),
    (30, 2**62 - 1, 1.7, {}),
    (30, 2**62 + 5, 1.0, {}),  # seeds are taken modulo 2**62 on both sides
    (30, -1, 1.0, {}),
    (40, 31, 0.9, {"prefix": "ma", "minLen": 5, "maxLen": 9}),
    (40, 31, 0.9, {"suffix": "a"}),
    (40, 31, 0.9, {"contains": "an"}),
    (40, 31, 0.9, {"novel": True, "distinct": True}),
    (20, 17, 1.1, {"prefix": "a", "suffix": "a", "contains": "l", "minLen": 4, "maxLen": 12, "novel": True, "distinct": True,
                   "maxCandidates": 50_000}),
    # names each plugin draws here, and some no model can draw ('A': no case folding)
    (40, 31, 0.9, {"exclude": ["any", "pa", "yah", "kenzie", "arcin", "paina", "A", "é", ""]}),
    (40, 31, 0.9, {"prefix": "ma", "exclude": ["ma", "mah", "man", "marie", "mar"], "novel": True, "distinct": True}),
    (30, 5, 1.0, {"suffix": "n", "maxCandidates": 60}),  # the budget runs out: fewer names
    (10, 3, 1.0, {"prefix": ""}),  # a constraint given, though empty
]
PYTHON_NAMES = {"minLen": "min_len", "maxLen": "max_len", "maxCandidates": "max_candidates"}


@pytest.fixture(scope="module")
def js_modules():
    for package in ("onnxruntime-node", "onnxruntime-web", "playwright-core", "typescript"):
        need((JS_DIR / "node_modules" / package).is_dir(), f"js/node_modules/{package} is missing")


def python_sample(model, count: int, seed: int, temperature: float, options: dict) -> tuple[list[str], bool]:
    """Python's names for the package's arguments, and whether Python warned that fewer met the constraints."""
    constraints = {PYTHON_NAMES.get(key, key): value for key, value in options.items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NamegenWarning)
        names = model.sample(count, seed=seed, temperature=temperature, **constraints)
    return names, any(issubclass(w.category, NamegenWarning) for w in caught)


@pytest.fixture(scope="module")
def fixtures(onnx_export, fitted, tmp_path_factory) -> Path:
    """A folder of exports and fixtures.json: what Python's runtime gives for them."""
    from namegen.exports.onnx import export

    folder = tmp_path_factory.mktemp("js-fixtures")
    models = {}
    for plugin in PLUGINS:
        exported = onnx_export(plugin)
        for path in (exported.sampler, exported.scorer):
            shutil.copy(path, folder / path.name)
        model = exported.runtime
        samples = []
        for count, seed, temperature, options in CASES:
            names, short = python_sample(model, count, seed, temperature, options)
            if "exclude" in options:  # the case checks something: without exclude, other names
                assert names != python_sample(model, count, seed, temperature, {k: v for k, v in options.items() if k != "exclude"})[0]
            samples.append({"count": count, "seed": str(seed), "temperature": temperature, "options": options, "names": names, "short": short})
        # Held-out names the model can spell, and some of its own; float32 values, exactly as JSON doubles.
        scored = [name for name in fitted.split.test if model.vocab.covers(name)][:60] + model.sample(20, seed=99)
        models[plugin] = {
            "sampler": exported.sampler.name, "scorer": exported.scorer.name,
            "vocab": list(model.vocab.chars), "maxLen": model.max_len, "maxCount": model.max_count, "rule": model.rule,
            "knownNames": model.known_names, "trainingNames": model.training_names, "metadata": dict(model.metadata),
            "samples": samples,
            "logLikelihood": {"names": scored, "values": [float(x) for x in model.log_likelihood(scored)]},
        }
    # linear without its training names: novel is an error there; and another export_id.
    nameless = export(onnx_export("linear").model, folder / "nameless" / "nameless.onnx", training_names=False)
    (folder / "fixtures.json").write_text(json.dumps({
        "models": models,
        "nameless": {"sampler": f"nameless/{nameless.sampler.name}", "scorer": f"nameless/{nameless.scorer.name}"},
    }, indent=1))
    return folder


def node_test(node, files: list[str], fixtures: Path | None, record_property, timeout: int = 300) -> str:
    """Run `node --test` on js/test/FILES with the fixtures; fail unless every test ran and passed."""
    env = {**os.environ, "CHROMIUM": CHROMIUM}
    env.pop("NAMEGEN_JS_FIXTURES", None)
    if fixtures is not None:
        env["NAMEGEN_JS_FIXTURES"] = str(fixtures)
    result = subprocess.run([node, "--test", "--test-reporter=tap", *[f"test/{name}" for name in files]],
                            cwd=JS_DIR, capture_output=True, text=True, timeout=timeout, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    summary = dict(re.findall(r"^# (pass|fail|skipped|todo|cancelled) (\d+)$", result.stdout, re.M))
    assert int(summary.get("pass", 0)) > 0 and summary.get("fail") == "0", output[-6000:]
    assert summary.get("skipped") == "0" and summary.get("cancelled") == "0", output[-6000:]  # a JS-side skip is not a pass
    for key, value in re.findall(r"^\s*# (max_abs_diff [^:]+): (\S+)$", result.stdout, re.M):
        record_property(key, float(value))
    return result.stdout


def test_js_package_core(node, record_property):
    """Metadata, argument checks and messages, on made-up files: no onnxruntime needed."""
    node_test(node, ["core.test.mjs"], None, record_property, timeout=60)


def test_js_package_types(node, js_modules, record_property):
    """TypeScript accepts the sources' JSDoc and the .d.ts files as an ES module and a CommonJS module use them."""
    node_test(node, ["types.test.mjs"], None, record_property, timeout=120)


def test_js_package_in_node(node, js_modules, fixtures, record_property):
    """Python's names and log-likelihoods from onnxruntime-node, by import and by require()."""
    node_test(node, ["node.test.mjs", "cjs.test.mjs"], fixtures, record_property)


def test_js_package_in_chromium(node, js_modules, fixtures, record_property):
    """Python's names and log-likelihoods from onnxruntime-web (wasm) in headless Chromium."""
    need(Path(CHROMIUM).is_file(), f"Chromium is not installed at {CHROMIUM}")
    node_test(node, ["browser.test.mjs"], fixtures, record_property)


def test_js_package_pretrained(node, js_modules, record_property):
    """The pre-built models in js/models/ draw the names their manifest promises, in Node and in headless Chromium."""
    need(Path(CHROMIUM).is_file(), f"Chromium is not installed at {CHROMIUM}")
    node_test(node, ["pretrained.test.mjs"], None, record_property)


# ---------------------------------------------------------------------------- the README's snippet


def readme_snippet() -> str:
    found = README_SNIPPET.findall((ROOT / "README.md").read_text())
    assert len(found) == 1, "README.md must hold one ```js block between <!-- js-snippet --> and <!-- /js-snippet -->"
    return found[0]


def test_readme_snippet_is_ten_lines_of_commonjs():
    snippet = readme_snippet()
    assert len(snippet.strip().splitlines()) <= 10
    assert "require('namegen')" in snippet and not re.search(r"^\s*import ", snippet, re.M)  # `npm init -y` makes a CommonJS project


@pytest.mark.network
def test_readme_snippet_in_a_fresh_npm_project(node, onnx_export, tmp_path):
    """Exactly what a newcomer does: `npm init -y` in an empty folder outside the repo, install
    the package and onnxruntime-node as the README says, paste the snippet as app.js, run it."""
    npm = shutil.which("npm")
    need(npm is not None, "`npm` is not on PATH")
    assert not tmp_path.resolve().is_relative_to(ROOT)
    run = lambda *args, timeout=300: subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)  # noqa: E731
    assert run(npm, "init", "-y").returncode == 0
    installed = run(npm, "install", str(JS_DIR), "onnxruntime-node@1.30.0", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline")
    if installed.returncode != 0 and re.search(r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH", installed.stderr):
        pytest.skip(f"npm cannot reach the registry (and onnxruntime-node@1.30.0 is not in its cache): {installed.stderr.strip()[-300:]}")
    assert installed.returncode == 0, installed.stderr
    assert json.loads((tmp_path / "package.json").read_text()).get("type", "commonjs") == "commonjs"

    exported = onnx_export("linear")
    (tmp_path / "exports").mkdir()
    shutil.copy(exported.sampler, tmp_path / "exports" / "linear.onnx")
    shutil.copy(exported.scorer, tmp_path / "exports" / "linear.scorer.onnx")
    (tmp_path / "app.js").write_text(readme_snippet())
    result = run(node, "app.js", timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr

    # What the snippet prints: a line of names, a line of constrained names, the log-likelihoods.
    model = runtime.load(tmp_path / "exports" / "linear.onnx")
    first, second, scores = result.stdout.splitlines()
    assert first.split() == model.sample(10, seed=7, temperature=0.8)
    assert second.split() == model.sample(5, prefix="ma", min_len=4, distinct=True)
    values = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", scores.split("[", 1)[1])]
    expected = model.log_likelihood(["emma", "noah"])
    assert scores.startswith("Float32Array(2)") and np.allclose(values, expected, rtol=0, atol=1e-5), (scores, expected)
