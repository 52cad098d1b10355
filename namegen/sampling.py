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

from typing import TYPE_CHECKING

import numpy as np

from .errors import NamegenError

if TYPE_CHECKING:  # torch is imported inside the torch functions: namegen.runtime uses this module without it
    import torch

SAMPLING_RULE_VERSION = 1
MASK31 = (1 << 31) - 1
SEED_MASK = (1 << 62) - 1  # seeds are taken modulo 2**62
MULTIPLIERS = (0x2C1B3C6D, 0x297A2D39)  # odd, below 2**30: products of 31-bit values stay below 2**61
SEED_MULTIPLIER = 0x5BD1E995  # odd, below 2**31
SHIFTS = (1 << 16, 1 << 15, 1 << 16)  # x // SHIFT is a right shift for x >= 0
MAX_COUNT = 1_000_000  # most names in one call, for the ONNX sampler too: [count, max_len] int64 must fit
MAX_LEN = 10_000  # the longest name a sampler may draw (twice data.MAX_NAME_LEN)
MAX_CELLS = 1 << 26  # count * max_len at most: the [count, max_len] int64 tokens stay within 512 MiB


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
    """The temperature as the float32 the ONNX graph receives; it must be positive and finite."""
    try:
        t32 = float(np.float32(temperature))
    except (TypeError, ValueError):
        t32 = float("nan")
    if not (t32 > 0 and np.isfinite(t32)):
        raise NamegenError(f"temperature must be a positive number, got {temperature}")
    return t32


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_count(count: int, cap: int = MAX_COUNT) -> int:
    """How many names to draw: an integer from 1 to `cap`."""
    if not _is_int(count) or not 1 <= count <= cap:
        raise NamegenError(f"number of names must be an integer from 1 to {cap:,}, got {count!r}")
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


def pick(logits: torch.Tensor, u: torch.Tensor, temperature: float, at_start: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF pick of the next token for each row of `logits` [B, V] (float64 from the
    sampler). Rows `at_start` (the context's last token is the boundary) cannot end there:
    names are never empty."""
    import torch

    z = logits.double()
    z = (z - z.max(dim=-1, keepdim=True).values) / temperature
    p = torch.exp(z)
    p[:, 0] = torch.where(at_start, 0.0, p[:, 0])
    cdf = p.cumsum(dim=-1)
    chosen = (cdf < u[:, None] * cdf[:, -1:]).sum(dim=-1)
    return chosen.clamp(max=logits.shape[-1] - 1)


def sample_tokens(network, count: int, seed: int, temperature: float, max_len: int, prefix: list[int] = ()) -> torch.Tensor:
    """Token ids [count, max_len] (0-padded) of `count` names drawn by the contract above.

    Names that are still going after `max_len` characters are cut there. Only the names still
    going are fed to the network at each step: a name's draws depend on (seed, i, t), not on
    which other names are alive.
    """
    import torch

    with torch.no_grad():
        return _sample_tokens(torch, network, count, seed, temperature, max_len, prefix)


def _sample_tokens(torch, network, count, seed, temperature, max_len, prefix):
    block_size = network.block_size
    tokens = torch.zeros(count, max_len, dtype=torch.int64)
    context = torch.zeros(count, block_size + len(prefix), dtype=torch.int64)
    if prefix:
        tokens[:, : len(prefix)] = torch.tensor(prefix)
        context[:, block_size:] = torch.tensor(prefix)
    context = context[:, context.shape[1] - block_size :]
    alive = torch.arange(count, dtype=torch.int64)
    keys = row_keys(seed, alive)
    for step in range(len(prefix), max_len):
        chosen = pick(network(context), uniforms(keys, step), temperature, context[:, -1] == 0)
        tokens[alive, step] = chosen
        going = chosen != 0
        if not bool(going.any()):
            break
        alive, keys = alive[going], keys[going]
        context = torch.cat([context[going, 1:], chosen[going, None]], dim=1)
    return tokens
