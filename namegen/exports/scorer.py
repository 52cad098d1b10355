"""The scorer graph: input `tokens` int64 [B, T] (names without boundary tokens, 0-padded);
outputs `log_likelihood` float32 [B] (end token included) and `token_log_probs` float32
[B, T + 1] (log p of each observed token, 0 past the end). The network (float32, as the model
scores) runs once on every position's context, all names at once."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from ..runtime import SCORER_FORMAT
from .graph import Graph, Type, info, make_model, metadata, splice


def build_scorer(model, network: onnx.ModelProto) -> onnx.ModelProto:
    """The scorer for `model`, its network (`network`: float32, from export_network) spliced in:

        seq = [0] * block_size ++ tokens ++ [0]                 # per name; 0 ends it
        for p in 0 .. T:                                         # T + 1 targets, the end included
            token_log_probs[:, p] = log_softmax(network(seq[:, p : p + block_size]))[target p]   (0 past the end)
        log_likelihood = sum over p of token_log_probs[:, p]
    """
    block_size = model.block_size
    initializers: list = []
    g = Graph("")
    shape = g.op("Shape", "tokens")
    batch = g.op("Slice", shape, g.i64([0]), g.i64([1]))
    length = g.op("Slice", shape, g.i64([1]), g.i64([2]))

    def zeros(width: int) -> str:
        return g.op("ConstantOfShape", g.op("Concat", batch, g.i64([width]), axis=0), value=numpy_helper.from_array(np.zeros(1, np.int64)))

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
        g, [info("tokens", Type(TensorProto.INT64, ["batch", "length"]))],
        [info("log_likelihood", Type(TensorProto.FLOAT, ["batch"])), info("token_log_probs", Type(TensorProto.FLOAT, ["batch", "positions"]))],
        initializers, metadata(model, SCORER_FORMAT), f"namegen_{model.plugin_name}_scorer",
    )
