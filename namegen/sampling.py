"""The randomness contract: a sample is a pure function of (model, seed, temperature).

Name i, step t (the position of the character being drawn) uses the uniform

    u(i, t) = (mix(row_key(seed, i) ^ mix(t)) + 0.5) / 2**31
    row_key(seed, i) = mix(seed_key(seed) ^ i),  seed_key(s) = mix(lo31(s) ^ (hi31(s) * 0x5BD1E995 mod 2**31))

where `mix` is a 31-bit integer hash built from operations that numpy, torch, ONNX and
JavaScript (BigInt) all compute exactly: xor, and, multiplication with products below 2**62,
and division of non-negative numbers by powers of two. With `logits` from the network run in
float64 (its float32 weights widened), the next token is the inverse-CDF pick

    p   = exp((logits - max) / float64(temperature))                # temperature is a float32
    p[0] = 0 if the context's last token is the boundary              # names are never empty
    cdf = cumsum(p)
    next = min(count(cdf < u * cdf[-1]), V - 1)

computed in float64 from end to end, so float32 rounding (which differs between torch and
onnxruntime matrix products, and between batch sizes) cannot send two runtimes different ways. The ONNX sampler (namegen/exports/onnx.py) builds the same steps
as graph nodes; `sample_tokens` below is the torch reference. Change either only together,
and bump SAMPLING_RULE_VERSION.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .contract import has_step_form  # noqa: F401 - also sampling's: the samplers and the exporter ask it here
from .errors import NamegenError

if TYPE_CHECKING:  # torch is imported inside the torch functions: namegen.runtime uses this module without it
    import torch

SAMPLING_RULE_VERSION = 2  # 2 added the constraints (rule 2); rule 1, unconstrained sampling, is unchanged
MASK31 = (1 << 31) - 1
SEED_MASK = (1 << 62) - 1  # seeds are taken modulo 2**62
MULTIPLIERS = (0x2C1B3C6D, 0x297A2D39)  # odd, below 2**30: products of 31-bit values stay below 2**61
SEED_MULTIPLIER = 0x5BD1E995  # odd, below 2**31
SHIFTS = (1 << 16, 1 << 15, 1 << 16)  # x // SHIFT is a right shift for x >= 0
MAX_COUNT = 1_000_000  # most names in one call, for the ONNX sampler too: [count, max_len] int64 must fit
MAX_LEN = 10_000  # the longest name a sampler may draw (twice data.MAX_NAME_LEN)
MAX_CELLS = 1 << 26  # count * max_len at most: the [count, max_len] int64 tokens stay within 512 MiB
MAX_CANDIDATES = 1_000_000  # rule 2: candidates one call may draw at most
# Rule 2 draws candidates whose candidate_cost adds up to at most this (unless count alone is more):
# a bound on a call's work that holds for wide networks too (2**22 tokens for small ones).
MAX_CANDIDATE_WORK, MIN_TOKEN_COST = 1 << 37, 1 << 15
MAX_BATCH = 1 << 20  # rows of one candidate batch at most: per-row costs (strings, hashes) dominate short names; >= MAX_COUNT
MIN_TEMPERATURE = float(np.float32(2.0**-149))  # float32's smallest positive (a subnormal) and largest: what
MAX_TEMPERATURE = float(np.finfo(np.float32).max)  # check_temperature accepts, and so what the graph clamps into
CANDIDATES_PER_NAME, MIN_CANDIDATES = 100, 10_000  # rule 2's default budget: max(MIN, PER_NAME * count)


def mix(x):
    """The 31-bit hash; `x` in [0, 2**31): a Python int, a numpy or a torch int64 array."""
    x = x ^ (x // SHIFTS[0])
    x = (x * MULTIPLIERS[0]) & MASK31
    x = x ^ (x // SHIFTS[1])
    x = (x * MULTIPLIERS[1]) & MASK31
    return x ^ (x // SHIFTS[2])


def seed_key(seed: int) -> int:
    """The seed folded to 31 bits: its high 31 bits are scrambled by an odd multiplier, then mixed in."""
    seed &= SEED_MASK
    return mix((seed & MASK31) ^ (((seed >> 31) * SEED_MULTIPLIER) & MASK31))


def row_keys(seed: int, index):
    """Per-name keys for names `index` (int64 array or tensor)."""
    return mix(seed_key(seed) ^ (index & MASK31))


def uniforms(keys, step: int):
    """u(i, t) for the names with `keys` at step t, float64 in (0, 1)."""
    x = mix(keys ^ mix(step))
    if hasattr(x, "double"):  # a torch tensor: int64 + 0.5 would give the default float32
        x = x.double()
    return (x + 0.5) / float(1 << 31)


def check_temperature(temperature: float) -> float:
    """The temperature as the float32 the ONNX graph receives: a number whose float32 is positive
    and finite, so from MIN_TEMPERATURE to MAX_TEMPERATURE."""
    if not isinstance(temperature, numbers.Real) or isinstance(temperature, (bool, np.bool_)):
        raise NamegenError(f"temperature must be a number, got {temperature!r} (a {type(temperature).__name__})")
    try:
        with np.errstate(over="ignore"):  # beyond float32's range: inf, refused below
            t32 = float(np.float32(temperature))
    except (TypeError, ValueError, OverflowError):
        t32 = float("nan")
    if not (t32 > 0 and np.isfinite(t32)):
        raise NamegenError(f"temperature must be a positive number at most {MAX_TEMPERATURE!r} (float32's largest), got {temperature!r}")
    return t32


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_count(count: int, cap: int = MAX_COUNT, name: str = "n") -> int:
    """How many names to draw: an integer from 1 to `cap`; `name` is the argument as the caller wrote it."""
    if not _is_int(count) or not 1 <= count <= cap:
        raise NamegenError(f"{name} must be an integer from 1 to {cap:,}, got {count!r}")
    return int(count)


def check_seed(seed: int) -> int:
    """A seed is any integer (taken modulo 2**62)."""
    if not _is_int(seed):
        raise NamegenError(f"seed must be an integer, got {seed!r}")
    return int(seed)


def check_max_len(max_len: int, count: int, prefix_len: int = 0) -> int:
    """The sampling cap: an integer longer than the prefix, at most MAX_LEN, and small enough
    that the [count, max_len] token table stays within MAX_CELLS."""
    if not _is_int(max_len) or not prefix_len < max_len <= MAX_LEN:
        raise NamegenError(f"max_len must be an integer from {prefix_len + 1} (longer than the prefix) to {MAX_LEN:,}, got {max_len!r}")
    if count * max_len > MAX_CELLS:
        raise NamegenError(f"{count:,} names of up to {max_len:,} characters is too much for one call "
                           f"(count x max_len at most {MAX_CELLS:,}); draw fewer names per call or lower max_len")
    return int(max_len)


def pick(logits: torch.Tensor, u: torch.Tensor, temperature: float, no_end: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF pick of the next token for each row of `logits` [B, V] (float64 from the
    sampler). Rows `no_end` cannot end there: names are never empty (the context's last token
    is the boundary) nor, in rule 2, shorter than min_len."""
    import torch

    z = logits.double()
    z = (z - z.max(dim=-1, keepdim=True).values) / temperature
    p = torch.exp(z)
    p[:, 0] = torch.where(no_end, 0.0, p[:, 0])
    cdf = p.cumsum(dim=-1)
    chosen = (cdf < u[:, None] * cdf[:, -1:]).sum(dim=-1)
    return chosen.clamp(max=logits.shape[-1] - 1)


def sample_tokens(network, count: int, seed: int, temperature: float, max_len: int, prefix: list[int] = (),
                  min_len: int = 1, first: int = 0) -> torch.Tensor:
    """Token ids [count, max_len] (0-padded) of names first .. first + count - 1 drawn by the
    contract above (rule 1; with `prefix` and `min_len`, rule 2's candidates).

    The prefix's tokens are forced: drawing starts at step len(prefix). The end token cannot be
    drawn at a step below `min_len`. Names that are still going after `max_len` characters are
    cut there. Only the names still going are fed to the network at each step: a name's draws
    depend on (seed, i, t), not on which other names are alive.
    """
    import torch

    with torch.no_grad():
        return _sample_tokens(torch, network, count, seed, temperature, max_len, prefix, min_len, first)


def _sample_tokens(torch, network, count, seed, temperature, max_len, prefix, min_len, first):
    block_size = network.block_size
    tokens = torch.zeros(count, max_len, dtype=torch.int64)
    if prefix:
        tokens[:, : len(prefix)] = torch.tensor(prefix)
    alive = torch.arange(count, dtype=torch.int64)
    keys = row_keys(seed, alive + first)
    step = len(prefix)
    if has_step_form(network):
        step, alive, keys = _incremental_steps(torch, network, tokens, alive, keys, step, temperature, min(max_len, block_size), min_len)
    # The window: the last block_size tokens of boundary tokens + the name so far.
    context = torch.cat([torch.zeros(len(alive), block_size, dtype=torch.int64), tokens[alive, :step]], dim=1)[:, step:]
    first = step
    for step in range(first, max_len if len(alive) else first):
        # The context ends in the boundary only at step 0: rule 1's "never empty" is min_len 1.
        no_end = (context[:, -1] == 0) | (step < min_len)
        chosen = pick(network(context), uniforms(keys, step), temperature, no_end)
        tokens[alive, step] = chosen
        going = chosen != 0
        if not bool(going.any()):
            break
        alive, keys = alive[going], keys[going]
        context = torch.cat([context[going, 1:], chosen[going, None]], dim=1)
    return tokens


def _incremental_steps(torch, network, tokens, alive, keys, step, temperature, until, min_len):
    """Steps `step` .. until - 1 (until <= block_size) by the network's step form, which reads one
    token per call and carries a state (an RNN's hidden state, a transformer's key/value cache)
    instead of reading the whole window:

        network.initial_state() -> state before any token (a list of tensors [1, ...])
        network.step(token [B], state) -> (logits [B, V] after it, the state after it)

    where feeding the stream's boundary token and then the name's characters gives, after the
    character at position t (< block_size), the logits `forward` gives for the window that ends
    there. Writes the drawn tokens into `tokens`; returns (next step, alive, keys)."""
    stream = [0, *tokens[0, :step].tolist()]  # the boundary token, then the prefix
    if step >= until:
        return step, alive, keys
    state = network.initial_state()
    for token in stream[:step]:  # the same for every name: fed once, at batch 1
        _, state = network.step(torch.tensor([token]), state)
    state = [s.expand(len(alive), *s.shape[1:]) for s in state]
    token = torch.full((len(alive),), stream[step], dtype=torch.int64)
    first = step
    for step in range(first, until):
        logits, state = network.step(token, state)
        chosen = pick(logits, uniforms(keys, step), temperature, torch.tensor(step == 0 or step < min_len))
        tokens[alive, step] = chosen
        going = chosen != 0
        alive, keys, token = alive[going], keys[going], chosen[going]
        if not len(alive):
            return step + 1, alive, keys
        state = [s[going] for s in state]
    return until, alive, keys


# ---- the known names, for `novel` -------------------------------------------------------------
# A name is known when its fingerprint is among the known names' fingerprints. The fingerprint of
# tokens c_0 .. c_{L-1} (ids, no boundary token) is F mod 2**bits, where
#
#     term(t) = mix(mix(t) ^ c_t)
#     F       = (sum_t mix(term(t) ^ FINGERPRINT_SALT) mod 2**31) * 2**31 + (sum_t term(t) mod 2**31)
#
# exact in int64 (sums of at most MAX_LEN terms below 2**31) in numpy, torch and ONNX alike, and
# blind to 0-padding. The export stores the set as KnownNames.tables (2 bytes a name and 1 a bucket,
# where the strings took about 10 bytes a name); a name not in the set still matches with
# probability len(keys) / 2**bits, at most KNOWN_LOAD / 2**REMAINDER_BITS (6.1e-5): torch tests the
# same fingerprints, so every runtime rejects the same candidates.
FINGERPRINT_SALT = 0x1B873593  # below 2**31: the high half hashes each term again
REMAINDER_BITS = 16  # the low bits of a fingerprint, stored per name (uint16); the bits above pick its bucket
KNOWN_LOAD = 4  # buckets: the fewest, a power of two, holding at most this many names each on average
MAX_BUCKET = 255  # names in one bucket at most (its count is a uint8); more buckets until it holds


def fingerprint_rows(rows, bits: int) -> np.ndarray:
    """The fingerprints (see above) of token rows int64 [N, L], 0-padded: int64 [N] in [0, 2**bits)."""
    rows = np.asarray(rows, dtype=np.int64)
    terms = mix(mix(np.arange(rows.shape[1], dtype=np.int64))[None, :] ^ rows)
    present = rows != 0
    key = np.where(present, terms, 0).sum(axis=1) & MASK31
    if bits > 31:
        key |= (np.where(present, mix(terms ^ FINGERPRINT_SALT), 0).sum(axis=1) & MASK31) << 31
    return key & ((1 << bits) - 1)


def known_bucket_bits(names: int) -> int:
    """log2 of the fewest buckets (a power of two) that hold at most KNOWN_LOAD of `names` names each on average."""
    return max(0, (names - 1) // KNOWN_LOAD).bit_length()


@dataclass(frozen=True, eq=False)
class KnownNames:
    """The names `novel` rejects, as sorted distinct fingerprints of `bits` bits (REMAINDER_BITS
    stored per name, the rest pick one of 2**(bits - REMAINDER_BITS) buckets)."""

    bits: int
    keys: np.ndarray = field(repr=False)  # int64, sorted, distinct
    names: int  # distinct names fingerprinted

    @classmethod
    def of(cls, encoded: Iterable[Sequence[int]]) -> KnownNames:
        """The set of names given as token ids (names that the vocabulary cannot spell are left out
        by the caller: they can never be drawn)."""
        unique = set(map(tuple, encoded))
        by_length: dict[int, list] = {}
        for ids in unique:  # rows of equal length: no padding, whatever the longest name
            by_length.setdefault(len(ids), []).append(ids)
        bucket_bits = known_bucket_bits(len(unique))
        while True:
            bits = bucket_bits + REMAINDER_BITS
            keys = np.unique(np.concatenate([np.zeros(0, np.int64)] + [fingerprint_rows(rows, bits) for rows in by_length.values()]))
            crowded = len(keys) and np.unique(keys >> REMAINDER_BITS, return_counts=True)[1].max() > MAX_BUCKET
            if not crowded or bits >= 62:
                return cls(bits, keys, len(unique))
            bucket_bits += 1

    def holds(self, rows) -> np.ndarray:
        """Whether each of the token rows [N, L] (0-padded) has a known fingerprint: bool [N]."""
        key = fingerprint_rows(rows, self.bits)
        at = np.minimum(np.searchsorted(self.keys, key), max(len(self.keys) - 1, 0))
        return self.keys[at] == key if len(self.keys) else np.zeros(len(key), bool)

    def tables(self) -> tuple[np.ndarray, np.ndarray, int]:
        """What the export stores: each bucket's count of keys, uint8 [2**(bits - REMAINDER_BITS)];
        the keys' low REMAINDER_BITS in key order, uint16 [max(1, len(keys))] (a lone 0 when there is
        none: a gather needs a row); and the most keys a bucket holds (at least 1)."""
        counts = np.bincount(self.keys >> REMAINDER_BITS, minlength=1 << (self.bits - REMAINDER_BITS)).astype(np.uint8)
        remainders = (self.keys & ((1 << REMAINDER_BITS) - 1)).astype(np.uint16)
        return counts, remainders if len(remainders) else np.zeros(1, np.uint16), max(1, int(counts.max(initial=0)))


@dataclass(frozen=True)
class Constraints:
    """Rule 2's constraints, as token ids (see `sample_constrained`)."""

    max_len: int
    prefix: tuple[int, ...] = ()
    suffix: tuple[int, ...] = ()
    contains: tuple[int, ...] = ()
    min_len: int = 1
    novel: KnownNames | None = None  # candidates with a known fingerprint are rejected
    exclude: frozenset = frozenset()  # token tuples: candidates among them are rejected
    distinct: bool = False
    max_candidates: int | None = None  # None: the default budget

    @property
    def rejects(self) -> bool:
        """Whether any candidate can be rejected (otherwise candidate i is name i)."""
        return bool(self.suffix or self.contains or self.novel is not None or self.exclude or self.distinct)

    def budget(self, count: int, cost: int) -> int:
        """max_candidates, else count when nothing rejects, else max(MIN, PER_NAME * count); then
        at most MAX_CANDIDATES and max(count, MAX_CANDIDATE_WORK // cost), `cost` the network's
        `candidate_cost` at max_len (the graph's candidate_budget)."""
        if self.max_candidates is not None:
            budget = self.max_candidates
        else:
            budget = max(MIN_CANDIDATES, CANDIDATES_PER_NAME * count) if self.rejects else count
        return min(budget, MAX_CANDIDATES, max(count, MAX_CANDIDATE_WORK // cost))

    def passes(self, name: tuple[int, ...], known: bool = False) -> bool:
        """Suffix, contains, novel (`known`: the name's fingerprint is a known name's, from
        KnownNames.holds) and exclude: the tests of one candidate on its own."""
        if self.suffix and name[-len(self.suffix):] != self.suffix:
            return False
        if self.contains and not any(name[a : a + len(self.contains)] == self.contains
                                     for a in range(len(name) - len(self.contains) + 1)):
            return False
        return not (self.novel is not None and known) and name not in self.exclude


MIN_BATCH = 64  # rule 2's batches after the first draw at least this many candidates: a step loop's cost is per step up to about here


def next_batch_size(count: int, accepted: int, drawn: int, last: int) -> int:
    """Rule 2's next batch of candidates, after `drawn` candidates (the last batch `last` of
    them) gave `accepted` of the `count` names: the names still wanted over the pass rate seen
    so far, and a quarter more, so that one more batch usually ends the call (at least
    MIN_BATCH); twice the last batch while none has passed. Only speed depends on it: the
    answer is the same for any batching."""
    if accepted == 0:
        return 2 * last
    return max(MIN_BATCH, -(-(count - accepted) * drawn * 5 // (accepted * 4)))


def candidate_cost(network, max_len: int) -> int:
    """The work of drawing one candidate of up to `max_len` tokens, for rule 2's budget, counted
    in passes over the network's parameters (at least MIN_TOKEN_COST of them): one a token; but
    where the network has a step form, the tokens past block_size run on the whole window,
    block_size passes each."""
    passes = max(MIN_TOKEN_COST, sum(p.numel() for p in network.parameters()))
    if not has_step_form(network):
        return passes * max_len
    window = network.block_size
    return passes * (min(max_len, window) + max(0, max_len - window) * window)


def batch_cap(max_len: int, contains: int = 0) -> int:
    """The most candidates a batch may hold: at most MAX_BATCH, and its [batch, max_len] rows and
    [batch, max_len, len(contains)] windows stay within MAX_CELLS."""
    return min(MAX_BATCH, max(1, MAX_CELLS // (max_len * (min(contains, MAX_LEN + 1) + 1))))


def sample_constrained(network, count: int, seed: int, temperature: float, rule: Constraints) -> torch.Tensor:
    """Token ids [found, max_len] of the names rule 2 gives: candidates 0, 1, 2, ... drawn by
    `sample_tokens` (prefix forced, min_len, max_len), of which the first `count` that pass
    (suffix, contains, novel, exclude; distinct: not equal to an earlier accepted name) are the answer,
    among at most `rule.budget(count, candidate_cost(network, rule.max_len))` candidates; found < count when the budget ran out."""
    import torch

    accepted, seen = [], set()
    budget, cap = rule.budget(count, candidate_cost(network, rule.max_len)), batch_cap(rule.max_len, len(rule.contains))
    start, size = 0, count
    while start < budget:
        size = max(1, min(size, budget - start, cap))
        rows = sample_tokens(network, size, seed, temperature, rule.max_len, rule.prefix, rule.min_len, start)
        known = rule.novel.holds(rows.numpy()) if rule.novel is not None else np.zeros(len(rows), bool)
        for row, is_known in zip(rows.tolist(), known.tolist()):
            name = tuple(t for t in row if t)  # tokens after the end are 0
            if rule.passes(name, is_known) and not (rule.distinct and name in seen):
                seen.add(name)
                accepted.append(row)
                if len(accepted) == count:
                    return torch.tensor(accepted, dtype=torch.int64)
        start, size = start + size, min(next_batch_size(count, len(accepted), start + size, size), MAX_CANDIDATES)
    return torch.tensor(accepted, dtype=torch.int64).reshape(len(accepted), rule.max_len)


def check_exclude(vocab, exclude) -> frozenset:
    """The names of `exclude` (an iterable of strings, or None) as token tuples. A name the
    vocabulary cannot spell (an unknown character, the boundary token, empty) can never be drawn:
    it is left out, not an error. Names are compared as given (no case folding)."""
    if exclude is None:
        return frozenset()
    if isinstance(exclude, (str, bytes)):
        raise NamegenError(f"exclude must be a list of names, not one string ({exclude!r})")
    try:
        names = list(exclude)
    except TypeError:
        raise NamegenError(f"exclude must be a list of names (strings), got {exclude!r}") from None
    bad = [name for name in names if not isinstance(name, str)][:1]  # a list: the bad value may be None itself
    if bad:
        raise NamegenError(f"exclude must hold names (strings), got {bad[0]!r}")
    return frozenset(tuple(vocab.encode(name)) for name in names if name and vocab.covers(name))


def check_constraints(vocab, count: int, default_max_len: int, known: KnownNames | None, *, prefix: str = "",
                      suffix: str = "", contains: str = "", min_len: int | None = None, max_len: int | None = None,
                      novel: bool = False, exclude: Iterable[str] | None = None, distinct: bool = False,
                      max_candidates: int | None = None) -> Constraints:
    """Rule 2's constraints from a caller's arguments, each checked with an error that names it.
    `known`: the known names (None when the model has none with it; a runtime whose graph tests
    them passes any other value)."""
    texts = {}
    for label, text in (("prefix", prefix), ("suffix", suffix), ("contains", contains)):
        if not isinstance(text, str):
            raise NamegenError(f"{label} must be a string, got {text!r}")
        try:
            texts[label] = tuple(vocab.encode(text))
        except NamegenError as err:
            raise NamegenError(f"{label} {text!r} cannot be drawn: {err}") from None
    for label, flag in (("novel", novel), ("distinct", distinct)):
        if not isinstance(flag, (bool, np.bool_)):
            raise NamegenError(f"{label} must be True or False, got {flag!r}")
    excluded = check_exclude(vocab, exclude)
    max_len = check_max_len(default_max_len if max_len is None else max_len, count, len(texts["prefix"]))
    if min_len is not None and (not _is_int(min_len) or not 1 <= min_len <= max_len):
        raise NamegenError(f"min_len must be an integer from 1 to max_len ({max_len:,}), got {min_len!r}")
    if max_candidates is not None and (not _is_int(max_candidates) or not 1 <= max_candidates <= MAX_CANDIDATES):
        raise NamegenError(f"max_candidates must be an integer from 1 to {MAX_CANDIDATES:,}, got {max_candidates!r}")
    if novel and known is None:
        raise NamegenError("novel needs the known names, and this model holds none "
                           "(an export written with --no-known-names, or a run saved before namegen kept them)")
    return Constraints(max_len=max_len, prefix=texts["prefix"], suffix=texts["suffix"], contains=texts["contains"],
                       min_len=1 if min_len is None else int(min_len), novel=known if novel else None, exclude=excluded,
                       distinct=bool(distinct), max_candidates=None if max_candidates is None else int(max_candidates))
