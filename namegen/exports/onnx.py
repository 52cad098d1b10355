"""ONNX export: a self-contained sampler and a scorer, built around the plugin's own network.

The network (context int64 [B, block_size] -> logits [B, V]) is exported with torch.onnx and
spliced in as a subgraph; everything around it is written here once, for every plugin:

* sampler (`NAME.onnx`): inputs `seed` int64 [], `count` int64 [], `temperature` float32 [];
  outputs `names` string [count] and `tokens` int64 [count, max_len] (0-padded). It draws by
  the rule of namegen.sampling (integer-hash uniforms, float64 inverse CDF, the network in
  float64), exactly as the torch sampler does, in a Loop of at most max_len steps that ends
  once every name has ended. How the loop runs depends on size, never on the plugin: see
  `build_sampler`.
* scorer (`NAME.scorer.onnx`): input `tokens` int64 [B, T] (names without boundary tokens,
  0-padded); outputs `log_likelihood` float32 [B] (end token included) and
  `token_log_probs` float32 [B, T + 1] (log p of each observed token, 0 past the end).

Both carry the vocabulary and the rest of what an app needs in `metadata_props`.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import logging
import uuid
import warnings
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from .. import __version__
from .. import sampling
from .files import check_export_path, write_export
from ..errors import NamegenError
from ..runtime import SAMPLER_FORMAT, SCORER_FORMAT, ExportedModel, scorer_path
from .validate import Validation, validate

OPSET = 21  # ONNX 1.16 operator set: StringConcat (20), BitwiseXor/And (18)
ML_OPSET = 4  # ai.onnx.ml: LabelEncoder
TRACED_OPSET = 20  # the network exported by torch.onnx's TorchScript exporter (its newest)
IR_VERSION = 10
TOKEN_TYPE = TensorProto.UINT8  # token ids inside the sampler (V <= 256): an eighth of int64's memory traffic
FEW_NAMES = 32  # up to this many names per call, the sampler takes its loop with the fewest nodes
ALWAYS_TABLE = 1024  # up to this many contexts, tabulating the network always pays
TABLE_PAYOFF = 16  # past that, a call tabulates when count * this >= contexts (measured: an MLP, 19,683 contexts)
TABLE_LIMIT = 1 << 16  # list every context (V**block_size of them) up to this many, and tabulate the network
INT64_MAX = np.iinfo(np.int64).max  # Slice to the end
# LabelEncoder entries at most: each lookup spells k tokens, V**k <= this. 1,000 (k = 2 for 27
# tokens): names 3-8% slower to spell than with k = 3 (19,683 entries), for a sampler of 48 KB
# instead of 350 KB (linear; measured at 1,000 and 100,000 names).
CHUNK_ENTRIES = 1000


class Graph:
    """A tiny builder: `g.op("Add", a, b)` appends a node and returns its output's name."""

    def __init__(self, prefix: str):
        self.prefix, self.nodes, self.count = prefix, [], 0

    def name(self, hint: str) -> str:
        """A fresh value name. Numbered only, not spelled after `hint`: names were a third of
        the sampler file (a 634-node graph); what a value is shows in its node's op type."""
        self.count += 1
        return f"{self.prefix}{self.count}"

    def op(self, op_type: str, *inputs: str, outputs: int = 1, domain: str = "", name: str | None = None,
           names: list[str] | None = None, **attrs):
        """`name` (or `names`, for several outputs) names the outputs; otherwise they are numbered."""
        outs = names or ([name] if name else [self.name(op_type.lower()) for _ in range(outputs)])
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


def export_network(model, float64: bool = False) -> onnx.ModelProto:
    """The plugin's network alone, as ONNX: `context` int64 [batch, block_size] -> `logits`.

    With `float64`, the network computes in float64 (as the torch sampler runs it), while its
    weights stay the checkpoint's float32 tensors, cast on load: initialiser `<key>` holds
    state_dict[key] byte for byte either way.
    """
    network = model._fitted().eval()
    weights = {key: tensor.detach() for key, tensor in network.state_dict().items()}
    if float64:
        network = copy.deepcopy(network).double()
    example = torch.zeros(2, network.block_size, dtype=torch.int64)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        quiet.setLevel(logging.ERROR)  # the exporter logs torchvision notes that say nothing about our model
        try:
            proto = traced_export(network, example)
        except Exception:  # noqa: BLE001 - a network TorchScript cannot trace: the dynamo exporter may
            proto = dynamo_export(network, example)
        finally:
            quiet.setLevel(level)
    if proto.functions:
        raise NamegenError(f"the {model.plugin_name!r} network exports with ONNX functions, which namegen cannot splice yet")
    if float64:
        keep_float32_weights(proto.graph, weights)
    return proto


def traced_export(network: torch.nn.Module, example: torch.Tensor) -> onnx.ModelProto:
    """torch.onnx's TorchScript exporter: 0.02-0.4 s for the zoo's networks where the dynamo
    exporter takes 1-7 s (measured: linear 0.13 s vs 3.1 s, rnn 0.41 s vs 6.8 s). Constant
    folding is off so that every weight stays an initialiser named by its state_dict key."""
    buffer = io.BytesIO()
    # Opset 20, the newest this exporter supports; its nodes mean the same under the sampler's opset 21.
    torch.onnx.export(network, (example,), buffer, dynamo=False, opset_version=TRACED_OPSET, input_names=["context"],
                      output_names=["logits"], dynamic_axes={"context": {0: "batch"}}, do_constant_folding=False,
                      keep_initializers_as_inputs=False)
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto, full_check=True)  # its graphs are not always valid ONNX (CumSum of bool): then dynamo
    return proto


def dynamo_export(network: torch.nn.Module, example: torch.Tensor) -> onnx.ModelProto:
    """torch.onnx's dynamo exporter, for networks that TorchScript cannot trace."""
    # optimize=False: the optimiser renames some weights (val_13 for `weight`)
    program = torch.onnx.export(
        network, (example,), dynamo=True, opset_version=OPSET, input_names=["context"], output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch")},), optimize=False, verbose=False,
    )
    return program.model_proto


def keep_float32_weights(graph: onnx.GraphProto, weights: dict[str, torch.Tensor]) -> None:
    """Swap each float64 weight initialiser for the float32 original plus a Cast to float64."""
    casts = []
    for init in graph.initializer:
        original = weights.get(init.name)
        if original is None or init.data_type != TensorProto.DOUBLE or original.dtype != torch.float32:
            continue
        widened = f"{init.name}/float64"
        for node in graph.node:
            node.input[:] = [widened if i == init.name else i for i in node.input]
        init.CopyFrom(numpy_helper.from_array(original.numpy(), init.name))
        casts.append(helper.make_node("Cast", [init.name], [widened], to=TensorProto.DOUBLE))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)


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
            weight = onnx.TensorProto()
            weight.CopyFrom(init)
            weight.name = rename[init.name]
            outer.append(weight)
    inner = g.name(tag) + "/"
    for node in graph.node:
        for out in node.output:
            if out:
                rename.setdefault(out, inner + out)
    for number, node in enumerate(graph.node):
        spliced = onnx.NodeProto()
        spliced.CopyFrom(node)
        spliced.name = f"{inner}{number}/{node.name}"
        spliced.input[:] = [rename.get(i, i) if i else i for i in node.input]
        spliced.output[:] = [rename[o] if o else o for o in node.output]
        g.nodes.append(spliced)
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


def subgraph(g: Graph, name: str, inputs: list, outputs: list) -> onnx.GraphProto:
    return helper.make_graph(g.nodes, name, inputs, outputs)


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


def compacting_body(g: Graph, carried: dict[str, tuple[str, list]], chosen: str, count_zeros: str) -> onnx.GraphProto:
    """Close a step that works on the names still going: write `chosen` into this step's column
    of all names, and keep only the rows that did not just end. `carried` maps each carried
    value to (its next value, its shape)."""
    g.op("ScatterElements", count_zeros, "alive_in", g.op("Cast", chosen, to=TOKEN_TYPE), axis=0, name="column")
    going = g.op("Greater", chosen, g.i64(0))
    for value, (nxt, _) in carried.items():
        g.op("Compress", nxt, going, axis=0, name=f"{value}_out")
    g.op("Greater", g.op("Size", "alive_out"), g.i64(0), name="cond_out")
    return subgraph(
        g, "sample_step",
        [int_info("step", []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])]
        + [int_info(f"{value}_in", shape) for value, (_, shape) in carried.items()],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, [])]
        + [int_info(f"{value}_out", shape) for value, (_, shape) in carried.items()]
        + [helper.make_tensor_value_info("column", TOKEN_TYPE, ["count"])],
    )


def if_op(g: Graph, cond: str, hint: str, then_fill, else_fill, outputs: list[tuple[int, list | None]]) -> list[str]:
    """An If node: `then_fill(b)` / `else_fill(b)` add nodes to a branch graph `b` and return its
    output values; `outputs` gives each output's (element type, shape). Returns the If's outputs."""
    tag = g.name(hint)
    names = [f"{tag}/out{i}" for i in range(len(outputs))]

    def branch(label: str, fill) -> onnx.GraphProto:
        b = Graph(f"{tag}/{label}/")
        results = [b.op("Identity", value, name=f"{tag}/{label}/out{i}") for i, value in enumerate(fill(b))]
        return subgraph(b, f"{tag}_{label}", [], [helper.make_tensor_value_info(r, t, s) for r, (t, s) in zip(results, outputs)])

    g.op("If", cond, names=names, then_branch=branch("then", then_fill), else_branch=branch("else", else_fill))
    return names


class SamplerParts:
    """What every way of sampling shares: sizes, the inputs (clamped), the per-step hash values,
    and the candidates of the batch being drawn (`start_batch` sets their indices and keys)."""

    def __init__(self, g: Graph, model, network, initializers):
        self.network, self.initializers = network, initializers
        V = self.vocab_size = len(model.vocab_)
        self.block_size = model.block_size
        # Every input is clamped into its range. The runtimes reject bad values with a message
        # naming the input; the graph itself only promises to stay bounded on any input.
        self.count = g.op("Min", g.op("Max", "count", g.i64(0)), g.i64(sampling.MAX_COUNT))
        self.prefix = g.op("Clip", g.op("Slice", "prefix", g.i64([0]), g.i64([sampling.MAX_LEN - 1])), g.i64(1), g.i64(V - 1))
        self.prefix_len = g.op("Size", self.prefix)
        self.max_len = g.op("Min", g.op("Max", "max_len", g.op("Add", self.prefix_len, g.i64(1))), g.i64(sampling.MAX_LEN))
        self.min_len = g.op("Min", g.op("Max", "min_len", g.i64(1)), self.max_len)
        self.steps = g.op("Sub", self.max_len, self.prefix_len)  # steps drawn: prefix_len .. max_len - 1
        self.step_mix = mix(g, g.op("Range", g.i64(0), self.max_len, g.i64(1)))  # mix(t) for every step t
        self.temperature = g.op("Cast", "temperature", to=TensorProto.DOUBLE)
        # row_key(seed, i) = mix(seed_key(seed) ^ (i & MASK31)); seed_key as in namegen.sampling
        seed = g.op("BitwiseAnd", "seed", g.i64(sampling.SEED_MASK, "seed_mask"))
        mask31 = g.i64(sampling.MASK31, "mask31")
        high = g.op("BitwiseAnd", g.op("Mul", g.op("Div", seed, g.i64(1 << 31, "two31")), g.i64(sampling.SEED_MULTIPLIER)), mask31)
        self.seed_key = mix(g, g.op("BitwiseXor", g.op("BitwiseAnd", seed, mask31), high))
        bs = self.block_size  # the context after the prefix: its last block_size tokens, boundary tokens before it
        self.context0 = g.op("Slice", g.op("Concat", g.i64(np.zeros(bs, np.int64)), self.prefix, axis=0), g.i64([-bs]), g.i64([INT64_MAX]))
        self.positions = self.index = self.keys = None

    def start_batch(self, g: Graph, start: str, size: str) -> None:
        """Candidates start .. start + size - 1: their indices and keys."""
        self.positions = g.op("Range", g.i64(0), size, g.i64(1))  # rows of the batch
        self.index = g.op("Add", self.positions, start)
        self.keys = mix(g, g.op("BitwiseXor", self.seed_key, g.op("BitwiseAnd", self.index, g.i64(sampling.MASK31))))

    def zeros(self, g: Graph, to: int = TensorProto.INT64) -> str:
        """[batch] zeros (of type `to`)."""
        zeros = g.op("Mul", self.index, g.i64(0))
        return zeros if to == TensorProto.INT64 else g.op("Cast", zeros, to=to)

    def step_of(self, g: Graph, iteration: str) -> str:
        """The step (character position) of a step loop's iteration: drawing starts after the prefix."""
        return g.op("Add", iteration, self.prefix_len)

    def before_min_len(self, g: Graph, step: str) -> str:
        return g.op("Less", step, self.min_len)

    def loop(self, g: Graph, body: onnx.GraphProto, *initial: str) -> str:
        """Run `body` for the steps after the prefix; returns the batch's rows [batch, max_len]
        (TOKEN_TYPE): the prefix, the drawn tokens, 0-padding."""
        outputs = g.op("Loop", self.steps, g.const(True, np.bool_), *initial, outputs=len(initial) + 1, body=body)
        drawn = g.op("Transpose", g.op("Cast", outputs[-1], to=TOKEN_TYPE), perm=[1, 0])  # [batch, steps run]
        shape = g.op("Concat", g.op("Shape", self.index), g.op("Shape", self.prefix), axis=0)
        prefix = g.op("Expand", g.op("Cast", g.op("Unsqueeze", self.prefix, g.i64([0])), to=TOKEN_TYPE), shape)
        rows = g.op("Concat", prefix, drawn, axis=1)
        missing = g.op("Sub", g.op("Unsqueeze", self.max_len, g.i64([0])), g.op("Shape", rows, start=1, end=2))
        return g.op("Pad", rows, g.op("Concat", g.i64([0, 0, 0]), missing, axis=0))

    def tabulate(self, g: Graph) -> list[str]:
        """The network once on every context (base-V order): the CDF rows [2 * contexts, V] (as
        rule 1 has them, then again with the end token masked, for steps below min_len), the same
        rows padded with +inf to a power of two and flattened (for the binary search), and their
        totals [2 * contexts]."""
        V, bs = self.vocab_size, self.block_size
        ids = g.op("Range", g.i64(0), g.i64(V**bs), g.i64(1))
        digits = [g.op("Unsqueeze", g.op("Mod", g.op("Div", ids, g.i64(V ** (bs - 1 - k))), g.i64(V)), g.i64([1])) for k in range(bs)]
        logits = splice(self.network, g, g.op("Concat", *digits, axis=1), self.initializers)
        cdf = g.op("Concat", cdf_of(g, logits, self.temperature, g.op("Equal", digits[-1], g.i64(0)), V),
                   cdf_of(g, logits, self.temperature, g.const(True, np.bool_), V), axis=0)
        width = 1 << (V - 1).bit_length()
        table = g.op("Reshape", g.op("Pad", cdf, g.i64([0, 0, 0, width - V]), g.const(np.inf, np.float64)), g.i64([-1]))
        return [cdf, table, g.op("Squeeze", g.op("Gather", cdf, g.i64([V - 1]), axis=1), g.i64([1]))]

    def start_state(self, g: Graph) -> str:
        """[batch] table index of the context after the prefix."""
        V, bs = self.vocab_size, self.block_size
        state = g.op("ReduceSum", g.op("Mul", self.context0, g.i64(V ** np.arange(bs - 1, -1, -1, dtype=np.int64))), keepdims=0)
        return g.op("Add", self.zeros(g), state)

    def table_row(self, g: Graph, state: str, step: str) -> str:
        """The row of the CDF table for `state` at `step`: the masked copy below min_len."""
        masked = g.op("Cast", self.before_min_len(g, step), to=TensorProto.INT64)
        return g.op("Add", state, g.op("Mul", masked, g.i64(self.vocab_size**self.block_size)))

    def search_loop(self, g: Graph, tables: list[str]) -> str:
        """Many names: each step works on the names still going, hashes their uniforms and finds
        count(cdf < u * total) by binary search in their context's CDF row (exactly the count,
        as the CDF is non-decreasing). GatherElements and arithmetic, not Gather and Where:
        onnxruntime 1.32 runs those 5-10 times slower per element on 1-D tensors."""
        _, table, totals = tables
        V, width = self.vocab_size, 1 << (self.vocab_size - 1).bit_length()
        b = Graph("search/")
        step = self.step_of(b, "step")
        row = self.table_row(b, "state_in", step)
        u = uniforms(b, "keys_in", b.op("Gather", self.step_mix, step))
        threshold = b.op("Mul", u, b.op("GatherElements", totals, row, axis=0))
        start = b.op("Mul", row, b.i64(width))
        last = b.op("Sub", start, b.i64(1))  # the last entry known to be below the threshold: none yet
        bit = width // 2
        while bit:
            below = b.op("Less", b.op("GatherElements", table, b.op("Add", last, b.i64(bit)), axis=0), threshold)
            last = b.op("Add", last, b.op("Mul", b.op("Cast", below, to=TensorProto.INT64), b.i64(bit)))
            bit //= 2
        chosen = b.op("Sub", b.op("Add", last, b.i64(1)), start)
        body = compacting_body(b, {"alive": ("alive_in", ["alive"]), "keys": ("keys_in", ["alive"]),
                                   "state": (next_state(b, "state_in", chosen, V, self.block_size), ["alive"])},
                               chosen, self.zeros(g, TOKEN_TYPE))
        return self.loop(g, body, self.positions, self.keys, self.start_state(g))

    def dense_loop(self, g: Graph, tables: list[str]) -> str:
        """Few names: fewest nodes per step. The uniforms of every step are hashed up front, no
        name is dropped (an ended one is masked to 0 by `going`), and the pick compares whole CDF rows."""
        cdf, _, totals = tables
        u_all = uniforms(g, g.op("Unsqueeze", self.keys, g.i64([0])), g.op("Unsqueeze", self.step_mix, g.i64([1])))  # [max_len, batch]
        b = Graph("dense/")
        step = self.step_of(b, "step")
        row = self.table_row(b, "state_in", step)
        threshold = b.op("Mul", b.op("Gather", g.op("Unsqueeze", u_all, g.i64([2])), step, axis=0),
                         b.op("Unsqueeze", b.op("Gather", totals, row, axis=0), b.i64([1])))  # [batch, 1]
        b.op("Mul", count_below(b, b.op("Gather", cdf, row, axis=0), threshold), "going_in", name="column")
        b.op("Min", "column", b.i64(1), name="going_out")  # 1 while the name goes on
        state = next_state(b, "state_in", "column", self.vocab_size, self.block_size)  # the column itself when block_size is 1
        b.op("Cast", b.op("ReduceMax", "going_out", keepdims=0), to=TensorProto.BOOL, name="cond_out")
        body = subgraph(
            b, "dense_step",
            [int_info("step", []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
             int_info("state_in", ["count"]), int_info("going_in", ["count"])],
            [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), int_info(state, ["count"]),
             int_info("going_out", ["count"]), int_info("column", ["count"])],
        )
        return self.loop(g, body, self.start_state(g), g.op("Add", self.zeros(g), g.i64(1)))

    def network_loop(self, g: Graph) -> str:
        """Contexts too many to list: the network runs in the loop, on the names still going."""
        V, bs = self.vocab_size, self.block_size
        context = g.op("Expand", g.op("Unsqueeze", self.context0, g.i64([0])),
                       g.op("Concat", g.op("Shape", self.index), g.i64([bs]), axis=0))
        b = Graph("network/")
        step = self.step_of(b, "step")
        last = b.op("Slice", "context_in", b.i64([-1]), b.i64([bs]), b.i64([1]))
        no_end = b.op("Or", b.op("Equal", last, b.i64(0)), self.before_min_len(b, step))
        cdf = cdf_of(b, splice(self.network, b, "context_in", self.initializers), self.temperature, no_end, V)
        u = uniforms(b, "keys_in", b.op("Gather", self.step_mix, step))
        threshold = b.op("Mul", b.op("Unsqueeze", u, b.i64([1])), b.op("Slice", cdf, b.i64([-1]), b.i64([V]), b.i64([1])))
        chosen = count_below(b, cdf, threshold)
        shifted = b.op("Concat", b.op("Slice", "context_in", b.i64([1]), b.i64([bs]), b.i64([1])), b.op("Unsqueeze", chosen, b.i64([1])), axis=1)
        body = compacting_body(b, {"alive": ("alive_in", ["alive"]), "keys": ("keys_in", ["alive"]), "context": (shifted, ["alive", bs])},
                               chosen, self.zeros(g, TOKEN_TYPE))
        return self.loop(g, body, self.positions, self.keys, context)


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


def chunk_keys(g: Graph, rows: str, k: int, weights: np.ndarray) -> tuple[str, str]:
    """[count, steps] token rows (TOKEN_TYPE) -> ([count, chunks] int64 chunk keys, chunks as a [1]
    tensor). The base-V sum of each chunk is a float32 MatMul: exact, as keys stay below 2**24."""
    steps = g.op("Shape", rows, start=1, end=2)
    chunks = g.op("Div", g.op("Add", steps, g.i64([k - 1])), g.i64([k]))
    padded = g.op("Pad", rows, g.op("Concat", g.i64([0, 0, 0]), g.op("Sub", g.op("Mul", chunks, g.i64([k])), steps), axis=0))
    grouped = g.op("Cast", g.op("Reshape", padded, g.op("Concat", g.i64([0]), chunks, g.i64([k]), axis=0)), to=TensorProto.FLOAT)
    keyed = g.op("MatMul", grouped, g.const(weights.reshape(k, 1), np.float32))
    return g.op("Cast", g.op("Squeeze", keyed, g.i64([2])), to=TensorProto.INT64), chunks


def empty_strings(g: Graph, like: str) -> str:
    """Empty strings shaped like the int64 tensor `like` (a LabelEncoder that matches no key)."""
    return g.op("LabelEncoder", like, domain="ai.onnx.ml", keys_int64s=[-1], values_strings=["-"], default_string="")


def string_loop(g: Graph, j: Graph, trips: str, initial: str, text_in: str, text_out: str, name: str) -> str:
    """Run the chunk-join body `j` (chunk index "c", string state `text_in` -> `text_out`) `trips` times."""
    j.op("Identity", "cond_in", name="cond_out")
    body = subgraph(j, "join_chunk",
                    [int_info("c", []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                     helper.make_tensor_value_info(text_in, TensorProto.STRING, None)],
                    [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                     helper.make_tensor_value_info(text_out, TensorProto.STRING, None)])
    return g.op("Loop", g.op("Squeeze", trips, g.i64([0])), "", initial, body=body, name=name)


def join_simple(g: Graph, rows: str, chars: tuple[str, ...], name: str) -> str:
    """Few names: spell every chunk of every name and join chunk columns left to right."""
    k, weights, keys, spelled = spelling(chars)
    keyed, chunks = chunk_keys(g, rows, k, weights)
    pieces = g.op("LabelEncoder", keyed, domain="ai.onnx.ml", keys_int64s=keys, values_strings=spelled, default_string="")
    j = Graph("join/")
    at = j.op("Unsqueeze", "c", j.i64([0]))
    column = j.op("Squeeze", j.op("Slice", pieces, at, j.op("Add", at, j.i64([1])), j.i64([1])), j.i64([1]))
    j.op("StringConcat", "text_in", column, name="text_out")
    empty = empty_strings(g, g.op("Squeeze", g.op("Slice", keyed, g.i64([0]), g.i64([1]), g.i64([1])), g.i64([1])))  # [count]
    return string_loop(g, j, chunks, empty, "text_in", "text_out", name)


def join_sorted(g: Graph, rows: str, chars: tuple[str, ...], name: str) -> str:
    """Many names: work in proportion to the characters, not to count x the longest name. The
    names are sorted by length and built from their last chunk back: chunk c only touches the
    names longer than c*k, which are a prefix of the sorted order."""
    k, weights, keys, spelled = spelling(chars)
    count = g.op("Shape", rows, start=0, end=1)
    end_column = g.op("ConstantOfShape", g.op("Concat", count, g.i64([1]), axis=0), value=numpy_helper.from_array(np.zeros(1, np.uint8)))
    lengths = g.op("ArgMin", g.op("Concat", rows, end_column, axis=1), axis=1, keepdims=0)  # the first 0 ends the name
    sorted_lengths, order = g.op("TopK", lengths, count, outputs=2, largest=1, sorted=1)
    keyed, chunks = chunk_keys(g, g.op("Gather", rows, order, axis=0), k, weights)
    chunk_starts = g.op("Mul", g.op("Range", g.i64(0), g.op("Squeeze", chunks, g.i64([0])), g.i64(1)), g.i64(k))
    reach = g.op("ReduceSum", g.op("Cast", g.op("Greater", g.op("Unsqueeze", sorted_lengths, g.i64([0])),
                                                 g.op("Unsqueeze", chunk_starts, g.i64([1]))), to=TensorProto.INT64),
                 g.i64([1]), keepdims=1)  # [chunks, 1]: how many names reach each chunk
    empty = empty_strings(g, lengths)

    j = Graph("join/")
    chunk = j.op("Unsqueeze", j.op("Sub", j.op("Sub", j.op("Squeeze", chunks, j.i64([0])), "c"), j.i64(1)), j.i64([0]))  # last first
    reached = j.op("Squeeze", j.op("Slice", reach, chunk, j.op("Add", chunk, j.i64([1]))), j.i64([0]))  # [1]
    piece_keys = j.op("Squeeze", j.op("Slice", keyed, j.op("Concat", j.i64([0]), chunk, axis=0),
                                      j.op("Concat", reached, j.op("Add", chunk, j.i64([1])), axis=0)), j.i64([1]))
    pieces = j.op("LabelEncoder", piece_keys, domain="ai.onnx.ml", keys_int64s=keys, values_strings=spelled, default_string="")
    grown = j.op("Concat", "suffix_in", j.op("Slice", empty, j.i64([0]), j.op("Sub", reached, j.op("Shape", "suffix_in")), j.i64([0])), axis=0)
    j.op("StringConcat", pieces, grown, name="suffix_out")
    built = string_loop(g, j, chunks, g.op("Slice", empty, g.i64([0]), g.i64([0]), g.i64([0])), "suffix_in", "suffix_out", g.name("built"))
    in_order = g.op("Concat", built, g.op("Slice", empty, g.op("Shape", built), count, g.i64([0])), axis=0)
    return g.op("ScatterElements", empty, order, in_order, axis=0, name=name)  # back to sampling order: order[r] takes sorted name r


def candidate_tests(g: Graph, parts: SamplerParts, rows: str, names: str, training_names) -> str:
    """Rule 2's tests of each candidate on its own, [batch] bool: it ends with `suffix`, holds
    `contains`, and (with `novel`) is not a training name. Empty suffix and contains pass all."""
    rows = g.op("Cast", rows, to=TensorProto.INT64)
    zero_column = g.op("Expand", g.i64([[0]]), g.op("Concat", g.op("Shape", parts.index), g.i64([1]), axis=0))
    lengths = g.op("ArgMin", g.op("Concat", rows, zero_column, axis=1), axis=1, keepdims=0)  # the first 0 ends the name
    # A suffix or contains longer than any name never matches; cutting it to MAX_LEN + 1 keeps that and bounds the work.
    suffix = g.op("Slice", "suffix", g.i64([-(sampling.MAX_LEN + 1)]), g.i64([INT64_MAX]))
    contains = g.op("Slice", "contains", g.i64([0]), g.i64([sampling.MAX_LEN + 1]))
    # suffix: the last len(suffix) tokens of the name equal it
    size = g.op("Size", suffix)
    at = g.op("Add", g.op("Sub", g.op("Unsqueeze", lengths, g.i64([1])), size), g.op("Unsqueeze", g.op("Range", g.i64(0), size, g.i64(1)), g.i64([0])))
    got = g.op("GatherElements", rows, g.op("Clip", at, g.i64(0), g.op("Sub", parts.max_len, g.i64(1))), axis=1)
    misses = g.op("ReduceSum", g.op("Cast", g.op("Not", g.op("Equal", got, suffix)), to=TensorProto.INT64), g.i64([1]), keepdims=0)
    ok = g.op("And", g.op("Equal", misses, g.i64(0)), g.op("GreaterOrEqual", lengths, size))
    # contains: some window of len(contains) tokens equals it (windows past the end hold 0s, which no character is)
    size = g.op("Size", contains)
    padded = g.op("Pad", rows, g.op("Concat", g.i64([0, 0, 0]), g.op("Unsqueeze", size, g.i64([0])), axis=0))
    windows = g.op("Add", g.op("Unsqueeze", g.op("Range", g.i64(0), parts.max_len, g.i64(1)), g.i64([1])),
                   g.op("Unsqueeze", g.op("Range", g.i64(0), size, g.i64(1)), g.i64([0])))  # [max_len, len(contains)]
    misses = g.op("ReduceSum", g.op("Cast", g.op("Not", g.op("Equal", g.op("Gather", padded, windows, axis=1), contains)),
                                    to=TensorProto.INT64), g.i64([2]), keepdims=0)  # [batch, max_len]
    ok = g.op("And", ok, g.op("Equal", g.op("ReduceMin", misses, g.i64([1]), keepdims=0), g.i64(0)))
    if training_names is None:
        return ok
    everyone = g.op("Cast", g.op("Add", parts.zeros(g), g.i64(1)), to=TensorProto.BOOL)
    (novel,) = if_op(
        g, "novel", "novel",
        lambda b: [b.op("Equal", b.op("LabelEncoder", names, domain="ai.onnx.ml", keys_strings=list(training_names),
                                      values_int64s=[1] * len(training_names), default_int64=0), b.i64(0))],
        lambda b: [everyone], [(TensorProto.BOOL, ["batch"])])
    return g.op("And", ok, novel)


def constraint_inputs(model, training_names) -> list[tuple[str, np.ndarray]]:
    """Rule 2's inputs and their defaults, which mean "no constraint" (graph initialisers that
    an app may override: apps that feed only seed, count and temperature keep working)."""
    inputs = [("prefix", np.zeros(0, np.int64)), ("suffix", np.zeros(0, np.int64)), ("contains", np.zeros(0, np.int64)),
              ("min_len", np.array(1, np.int64)), ("max_len", np.array(model.max_len_, np.int64))]
    if training_names is not None:
        inputs.append(("novel", np.array(False)))
    return inputs + [("distinct", np.array(False)), ("max_candidates", np.array(0, np.int64))]


def build_sampler(model, network: onnx.ModelProto, table_limit: int | None = None,
                  training_names: tuple[str, ...] | None = None) -> onnx.ModelProto:
    """The sampler graph: rule 2's loop over candidate batches around rule 1's loop over steps.

    Outer loop (one iteration per batch of candidates; with no constraint that rejects, the one
    batch of `count` candidates is the answer):

        start, size, accepted = 0, count, []
        while len(accepted) < count and start < budget:
            batch = min(size, budget - start, cells cap)
            rows = draw candidates start .. start + batch - 1       # the step loop below
            keep those passing suffix / contains / novel, in order; with distinct, those not
            among `accepted` nor earlier in the batch; append up to count - len(accepted)
            start, size = start + batch, 2 * size

    Step loops (all give the same tokens and differ only in cost):

    * tabulated (V**block_size <= table_limit contexts): the network runs once per call on
      every context; then the batch size picks a dense loop (up to FEW_NAMES names: fewest
      nodes per step) or a binary-search loop (more names: least work per name);
    * stepwise: the network runs inside the loop on the names still going.

    With more contexts than ALWAYS_TABLE, a call tabulates only when it draws enough names to
    repay it (count * TABLE_PAYOFF >= contexts); past table_limit it never does.
    `training_names` travel in the graph (a string set) for `novel`; None leaves them and the
    `novel` input out.
    """
    if len(model.vocab_) > 256:
        raise NamegenError(f"the ONNX sampler handles vocabularies of up to 256 tokens; this model has {len(model.vocab_)}")
    table_limit = TABLE_LIMIT if table_limit is None else table_limit
    initializers: list = []
    g = Graph("")
    parts = SamplerParts(g, model, network, initializers)
    chars = model.vocab_.chars
    contexts = len(chars) ** model.block_size
    tables_out = [(TensorProto.DOUBLE, ["rows", len(chars)]), (TensorProto.DOUBLE, ["entries"]), (TensorProto.DOUBLE, ["rows"])]
    if contexts > table_limit:
        tabulate, loop_kind = None, "stepwise"
    elif contexts <= ALWAYS_TABLE:
        tabulate, loop_kind, tables = "always", "tabulated", parts.tabulate(g)
    else:
        tabulate = g.op("GreaterOrEqual", g.op("Mul", parts.count, g.i64(TABLE_PAYOFF)), g.i64(contexts))
        empty = lambda b: [b.const(np.zeros((0, len(chars))), np.float64), b.const(np.zeros(0), np.float64), b.const(np.zeros(0), np.float64)]  # noqa: E731
        tables = if_op(g, tabulate, "tables", parts.tabulate, empty, tables_out)
        loop_kind = f"tabulated when count >= {-(-contexts // TABLE_PAYOFF)}, else stepwise"

    # The candidate budget: max_candidates when given (> 0), else count when nothing can reject a
    # candidate, else max(MIN_CANDIDATES, CANDIDATES_PER_NAME * count).
    rejects = g.op("Or", g.op("Greater", g.op("Add", g.op("Size", "suffix"), g.op("Size", "contains")), g.i64(0)), "distinct")
    if training_names is not None:
        rejects = g.op("Or", rejects, "novel")
    usual = g.op("Min", g.op("Max", g.op("Mul", parts.count, g.i64(sampling.CANDIDATES_PER_NAME)), g.i64(sampling.MIN_CANDIDATES)),
                 g.i64(sampling.MAX_CANDIDATES))
    budget = g.op("Where", g.op("Greater", "max_candidates", g.i64(0)), g.op("Min", "max_candidates", g.i64(sampling.MAX_CANDIDATES)),
                  g.op("Where", rejects, usual, parts.count))
    # Rows per batch at most: the batch's [batch, max_len] rows and [batch, max_len, len(contains)] windows stay bounded.
    cap = g.op("Max", g.op("Div", g.i64(sampling.MAX_CELLS),
                           g.op("Mul", parts.max_len, g.op("Add", g.op("Min", g.op("Size", "contains"), g.i64(sampling.MAX_LEN + 1)), g.i64(1)))), g.i64(1))

    o = Graph("batch/")
    batch = o.op("Max", o.op("Min", o.op("Min", "size_in", o.op("Sub", budget, "start_in")), cap), o.i64(1))
    parts.start_batch(o, "start_in", batch)
    few = o.op("LessOrEqual", batch, o.i64(FEW_NAMES))
    row_type = [(TOKEN_TYPE, ["batch", "max_len"])]

    def tabulated(b: Graph) -> list[str]:
        return if_op(b, few, "loop", lambda d: [parts.dense_loop(d, tables)], lambda s: [parts.search_loop(s, tables)], row_type)

    if tabulate is None:
        rows = parts.network_loop(o)
    elif tabulate == "always":
        (rows,) = tabulated(o)
    else:
        (rows,) = if_op(o, tabulate, "draw", tabulated, lambda s: [parts.network_loop(s)], row_type)
    (names,) = if_op(o, few, "join", lambda b: [join_simple(b, rows, chars, b.name("names"))],
                     lambda b: [join_sorted(b, rows, chars, b.name("names"))], [(TensorProto.STRING, ["batch"])])
    passing = o.op("Squeeze", o.op("NonZero", candidate_tests(o, parts, rows, names, training_names)), o.i64([0]))
    rows, names = o.op("Gather", rows, passing, axis=0), o.op("Gather", names, passing, axis=0)
    accepted = o.op("Size", "names_in")

    def first_seen(b: Graph) -> list[str]:  # the passing candidates equal to no accepted name nor an earlier one
        _, first, _, _ = b.op("Unique", b.op("Concat", "names_in", names, axis=0), outputs=4, sorted=0)
        return [b.op("Sub", b.op("Slice", first, b.op("Unsqueeze", accepted, b.i64([0])), b.i64([INT64_MAX])), accepted)]

    (chosen,) = if_op(o, "distinct", "distinct", first_seen, lambda b: [b.op("Range", b.i64(0), b.op("Size", names), b.i64(1))],
                      [(TensorProto.INT64, ["chosen"])])
    chosen = o.op("Slice", chosen, o.i64([0]), o.op("Unsqueeze", o.op("Sub", parts.count, accepted), o.i64([0])))
    o.op("Concat", "rows_in", o.op("Gather", rows, chosen, axis=0), axis=0, name="rows_out")
    o.op("Concat", "names_in", o.op("Gather", names, chosen, axis=0), axis=0, name="names_out")
    o.op("Add", "start_in", batch, name="start_out")
    o.op("Min", o.op("Mul", "size_in", o.i64(2)), o.i64(sampling.MAX_CANDIDATES), name="size_out")
    o.op("And", o.op("Less", o.op("Size", "names_out"), parts.count), o.op("Less", "start_out", budget), name="cond_out")
    body = subgraph(o, "candidate_batch",
                    [int_info("batch_number", []), helper.make_tensor_value_info("batch_cond_in", TensorProto.BOOL, []),
                     int_info("start_in", []), int_info("size_in", []),
                     helper.make_tensor_value_info("rows_in", TOKEN_TYPE, ["found", "max_len"]),
                     helper.make_tensor_value_info("names_in", TensorProto.STRING, ["found"])],
                    [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), int_info("start_out", []), int_info("size_out", []),
                     helper.make_tensor_value_info("rows_out", TOKEN_TYPE, ["found", "max_len"]),
                     helper.make_tensor_value_info("names_out", TensorProto.STRING, ["found"])])
    no_rows = g.op("ConstantOfShape", g.op("Concat", g.i64([0]), g.op("Unsqueeze", parts.max_len, g.i64([0])), axis=0),
                   value=numpy_helper.from_array(np.zeros(1, np.uint8)))
    no_names = g.op("Constant", value=helper.make_tensor(g.name("no_names"), TensorProto.STRING, [0], []))
    go = g.op("And", g.op("Greater", parts.count, g.i64(0)), g.op("Greater", budget, g.i64(0)))
    _, _, rows, _ = g.op("Loop", "", go, g.i64(0), parts.count, no_rows, no_names, outputs=4, body=body,
                         names=[g.name("start"), g.name("size"), g.name("rows"), "names"])
    g.op("Cast", rows, to=TensorProto.INT64, name="tokens")
    g.op("Size", "names", name="found")

    meta = metadata(model, SAMPLER_FORMAT)
    meta["sampler_loop"] = loop_kind
    meta["training_names"] = str(0 if training_names is None else len(training_names))
    defaults = constraint_inputs(model, training_names)
    initializers += [numpy_helper.from_array(value, name) for name, value in defaults]
    return make_model(
        g,
        [helper.make_tensor_value_info("seed", TensorProto.INT64, []), helper.make_tensor_value_info("count", TensorProto.INT64, []),
         helper.make_tensor_value_info("temperature", TensorProto.FLOAT, [])]
        + [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype), list(value.shape) if value.ndim == 0 else [name])
           for name, value in defaults],
        [helper.make_tensor_value_info("names", TensorProto.STRING, ["found"]),
         helper.make_tensor_value_info("tokens", TensorProto.INT64, ["found", "max_len"]),
         helper.make_tensor_value_info("found", TensorProto.INT64, [])],
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


@dataclass(frozen=True)
class Exported:
    """What `export` wrote, and the validation it passed first."""

    sampler: Path
    scorer: Path
    validation: Validation

    def __iter__(self):  # `sampler, scorer = export(...)`
        return iter((self.sampler, self.scorer))


def export(model, path: str | Path, names: list[str] | None = None, training_names: bool = True,
           metadata: dict[str, str] | None = None) -> Exported:
    """Write the sampler to `path` and the scorer beside it (see `scorer_path`), once both have
    passed `validate` against the torch model (`names`: held-out names for the scorer check).
    The sampler carries the model's training names for `novel`, unless `training_names` is False
    (for privacy: the export then holds no name, and `novel` is an error). `metadata`: more
    entries for both files' metadata_props.

    Both files carry one fresh `export_id` and the validation figures in their metadata; the
    runtime refuses a pair whose ids differ, so an export killed between its two renames (new
    scorer, old sampler) is caught at load instead of scoring with another model. Exports into
    one folder hold an exclusive lock on it, and clear the temporaries that a killed export left."""
    path = Path(path)
    check_export_path(path)
    export_id = uuid.uuid4().hex
    carried = model.training_names_ if training_names else None
    sampler = build_sampler(model, export_network(model, float64=True), training_names=carried)
    scorer = build_scorer(model, export_network(model))
    for proto in (sampler, scorer):
        set_metadata(proto, export_id=export_id, **(metadata or {}))
    validation = validate(model, ExportedModel(path, sampler_bytes=sampler.SerializeToString(), scorer_bytes=scorer.SerializeToString()), names)
    for proto in (sampler, scorer):
        set_metadata(proto, validation=validation.as_metadata())
    write_export(path, sampler.SerializeToString(), scorer.SerializeToString())
    return Exported(path, scorer_path(path), validation)


def set_metadata(proto: onnx.ModelProto, **entries: str) -> None:
    helper.set_model_props(proto, {**{p.key: p.value for p in proto.metadata_props}, **entries})


__all__ = ["export", "Exported", "scorer_path", "build_sampler", "build_scorer", "export_network", "OPSET"]
