"""Building ONNX graphs by hand: a small node builder, If and Loop nodes whose interfaces are
declared in one place, splicing an exported network into a graph, and the model's metadata.

Nothing here knows about sampling; `rule`, `loops`, `strings`, `sampler` and `scorer` build
their graphs with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .. import __version__, sampling

OPSET = 21  # ONNX 1.16 operator set: StringConcat (20), BitwiseXor/And (18)
ML_OPSET = 4  # ai.onnx.ml: LabelEncoder
IR_VERSION = 10
INT64_MAX = np.iinfo(np.int64).max  # Slice to the end


class Type(NamedTuple):
    """A tensor's element type and shape (dimension names or sizes; None: any rank)."""

    elem_type: int
    shape: list | None


def info(name: str, kind: Type) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, kind.elem_type, kind.shape)


INT64 = Type(TensorProto.INT64, [])  # an int64 scalar
BOOL = Type(TensorProto.BOOL, [])  # a bool scalar


class Graph:
    """A tiny builder: `g.op("Add", a, b)` appends a node and returns its output's name."""

    def __init__(self, prefix: str):
        self.prefix, self.nodes, self.count = prefix, [], 0
        self.constants: dict[tuple, str] = {}
        self.hoisted: dict[tuple, list[str]] = {}  # splice's nodes computed here once, by what they compute
        self.constant_values: set[str] = set()  # values here that depend on weights and constants only

    def name(self) -> str:
        """A fresh value name. Numbered, not spelled out: names were a third of the sampler
        file (a 634-node graph); what a value is shows in its node's op type."""
        self.count += 1
        return f"{self.prefix}{self.count}"

    def op(self, op_type: str, *inputs: str, outputs: int = 1, domain: str = "", name: str | None = None,
           names: list[str] | None = None, **attrs):
        """`name` (or `names`, for several outputs) names the outputs; otherwise they are numbered."""
        outs = names or ([name] if name else [self.name() for _ in range(outputs)])
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, domain=domain or None, **attrs))
        return outs[0] if outputs == 1 else outs

    def const(self, value, dtype) -> str:
        """A constant as a Constant node (usable in any graph, subgraphs included); one node per
        distinct constant in this graph."""
        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self.constants:
            self.constants[key] = self.op("Constant", value=numpy_helper.from_array(array))
        return self.constants[key]

    def i64(self, value) -> str:
        return self.const(value, np.int64)

    def loop(self, body: LoopBody, trips: str, cond: str, initial: dict[str, str],
             names: dict[str, str] | None = None) -> dict[str, str]:
        """A Loop node running the finished `body`: `trips` ("" for none) and `cond` ("" for none)
        bound it; `initial` gives each carried value's first value, by the names `body` declared.
        Returns the Loop's outputs by name: each carried value's last value, then each scan output
        (stacked along a new first axis). `names` names chosen outputs (e.g. a graph output)."""
        if initial.keys() != body.carried.keys():
            raise ValueError(f"{body.prefix}: initial values for {sorted(initial)}, carried {sorted(body.carried)}")
        declared = [*body.carried, *body.scans]
        outs = [(names or {}).get(key) or self.name() for key in declared]
        self.op("Loop", trips, cond, *(initial[key] for key in body.carried), names=outs, body=body.proto)
        return dict(zip(declared, outs))


class LoopBody(Graph):
    """A Loop body whose interface is declared once, here: `carried` values (name -> Type) that
    each iteration reads and hands on, and `scans` (name -> Type) that each iteration outputs and
    the Loop stacks. Inside the body, `body.iteration` is the iteration number (int64, from 0)
    and `body[name]` is carried value `name` as this iteration receives it; `finish` says what
    each becomes. Value names start with `prefix`, which must be unique in the model."""

    def __init__(self, prefix: str, carried: dict[str, Type], scans: dict[str, Type] | None = None):
        super().__init__(prefix)
        self.carried, self.scans = carried, scans or {}
        self.iteration, self.cond = f"{prefix}i", f"{prefix}cond"
        self.inputs = {key: f"{prefix}{key}" for key in carried}
        self.proto: onnx.GraphProto | None = None

    def __getitem__(self, key: str) -> str:
        return self.inputs[key]

    def finish(self, cond: str | None, carried: dict[str, str], scans: dict[str, str] | None = None) -> LoopBody:
        """Close the body: `cond` (bool scalar; None keeps the incoming condition) says whether
        the Loop goes on, `carried` gives each carried value's next value and `scans` this
        iteration's scan outputs, by the names declared."""
        scans = scans or {}
        if carried.keys() != self.carried.keys() or scans.keys() != self.scans.keys():
            raise ValueError(f"{self.prefix}: finished with {sorted(carried)} / {sorted(scans)}, "
                             f"declared {sorted(self.carried)} / {sorted(self.scans)}")
        cond = self.op("Identity", self.cond) if cond is None else cond  # a body output is a value the body computes
        outputs = [info(cond, BOOL)] + [info(carried[key], kind) for key, kind in self.carried.items()] \
            + [info(scans[key], kind) for key, kind in self.scans.items()]
        inputs = [info(self.iteration, INT64), info(self.cond, BOOL)] + [info(self.inputs[key], kind) for key, kind in self.carried.items()]
        self.proto = helper.make_graph(self.nodes, self.prefix.strip("/") or "body", inputs, outputs)
        return self


def if_op(g: Graph, cond: str, then_fill: Callable[[Graph], list[str]], else_fill: Callable[[Graph], list[str]],
          outputs: list[Type]) -> list[str]:
    """An If node: `then_fill(b)` / `else_fill(b)` add nodes to a branch graph `b` and return its
    output values, of the Types in `outputs`. Returns the If's outputs."""
    tag = g.name()
    names = [f"{tag}/out{i}" for i in range(len(outputs))]

    def branch(label: str, fill) -> onnx.GraphProto:
        b = Graph(f"{tag}/{label}/")
        values = fill(b)
        made = {out for node in b.nodes for out in node.output}
        # A value the branch computes is its output as it is; an Identity would copy it (a
        # whole batch of names). One from the enclosing graph, or given twice, needs the copy.
        results = [value if value in made and values.index(value) == i else b.op("Identity", value, name=f"{tag}/{label}/out{i}")
                   for i, value in enumerate(values)]
        return helper.make_graph(b.nodes, f"{tag}_{label}", [], [info(r, kind) for r, kind in zip(results, outputs)])

    g.op("If", cond, names=names, then_branch=branch("then", then_fill), else_branch=branch("else", else_fill))
    return names


def splice(network: onnx.ModelProto, g: Graph, context: str, outer: list, tag: str = "network", hoist: Graph | None = None) -> str:
    """Append `network`'s nodes to `g`, reading `context`; returns the logits' name.

    Initializers keep their state-dict names under `tag/` and go to `outer` (the main graph),
    so a Loop body can read them from the enclosing scope and the exported weights are the
    checkpoint's tensors, byte for byte (a network and its step form share them). Every other
    value is numbered by `g`, the nodes lose their names, and equal Constant nodes become one
    (an unrolled network repeats its constants at every position).

    With `hoist` (the main graph, when `g` is a Loop body in it), every node that reads weights
    and constants only goes there instead, once for all the copies of the network a sampler
    splices: a mixed-in n-gram rebuilds its tables from its compact tensors so, and
    onnxruntime folds that work into constants when it loads the file.
    """
    return splice_all(network, g, [context], outer, tag, hoist)[0]


NEVER_HOISTED = {"RandomUniform", "RandomNormal", "RandomUniformLike", "RandomNormalLike", "Multinomial", "Bernoulli"}


def splice_all(network: onnx.ModelProto, g: Graph, inputs: list[str], outer: list, tag: str = "network",
               hoist: Graph | None = None) -> list[str]:
    """`splice` for a network of several inputs (`inputs`, in its order) and outputs (returned in its order)."""
    graph = network.graph
    rename = {i.name: value for i, value in zip(graph.input, inputs, strict=True)}
    constant = hoist.constant_values if hoist is not None else set()
    for init in graph.initializer:
        rename[init.name] = f"{tag}/{init.name}"
        constant.add(rename[init.name])
        if not any(i.name == rename[init.name] for i in outer):
            weight = onnx.TensorProto()
            weight.CopyFrom(init)
            weight.name = rename[init.name]
            outer.append(weight)
    for node in graph.node:  # in topological order, as torch.onnx writes them
        if node.op_type == "Constant" and [a.name for a in node.attribute] == ["value"]:
            value = numpy_helper.to_array(node.attribute[0].t)
            rename[node.output[0]] = (hoist or g).const(value, value.dtype)
            constant.add(rename[node.output[0]])
            continue
        spliced = onnx.NodeProto()
        spliced.CopyFrom(node)
        spliced.name = ""
        spliced.input[:] = [rename.get(i, i) if i else i for i in node.input]
        hoistable = (hoist is not None and node.input and node.op_type not in NEVER_HOISTED
                     and all(not i or i in constant for i in spliced.input)
                     and not any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute))
        if hoistable:
            key = (spliced.domain, spliced.op_type, tuple(spliced.input), len(node.output),
                   tuple(a.SerializeToString(deterministic=True) for a in spliced.attribute))
            if key not in hoist.hoisted:
                spliced.output[:] = [hoist.name() if o else o for o in node.output]
                hoist.nodes.append(spliced)
                hoist.hoisted[key] = list(spliced.output)
                constant.update(o for o in spliced.output if o)
            rename.update((o, h) for o, h in zip(node.output, hoist.hoisted[key]) if o)
            continue
        for out in node.output:
            if out:
                rename[out] = g.name()
        spliced.output[:] = [rename[o] if o else o for o in node.output]
        g.nodes.append(spliced)
    return [rename[o.name] for o in graph.output]


def make_model(g: Graph, inputs: list, outputs: list, initializers: list, meta: dict[str, str], name: str) -> onnx.ModelProto:
    graph = helper.make_graph(g.nodes, name, inputs, outputs, initializer=initializers)
    shorten_names(graph)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
                              producer_name="namegen", producer_version=__version__)
    model.ir_version = IR_VERSION
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model, full_check=True)
    return model


SHORT_NAME_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"


def subgraphs(graph: onnx.GraphProto):
    """`graph` and every Loop body and If branch in it, at any depth."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from subgraphs(attribute.g)
            for sub in attribute.graphs:
                yield from subgraphs(sub)


def shorten_names(graph: onnx.GraphProto) -> None:
    """Rename every internal value (neither an input or output of the model nor a weight) to a
    short id, the most used the shortest. Value names were a fifth of an rnn sampler's bytes
    (25,000 references to 8,400 values, "exact/net/1611"). One renaming for every scope keeps
    each Loop body's and If branch's references to outer values intact."""
    graphs = list(subgraphs(graph))
    kept = {v.name for v in [*graph.input, *graph.output]} | {init.name for sub in graphs for init in sub.initializer}
    uses: dict[str, int] = {}
    for sub in graphs:
        for value in [*sub.input, *sub.output]:
            uses[value.name] = uses.get(value.name, 0) + 1
        for node in sub.node:
            for value in [*node.input, *node.output]:
                if value:
                    uses[value] = uses.get(value, 0) + 1
    ids = (short for short in map(short_name, range(1 << 62)) if short not in kept)
    rename = {name: next(ids) for name in sorted(uses, key=uses.get, reverse=True) if name not in kept}
    for sub in graphs:
        for value in [*sub.input, *sub.output, *sub.value_info]:
            value.name = rename.get(value.name, value.name)
        for node in sub.node:
            node.input[:] = [rename.get(value, value) for value in node.input]
            node.output[:] = [rename.get(value, value) for value in node.output]


def short_name(number: int) -> str:
    """0 -> "0", 62 -> "_", 63 -> "00": every string of SHORT_NAME_CHARS, shortest first."""
    base, length = len(SHORT_NAME_CHARS), 1
    while number >= base**length:
        number -= base**length
        length += 1
    digits = []
    for _ in range(length):
        number, digit = divmod(number, base)
        digits.append(SHORT_NAME_CHARS[digit])
    return "".join(reversed(digits))


def metadata(model, kind: str) -> dict[str, str]:
    """What an app needs to use either file, as `metadata_props`."""
    return {
        "namegen_format": kind,
        "namegen_version": __version__,
        "vocab": json.dumps("".join(model.vocab_.chars)),
        "plugin": model.plugin_name,
        "hyperparams": json.dumps(model.hyperparams),
        "block_size": str(model.block_size),
        "max_len": str(model.max_len_),
        "max_count": str(sampling.MAX_COUNT),
        # The bounds a call is checked against, so that apps in other languages read them instead of copying them.
        "limits": json.dumps({"max_name_len": sampling.MAX_LEN, "max_cells": sampling.MAX_CELLS, "max_candidates": sampling.MAX_CANDIDATES}),
        "sampling_rule_version": str(sampling.SAMPLING_RULE_VERSION),
        "opset": str(OPSET),
    }


def set_metadata(proto: onnx.ModelProto, **entries: str) -> None:
    helper.set_model_props(proto, {**{p.key: p.value for p in proto.metadata_props}, **entries})
