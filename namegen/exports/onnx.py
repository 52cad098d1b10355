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
import json
import logging
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


def build_sampler(model, network: onnx.ModelProto) -> onnx.ModelProto:
    vocab_size, block_size, max_len = len(model.vocab_), model.block_size, model.max_len_
    initializers: list = []
    g = Graph("")

    # Per-name keys: row_key(seed, i) = mix(seed_key(seed) ^ (i & MASK31)).
    seed = g.op("BitwiseAnd", "seed", g.i64(sampling.SEED_MASK, "seed_mask"))
    mask31 = g.i64(sampling.MASK31, "mask31")
    seed_key = mix(g, g.op("BitwiseXor", mix(g, g.op("BitwiseAnd", seed, mask31)), g.op("Div", seed, g.i64(1 << 31, "two31"))))
    index = g.op("Range", g.i64(0, "zero"), "count", g.i64(1, "one"))
    keys = mix(g, g.op("BitwiseXor", seed_key, g.op("BitwiseAnd", index, mask31)))
    context = g.op("ConstantOfShape", g.op("Concat", g.op("Unsqueeze", "count", g.i64([0])), g.i64([block_size]), axis=0),
                   value=numpy_helper.from_array(np.zeros(1, np.int64)))
    column_zeros = g.op("ConstantOfShape", g.op("Unsqueeze", "count", g.i64([0])), value=numpy_helper.from_array(np.zeros(1, np.int64)))
    temperature = g.op("Cast", "temperature", to=TensorProto.DOUBLE)

    # One step of the Loop: the torch reference is namegen.sampling.sample_tokens.
    b = Graph("step/")
    logits = splice(network, b, "context_in", initializers)
    z = b.op("Cast", logits, to=TensorProto.DOUBLE)
    z = b.op("Sub", z, b.op("ReduceMax", z, b.i64([-1]), keepdims=1))
    cdf = b.op("CumSum", b.op("Exp", b.op("Div", z, temperature)), b.i64(-1))
    step_mix = b.op("Gather", b.i64([sampling.mix(t) for t in range(max_len)], "step_mix"), "step")
    u = b.op("Div", b.op("Add", b.op("Cast", mix(b, b.op("BitwiseXor", "keys_in", step_mix)), to=TensorProto.DOUBLE),
                         b.const(0.5, np.float64)), b.const(float(1 << 31), np.float64))
    threshold = b.op("Mul", b.op("Unsqueeze", u, b.i64([1])), b.op("Slice", cdf, b.i64([-1]), b.i64([vocab_size]), b.i64([1])))
    chosen = b.op("ReduceSum", b.op("Cast", b.op("Less", cdf, threshold), to=TensorProto.INT64), b.i64([1]), keepdims=0)
    chosen = b.op("Min", chosen, b.i64(vocab_size - 1))
    b.op("ScatterElements", column_zeros, "alive_in", chosen, axis=0, name="column")
    going = b.op("Greater", chosen, b.i64(0))
    b.op("Compress", "alive_in", going, axis=0, name="alive_out")
    b.op("Compress", "keys_in", going, axis=0, name="keys_out")
    shifted = b.op("Concat", b.op("Slice", "context_in", b.i64([1]), b.i64([block_size]), b.i64([1])),
                   b.op("Unsqueeze", chosen, b.i64([1])), axis=1)
    b.op("Compress", shifted, going, axis=0, name="context_out")
    b.op("Greater", b.op("Size", "alive_out"), b.i64(0), name="cond_out")
    int_vec = lambda n, shape: helper.make_tensor_value_info(n, TensorProto.INT64, shape)  # noqa: E731
    body = helper.make_graph(
        b.nodes, "sample_step",
        [int_vec("step", []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         int_vec("alive_in", ["alive"]), int_vec("keys_in", ["alive"]), int_vec("context_in", ["alive", block_size])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         int_vec("alive_out", ["alive_next"]), int_vec("keys_out", ["alive_next"]), int_vec("context_out", ["alive_next", block_size]),
         int_vec("column", ["count"])],
    )
    _, _, _, columns = g.op("Loop", g.i64(max_len, "max_len"), g.const(True, np.bool_), index, keys, context,
                            outputs=4, body=body)
    steps = g.op("Shape", columns, start=0, end=1)
    g.op("Pad", g.op("Transpose", columns, perm=[1, 0]), g.op("Concat", g.i64([0, 0, 0]), g.op("Sub", g.i64([max_len]), steps), axis=0),
         name="tokens")

    # Strings: one LabelEncoder lookup per token, then the step columns joined with StringConcat.
    chars = g.op("LabelEncoder", columns, domain="ai.onnx.ml",
                 keys_int64s=list(range(vocab_size)), values_strings=["", *model.vocab_.chars[1:]], default_string="")
    join = Graph("join/")
    join.op("Identity", "join_cond_in", name="join_cond_out")
    # Slice, not Gather: onnxruntime 1.32's Gather on strings along axis 0 copies one element per row.
    row = join.op("Unsqueeze", "j", join.i64([0]))
    column = join.op("Squeeze", join.op("Slice", chars, row, join.op("Add", row, join.i64([1]))), join.i64([0]))
    join.op("StringConcat", "text_in", column, name="text_out")
    join_body = helper.make_graph(
        join.nodes, "join_step",
        [int_vec("j", []), helper.make_tensor_value_info("join_cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("text_in", TensorProto.STRING, ["count"])],
        [helper.make_tensor_value_info("join_cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("text_out", TensorProto.STRING, ["count"])],
    )
    empty = g.op("LabelEncoder", column_zeros, domain="ai.onnx.ml", keys_int64s=[0], values_strings=[""], default_string="")
    g.op("Loop", g.op("Squeeze", steps, g.i64([0])), "", empty, body=join_body, name="names")

    return make_model(
        g,
        [helper.make_tensor_value_info("seed", TensorProto.INT64, []), helper.make_tensor_value_info("count", TensorProto.INT64, []),
         helper.make_tensor_value_info("temperature", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("names", TensorProto.STRING, ["count"]),
         helper.make_tensor_value_info("tokens", TensorProto.INT64, ["count", max_len])],
        initializers, metadata(model, SAMPLER_FORMAT), f"namegen_{model.plugin_name}_sampler",
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
