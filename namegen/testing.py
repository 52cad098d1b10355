"""The plugin contract as one check, for third-party plugin authors (as scikit-learn's
`check_estimator`):

    from namegen.testing import check_plugin

    def test_my_plugin():
        check_plugin("my-plugin")          # or the NameModel subclass itself

It fits the plugin with its `test_hyperparams` on a slice of the bundled names, then checks
scoring, sampling (determinism, the vocabulary, prefixes), the save/load round trip, the
sequence identity (`forward_sequence` against `forward`, float32 and float64), the step form's
identity (`step` against `forward`, float64, where the network has a step form) and the ONNX
export, which validates itself against the torch model. A failed check raises AssertionError
naming the plugin and the check; a passed run returns the figures it reached.
"""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path

import numpy as np

IDENTITY_TOLERANCE = 1e-5  # forward_sequence against forward on every window, float32 and float64
STEP_TOLERANCE = 1e-9  # the step form against forward, float64


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


def check_plugin(plugin, names: list[str] | None = None) -> dict:
    """Run the contract suite on `plugin` (a registered name or NameModel subclass). `names`:
    the data to fit on (default: every 15th bundled name, split 80/10/10 with seed 0)."""
    from . import registry, sampling
    from .checkpoint import load
    from .data import read_names, split_names
    from .exports.onnx import export
    from .model import NameModel

    if isinstance(plugin, type):
        if not issubclass(plugin, NameModel) or not plugin.plugin_name or registry.get(plugin.plugin_name) is not plugin:
            raise AssertionError(f"{plugin!r} is not a registered NameModel subclass; decorate it with @namegen.register(NAME)")
        name = plugin.plugin_name
    else:
        name = plugin
    cls = registry.get(name)
    figures: dict = {"plugin": name}

    def check(condition: bool, what: str) -> None:
        if not condition:
            raise AssertionError(f"check_plugin({name!r}): {what}")

    split = split_names(names or read_names("bundled")[::15], seed=0)
    model = cls(**cls.test_hyperparams)
    check(model.fit(split.train, split.val) is model, "fit() must return the model itself")
    check(isinstance(model.block_size, int) and model.block_size >= 1, "the network needs an int block_size >= 1")

    # scoring
    held_out = [n for n in split.test if model.vocab_.covers(n)]
    ll = model.log_likelihood(held_out)
    check(ll.dtype == np.float64 and ll.shape == (len(held_out),), "log_likelihood must give float64 [len(names)]")
    check(bool(np.all(np.isfinite(ll)) and np.all(ll < 0)), "log-likelihoods of held-out names must be finite and negative")
    score = model.score(held_out)
    figures["test_nll"] = score.nll
    check(score.nll < math.log(len(model.vocab_)), f"test NLL {score.nll:.3f} is no better than uniform ({math.log(len(model.vocab_)):.3f})")

    # sampling
    sampled = model.sample(200, seed=3)
    check(sampled == model.sample(200, seed=3), "the same seed must give the same names")
    check(sampled != model.sample(200, seed=4), "different seeds must give different names")
    check(all(name_ and model.vocab_.covers(name_) for name_ in sampled), "samples must be non-empty and in the vocabulary")
    prefix = split.train[0][:2]
    check(all(n.startswith(prefix) for n in model.sample(20, seed=1, prefix=prefix)), "samples must start with the prefix")

    with tempfile.TemporaryDirectory(prefix="namegen-check-") as tmp:
        # save/load round trip
        model.save(Path(tmp) / "run")
        loaded = load(Path(tmp) / "run")
        check(type(loaded) is cls and loaded.hyperparams == model.hyperparams, "load must give the same plugin and hyper-parameters")
        check(bool(np.array_equal(loaded.log_likelihood(held_out), ll)), "a loaded model must score exactly as the saved one")
        check(loaded.sample(100, seed=5) == model.sample(100, seed=5), "a loaded model must sample exactly as the saved one")

        # the sequence identity, on the longest training names and a mix of others
        by_length = sorted(split.train, key=len)
        errors = sequence_identity_errors(model, by_length[-8:] + split.train[:40])
        figures.update({f"identity_{label}": error for label, error in errors.items()})
        for label, error in errors.items():
            check(error <= IDENTITY_TOLERANCE, f"forward_sequence differs from forward by {error:.3g} ({label}; at most {IDENTITY_TOLERANCE:g})")

        # the step form's identity, where the network has one
        if sampling.has_step_form(model.network_):
            network = copy.deepcopy(model.network_).double().eval()
            error = step_identity_error(network, [model.vocab_.encode(n) for n in by_length[-8:] + split.train[:40]])
            figures["step_identity_float64"] = error
            check(error <= STEP_TOLERANCE, f"the step form differs from forward by {error:.3g} (float64; at most {STEP_TOLERANCE:g})")

        # the export, validated against the torch model (export raises NamegenError on a mismatch)
        try:
            report = export(model, Path(tmp) / "export" / f"{name}.onnx", names=held_out)
        except Exception as err:  # noqa: BLE001 - any failure of the export is the plugin's to fix
            raise AssertionError(f"check_plugin({name!r}): the ONNX export failed: {type(err).__name__}: {err}") from err
        figures.update(scorer_max_abs_diff=report.validation.scorer_max_abs_diff,
                       sampler_names_equal=report.validation.sampler_names_equal, sampler_names=report.validation.sampler_names)
    return figures
