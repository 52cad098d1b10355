"""Exports validate themselves (as optimum does): before `export` writes anything, the two graphs
it built run in onnxruntime and are compared with the torch model they came from.

* scorer: log-likelihoods of held-out names against `NameModel.log_likelihood`, within
  SCORER_TOLERANCE (the scorer runs the network in float32, so only rounding may differ);
* sampler: names for a few seeds and temperatures, and one constrained call (rule 2: prefix,
  min_len, distinct, exclude and, when the export holds the known names, novel), against
  `NameModel.sample`, exactly.

The CLI, `export()` and the tests share this one validator; the figures reached go into the
export's metadata (`validation`) and into the CLI's report. How many names it checks is a
`Checks`: FULL for `export()` and `namegen export onnx`, KEPT for the export that `fit` keeps in
its run, which must cost seconds, not minutes (the torch sampler is most of it). A wrong export
differs within its first names.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import NamegenError, NamegenWarning

SCORER_TOLERANCE = 1e-4  # max |log-likelihood difference| per name, nats
SAMPLER_RUNS = ((0, 1.0), (1, 1.0), (2, 0.7))  # (seed, temperature) of each sampler check
SAMPLER_COUNT = 1000  # names per sampler check
CONSTRAINED_COUNT, CONSTRAINED_SEED = 300, 3  # and one check of rule 2: prefix, min_len, distinct, exclude (and novel)
EXCLUDED_NAMES = 20  # exclude in that check: names of the first run that the prefix and min_len let through, no known name
SCORED_NAMES = 200  # held-out names the scorer is checked on, at most
SAMPLED_NAMES_SEED = 987_654_321  # names to score when no held-out names are given


@dataclass(frozen=True)
class Checks:
    """How many names a validation checks: per sampler run (each of SAMPLER_RUNS), in the
    constrained call, and scored (at most)."""

    sampler_count: int
    constrained_count: int
    scored_names: int


FULL = Checks(SAMPLER_COUNT, CONSTRAINED_COUNT, SCORED_NAMES)
KEPT = Checks(200, 100, SCORED_NAMES)  # the export `fit` keeps: the same runs and calls, fewer names


class OutOfTime(NamegenError):
    """The deadline given to a validation (or to the build around it) passed before it ended."""


def check_deadline(deadline: float | None, what: str) -> None:
    """Raise OutOfTime when `deadline` (a time.monotonic() value) has passed, before `what`."""
    if deadline is not None and time.monotonic() >= deadline:
        raise OutOfTime(f"the time limit ran out before {what}")


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


def validate(model, exported, names: list[str] | None = None, checks: Checks = FULL, deadline: float | None = None) -> Validation:
    """Compare `exported` (a namegen.runtime.ExportedModel of the sampler and scorer built from
    `model`) with `model`; raise NamegenError if they disagree. `names`: held-out names to score
    (those the vocabulary covers are used, up to `checks.scored_names`); by default names the
    model samples. `deadline` (time.monotonic()): raise OutOfTime between checks once it has passed."""
    scored = [name for name in (names or []) if model.vocab_.covers(name)][: checks.scored_names]
    if not scored:
        scored = model.sample(checks.scored_names, seed=SAMPLED_NAMES_SEED)
    reference = model.log_likelihood(scored)
    difference = float(np.max(np.abs(exported.log_likelihood(scored).astype(np.float64) - reference)))
    equal = total = 0
    drawn = []
    for seed, temperature in SAMPLER_RUNS:
        check_deadline(deadline, "the export was validated")
        expected = model.sample(checks.sampler_count, seed=seed, temperature=temperature)
        got = exported.sample(checks.sampler_count, seed=seed, temperature=temperature)
        equal += sum(a == b for a, b in zip(expected, got))
        total += len(expected)
        drawn = drawn or expected
    check_deadline(deadline, "the export was validated")
    prefix = model.vocab_.chars[1]
    # Names the model draws often enough to come up again as candidates: excluding them must drop the
    # same ones. Known names are left to novel, so that each of the two is checked.
    known = set(model.known_names_ or ())
    exclude = [name for name in dict.fromkeys(drawn) if name.startswith(prefix) and len(name) >= 3 and name not in known][:EXCLUDED_NAMES]
    constraints = {"prefix": prefix, "min_len": 3, "distinct": True, **({"novel": True} if exported.known_names else {}),
                   **({"exclude": exclude} if exclude and exported.takes_exclude else {})}
    with warnings.catch_warnings():  # a small vocabulary may not give the count of distinct names asked for: fewer is fine
        warnings.simplefilter("ignore", NamegenWarning)
        expected = model.sample(checks.constrained_count, seed=CONSTRAINED_SEED, **constraints)
        got = exported.sample(checks.constrained_count, seed=CONSTRAINED_SEED, **constraints)
    equal += sum(a == b for a, b in zip(expected, got)) if len(expected) == len(got) else 0
    total += len(expected)
    result = Validation(difference if np.isfinite(difference) else float("inf"), SCORER_TOLERANCE, len(scored), equal, total)
    if not result.passed:
        raise NamegenError(f"the ONNX export of {model.plugin_name!r} does not match the torch model ({result.summary()}); "
                           "nothing was written. Please report this with the run folder")
    return result
