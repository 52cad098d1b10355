"""Token rows to strings. Stock ONNX has no operator that maps a tensor of ids to characters
and joins them, so a name is spelled in chunks of k tokens: each chunk's base-V number is one
`LabelEncoder` lookup (a table of V**k strings, each the chunk's characters up to its first 0)
and the pieces are joined with `StringConcat` in a Loop over chunks, names sorted by length and
built from their last chunk back, each chunk only for the names that reach it: work in
proportion to the characters.
"""

from __future__ import annotations

import itertools

import numpy as np
from onnx import TensorProto, numpy_helper

from .graph import Graph, LoopBody, Type

# LabelEncoder entries at most: each lookup spells k tokens, V**k <= this. 1,000 (k = 2 for 27
# tokens): a little slower to spell than k = 3 (19,683 entries), for a far smaller sampler.
CHUNK_ENTRIES = 1000
STRINGS = Type(TensorProto.STRING, None)


def spelling(chars: tuple[str, ...]) -> tuple[int, np.ndarray, list[int], list[str]]:
    """Chunks of k tokens as one LabelEncoder lookup each (V**k <= CHUNK_ENTRIES): returns k,
    the base-V weights of a chunk's tokens, and the keys and strings of every chunk (a chunk
    spells its tokens up to the first 0)."""
    vocab_size, k = len(chars), 1
    while vocab_size ** (k + 1) <= CHUNK_ENTRIES:
        k += 1
    weights = vocab_size ** np.arange(k - 1, -1, -1)
    combos = list(itertools.product(range(vocab_size), repeat=k))
    spelled = ["".join(chars[t] for t in itertools.takewhile(bool, combo)) for combo in combos]
    return k, weights, (np.array(combos) @ weights).tolist(), spelled


def spell(g: Graph, keys: str, chars: tuple[str, ...]) -> str:
    """The strings of chunk keys (any shape): the spelling table's one lookup."""
    _, _, table_keys, spelled = spelling(chars)
    return g.op("LabelEncoder", keys, domain="ai.onnx.ml", keys_int64s=table_keys, values_strings=spelled, default_string="")


def chunk_keys(g: Graph, rows: str, chars: tuple[str, ...]) -> tuple[str, str]:
    """[count, steps] token rows (TOKEN_TYPE) -> ([count, chunks] int64 chunk keys, chunks as a [1]
    tensor). The base-V sum of each chunk is a float32 MatMul: exact, as keys stay below 2**24."""
    k, weights, _, _ = spelling(chars)
    steps = g.op("Shape", rows, start=1, end=2)
    chunks = g.op("Div", g.op("Add", steps, g.i64([k - 1])), g.i64([k]))
    padded = g.op("Pad", rows, g.op("Concat", g.i64([0, 0, 0]), g.op("Sub", g.op("Mul", chunks, g.i64([k])), steps), axis=0))
    grouped = g.op("Cast", g.op("Reshape", padded, g.op("Concat", g.i64([0]), chunks, g.i64([k]), axis=0)), to=TensorProto.FLOAT)
    keyed = g.op("MatMul", grouped, g.const(weights.reshape(k, 1), np.float32))
    return g.op("Cast", g.op("Squeeze", keyed, g.i64([2])), to=TensorProto.INT64), chunks


def empty_strings(g: Graph, like: str) -> str:
    """Empty strings shaped like the int64 tensor `like` (a LabelEncoder that matches no key)."""
    return g.op("LabelEncoder", like, domain="ai.onnx.ml", keys_int64s=[-1], values_strings=["-"], default_string="")


def name_lengths(g: Graph, rows: str) -> str:
    """[batch] int64 lengths of token rows [batch, max_len] (TOKEN_TYPE): the first 0 ends a name."""
    end_column = g.op("ConstantOfShape", g.op("Concat", g.op("Shape", rows, start=0, end=1), g.i64([1]), axis=0),
                      value=numpy_helper.from_array(np.zeros(1, np.uint8)))
    return g.op("ArgMin", g.op("Concat", rows, end_column, axis=1), axis=1, keepdims=0)


def up_to_longest(g: Graph, rows: str, lengths: str) -> str:
    """rows[:, :max(lengths)]: the columns past every name's end spell nothing."""
    longest = g.op("ReduceMax", g.op("Concat", lengths, g.i64([0]), axis=0), keepdims=1)
    return g.op("Slice", rows, g.i64([0]), longest, g.i64([1]))


def join(g: Graph, rows: str, lengths: str, chars: tuple[str, ...]) -> str:
    """The names of token rows [count, max_len] (TOKEN_TYPE) with `lengths` [count]:

        keys, order, reach = sorted_layout(rows)
        names = join_sorted(spell(keys), order, reach)
    """
    keys, order, reach = sorted_layout(g, rows, lengths, chars)
    return join_sorted(g, spell(g, keys, chars), order, reach, lengths)


def sorted_layout(g: Graph, rows: str, lengths: str, chars: tuple[str, ...]) -> list[str]:
    """Many names: only the chunks that hold characters, by chunk, longest names first:

        order = names by length, longest first; keys = chunk_keys(rows[order, :max(lengths)])
        reach[c] = how many names are longer than c * k     (they are the first reach[c] of `order`)
        flat = keys[:reach[0], 0] ++ keys[:reach[1], 1] ++ ...
    """
    k, _, _, _ = spelling(chars)
    sorted_lengths, order = g.op("TopK", lengths, g.op("Shape", lengths), outputs=2, largest=1, sorted=1)
    keyed, chunks = chunk_keys(g, up_to_longest(g, g.op("Gather", rows, order, axis=0), lengths), chars)
    chunk_starts = g.op("Mul", g.op("Range", g.i64(0), g.op("Squeeze", chunks, g.i64([0])), g.i64(1)), g.i64(k))
    reached = g.op("Greater", g.op("Unsqueeze", sorted_lengths, g.i64([0])), g.op("Unsqueeze", chunk_starts, g.i64([1])))  # [chunks, count]
    reach = g.op("ReduceSum", g.op("Cast", reached, to=TensorProto.INT64), g.i64([1]), keepdims=0)
    flat = g.op("Compress", g.op("Transpose", keyed, perm=[1, 0]), g.op("Reshape", reached, g.i64([-1])))  # chunk by chunk
    return [flat, order, reach]


def join_sorted(g: Graph, pieces: str, order: str, reach: str, lengths: str) -> str:
    """Many names: work in proportion to the characters, not to count x the longest name. The
    names are built from their last chunk back; chunk c only touches the reach[c] names that
    reach it, a prefix of the sorted order:

        ends = cumsum(reach); suffix = []
        for c in chunks - 1 .. 0:
            suffix = pieces[ends[c] - reach[c] : ends[c]] + (suffix ++ [""] * (reach[c] - len(suffix)))
        names[order] = suffix ++ [""] * (count - len(suffix))
    """
    empty = empty_strings(g, lengths)
    ends = g.op("CumSum", reach, g.i64(0))
    chunks = g.op("Shape", reach)
    j = LoopBody("sorted/", carried={"suffix": STRINGS})
    chunk = j.op("Sub", j.op("Sub", chunks, j.op("Unsqueeze", j.iteration, j.i64([0]))), j.i64([1]))  # [1], last first
    reached, end = j.op("Gather", reach, chunk), j.op("Gather", ends, chunk)
    grown = j.op("Concat", j["suffix"], j.op("Slice", empty, j.i64([0]), j.op("Sub", reached, j.op("Shape", j["suffix"]))), axis=0)
    j.finish(None, {"suffix": j.op("StringConcat", j.op("Slice", pieces, j.op("Sub", end, reached), end), grown)})
    built = g.loop(j, g.op("Squeeze", chunks, g.i64([0])), "", {"suffix": g.op("Slice", empty, g.i64([0]), g.i64([0]))})["suffix"]
    in_order = g.op("Concat", built, g.op("Slice", empty, g.op("Shape", built), g.op("Shape", lengths)), axis=0)
    return g.op("ScatterElements", empty, order, in_order, axis=0)  # back to sampling order: order[r] takes sorted name r
