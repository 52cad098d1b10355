"""The randomness rule's primitives as graph nodes, each the twin of a function in
namegen.sampling (the torch reference), computing the same bits:

* `mix`: the integer hash; `seed_key`, `row_keys` and `uniforms` built on it: the uniform of
  candidate i at step t is (mix(row_key(seed, i) ^ mix(t)) + 0.5) / 2**31, in float64;
* `cdf_of`: the float64 CDF of a row of logits at a temperature (end token masked where a
  name may not end yet), `count_below`: the pick, count(cdf < u * total);
* `next_state`: the table index of the context after a token, for the tabulated loops.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from .. import sampling
from .graph import Graph


def mix(g: Graph, x: str) -> str:
    """namegen.sampling.mix as graph nodes (int64, every value below 2**62)."""
    shifts = [g.i64(s) for s in sampling.SHIFTS]
    mults = [g.i64(m) for m in sampling.MULTIPLIERS]
    mask = g.i64(sampling.MASK31)
    x = g.op("BitwiseXor", x, g.op("Div", x, shifts[0]))
    x = g.op("BitwiseAnd", g.op("Mul", x, mults[0]), mask)
    x = g.op("BitwiseXor", x, g.op("Div", x, shifts[1]))
    x = g.op("BitwiseAnd", g.op("Mul", x, mults[1]), mask)
    return g.op("BitwiseXor", x, g.op("Div", x, shifts[2]))


def seed_key(g: Graph, seed: str) -> str:
    """namegen.sampling.seed_key: mix((seed & MASK31) ^ (((seed >> 31) * SEED_MULTIPLIER) & MASK31)),
    the seed taken modulo 2**62 first."""
    seed = g.op("BitwiseAnd", seed, g.i64(sampling.SEED_MASK))
    mask31 = g.i64(sampling.MASK31)
    high = g.op("BitwiseAnd", g.op("Mul", g.op("Div", seed, g.i64(1 << 31)), g.i64(sampling.SEED_MULTIPLIER)), mask31)
    return mix(g, g.op("BitwiseXor", g.op("BitwiseAnd", seed, mask31), high))


def row_keys(g: Graph, key: str, index: str) -> str:
    """namegen.sampling.row_key of candidates `index` (int64 [n]): mix(seed_key ^ (index & MASK31))."""
    return mix(g, g.op("BitwiseXor", key, g.op("BitwiseAnd", index, g.i64(sampling.MASK31))))


def uniforms(g: Graph, keys: str, step_mix: str) -> str:
    """namegen.sampling.uniforms as graph nodes, given mix(step): float64 in (0, 1)."""
    hashed = g.op("Cast", mix(g, g.op("BitwiseXor", keys, step_mix)), to=TensorProto.DOUBLE)
    return g.op("Mul", g.op("Add", hashed, g.const(0.5, np.float64)), g.const(2.0**-31, np.float64))  # / 2**31, exactly


def cdf_of(g: Graph, logits: str, temperature: str, no_end: str, vocab_size: int) -> str:
    """cumsum(p) along the last axis, p = exp((float64(logits) - max) / temperature) with p[0] = 0
    in the rows where the bool `no_end` (broadcast against [B, 1]) holds, as in sampling.pick."""
    z = g.op("Cast", logits, to=TensorProto.DOUBLE)
    z = g.op("Sub", z, g.op("ReduceMax", z, g.i64([-1]), keepdims=1))
    first = np.zeros((1, vocab_size), np.float64)
    first[0, 0] = 1.0
    masked = g.op("Mul", g.op("Cast", no_end, to=TensorProto.DOUBLE), g.const(first, np.float64))
    keep = g.op("Sub", g.const(1.0, np.float64), masked)
    return g.op("CumSum", g.op("Mul", g.op("Exp", g.op("Div", z, temperature)), keep), g.i64(-1))


def count_below(g: Graph, cdf: str, threshold: str) -> str:
    """count(cdf < threshold) per row of cdf [A, V], threshold [A, 1]: the pick of the rule."""
    return g.op("ReduceSum", g.op("Cast", g.op("Less", cdf, threshold), to=TensorProto.INT64), g.i64([1]), keepdims=0)


def next_state(g: Graph, state: str, chosen: str, vocab_size: int, block_size: int) -> str:
    """The table index of the context after `chosen`: drop the oldest token, append the new one."""
    if block_size == 1:
        return chosen
    kept = g.op("Mod", state, g.i64(vocab_size ** (block_size - 1)))
    return g.op("Add", g.op("Mul", kept, g.i64(vocab_size)), chosen)
