"""Exports validate themselves (as optimum does): before `export` writes anything, the two graphs
it built run in onnxruntime and are compared with the torch model they came from.

* scorer: log-likelihoods of held-out names against `NameModel.log_likelihood`, within
  SCORER_TOLERANCE (the scorer runs the network in float32, so only rounding may differ);
* sampler: names for a few seeds and temperatures, and one constrained call (rule 2), against
  `NameModel.sample`, exactly.

The CLI, `export()` and the tests share this one validator; the figures reached go into the
export's metadata (`validation`) and into the CLI's report.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import NamegenError, NamegenWarning

SCORER_TOLERANCE = 1e-4  # max |log-likelihood difference| per name, nats
SAMPLER_RUNS = ((0, 1.0), (1, 1.0), (2, 0.7))  # (seed, temperature) of each sampler check
SAMPLER_COUNT = 1000  # names per sampler check
CONSTRAINED_COUNT, CONSTRAINED_SEED = 300, 3  # and one check of rule 2: prefix, min_len, distinct (and novel)
SCORED_NAMES = 200  # held-out names the scorer is checked on, at most
SAMPLED_NAMES_SEED = 987_654_321  # names to score when no held-out names are given


@dataclass(frozen=True)
class Validation:
    scorer_max_abs_diff: float
    scorer_tolerance: float
    scorer_names: int
    sampler_names_equal: int
    sampler_names: int

    @property
    def passed(self) -> bool:
        return self.scorer_max_abs_diff <= self.scorer_tolerance and self.sampler_names_equal == self.sampler_names

    def summary(self) -> str:
        return (f"scorer max |Δ log p| {self.scorer_max_abs_diff:.1e} (tolerance {self.scorer_tolerance:.0e}) "
                f"on {self.scorer_names:,} names; sampler {self.sampler_names_equal:,}/{self.sampler_names:,} names equal")

    def as_metadata(self) -> str:
        return json.dumps(asdict(self))


def validate(model, exported, names: list[str] | None = None) -> Validation:
    """Compare `exported` (a namegen.runtime.ExportedModel of the sampler and scorer built from
    `model`) with `model`; raise NamegenError if they disagree. `names`: held-out names to score
    (those the vocabulary covers are used, up to SCORED_NAMES); by default names the model samples."""
    scored = [name for name in (names or []) if model.vocab_.covers(name)][:SCORED_NAMES]
    if not scored:
        scored = model.sample(SCORED_NAMES, seed=SAMPLED_NAMES_SEED)
    reference = model.log_likelihood(scored)
    difference = float(np.max(np.abs(exported.log_likelihood(scored).astype(np.float64) - reference)))
    equal = total = 0
    for seed, temperature in SAMPLER_RUNS:
        expected = model.sample(SAMPLER_COUNT, seed=seed, temperature=temperature)
        got = exported.sample(SAMPLER_COUNT, seed=seed, temperature=temperature)
        equal += sum(a == b for a, b in zip(expected, got))
        total += len(expected)
    constraints = {"prefix": model.vocab_.chars[1], "min_len": 3, "distinct": True,
                   **({"novel": True} if exported.training_names else {})}
    with warnings.catch_warnings():  # a small vocabulary may not give CONSTRAINED_COUNT distinct names: fewer is fine
        warnings.simplefilter("ignore", NamegenWarning)
        expected = model.sample(CONSTRAINED_COUNT, seed=CONSTRAINED_SEED, **constraints)
        got = exported.sample(CONSTRAINED_COUNT, seed=CONSTRAINED_SEED, **constraints)
    equal += sum(a == b for a, b in zip(expected, got)) if len(expected) == len(got) else 0
    total += len(expected)
    result = Validation(difference if np.isfinite(difference) else float("inf"), SCORER_TOLERANCE, len(scored), equal, total)
    if not result.passed:
        raise NamegenError(f"the ONNX export of {model.plugin_name!r} does not match the torch model ({result.summary()}); "
                           "nothing was written. Please report this with the run folder")
    return result
