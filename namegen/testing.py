"""The plugin contract as named checks, for third-party plugin authors (as scikit-learn's
`check_estimator` and `parametrize_with_checks`):

    from namegen.testing import check_plugin, parametrize_with_checks

    def test_my_plugin():
        check_plugin("my-plugin")          # or the NameModel subclass itself: every check

    @parametrize_with_checks(["my-plugin"])
    def test_my_plugin_passes(plugin, check):
        check(plugin)                      # one test per check, each reported on its own

The plugin is fitted with its `test_hyperparams` on a slice of the bundled names (a `Subject`,
which also saves the run and exports it, each once and only when a check asks). The checks
(`CHECKS`, in the order `check_plugin` runs them): the fit and the network contract
(namegen.contract), the export's constraints up front (the vocabulary size, float64, operators
onnxruntime runs in float64), scoring, batch independence, sampling, the hyper-parameters'
round trips, the save/load round trip, the sequence identity (`forward_sequence` against
`forward`, float32 and float64), the step form's identity (`step` against `forward`, float64;
skipped without a step form) and the ONNX export, which validates itself against the torch model.

A check raises AssertionError when the plugin fails it and unittest.SkipTest when it does not
apply (pytest reports a skip); `Check.run` reports either as a `Result` instead. `check_plugin`
raises AssertionError naming the plugin and what failed on the first failing check, and returns
the figures the checks reached; `run_checks` runs every check and returns their results.
"""

from __future__ import annotations

import atexit
import copy
import json
import math
import re
import shutil
import tempfile
import unittest
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .contract import has_sequence_form, has_step_form, is_window_network

IDENTITY_TOLERANCE = 1e-5  # forward_sequence against forward on every window, float32 and float64
STEP_TOLERANCE = 1e-9  # the step form against forward, float64
BATCH_TOLERANCE = 1e-4  # a name's log-likelihood alone and in a batch (float32, whose products round by batch size)
BATCH_TOLERANCE_FLOAT64 = 1e-9  # a context's float64 logits alone and in a batch
ONNX_TOLERANCE = 1e-6  # the float64 network in onnxruntime against torch, up front (the export's own validation is exact)

# Operators that onnxruntime's CPU provider cannot run in float64, the samplers' type, and the fix.
FLOAT64_FIXES = {
    "Gelu": "torch's GELU exports as Gelu, which onnxruntime runs in float64 through Erf (none) or to ~6e-9 only (the "
            "tanh form): write the tanh form out in float64, as the transformer plugin's TanhGELU does",
    "Erf": "exact GELU (or torch.erf) exports as Erf: use GELU's tanh form, written out in float64 as the transformer "
           "plugin's TanhGELU does",
    "Conv": "write the convolution as a Linear over neighbouring positions (torch.cat of shifted slices), as the cnn "
            "plugin and tests/plugins/tiny_conv.py do",
    "ConvTranspose": "write it as a Linear over neighbouring positions, as the cnn plugin does",
    "Softplus": "write it out: torch.logaddexp(x, torch.zeros_like(x))",
}


# ---- the plugin under check ----------------------------------------------------------------------------------


def plugin_class(plugin):
    """The registered NameModel subclass of `plugin` (its name, or the class itself)."""
    from . import registry
    from .model import NameModel

    if isinstance(plugin, type):
        if not issubclass(plugin, NameModel) or not plugin.plugin_name or registry.get(plugin.plugin_name) is not plugin:
            raise AssertionError(f"{plugin!r} is not a registered NameModel subclass; decorate it with @namegen.register(NAME)")
        return plugin
    return registry.get(plugin)


class Subject:
    """One plugin under check: fitted on `names` (default: every 15th bundled name, split
    80/10/10 with seed 0; or give `split`, a namegen.data split) with its `test_hyperparams`,
    and its run saved and exported into `workdir` (default: a temporary folder removed at exit).
    The fit, the save and the export each happen once, when a check first asks for them."""

    def __init__(self, plugin, names: list[str] | None = None, workdir: str | Path | None = None, split=None):
        from .data import read_names, split_names

        self.cls = plugin_class(plugin)
        self.name = self.cls.plugin_name
        self.split = split or split_names(names or read_names("bundled")[::15], seed=0)
        if workdir is None:
            workdir = tempfile.mkdtemp(prefix=f"namegen-check-{self.name}-")
            atexit.register(shutil.rmtree, workdir, ignore_errors=True)
        self.workdir = Path(workdir)
        self._model = self._saved = self._exported = self._error = None
        self.fit_returned = None  # what fit() returned

    @property
    def model(self):
        """The fitted model. A failed fit raises again on each use, without fitting again."""
        if self._error is not None:
            raise self._error
        if self._model is None:
            model = self.cls(**self.cls.test_hyperparams)
            try:
                self.fit_returned = model.fit(self.split.train, self.split.val)
            except Exception as err:
                self._error = err
                raise
            self._model = model
        return self._model

    @property
    def held_out(self) -> list[str]:
        """The test names the model's vocabulary covers."""
        return [n for n in self.split.test if self.model.vocab_.covers(n)]

    @property
    def saved(self) -> Path:
        """The model's run folder, saved once."""
        if self._saved is None:
            self._saved = self.model.save(self.workdir / "run")
        return self._saved

    @property
    def exported(self):
        """The ONNX export (namegen.exports.onnx.Exported), written and validated once."""
        if self._exported is None:
            from .exports.onnx import export

            self._exported = export(self.model, self.workdir / "export" / f"{self.name}.onnx", names=self.held_out)
        return self._exported


_shared: dict[str, Subject] = {}


def shared_subject(plugin) -> Subject:
    """The process's one Subject of `plugin` (default names): what `check(plugin)` runs on, so
    that a test session fits and exports each plugin once."""
    name = plugin_class(plugin).plugin_name
    if name not in _shared:
        _shared[name] = Subject(plugin)
    return _shared[name]


# ---- checks ---------------------------------------------------------------------------------------------------

FORMS = {"sequence": has_sequence_form, "step": has_step_form}  # the optional forms a check may need


@dataclass(frozen=True)
class Result:
    """A check's outcome: `status` "passed", "failed" or "skipped", `reason` why not passed, the figures reached."""

    check: str
    status: str
    reason: str = ""
    figures: dict = field(default_factory=dict)
    error: BaseException | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Check:
    """A named check of the contract. `func(subject)` returns the figures it reached (or None)
    and raises AssertionError when the plugin fails; `needs` names the optional forms it
    checks ("sequence", "step"): a network without one skips it."""

    name: str
    func: Callable[[Subject], dict | None]
    needs: tuple[str, ...] = ()

    def __repr__(self) -> str:  # pytest's test ids and messages
        return self.name

    def run(self, plugin) -> Result:
        """Run on `plugin` (a Subject, or a plugin's name or class: its shared Subject); any
        exception is a failure, with the exception kept in `error`."""
        subject = plugin if isinstance(plugin, Subject) else shared_subject(plugin)
        try:
            missing = [form for form in self.needs if not FORMS[form](subject.model.network_)]
            if missing:
                return Result(self.name, "skipped", f"{subject.name!r} has no {' or '.join(missing)} form")
            figures = self.func(subject) or {}
        except AssertionError as err:
            return Result(self.name, "failed", str(err), error=err)
        except Exception as err:  # noqa: BLE001 - a plugin that raises fails the check it raised in
            return Result(self.name, "failed", f"{type(err).__name__}: {err}", error=err)
        return Result(self.name, "passed", figures=figures)

    def __call__(self, plugin) -> dict:
        """`run`, for a test: the figures if it passes; AssertionError if it fails,
        unittest.SkipTest (a skip to pytest) if it does not apply."""
        subject = plugin if isinstance(plugin, Subject) else shared_subject(plugin)
        result = self.run(subject)
        if result.status == "skipped":
            raise unittest.SkipTest(result.reason)
        if result.status == "failed":
            raise AssertionError(f"plugin {subject.name!r} fails {self.name}: {result.reason}") from result.error
        return result.figures


def expect(condition: bool, what: str) -> None:
    """Fail the running check with `what` unless `condition`."""
    if not condition:
        raise AssertionError(what)


CHECKS: list[Check] = []


def _check(needs: tuple[str, ...] = ()):
    """Register the decorated function as a check named after it (appended to CHECKS)."""

    def register(func):
        CHECKS.append(Check(func.__name__, func, needs))
        return func

    return register


@_check()
def fit_returns_self(subject: Subject):
    model = subject.model  # fits it
    expect(subject.fit_returned is model, "fit() must return the model itself")


@_check()
def window_form(subject: Subject):
    """The fitted network has the required form (namegen.contract.WindowNetwork) and gives float logits [B, V]."""
    import torch

    model, network = subject.model, subject.model.network_
    expect(is_window_network(network), "the network needs forward and an int block_size >= 1 (namegen.contract.WindowNetwork)")
    expect(model.block_size == network.block_size, "the model's block_size must be its network's")
    with torch.no_grad():
        logits = network(torch.zeros(3, network.block_size, dtype=torch.int64))
    expect(isinstance(logits, torch.Tensor) and logits.is_floating_point() and tuple(logits.shape) == (3, len(model.vocab_)),
           "forward must give float logits [batch, vocabulary size]")


# The export's constraints, checked before everything that takes time, each naming its fix.


@_check()
def export_vocabulary(subject: Subject):
    from .model import MAX_EXPORT_VOCAB

    size = len(subject.model.vocab_)
    expect(size <= MAX_EXPORT_VOCAB, f"the names hold {size - 1} distinct characters; the ONNX export takes at most "
                                     f"{MAX_EXPORT_VOCAB - 1}: fit on fewer distinct characters (lowercase the names, or "
                                     "drop the rare characters)")


@_check()
def runs_in_float64(subject: Subject):
    """Every form of a float64 copy of the network (what the samplers run) computes in float64."""
    import torch

    model = subject.model
    network, bs, V = model._sampling_network(model.network_), model.block_size, len(model.vocab_)
    fix = ("; every operation must follow its input's dtype: make tensors with x.new_zeros / x.new_tensor or the "
           "weights' dtype, not a fixed float32")
    with torch.no_grad():
        outputs = {"forward": network(torch.zeros(2, bs, dtype=torch.int64))}
        if has_sequence_form(network):
            outputs["forward_sequence"] = network.forward_sequence(torch.zeros(2, bs + 1, dtype=torch.int64))
        if has_step_form(network):
            state = [s.expand(2, *s.shape[1:]) for s in network.initial_state()]
            outputs["step"], _ = network.step(torch.zeros(2, dtype=torch.int64), state)
    for form, logits in outputs.items():
        expect(logits.dtype == torch.float64 and logits.shape[-1] == V,
               f"{form} of the network in float64 (network.double(), as the samplers run it) gives {logits.dtype} {list(logits.shape)}{fix}")
        expect(bool(torch.isfinite(logits).all()), f"{form} of the network in float64 gives non-finite logits{fix}")


@_check()
def onnx_float64_operators(subject: Subject):
    """The network (and its step form) export to ONNX with operators onnxruntime runs in float64,
    and the exported float64 network gives torch's logits at a batch size it was not traced with."""
    import onnxruntime as ort
    import torch

    from .exports.graph import subgraphs
    from .exports.network import export_network, export_step_network

    model = subject.model
    try:
        graphs = {"forward": export_network(model, float64=True)}
        step = export_step_network(model, float64=True)
        if step is not None:
            graphs["step"] = step.proto
    except Exception as err:  # noqa: BLE001 - why torch.onnx cannot export it is the plugin's to fix
        raise AssertionError(f"the network does not export to ONNX ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
                             "use plain torch operations that torch.onnx exports as standard ONNX operators") from err
    sessions, options = {}, ort.SessionOptions()
    options.intra_op_num_threads = 1  # one small batch: threads would cost more than they give
    for form, proto in graphs.items():
        ops = sorted({node.op_type for graph in subgraphs(proto.graph) for node in graph.node} & FLOAT64_FIXES.keys())
        expect(not ops, f"the {form} form exports to {', '.join(ops)}, which onnxruntime cannot run in float64 (the samplers' "
                        f"type): " + "; ".join(FLOAT64_FIXES[op] for op in ops))
        try:
            sessions[form] = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - an operator onnxruntime lacks in float64, named in its message
            op = re.search(r"implementation for (\w+)\(", str(err))
            fix = FLOAT64_FIXES.get(op.group(1) if op else "", "write that operation with others that have float64 kernels "
                                                                "(Add, MatMul, Tanh, Exp, ...)")
            raise AssertionError(f"onnxruntime cannot run the {form} form in float64 ({str(err).splitlines()[0]}): {fix}") from err
    contexts = torch.randint(len(model.vocab_), (3, model.block_size), generator=torch.Generator().manual_seed(0))  # traced at batch 2
    with torch.no_grad():
        expected = model._sampling_network(model.network_)(contexts).numpy()
    (logits,) = sessions["forward"].run(None, {"context": contexts.numpy()})
    error = float(np.abs(logits - expected).max()) if logits.shape == expected.shape else math.inf
    expect(error <= ONNX_TOLERANCE, f"the exported float64 network gives other logits than torch's at batch 3 (difference {error:.3g}): "
                                    "take sizes from tensors (x.shape), not from Python values of the traced example")


@_check()
def scores_held_out_names(subject: Subject):
    model, held_out = subject.model, subject.held_out
    ll = model.log_likelihood(held_out)
    expect(ll.dtype == np.float64 and ll.shape == (len(held_out),), "log_likelihood must give float64 [len(names)]")
    expect(bool(np.all(np.isfinite(ll)) and np.all(ll < 0)), "log-likelihoods of held-out names must be finite and negative")
    score = model.score(held_out)
    uniform = math.log(len(model.vocab_))
    expect(score.nll < uniform, f"test NLL {score.nll:.3f} is no better than uniform ({uniform:.3f})")
    return {"test_nll": score.nll}


@_check()
def probabilities_sum_to_one(subject: Subject):
    import torch

    model = subject.model
    generator = torch.Generator().manual_seed(0)
    contexts = torch.randint(len(model.vocab_), (500, model.block_size), generator=generator)
    contexts[:50] = 0  # the start of a name
    log_probs = model.token_log_probs(contexts)
    expect(tuple(log_probs.shape) == (500, len(model.vocab_)), "token_log_probs must give [contexts, vocabulary size]")
    error = float((log_probs.double().exp().sum(dim=1) - 1).abs().max())
    expect(error <= 1e-5, f"next-token probabilities sum to 1 within {error:.3g} only (at most 1e-05)")


@_check()
def log_likelihood_agrees_with_score(subject: Subject):
    """score() is log_likelihood's mean per token, and a name's log-likelihood the sum of its
    tokens' log-probabilities, end token included."""
    import torch

    model, names = subject.model, subject.split.val[:200]
    ll = model.log_likelihood(names)
    score = model.score(names)
    tokens = sum(len(n) + 1 for n in names)
    expect(score.tokens == tokens and score.names == len(names), "score() must count every name and token, end tokens included")
    expected = -score.nll * tokens
    expect(abs(ll.sum() - expected) <= max(1e-9 * abs(expected), 1e-12), "score().nll must be minus the mean log-likelihood per token")
    name = names[0]
    ids = [0] * model.block_size + model.vocab_.encode(name) + [0]
    contexts = torch.tensor([ids[t : t + model.block_size] for t in range(len(name) + 1)])
    targets = torch.tensor(ids[model.block_size :])
    by_hand = model.token_log_probs(contexts).double().gather(1, targets[:, None]).sum().item()
    expect(abs(ll[0] - by_hand) <= max(1e-5, 1e-6 * abs(by_hand)),
           f"log_likelihood({name!r}) is {ll[0]:.6f}, its tokens' log-probabilities sum to {by_hand:.6f}")


@_check()
def batch_independence(subject: Subject):
    """A name's log-likelihood, and a context's logits, do not depend on the other rows of the batch."""
    import torch

    model = subject.model
    names = sorted(subject.held_out, key=len)[-4:] + subject.held_out[:28]  # the longest ones, and a mix
    together = model.log_likelihood(names)
    alone = np.array([model.log_likelihood([name])[0] for name in names[:8]])
    reordered = model.log_likelihood(names[::-1])[::-1]
    error = max(float(np.abs(together[:8] - alone).max()), float(np.abs(together - reordered).max()))
    expect(error <= BATCH_TOLERANCE, f"a name's log-likelihood changes by {error:.3g} with the other names scored beside it "
                                     f"(at most {BATCH_TOLERANCE:g}): rows of a batch must not mix (no batch statistics, "
                                     "no attention or pooling across rows)")
    network = model._sampling_network(model.network_)
    contexts = torch.randint(len(model.vocab_), (16, model.block_size), generator=torch.Generator().manual_seed(1))
    contexts[:4] = 0  # the start of a name
    with torch.no_grad():
        batch = network(contexts)
        rows = torch.cat([network(contexts[i : i + 1]) for i in range(len(contexts))])
        flipped = network(contexts.flip(0)).flip(0)
    error = max(float((batch - rows).abs().max()), float((batch - flipped).abs().max()))
    expect(error <= BATCH_TOLERANCE_FLOAT64, f"a context's float64 logits change by {error:.3g} with the other rows of the "
                                             f"batch (at most {BATCH_TOLERANCE_FLOAT64:g})")


@_check()
def samples_deterministically(subject: Subject):
    model = subject.model
    sampled = model.sample(200, seed=3)
    expect(sampled == model.sample(200, seed=3), "the same seed must give the same names")
    expect(sampled != model.sample(200, seed=4), "different seeds must give different names")
    expect(all(name and model.vocab_.covers(name) for name in sampled), "samples must be non-empty and in the vocabulary")


@_check()
def samples_with_a_prefix(subject: Subject):
    prefix = subject.split.train[0][:2]
    expect(all(n.startswith(prefix) for n in subject.model.sample(20, seed=1, prefix=prefix)), "samples must start with the prefix")


@_check()
def hyperparams_round_trip(subject: Subject):
    """The hyper-parameters a model was created with are what `hyperparams` and repr() give,
    and survive a clone, JSON (config.json) and a save and load."""
    import namegen

    from .checkpoint import load, read_config

    model, cls = subject.model, subject.cls
    params, created = model.hyperparams, cls(**cls.test_hyperparams).hyperparams
    expect(params == created, f"fit() changed the hyper-parameters: {created} became {params}")
    # Strings are converted to the field's type (the command line gives strings): those are not compared.
    changed = {key: (value, created.get(key, "missing")) for key, value in cls.test_hyperparams.items()
               if created.get(key) != value and not isinstance(value, str)}
    expect(not changed, f"hyperparams does not give the values the model was created with (given, got): {changed}")
    expect(cls(**params).hyperparams == params, "a model created with another's hyperparams must have the same hyperparams")
    try:
        text = json.dumps(params, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise AssertionError(f"the hyper-parameters must be JSON values (config.json holds them): {err}") from err
    expect(cls(**json.loads(text)).hyperparams == params, "the hyper-parameters must come back from JSON as they were")
    again = eval(repr(model), {"namegen": namegen})  # noqa: S307 - repr() is namegen.create(...) of literals
    expect(type(again) is cls and again.hyperparams == params, f"repr() must recreate the model: {model!r}")
    expect(read_config(subject.saved)["hyperparams"] == params, "config.json must hold the model's hyperparams")
    expect(load(subject.saved).hyperparams == params, "a loaded model must have the saved model's hyperparams")


@_check()
def save_load_round_trip(subject: Subject):
    from .checkpoint import load

    model, held_out = subject.model, subject.held_out
    loaded = load(subject.saved)
    expect(type(loaded) is subject.cls and loaded.hyperparams == model.hyperparams, "load must give the same plugin and hyper-parameters")
    expect(bool(np.array_equal(loaded.log_likelihood(held_out), model.log_likelihood(held_out))),
           "a loaded model must score exactly as the saved one")
    expect(loaded.sample(100, seed=5) == model.sample(100, seed=5), "a loaded model must sample exactly as the saved one")


def identity_names(subject: Subject) -> list[str]:
    """The names the identities are checked on: the longest training names and a mix of others."""
    return sorted(subject.split.train, key=len)[-8:] + subject.split.train[:40]


@_check()
def sequence_identity(subject: Subject):
    """forward_sequence (or, without one, the trainer's windows) against forward: every network runs it."""
    errors = sequence_identity_errors(subject.model, identity_names(subject))
    for label, error in errors.items():
        expect(error <= IDENTITY_TOLERANCE, f"forward_sequence differs from forward by {error:.3g} ({label}; at most {IDENTITY_TOLERANCE:g})")
    return {f"identity_{label}": error for label, error in errors.items()}


@_check(needs=("step",))
def step_identity(subject: Subject):
    model = subject.model
    network = copy.deepcopy(model.network_).double().eval()
    error = step_identity_error(network, [model.vocab_.encode(n) for n in identity_names(subject)])
    expect(error <= STEP_TOLERANCE, f"the step form differs from forward by {error:.3g} (float64; at most {STEP_TOLERANCE:g})")
    return {"step_identity_float64": error}


@_check()
def onnx_export(subject: Subject):
    """The export, validated against the torch model (export raises NamegenError on a mismatch)."""
    try:
        report = subject.exported
    except Exception as err:  # noqa: BLE001 - any failure of the export is the plugin's to fix
        raise AssertionError(f"the ONNX export failed: {type(err).__name__}: {err}") from err
    validation = report.validation
    return {"scorer_max_abs_diff": validation.scorer_max_abs_diff, "sampler_names_equal": validation.sampler_names_equal,
            "sampler_names": validation.sampler_names}


# ---- running them ---------------------------------------------------------------------------------------------


def run_checks(plugin, names: list[str] | None = None) -> list[Result]:
    """Every check on `plugin` (a registered name or NameModel subclass), each reported on its own."""
    with tempfile.TemporaryDirectory(prefix="namegen-check-") as tmp:
        subject = Subject(plugin, names, workdir=tmp)
        return [check_.run(subject) for check_ in CHECKS]


def check_plugin(plugin, names: list[str] | None = None) -> dict:
    """Run the checks on `plugin` (a registered name or NameModel subclass) in order; raise
    AssertionError "check_plugin(NAME): WHAT" on the first that fails. `names`: the data to fit
    on (default: every 15th bundled name, split 80/10/10 with seed 0). Returns the figures
    reached, with "plugin"."""
    name = plugin_class(plugin).plugin_name
    figures: dict = {"plugin": name}
    with tempfile.TemporaryDirectory(prefix="namegen-check-") as tmp:
        subject = Subject(plugin, names, workdir=tmp)
        for check_ in CHECKS:
            result = check_.run(subject)
            if result.status == "failed":
                raise AssertionError(f"check_plugin({name!r}): {result.reason}") from result.error
            figures.update(result.figures)
    return figures


def parametrize_with_checks(plugins: Iterable):
    """A pytest.mark.parametrize of ("plugin", "check"): one test per plugin (a registered name
    or NameModel subclass) and check, with ids "PLUGIN-CHECK". The test runs `check(plugin)`,
    or `check(subject)` with a Subject of its own (a session fixture's, say)."""
    import pytest

    names = [plugin_class(plugin).plugin_name for plugin in plugins]
    return pytest.mark.parametrize("plugin, check", [pytest.param(name, check_, id=f"{name}-{check_.name}")
                                                     for name in names for check_ in CHECKS])


# ---- the identities, also used by the test suite -------------------------------------------------------------


def step_identity_error(network, names: list[list[int]]) -> float:
    """The largest |step-form logits - forward(window)| over every position of `names` (token
    ids) that the step form covers: the stream's boundary token, then up to block_size - 1
    characters. `network` in the dtype to compare in (float64 for STEP_TOLERANCE)."""
    import torch

    bs = network.block_size
    width = min(bs, max(map(len, names)) + 1)
    stream = torch.zeros(len(names), bs + width, dtype=torch.int64)
    for row, ids in zip(stream, names):
        ids = ids[: width - 1]
        row[bs : bs + len(ids)] = torch.tensor(ids, dtype=torch.int64)
    error = 0.0
    with torch.no_grad():
        state = [s.expand(len(names), *s.shape[1:]) for s in network.initial_state()]
        for t in range(width):  # feed position t: the boundary token (t = 0) or character t
            logits, state = network.step(stream[:, bs - 1 + t], state)
            error = max(error, float((logits - network(stream[:, t : t + bs])).abs().max()))
    return error


def identity_streams(model, names: list[str]):
    """Each name left-padded with block_size boundary tokens and right-padded with 0 to the
    longest (as the trainer batches them), and the mask of the windows that end inside a name
    or on its end token."""
    import torch

    encoded = [model.vocab_.encode(name) for name in names]
    width = max(map(len, encoded))
    stream = torch.zeros(len(encoded), model.block_size + width, dtype=torch.int64)
    for row, ids in zip(stream, encoded):
        row[model.block_size : model.block_size + len(ids)] = torch.tensor(ids)
    valid = torch.arange(width + 1)[None, :] <= torch.tensor([len(e) for e in encoded])[:, None]
    return stream, valid


def sequence_identity_errors(model, names: list[str]) -> dict[str, float]:
    """max |forward_sequence(stream)[:, j] - forward(stream[:, j : j + block_size])| over the
    windows of `names`, for the network in float32 and for the float64 copy samplers run."""
    import torch

    from .train import sequence_logits

    stream, valid = identity_streams(model, names)
    errors = {}
    for label, network in (("float32", model.network_), ("float64", copy.deepcopy(model.network_).double().eval())):
        with torch.no_grad():
            sequence = sequence_logits(network, stream)
            windows = torch.stack([network(stream[:, j : j + model.block_size]) for j in range(valid.shape[1])], dim=1)
        expected = (len(names), stream.shape[1] - model.block_size + 1, len(model.vocab_))
        if tuple(sequence.shape) != expected:
            raise AssertionError(f"forward_sequence gives shape {tuple(sequence.shape)}, not {expected} ({label})")
        errors[label] = float((sequence.double() - windows.double()).abs()[valid].max())
    return errors
