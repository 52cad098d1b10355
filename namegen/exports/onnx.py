"""ONNX export: a self-contained sampler and a scorer, built around the plugin's own network.

The network (context int64 [B, block_size] -> logits float32 [B, V]) is exported once with
torch.onnx and spliced in as a subgraph; everything around it is written here once, for
every plugin:

* sampler (`NAME.onnx`): inputs `seed` int64 [], `count` int64 [], `temperature` float32 [];
  outputs `names` string [count] and `tokens` int64 [count, max_len] (0-padded). A Loop of at
  most max_len steps runs the network on the names still going, draws the uniforms from the
  integer hash of namegen.sampling and picks by inverse CDF in float64, exactly as the torch
  sampler does; it ends early once every name has ended.
* scorer (`NAME.scorer.onnx`): input `tokens` int64 [B, T] (names without boundary tokens,
  0-padded); outputs `log_likelihood` float32 [B] (end token included) and
  `token_log_probs` float32 [B, T + 1] (log p of each observed token, 0 past the end).

Both carry the vocabulary and the rest of what an app needs in `metadata_props`.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import math
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from .. import __version__
from .. import sampling
from ..checkpoint import write_atomic
from ..runtime import SAMPLER_FORMAT, SCORER_FORMAT, scorer_path

OPSET = 21  # ONNX 1.16 operator set: StringConcat (20), BitwiseXor/And (18)
ML_OPSET = 4  # ai.onnx.ml: LabelEncoder
IR_VERSION = 10
TOKEN_TYPE = TensorProto.UINT8  # token ids inside the sampler (V <= 256): an eighth of int64's memory traffic
TABLE_LIMIT = 1 << 16  # list every context (V**block_size of them) up to this many, and tabulate the network
CHUNK_ENTRIES = 20_000  # LabelEncoder entries at most: each lookup spells k tokens, V**k <= this


class Graph:
    """A tiny builder: `g.op("Add", a, b)` appends a node and returns its output's name."""

    def __init__(self, prefix: str):
        self.prefix, self.nodes, self.initializers, self.count = prefix, [], [], 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{self.prefix}{hint}_{self.count}"

    def op(self, op_type: str, *inputs: str, outputs: int = 1, domain: str = "", name: str | None = None, **attrs):
        outs = [name] if name else [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, domain=domain or None, **attrs))
        return outs[0] if outputs == 1 else outs

    def const(self, value, dtype, hint: str = "const") -> str:
        """A constant as a Constant node (usable in any graph, subgraphs included)."""
        return self.op("Constant", value=numpy_helper.from_array(np.asarray(value, dtype=dtype), self.name(hint)))

    def i64(self, value, hint: str = "i64") -> str:
        return self.const(value, np.int64, hint)


def mix(g: Graph, x: str) -> str:
    """namegen.sampling.mix as graph nodes (int64, every value below 2**62)."""
    shifts = [g.i64(s, "shift") for s in sampling.SHIFTS]
    mults = [g.i64(m, "mult") for m in sampling.MULTIPLIERS]
    mask = g.i64(sampling.MASK31, "mask31")
    x = g.op("BitwiseXor", x, g.op("Div", x, shifts[0]))
    x = g.op("BitwiseAnd", g.op("Mul", x, mults[0]), mask)
    x = g.op("BitwiseXor", x, g.op("Div", x, shifts[1]))
    x = g.op("BitwiseAnd", g.op("Mul", x, mults[1]), mask)
    return g.op("BitwiseXor", x, g.op("Div", x, shifts[2]))


def export_network(model) -> onnx.ModelProto:
    """The plugin's network alone, as ONNX: `context` int64 [batch, block_size] -> `logits`."""
    network = model._fitted().eval()
    example = torch.zeros(2, network.block_size, dtype=torch.int64)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        quiet.setLevel(logging.ERROR)  # the exporter logs torchvision notes that say nothing about our model
        program = torch.onnx.export(
            network, (example,), dynamo=True, opset_version=OPSET, input_names=["context"], output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},), optimize=True, verbose=False,
        )
    quiet.setLevel(level)
    proto = program.model_proto
    if proto.functions:
        raise NotImplementedError(f"the {model.plugin_name!r} network exports with ONNX functions; inline them first")
    return proto


def splice(network: onnx.ModelProto, g: Graph, context: str, outer: list, tag: str = "network") -> str:
    """Append `network`'s nodes to `g`, reading `context`; returns the logits' name.

    Initializers keep their state-dict names under `tag/` and go to `outer` (the main graph),
    so a Loop body can read them from the enclosing scope and the exported weights are the
    checkpoint's tensors, byte for byte. Every other value gets a prefix of its own.
    """
    graph = network.graph
    rename = {graph.input[0].name: context}
    for init in graph.initializer:
        rename[init.name] = f"{tag}/{init.name}"
        if not any(i.name == rename[init.name] for i in outer):
            copy = onnx.TensorProto()
            copy.CopyFrom(init)
            copy.name = rename[init.name]
            outer.append(copy)
    inner = g.name(tag) + "/"
    for node in graph.node:
        for out in node.output:
            if out:
                rename.setdefault(out, inner + out)
    for node in graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = inner + node.name
        copy.input[:] = [rename.get(i, i) if i else i for i in node.input]
        copy.output[:] = [rename[o] if o else o for o in node.output]
        g.nodes.append(copy)
    return rename[graph.output[0].name]


def metadata(model, kind: str) -> dict[str, str]:
    return {
        "namegen_format": kind,
        "namegen_version": __version__,
        "vocab": json.dumps("".join(model.vocab_.chars)),
        "plugin": model.plugin_name,
        "hyperparams": json.dumps(model.hyperparams),
        "block_size": str(model.block_size),
        "max_len": str(model.max_len_),
        "max_count": str(sampling.MAX_COUNT),
        "sampling_rule_version": str(sampling.SAMPLING_RULE_VERSION),
        "opset": str(OPSET),
    }


def make_model(g: Graph, inputs, outputs, initializers, meta: dict[str, str], name: str) -> onnx.ModelProto:
    graph = helper.make_graph(g.nodes, name, inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
                              producer_name="namegen", producer_version=__version__)
    model.ir_version = IR_VERSION
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model, full_check=True)
    return model


def int_info(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.INT64, shape)


def uniforms(g: Graph, keys: str, step: str, max_len: int) -> str:
    """namegen.sampling.uniforms(keys, step) as graph nodes: float64 in (0, 1)."""
    step_mix = g.op("Gather", g.i64([sampling.mix(t) for t in range(max_len)], "step_mix"), step)
    hashed = g.op("Cast", mix(g, g.op("BitwiseXor", keys, step_mix)), to=TensorProto.DOUBLE)
    return g.op("Mul", g.op("Add", hashed, g.const(0.5, np.float64)), g.const(2.0**-31, np.float64))  # / 2**31, exactly


def cdf_of(g: Graph, logits: str, temperature: str) -> str:
    """cumsum(exp((float64(logits) - max) / temperature)) along the last axis, as in sampling.pick."""
    z = g.op("Cast", logits, to=TensorProto.DOUBLE)
    z = g.op("Sub", z, g.op("ReduceMax", z, g.i64([-1]), keepdims=1))
    return g.op("CumSum", g.op("Exp", g.op("Div", z, temperature)), g.i64(-1))


def loop_body(g: Graph, name: str, carried: list[tuple[str, list]], chosen: str, column_zeros: str, extra_out: dict) -> onnx.GraphProto:
    """Close a sampling step: write `chosen` into this step's column, keep the names still going."""
    g.op("ScatterElements", column_zeros, "alive_in", g.op("Cast", chosen, to=TOKEN_TYPE), axis=0, name="column")
    going = g.op("Greater", chosen, g.i64(0))
    for value, _ in carried:
        g.op("Compress", extra_out.get(value, f"{value}_in"), going, axis=0, name=f"{value}_out")
    g.op("Greater", g.op("Size", "alive_out"), g.i64(0), name="cond_out")
    return helper.make_graph(
        g.nodes, name,
        [int_info("step", []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])]
        + [int_info(f"{value}_in", shape) for value, shape in carried],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, [])]
        + [int_info(f"{value}_out", shape) for value, shape in carried]
        + [helper.make_tensor_value_info("column", TOKEN_TYPE, ["count"])],
    )


def table_loop(g: Graph, network, initializers, vocab_size, block_size, max_len, temperature, keys, index, column_zeros):
    """Sampling when every context can be listed (V**block_size <= TABLE_LIMIT): the network runs
    once, on all contexts, before the loop; each step then only looks up its row of the CDF
    table and finds count(cdf < u * total) by binary search over the row (the CDF is
    non-decreasing, so the search gives exactly the count). A context is carried as its index
    in the table: the base-V number of its tokens."""
    contexts = vocab_size**block_size
    width = 1 << (vocab_size - 1).bit_length()  # rows padded to a power of two with +inf
    ids = g.op("Range", g.i64(0), g.i64(contexts), g.i64(1))
    digits = [g.op("Mod", g.op("Div", ids, g.i64(vocab_size ** (block_size - 1 - k))), g.i64(vocab_size)) for k in range(block_size)]
    all_contexts = g.op("Concat", *[g.op("Unsqueeze", d, g.i64([1])) for d in digits], axis=1)
    cdf = cdf_of(g, splice(network, g, all_contexts, initializers), temperature)
    total = g.op("Squeeze", g.op("Slice", cdf, g.i64([-1]), g.i64([vocab_size]), g.i64([1])), g.i64([1]))
    padded = g.op("Pad", cdf, g.i64([0, 0, 0, width - vocab_size]), g.const(np.inf, np.float64))
    table = g.op("Reshape", padded, g.i64([-1]))

    # GatherElements and arithmetic, not Gather and Where: in onnxruntime 1.32 the latter are
    # 5-10 times slower per element on 1-D tensors, and these run once per name and step.
    b = Graph("step/")
    threshold = b.op("Mul", uniforms(b, "keys_in", "step", max_len), b.op("GatherElements", total, "state_in", axis=0))
    start = b.op("Mul", "state_in", b.i64(width))
    last = b.op("Sub", start, b.i64(1))  # the last entry known to be below the threshold: none yet
    bit = width // 2
    while bit:
        below = b.op("Less", b.op("GatherElements", table, b.op("Add", last, b.i64(bit)), axis=0), threshold)
        last = b.op("Add", last, b.op("Mul", b.op("Cast", below, to=TensorProto.INT64), b.i64(bit)))
        bit //= 2
    chosen = b.op("Sub", b.op("Add", last, b.i64(1)), start)
    state = chosen if block_size == 1 else b.op(
        "Add", b.op("Mul", b.op("Mod", "state_in", b.i64(vocab_size ** (block_size - 1))), b.i64(vocab_size)), chosen)
    carried = [("alive", ["alive"]), ("keys", ["alive"]), ("state", ["alive"])]
    body = loop_body(b, "sample_step", carried, chosen, column_zeros, {"state": state})
    state0 = g.op("Mul", index, g.i64(0))
    return g.op("Loop", g.i64(max_len, "max_len"), g.const(True, np.bool_), index, keys, state0, outputs=4, body=body)[3]


def network_loop(g: Graph, network, initializers, vocab_size, block_size, max_len, temperature, keys, index, column_zeros):
    """Sampling with the network in the loop, on the contexts of the names still going."""
    count = g.op("Unsqueeze", "count", g.i64([0]))
    context = g.op("ConstantOfShape", g.op("Concat", count, g.i64([block_size]), axis=0),
                   value=numpy_helper.from_array(np.zeros(1, np.int64)))
    b = Graph("step/")
    cdf = cdf_of(b, splice(network, b, "context_in", initializers), temperature)
    threshold = b.op("Mul", b.op("Unsqueeze", uniforms(b, "keys_in", "step", max_len), b.i64([1])),
                     b.op("Slice", cdf, b.i64([-1]), b.i64([vocab_size]), b.i64([1])))
    chosen = b.op("ReduceSum", b.op("Cast", b.op("Less", cdf, threshold), to=TensorProto.INT64), b.i64([1]), keepdims=0)
    shifted = b.op("Concat", b.op("Slice", "context_in", b.i64([1]), b.i64([block_size]), b.i64([1])),
                   b.op("Unsqueeze", chosen, b.i64([1])), axis=1)
    carried = [("alive", ["alive"]), ("keys", ["alive"]), ("context", ["alive", block_size])]
    body = loop_body(b, "sample_step", carried, chosen, column_zeros, {"context": shifted})
    return g.op("Loop", g.i64(max_len, "max_len"), g.const(True, np.bool_), index, keys, context, outputs=4, body=body)[3]


def join_names(g: Graph, rows: str, tokens: str, chars: tuple[str, ...]) -> str:
    """The names as strings, from their token ids `rows` [count, steps] (TOKEN_TYPE) and `tokens`
    (the same, int64, padded to max_len).

    LabelEncoder spells chunks of k tokens (one base-V number each) and StringConcat joins
    them. To work in proportion to the characters, not to count x the longest name, the names
    are sorted by length and built from their last chunk back: chunk c only touches the names
    longer than c*k, which are a prefix of the sorted order.
    """
    vocab_size = len(chars)
    k = 1
    while vocab_size ** (k + 1) <= CHUNK_ENTRIES:
        k += 1
    combos = list(itertools.product(range(vocab_size), repeat=k))
    spelled = ["".join(chars[t] for t in itertools.takewhile(bool, combo)) for combo in combos]
    weights = vocab_size ** np.arange(k - 1, -1, -1)

    lengths = g.op("ReduceSum", g.op("Cast", g.op("Greater", tokens, g.i64(0)), to=TensorProto.INT64), g.i64([1]), keepdims=0)
    count = g.op("Shape", lengths)
    sorted_lengths, order = g.op("TopK", lengths, count, outputs=2, largest=1, sorted=1)
    steps = g.op("Shape", rows, start=1, end=2)
    chunks = g.op("Div", g.op("Add", steps, g.i64([k - 1])), g.i64([k]))
    by_length = g.op("Cast", g.op("Gather", rows, order, axis=0), to=TensorProto.INT64)
    by_length = g.op("Pad", by_length, g.op("Concat", g.i64([0, 0, 0]), g.op("Sub", g.op("Mul", chunks, g.i64([k])), steps), axis=0))
    chunk_keys = g.op("ReduceSum", g.op("Mul", g.op("Reshape", by_length, g.op("Concat", g.i64([0]), chunks, g.i64([k]), axis=0)),
                                        g.i64(weights.reshape(1, 1, k))), g.i64([2]), keepdims=0)  # [count, chunks]
    chunk_starts = g.op("Mul", g.op("Range", g.i64(0), g.op("Squeeze", chunks, g.i64([0])), g.i64(1)), g.i64(k))
    reach = g.op("ReduceSum", g.op("Cast", g.op("Greater", g.op("Unsqueeze", sorted_lengths, g.i64([0])),
                                                 g.op("Unsqueeze", chunk_starts, g.i64([1]))), to=TensorProto.INT64),
                 g.i64([1]), keepdims=1)  # [chunks, 1]: how many names reach each chunk
    empty = g.op("LabelEncoder", g.op("Mul", lengths, g.i64(0)), domain="ai.onnx.ml", keys_int64s=[0], values_strings=[""], default_string="")

    j = Graph("join/")
    chunk = j.op("Unsqueeze", j.op("Sub", j.op("Sub", j.op("Squeeze", chunks, j.i64([0])), "c"), j.i64(1)), j.i64([0]))  # last first
    names_reached = j.op("Squeeze", j.op("Slice", reach, chunk, j.op("Add", chunk, j.i64([1]))), j.i64([0]))  # [1]
    piece_keys = j.op("Squeeze", j.op("Slice", chunk_keys, j.op("Concat", j.i64([0]), chunk, axis=0),
                                      j.op("Concat", names_reached, j.op("Add", chunk, j.i64([1])), axis=0)), j.i64([1]))
    pieces = j.op("LabelEncoder", piece_keys, domain="ai.onnx.ml", keys_int64s=(np.array(combos) @ weights).tolist(),
                  values_strings=spelled, default_string="")
    grown = j.op("Concat", "suffix_in", j.op("Slice", empty, j.i64([0]), j.op("Sub", names_reached, j.op("Shape", "suffix_in")), j.i64([0])), axis=0)
    j.op("StringConcat", pieces, grown, name="suffix_out")
    j.op("Identity", "join_cond_in", name="join_cond_out")
    body = helper.make_graph(
        j.nodes, "join_chunk",
        [int_info("c", []), helper.make_tensor_value_info("join_cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("suffix_in", TensorProto.STRING, ["reach"])],
        [helper.make_tensor_value_info("join_cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("suffix_out", TensorProto.STRING, ["reach_next"])],
    )
    start = g.op("Slice", empty, g.i64([0]), g.i64([0]), g.i64([0]))
    built = g.op("Loop", g.op("Squeeze", chunks, g.i64([0])), "", start, body=body)
    in_order = g.op("Concat", built, g.op("Slice", empty, g.op("Shape", built), count, g.i64([0])), axis=0)
    # Back to sampling order: position order[r] takes sorted name r.
    return g.op("ScatterElements", empty, order, in_order, axis=0, name="names")


def build_sampler(model, network: onnx.ModelProto, table_limit: int | None = None) -> onnx.ModelProto:
    vocab_size, block_size, max_len = len(model.vocab_), model.block_size, model.max_len_
    if vocab_size > 256:
        raise NotImplementedError(f"the ONNX sampler handles vocabularies of up to 256 tokens; this one has {vocab_size}")
    table_limit = TABLE_LIMIT if table_limit is None else table_limit
    initializers: list = []
    g = Graph("")

    # Per-name keys: row_key(seed, i) = mix(seed_key(seed) ^ (i & MASK31)).
    seed = g.op("BitwiseAnd", "seed", g.i64(sampling.SEED_MASK, "seed_mask"))
    mask31 = g.i64(sampling.MASK31, "mask31")
    seed_key = mix(g, g.op("BitwiseXor", mix(g, g.op("BitwiseAnd", seed, mask31)), g.op("Div", seed, g.i64(1 << 31, "two31"))))
    index = g.op("Range", g.i64(0, "zero"), "count", g.i64(1, "one"))
    keys = mix(g, g.op("BitwiseXor", seed_key, g.op("BitwiseAnd", index, mask31)))
    column_zeros = g.op("Cast", g.op("Mul", index, g.i64(0)), to=TOKEN_TYPE)
    temperature = g.op("Cast", "temperature", to=TensorProto.DOUBLE)

    loop = table_loop if vocab_size**block_size <= table_limit else network_loop
    columns = loop(g, network, initializers, vocab_size, block_size, max_len, temperature, keys, index, column_zeros)
    rows = g.op("Transpose", columns, perm=[1, 0])
    steps = g.op("Shape", rows, start=1, end=2)
    tokens = g.op("Cast", g.op("Pad", rows, g.op("Concat", g.i64([0, 0, 0]), g.op("Sub", g.i64([max_len]), steps), axis=0)),
                  to=TensorProto.INT64, name="tokens")
    join_names(g, rows, tokens, model.vocab_.chars)

    meta = metadata(model, SAMPLER_FORMAT)
    meta["sampler_loop"] = "table" if loop is table_loop else "network"
    return make_model(
        g,
        [helper.make_tensor_value_info("seed", TensorProto.INT64, []), helper.make_tensor_value_info("count", TensorProto.INT64, []),
         helper.make_tensor_value_info("temperature", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("names", TensorProto.STRING, ["count"]),
         helper.make_tensor_value_info("tokens", TensorProto.INT64, ["count", max_len])],
        initializers, meta, f"namegen_{model.plugin_name}_sampler",
    )


def build_scorer(model, network: onnx.ModelProto) -> onnx.ModelProto:
    block_size = model.block_size
    initializers: list = []
    g = Graph("")
    shape = g.op("Shape", "tokens")
    batch = g.op("Slice", shape, g.i64([0]), g.i64([1]))
    length = g.op("Slice", shape, g.i64([1]), g.i64([2]))
    zeros = lambda width: g.op("ConstantOfShape", g.op("Concat", batch, g.i64([width]), axis=0),  # noqa: E731
                               value=numpy_helper.from_array(np.zeros(1, np.int64)))
    end = zeros(1)
    # Target p (0..T, T+1 being past the longest name) sees seq[p : p + block_size] as context.
    seq = g.op("Concat", zeros(block_size), "tokens", end, axis=1)
    positions = g.op("Range", g.i64(0), g.op("Add", g.op("Squeeze", length, g.i64([0])), g.i64(1)), g.i64(1))
    windows = g.op("Add", g.op("Unsqueeze", positions, g.i64([1])), g.i64(np.arange(block_size)[None, :]))
    contexts = g.op("Reshape", g.op("Gather", seq, windows, axis=1), g.i64([-1, block_size]))
    log_probs = g.op("LogSoftmax", splice(network, g, contexts, initializers), axis=-1)
    log_probs = g.op("Reshape", log_probs, g.op("Concat", batch, g.i64([-1, len(model.vocab_)]), axis=0))
    targets = g.op("Concat", "tokens", end, axis=1)
    picked = g.op("Squeeze", g.op("GatherElements", log_probs, g.op("Unsqueeze", targets, g.i64([2])), axis=2), g.i64([2]))
    lengths = g.op("ReduceSum", g.op("Cast", g.op("Greater", "tokens", g.i64(0)), to=TensorProto.INT64), g.i64([1]), keepdims=1)
    in_name = g.op("LessOrEqual", g.op("Unsqueeze", positions, g.i64([0])), lengths)
    token_log_probs = g.op("Where", in_name, picked, g.const(0.0, np.float32), name="token_log_probs")
    g.op("ReduceSum", token_log_probs, g.i64([1]), keepdims=0, name="log_likelihood")
    return make_model(
        g, [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "length"])],
        [helper.make_tensor_value_info("log_likelihood", TensorProto.FLOAT, ["batch"]),
         helper.make_tensor_value_info("token_log_probs", TensorProto.FLOAT, ["batch", "positions"])],
        initializers, metadata(model, SCORER_FORMAT), f"namegen_{model.plugin_name}_scorer",
    )


def export(model, path: str | Path) -> list[Path]:
    """Write the sampler to `path` and the scorer beside it (see `scorer_path`). Returns both paths."""
    path = Path(path)
    network = export_network(model)
    sampler, scorer = build_sampler(model, network), build_scorer(model, network)
    write_atomic(scorer_path(path), scorer.SerializeToString())
    write_atomic(path, sampler.SerializeToString())
    return [path, scorer_path(path)]


__all__ = ["export", "scorer_path", "build_sampler", "build_scorer", "export_network", "OPSET"]
