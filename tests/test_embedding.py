"""Real clients of the ONNX export: examples/node (onnxruntime-node) and examples/web
(onnxruntime-web in headless Chromium) must give exactly the names Python gives.

Both run the namegen JavaScript package (js/, linked into each example's node_modules by `npm ci`;
tests/test_js_package.py tests the package itself). They need `node`, the examples' node_modules
and /usr/bin/chromium; scripts/install_clients.sh installs them. Without them the tests skip and
say what is missing.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import re
import struct
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

import namegen
from namegen import runtime
from namegen.data import split_names
from namegen.errors import NamegenWarning
from tests._clients import need, node  # noqa: F401 - node is a fixture

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR, WEB_DIR = ROOT / "examples" / "node", ROOT / "examples" / "web"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PACKAGE_MODELS = ROOT / "js" / "models"  # the namegen package's pre-built models (each example's node_modules/namegen links to js/)


def shipped_models() -> list[tuple[str, dict]]:
    """The pre-built models of the package's manifest, best (lowest test NLL) first, as
    (name, entry); a tie keeps the manifest's order."""
    models = json.loads((PACKAGE_MODELS / "manifest.json").read_text(encoding="utf-8"))["models"]
    need(bool(models), "the namegen package ships no pre-built model")
    return sorted(models.items(), key=lambda item: item[1]["test_nll"])


def python_sample(sampler, count: int, seed: int, temperature: float = 1.0, **constraints) -> tuple[list[str], bool]:
    """`sampler.sample(...)`'s names, and whether it warned that fewer names met the constraints."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NamegenWarning)
        names = sampler.sample(count, seed=seed, temperature=temperature, **constraints)
    return names, any(issubclass(w.category, NamegenWarning) for w in caught)


@pytest.fixture(scope="module")
def model(tmp_path_factory, bundled_names):
    """A small linear model, saved, reloaded and exported; `expected` gives Python's names
    (`expected_short` also says whether Python warned that the budget ran out)."""
    from namegen.exports.onnx import export

    split = split_names(bundled_names[::15], seed=0)
    folder = tmp_path_factory.mktemp("embedding")
    namegen.create("linear").fit(split.train, split.val).save(folder / "run")
    torch_model = namegen.load(folder / "run")
    export(torch_model, folder / "model.onnx")
    exported = runtime.load(folder / "model.onnx")

    def expected_short(count: int, seed: int, temperature: float = 1.0, **constraints) -> tuple[list[str], bool]:
        names, short = python_sample(exported, count, seed, temperature, **constraints)
        assert python_sample(torch_model, count, seed, temperature, **constraints) == (names, short)  # the export is faithful
        return names, short

    def expected(count: int, seed: int, temperature: float = 1.0, **constraints) -> list[str]:
        return expected_short(count, seed, temperature, **constraints)[0]

    return SimpleNamespace(path=folder / "model.onnx", folder=folder, torch=torch_model, expected=expected, expected_short=expected_short)


@pytest.fixture(scope="module")
def nameless_export(model):
    """The linear model exported with training_names=False: `novel` is an error there."""
    from namegen.exports.onnx import export

    return export(model.torch, model.folder / "nameless.onnx", training_names=False).sampler


def cli_options(constraints: dict) -> list[str]:
    """{"min_len": 4, "novel": True} -> ["--min-len", "4", "--novel"] (generate.mjs's options)."""
    options = []
    for key, value in constraints.items():
        option = "--" + key.replace("_", "-")
        options += [option] if value is True else [f"{option}={value}"]
    return options


def query_of(constraints: dict) -> dict:
    """{"novel": True} -> {"novel": 1}: the page's query parameters."""
    return {key: int(value) if isinstance(value, bool) else value for key, value in constraints.items()}


def assert_meets(names: list[str], constraints: dict, training_names=()) -> None:
    """Each name meets `constraints`: the clients applied them (not only agreed with Python)."""
    for name in names:
        assert name.startswith(constraints.get("prefix", "")) and name.endswith(constraints.get("suffix", "")), name
        assert constraints.get("contains", "") in name, name
        assert constraints.get("min_len", 1) <= len(name) <= constraints.get("max_len", 10_000), name
    if constraints.get("novel"):
        assert not set(names) & set(training_names)
    if constraints.get("distinct"):
        assert len(set(names)) == len(names)


def rare_letters(model, k: int = 4) -> str:
    """The `k` rarest characters of the model's training names: as a suffix, no name ends so."""
    counts = Counter("".join(model.training_names_))
    return "".join(sorted(counts, key=lambda ch: (counts[ch], ch))[:k])


# ---------------------------------------------------------------------------- node


@pytest.fixture(scope="module")
def generate(node):
    for package in ("onnxruntime-node", "namegen"):
        need((NODE_DIR / "node_modules" / package).is_dir(), f"examples/node/node_modules/{package} is missing")

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
    (["{model}", "--count", "0"], "--count"),
    (["{model}", "--count", "abc"], "--count"),
    (["{model}", "--count", "1000001"], "--count"),
    (["{model}", "--seed", "1.5"], "--seed"),
    (["{model}", "--temperature", "0"], "--temperature"),
    (["{model}", "--temperature", "nan"], "--temperature"),
    (["{model}", "--temperature", "1e-50"], "--temperature"),  # 0 as a float32, as Python says
    (["{model}", "--bogus"], "--bogus"),
    (["{model}", "extra.onnx"], "expected at most one MODEL.onnx"),
    (["{model}", "--pretrained", "ngram"], "give MODEL.onnx or --pretrained NAME, not both"),
    (["--pretrained", "no-such-model"], 'unknown pre-built model "no-such-model"; pre-built models: '),
    (["no-such-model.onnx"], "cannot read no-such-model.onnx"),
])
def test_node_bad_arguments_exit_2(generate, model, args, message):
    result = generate(*[str(model.path) if a == "{model}" else a for a in args])
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "usage: node generate.mjs" in result.stderr
    assert result.stdout == ""


def test_node_defaults_to_the_best_pretrained_model(generate):
    """Without a file, the best pre-built model of the package; --pretrained picks another."""
    shipped = shipped_models()
    best = runtime.load(PACKAGE_MODELS / shipped[0][1]["sampler"])
    result = generate("--count", 12, "--seed", 3, "--prefix", "ma", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == best.sample(12, seed=3, prefix="ma")
    for name, entry in shipped:
        result = generate("--pretrained", name, "--count", 12, "--seed", 3, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == runtime.load(PACKAGE_MODELS / entry["sampler"]).sample(12, seed=3)


# Sampling rule 2's constraints. Python's names (runtime.load(...).sample, which equals torch's)
# are the reference; each case also checks that the names meet the constraints, so a client that
# dropped them could not pass by agreeing with an unconstrained Python.
CONSTRAINT_CASES = {
    "prefix-lengths": dict(prefix="ma", min_len=5, max_len=9),
    "suffix": dict(suffix="a"),
    "contains": dict(contains="an"),
    "novel-distinct": dict(novel=True, distinct=True),
    "all": dict(prefix="a", suffix="a", contains="l", min_len=4, max_len=12, novel=True, distinct=True, max_candidates=50_000),
}


def node_sample(generate, path, count: int, seed: int, temperature: float, constraints: dict) -> subprocess.CompletedProcess:
    return generate(path, "--count", count, f"--seed={seed}", "--temperature", temperature, "--json", *cli_options(constraints))


@pytest.mark.parametrize("case", CONSTRAINT_CASES)
def test_node_constraints_match_python(generate, model, case):
    constraints = CONSTRAINT_CASES[case]
    result = node_sample(generate, model.path, 60, 31, 0.9, constraints)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    names = json.loads(result.stdout)
    assert names == model.expected(60, 31, 0.9, **constraints)
    assert len(names) == 60
    assert_meets(names, constraints, model.torch.training_names_)


def test_node_prints_fewer_names_and_a_warning_when_the_budget_runs_out(generate, model):
    """0 < found < count: the names that passed, in Python's order, then one warning line."""
    constraints = dict(suffix="n", max_candidates=60)
    names, short = model.expected_short(30, 5, 1.0, **constraints)
    assert short and 0 < len(names) < 30  # the case is what it claims to be
    result = generate(model.path, "--count", 30, "--seed", 5, *cli_options(constraints))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "".join(name + "\n" for name in names)
    assert result.stderr == (f"generate.mjs: warning: only {len(names)} of 30 names met the constraints within the candidate "
                             "budget (raise --max-candidates, or loosen the constraints)\n")


@pytest.mark.parametrize("plugin", namegen.available())
@pytest.mark.parametrize("case", [*CONSTRAINT_CASES, "impossible"])
def test_node_constraints_match_python_for_every_plugin(generate, onnx_export, plugin, case):
    exported = onnx_export(plugin)
    # impossible: a suffix of the 4 rarest letters, within the default budget (10,000 candidates)
    constraints = CONSTRAINT_CASES.get(case) or dict(suffix=rare_letters(exported.model))
    count = 5 if case == "impossible" else 20
    names, short = python_sample(exported.runtime, count, 13, 1.1, **constraints)
    result = node_sample(generate, exported.sampler, count, 13, 1.1, constraints)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == names
    assert_meets(names, constraints, exported.model.training_names_)
    assert ("warning: only" in result.stderr) == short == (len(names) < count)
    if case == "impossible":
        assert short and f"warning: only {len(names)} of {count} names met the constraints" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--count", "0", "--prefix", "a"], "--count must be an integer from 1 to 1,000,000"),
    (["--count", "1000001", "--distinct"], "--count must be an integer from 1 to 1,000,000"),
    (["--temperature", "0", "--prefix", "a"], "--temperature must be a positive number"),
    (["--temperature", "nan", "--suffix", "a"], "--temperature must be a positive number"),
    (["--temperature=-1", "--contains", "a"], "--temperature must be a positive number"),
    (["--prefix", "é"], "--prefix 'é' cannot be drawn: character 'é' in 'é' is not in the model's vocabulary"),
    (["--prefix", "m.a"], "--prefix 'm.a' cannot be drawn: character '.'"),  # the boundary is never part of a name
    (["--suffix", "A"], "--suffix 'A' cannot be drawn"),
    (["--contains", "a b"], "--contains 'a b' cannot be drawn: character ' '"),
    (["--min-len", "9", "--max-len", "8"], "--min-len must be an integer from 1 to --max-len (8), got '9'"),
    (["--min-len", "0"], "--min-len must be an integer from 1"),
    (["--min-len", "x"], "--min-len must be an integer"),
    (["--prefix", "abc", "--max-len", "3"], "--max-len must be an integer from 4 (longer than the prefix) to 10,000"),
    (["--max-len", "10001"], "--max-len must be an integer from 1 (longer than the prefix) to 10,000"),
    (["--count", "1000000", "--max-len", "100"], "--max-len 100 is too long for 1,000,000 names in one call"),
    (["--max-candidates", "0"], "--max-candidates must be an integer from 1 to 1,000,000"),
    (["--max-candidates", "1000001"], "--max-candidates must be an integer from 1 to 1,000,000"),
    (["--temperature", "3.5e38"], "--temperature must be a positive number at most 3.4028234663852886e+38 (float32's largest), got '3.5e38'"),
    (["--novel=1"], "--novel"),  # a flag takes no value
])
def test_node_bad_constraints_exit_2(generate, model, args, message):
    result = generate(model.path, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "usage: node generate.mjs" in result.stderr
    assert result.stdout == ""


def test_node_novel_needs_an_export_with_training_names(generate, nameless_export, model):
    result = generate(nameless_export, "--novel")
    assert result.returncode == 2 and result.stdout == ""
    assert "--novel needs the known names" in result.stderr and "holds none" in result.stderr
    # The rest of rule 2 works on such an export; only its `novel` input is gone.
    result = node_sample(generate, nameless_export, 20, 3, 1.0, dict(distinct=True, prefix="k"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == model.expected(20, 3, 1.0, distinct=True, prefix="k")


@pytest.fixture(scope="module")
def relabelled(model, tmp_path_factory):
    """The linear sampler with its metadata saying another sampling rule (a hand-edited file)."""
    import onnx

    def write(rule: str):
        proto = onnx.load(model.path)
        next(p for p in proto.metadata_props if p.key == "sampling_rule_version").value = rule
        path = tmp_path_factory.mktemp("relabelled") / f"rule{rule}.onnx"
        onnx.save(proto, path)
        return path

    return write


def test_node_checks_the_sampling_rule(generate, model, relabelled):
    rule1 = relabelled("1")  # rule 1 exports have no constraint inputs: the package sends none
    result = generate(rule1, "--count", 30, "--seed", 4, "--json")
    assert result.returncode == 0 and json.loads(result.stdout) == model.expected(30, 4)
    result = generate(rule1, "--prefix", "ma")
    assert result.returncode == 2 and "--prefix needs sampling rule 2" in result.stderr
    result = generate(relabelled("3"))  # a rule from the future: not this client's to run
    assert result.returncode == 1 and "uses sampling rule 3" in result.stderr and result.stdout == ""


# ---------------------------------------------------------------------------- web
# examples/web/check.mjs drives the page in headless Chromium: it prints each batch of names on
# show (as drawn), and does the STEPs it is given (more, generate, fill:FIELD=VALUE, pick:MODEL,
# share, copy, shot:NAME; see its header).

SCREENSHOTS = ROOT / "build" / "screenshots"  # git-ignored; the screenshot test writes here
WASM = WEB_DIR / "node_modules" / "onnxruntime-web" / "dist" / "ort-wasm-simd-threaded.wasm"


PACKAGE_URL = "/node_modules/namegen/models/"  # where the page finds the package's pre-built models


class ExampleHandler(SimpleHTTPRequestHandler):
    """Serves examples/web as `python -m http.server` would, and test files at the URL paths of
    `files`; those of `slow` trickle out over about a second. Nothing else under the `hidden`
    folders is served: a models/ folder that build_models.py wrote in the checkout must not change
    the tests, nor (where hidden) the pre-built models that the package ships."""

    files: dict[str, Path]
    slow: set[str]
    hidden: tuple[str, ...]

    def do_GET(self):
        path = urlsplit(self.path).path
        if path in self.files:
            body = self.files[path].read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/json" if path.endswith(".json") else "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            step = -(-len(body) // 20) if path in self.slow else len(body)
            for at in range(0, len(body), step):
                self.wfile.write(body[at:at + step])
                if path in self.slow:
                    self.wfile.flush()
                    time.sleep(0.05)
        elif path.startswith(self.hidden):
            self.send_error(404)
        else:
            super().do_GET()

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def web_tools(node):
    need(Path(CHROMIUM).is_file(), f"Chromium is not installed at {CHROMIUM}")
    for package in ("onnxruntime-web", "namegen", "playwright-core"):
        need((WEB_DIR / "node_modules" / package).is_dir(), f"examples/web/node_modules/{package} is missing")


@contextlib.contextmanager
def serve_example(files: dict[str, Path], prebuilt: bool = False):
    """A server of examples/web and `files` (URL path -> file; add more while it runs), as
    .page (the page's URL), .files and .slow (URL paths to serve slowly); with `prebuilt`, the
    package's pre-built models too."""
    slow: set[str] = set()
    hidden = ("/models/",) if prebuilt else ("/models/", PACKAGE_URL)
    handler = type("Handler", (ExampleHandler,), {"files": files, "slow": slow, "hidden": hidden})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(WEB_DIR)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(page=f"http://127.0.0.1:{server.server_address[1]}/index.html", files=files, slow=slow)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def served(web_tools):
    """A server of examples/web without models/models.json or the package's pre-built models:
    the page's model is /model.onnx."""
    with serve_example({}) as server:
        yield server


@pytest.fixture(scope="module")
def page_url(served, model):
    served.files["/model.onnx"] = model.path
    return served.page


def run_check(node, page: str, query: dict, *options: str) -> subprocess.CompletedProcess:
    url = page + ("?" + urlencode(query) if query else "")
    env = {**os.environ, "CHROMIUM": CHROMIUM}
    return subprocess.run([node, str(WEB_DIR / "check.mjs"), url, *options], capture_output=True, text=True, timeout=90, env=env)


@pytest.fixture(scope="module")
def check(node, page_url):
    return functools.partial(run_check, node, page_url)


def lines(result: subprocess.CompletedProcess) -> list:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("query, count, seed, temperature", [
    ({}, 10, 0, 1.0),  # the page's defaults
    ({"seed": 123, "count": 200, "temperature": 0.8}, 200, 123, 0.8),
])
def test_web_names_match_python(check, model, query, count, seed, temperature):
    first, second = lines(check(query, "more"))
    assert first == model.expected(count, seed, temperature)
    assert second == model.expected(count, seed + 1, temperature)  # "More names" uses the next seed


def web_size(size: int) -> str:
    """How the page shows a size (app.js's `size`): 1234 -> "1.2 KB", 427633 -> "428 KB"."""
    if size < 1000:
        return f"{size} B"
    if size < 1e6:
        return f"{size / 1e3:.{1 if size < 1e4 else 0}f} KB"
    return f"{size / 1e6:.1f} MB"


JARGON = ("nats", "sampling rule", "max_candidates")  # words the page must not show


@pytest.fixture(scope="module")
def check_shipped(node, web_tools):
    """`check` on a server of the page as it ships: the package's pre-built models, no models/models.json."""
    with serve_example({}, prebuilt=True) as server:
        yield functools.partial(run_check, node, server.page)


def test_web_defaults_to_the_best_pretrained_model(check_shipped):
    """With no model asked for, the best pre-built model (its size shown), drawing Python's names;
    the Seed field shows each batch's seed; a prefix typed capitalised ("Ma", as names are shown)
    finds the lower-case names, and the share link gives them again."""
    shipped = shipped_models()
    (_, entry), url = shipped[0], PACKAGE_URL[1:] + shipped[0][1]["sampler"]
    best = runtime.load(PACKAGE_MODELS / entry["sampler"])
    first, second, prefixed, shared = lines(check_shipped({}, "--details", "more", "fill:prefix=Ma", "generate", "share"))
    assert first["model"] == url
    assert first["models"] == [[PACKAGE_URL[1:] + e["sampler"], f"{n} · {web_size(e['sampler_bytes'])}"] for n, e in shipped]
    assert f"Download: {web_size(entry['sampler_bytes'])}." in first["text"]
    assert first["names"] == best.sample(10, seed=0) and first["seedField"] == "0"
    assert second["names"] == best.sample(10, seed=1) and second["seedField"] == "1" and "seed 1," in second["status"]
    # Generate draws from the form, whose seed is now the batch's.
    assert prefixed["names"] == best.sample(10, seed=1, prefix="ma") and len(prefixed["names"]) == 10
    assert all(shown.startswith("Ma") for shown in prefixed["shown"])
    assert link_query(prefixed["share"]) == {"model": url, "seed": "1", "prefix": "ma"}
    assert shared["names"] == prefixed["names"]
    assert not [word for word in JARGON if word in prefixed["text"]]  # the constraints are open: their labels show


@pytest.fixture(scope="module")
def mixed_case_export(tmp_path_factory):
    """A linear model whose names have capitals: "M" and "m" are different prefixes to it."""
    from namegen.exports.onnx import export

    names = ["Maria", "mara", "Mark", "milo", "Anna", "abe", "Mona", "mina"]
    return export(namegen.create("linear").fit(names * 4, names), tmp_path_factory.mktemp("mixed") / "mixed.onnx").sampler


def test_web_keeps_the_case_of_constraints_for_a_model_with_capitals(served, check, mixed_case_export):
    served.files["/mixed.onnx"] = mixed_case_export
    exported = runtime.load(mixed_case_export)
    upper, lower = lines(check({"model": "mixed.onnx", "count": 20, "prefix": "M"}, "fill:prefix=m", "generate"))
    assert upper == exported.sample(20, seed=0, prefix="M") and all(name.startswith("M") for name in upper)
    assert lower == exported.sample(20, seed=0, prefix="m") and all(name.startswith("m") for name in lower)


def test_web_a_new_status_or_error_clears_the_copied_note(check, model):
    steps = ["share", "fill:temperature=0", "generate", "fill:temperature=", "generate", "copy", "more"]
    first, _, failed, again, _, after_copy = lines(check({"count": 5}, "--details", "--errors", *steps))
    assert "temperature must be a positive number" in failed["error"]
    assert failed["note"] == ""  # "Copied the link." was there before the error
    assert again["names"] == first["names"] == model.expected(5, 0)
    assert after_copy["note"] == "" and after_copy["names"] == model.expected(5, 1)


def test_web_says_when_nothing_matched_and_disables_copy_all(check, model):
    constraints = dict(suffix=rare_letters(model.torch), max_candidates=200)
    names, short = model.expected_short(5, 3, 1.0, **constraints)
    assert names == [] and short  # the case is what it claims to be
    empty, full = lines(check(dict(seed=3, count=5, **constraints), "--details", "fill:suffix=", "fill:max_candidates=", "generate"))
    assert empty["names"] == [] and empty["copyDisabled"] is True
    assert empty["empty"].startswith("Nothing matched") and "too strict for this model" in empty["empty"] and "Tries" in empty["empty"]
    assert full["names"] == model.expected(5, 3) and full["copyDisabled"] is False and full["empty"] is None


def test_web_shows_errors(check):
    result = check({"model": "no-such-model.onnx"})
    assert result.returncode == 1
    assert "the page shows an error: could not load" in result.stderr and "HTTP 404" in result.stderr


def test_web_constraints_from_the_query_and_the_form(check, model):
    """Query constraints for batches 1 and 2 (More names: the next seed), then the form's values
    and Generate (the form's seed again) for batch 3."""
    query = dict(seed=21, count=40, temperature=0.9, **query_of(CONSTRAINT_CASES["prefix-lengths"]))
    form = dict(seed=8, prefix="", min_len="", max_len="", suffix="a", contains="an", novel="1", distinct="1")
    first, second, third = lines(check(query, "more", *[f"fill:{key}={value}" for key, value in form.items()], "generate"))
    assert first == model.expected(40, 21, 0.9, **CONSTRAINT_CASES["prefix-lengths"])
    assert second == model.expected(40, 22, 0.9, **CONSTRAINT_CASES["prefix-lengths"])
    constraints = dict(suffix="a", contains="an", novel=True, distinct=True)
    assert third == model.expected(40, 8, 0.9, **constraints)
    for names, rule in ((first, CONSTRAINT_CASES["prefix-lengths"]), (second, CONSTRAINT_CASES["prefix-lengths"]), (third, constraints)):
        assert len(names) == 40
        assert_meets(names, rule, model.torch.training_names_)


def test_web_warns_in_the_status_line_when_the_budget_runs_out(check, model):
    constraints = dict(suffix="n", max_candidates=60)
    for k, shown in enumerate(lines(check(dict(seed=5, count=30, **constraints), "--details", "more"))):
        names, short = model.expected_short(30, 5 + k, 1.0, **constraints)
        assert short and 0 < len(names) < 30
        assert shown["names"] == names and shown["found"] == str(len(names)) and shown["seed"] == str(5 + k)
        assert f"Warning: only {len(names)} of 30 names met the constraints" in shown["status"]
        assert not [word for word in JARGON if word in shown["status"]]


@pytest.mark.parametrize("query, options, message", [
    ({"prefix": "é"}, [], "prefix 'é' cannot be drawn: character 'é' in 'é' is not in the model's vocabulary"),
    ({"min_len": 9, "max_len": 8}, [], "min_len must be an integer from 1 to max_len (8), got '9'"),
    ({"count": 2_000_000}, [], "count must be an integer from 1 to 1,000,000"),  # max_count, from the model's metadata
    ({"model": "nameless.onnx", "novel": 1}, [], "novel needs the known names, and"),
    # a bad form value
    ({"count": 5}, ["fill:temperature=0", "generate"], "temperature must be a positive number at most 3.4028234663852886e+38 (float32's largest), got '0'"),
])
def test_web_shows_bad_constraint_values(served, check, nameless_export, query, options, message):
    served.files["/nameless.onnx"] = nameless_export
    result = check(query, *options)
    assert result.returncode == 1
    assert f"the page shows an error: {message}" in result.stderr


def capitalised(name: str) -> str:
    """How the page shows a name (app.js's `capitalise`): the first letter of each word upper-cased,
    a word being the name's start or what follows a space or a hyphen, after any opening quotes or
    brackets; a word that starts otherwise (a digit) is left alone, and so is a letter whose
    capital is more than one character (ß)."""
    def upper(match: re.Match) -> str:
        start, quotes, letter = match.groups()
        return start + quotes + letter.upper() if letter.islower() and len(letter.upper()) == 1 else match.group()

    return re.sub(r"(^|[\s-])(['‘’\"“«(]*)([^\W\d_])", upper, name)


def link_query(link: str) -> dict:
    """The query parameters of a share link, as a dict of strings (each must come once)."""
    pairs = parse_qsl(urlsplit(link).query, keep_blank_values=True)
    assert len({key for key, _ in pairs}) == len(pairs), link
    return dict(pairs)


def test_web_share_link_reproduces_the_names(check, model):
    """The share field (which "Copy link" copies, and the address bar shows) gives the names on
    show, More included, in a new page; it holds every value but the defaults, and the batch's
    seed as fed (modulo 2**62: seed -1 is 2**62 - 1, and the batch after it seed 0)."""
    query = dict(seed=41, count=25, temperature=0.7, prefix="a")
    steps = ["more", "share", "fill:seed=-1", "fill:prefix=", "fill:suffix=n", "fill:count=10", "generate", "more", "share"]
    first, second, shared, third, fourth, shared_again = lines(check(query, "--details", *steps))
    assert first["names"] == model.expected(25, 41, 0.7, prefix="a")
    assert second["names"] == model.expected(25, 42, 0.7, prefix="a") != first["names"]
    assert link_query(second["share"]) == {"seed": "42", "count": "25", "temperature": "0.7", "prefix": "a"}
    assert shared["names"] == second["names"] and shared["seed"] == "42"
    assert shared["share"] == second["share"]  # the link's page links to itself

    assert third["seed"] == str(2**62 - 1) and third["names"] == model.expected(10, -1, 0.7, suffix="n")
    assert fourth["seed"] == "0" and fourth["names"] == model.expected(10, 0, 0.7, suffix="n")
    assert link_query(fourth["share"]) == {"temperature": "0.7", "suffix": "n"}  # seed 0 and count 10 are the defaults
    assert shared_again["names"] == fourth["names"]


def test_web_copy_all_puts_the_names_on_the_clipboard(check, model):
    first, copied, second, copied_again = lines(check({"seed": 3, "count": 15}, "--details", "copy", "more", "copy"))
    for shown, text, seed in ((first, copied, 3), (second, copied_again, 4)):
        assert shown["names"] == model.expected(15, seed)
        assert text == "\n".join(shown["shown"]) == "\n".join(map(capitalised, model.expected(15, seed)))


ODD_NAMES = ["mary-jane", "jean luc", "'ali", "o'neil", "émile", "ßara", "1st", "anne-marie", "(bob)", "zoë",
             "de la cruz", "x-ray", "ève", "ana", "lu"]


@pytest.fixture(scope="module")
def odd_export(tmp_path_factory):
    """A linear model of names with spaces, hyphens, quotes, digits and accents, exported."""
    from namegen.exports.onnx import export

    torch_model = namegen.create("linear").fit(ODD_NAMES * 4, ODD_NAMES)
    return export(torch_model, tmp_path_factory.mktemp("odd") / "odd.onnx").sampler


def test_web_shows_the_names_capitalised(served, check, odd_export):
    served.files["/odd.onnx"] = odd_export
    expected = runtime.load(odd_export).sample(300, seed=11)
    (shown,) = lines(check({"model": "odd.onnx", "seed": 11, "count": 300}, "--details"))
    assert shown["names"] == expected  # as drawn: lower-case, as Python gives them
    assert shown["shown"] == [capitalised(name) for name in expected]
    # The sample holds each case the rule tells apart.
    pairs = set(zip(expected, shown["shown"]))
    assert any(re.search(r"[ -]\w", name) and re.search(r"[ -][A-ZÉÈ]", text) for name, text in pairs)  # words after a space or a hyphen
    assert any(name[0] in "'(" and text[1].isupper() for name, text in pairs)  # opening quotes and brackets
    assert any(name[0] == "1" and text == name for name, text in pairs)  # a digit first: left alone
    assert any(name[0] == "ß" and text == name for name, text in pairs)  # ß -> SS would change the name
    assert any(name[0] in "éè" and text[0] in "ÉÈ" for name, text in pairs)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, bundled_names):
    """Two test-sized models built and listed by examples/web/build_models.py, as .folder,
    .entries (its manifest's) and .runtime (name -> namegen.runtime model)."""
    spec = importlib.util.spec_from_file_location("build_models", WEB_DIR / "build_models.py")
    build_models = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = build_models  # its dataclass looks its module up there
    spec.loader.exec_module(build_models)
    folder = tmp_path_factory.mktemp("playground") / "models"
    specs = {"counts": build_models.Spec("counts", "Bigram counts"), "linear": build_models.Spec("linear", "Linear", {"l2": 0.05})}
    entries = build_models.build(folder, specs, bundled_names[::15], log=lambda message: None)
    assert json.loads((folder / "models.json").read_text(encoding="utf-8")) == {"models": entries}
    return SimpleNamespace(folder=folder, entries=entries, runtime={e["name"]: runtime.load(folder / e["file"]) for e in entries})


@pytest.fixture(scope="module")
def check_bundle(node, web_tools, bundle, model, tmp_path_factory):
    """`check` on a server of the page with `bundle`'s manifest at models/models.json, and as the
    package's pre-built models one, "tiny" (the linear test model), worse by test NLL than both."""
    prebuilt = tmp_path_factory.mktemp("prebuilt") / "manifest.json"
    tiny = {"plugin": "linear", "sampler": "tiny.onnx", "sampler_bytes": model.path.stat().st_size,
            "test_nll": max(e["test_nll"] for e in bundle.entries) + 1, "export_id": runtime.load(model.path).metadata["export_id"]}
    prebuilt.write_text(json.dumps({"format": "namegen-pretrained", "models": {"tiny": tiny}}), encoding="utf-8")
    files = {"/models/models.json": bundle.folder / "models.json", "/model.onnx": model.path,
             f"{PACKAGE_URL}manifest.json": prebuilt, f"{PACKAGE_URL}tiny.onnx": model.path}
    files.update({f"/models/{e['file']}": bundle.folder / e["file"] for e in bundle.entries})
    with serve_example(files) as server:
        yield functools.partial(run_check, node, server.page)


def test_web_model_picker_offers_every_model_and_defaults_to_the_best(check_bundle, bundle, model):
    """The pre-built models, then the local ones, each with its size; the default is the lowest
    test NLL of all (here a local one: the pre-built "tiny" comes first but is the worst)."""
    best = min(bundle.entries, key=lambda e: e["test_nll"])
    other = next(e for e in bundle.entries if e is not best)
    best_url, other_url = f"models/{best['file']}", f"models/{other['file']}"
    batches = lines(check_bundle({"seed": 5, "count": 30}, "--details", "more", f"pick:{other_url}", "more"))
    assert batches[0]["models"] == [[f"{PACKAGE_URL[1:]}tiny.onnx", f"tiny · {web_size(model.path.stat().st_size)}"]] + [
        [f"models/{e['file']}", f"{e['label']} · {web_size(e['bytes'])}"] for e in bundle.entries]
    assert [b["model"] for b in batches] == [best_url] * 2 + [other_url] * 2
    assert "the lowest here" in batches[0]["text"] and "the lowest here" not in batches[2]["text"]
    best_model, other_model = bundle.runtime[best["name"]], bundle.runtime[other["name"]]
    assert [b["names"] for b in batches] == [
        best_model.sample(30, seed=5), best_model.sample(30, seed=6),
        other_model.sample(30, seed=6), other_model.sample(30, seed=7),  # picking a model draws from the form: the seed on show
    ]
    assert batches[1]["names"] != batches[2]["names"]  # the two models draw different names
    assert link_query(batches[3]["share"]) == {"model": other_url, "seed": "7", "count": "30"}


def test_web_checks_a_pretrained_model_against_its_manifest(served, check, nameless_export, model, tmp_path):
    """A pre-built model whose file is not the export its manifest describes (a half-updated
    package) is an error, not names from the wrong model."""
    manifest = tmp_path / "manifest.json"
    entry = {"sampler": "tiny.onnx", "sampler_bytes": 1, "test_nll": 1.0, "export_id": runtime.load(model.path).metadata["export_id"]}
    manifest.write_text(json.dumps({"models": {"tiny": entry}}), encoding="utf-8")
    served.files.update({f"{PACKAGE_URL}manifest.json": manifest, f"{PACKAGE_URL}tiny.onnx": nameless_export})
    try:
        result = check({})
    finally:
        for path in ("manifest.json", "tiny.onnx"):
            del served.files[PACKAGE_URL + path]
    assert result.returncode == 1 and "is not the export node_modules/namegen/models/manifest.json describes" in result.stderr


def test_web_model_query_picks_a_model_of_the_manifest_or_adds_its_own(check_bundle, bundle):
    (shown,) = lines(check_bundle({"model": "models/linear.onnx", "count": 12}, "--details"))
    assert shown["model"] == "models/linear.onnx" and len(shown["models"]) == 3
    assert shown["names"] == bundle.runtime["linear"].sample(12, seed=0)
    (shown,) = lines(check_bundle({"model": "model.onnx", "count": 12}, "--details"))
    assert shown["models"][-1] == ["model.onnx", "model.onnx (from the address)"] and shown["model"] == "model.onnx"
    assert link_query(shown["share"]) == {"model": "model.onnx", "count": "12"}  # with a manifest, the link names the model


def test_web_shows_its_progress_while_it_loads(served, check, model):
    """While onnxruntime's .wasm and the model download (the model slowly here), the status line
    counts their bytes against their sizes, and the form is disabled; then the names come."""
    served.files["/slow.onnx"] = model.path
    served.slow.add("/slow.onnx")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    loading, first, second = lines(check({"model": "slow.onnx", "count": 12}, "--loading", "--screenshots", str(SCREENSHOTS), "more"))
    assert loading["disabled"] is True
    assert loading["max"] == WASM.stat().st_size + model.path.stat().st_size and 0 < loading["value"] < loading["max"]
    assert re.fullmatch(r"Loading onnxruntime \(WebAssembly\) and slow\.onnx… [\d.]+ [KM]?B of [\d.]+ MB", loading["status"]), loading
    assert first == model.expected(12, 0) and second == model.expected(12, 1)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


def test_web_screenshots_at_desktop_and_phone_widths(check_bundle):
    """Saves build/screenshots/playground-desktop.png (1280 px wide) and -phone.png (390 px at 2x)
    for people to look at; the page must not scroll sideways at either width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    result = check_bundle({"seed": 7, "count": 24, "prefix": "ma", "distinct": 1}, "--screenshots", str(SCREENSHOTS), "more", "shot:playground")
    *_, shot = lines(result)
    assert shot["overflow"] == {"desktop": 0, "phone": 0}
    assert Path(shot["desktop"]) == SCREENSHOTS / "playground-desktop.png" and png_size(Path(shot["desktop"]))[0] == 1280
    assert Path(shot["phone"]) == SCREENSHOTS / "playground-phone.png" and png_size(Path(shot["phone"]))[0] == 2 * 390


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
    result = check({"model": f"{plugin}.onnx", "seed": 9, "count": 100, "temperature": 1.3}, "more")
    assert result.returncode == 0, result.stderr
    first, second = map(json.loads, result.stdout.splitlines())
    assert first == exported.model.sample(100, seed=9, temperature=1.3)
    assert second == exported.model.sample(100, seed=10, temperature=1.3)


@pytest.mark.parametrize("plugin", namegen.available())
def test_web_constraints_match_python_for_every_plugin(served, check, onnx_export, plugin):
    exported = onnx_export(plugin)
    served.files[f"/{plugin}.onnx"] = exported.sampler
    constraints = CONSTRAINT_CASES["all"]
    result = check({"model": f"{plugin}.onnx", "seed": 17, "count": 20, "temperature": 1.1, **query_of(constraints)}, "more")
    assert result.returncode == 0, result.stderr
    for k, line in enumerate(result.stdout.splitlines()):
        names = json.loads(line)
        assert names == python_sample(exported.runtime, 20, 17 + k, 1.1, **constraints)[0]
        assert_meets(names, constraints, exported.model.training_names_)
