"""The plugin's network alone, as ONNX (context int64 [batch, block_size] -> logits [batch, V]),
through torch.onnx; `graph.splice` puts it into the sampler and the scorer."""

from __future__ import annotations

import copy
import io
import logging
import warnings
from contextlib import redirect_stdout

import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from ..errors import NamegenError
from .graph import OPSET

TRACED_OPSET = 20  # the network exported by torch.onnx's TorchScript exporter (its newest)


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
