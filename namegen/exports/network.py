"""The plugin's network alone, as ONNX (context int64 [batch, block_size] -> logits [batch, V]),
and its optional step form (token, state -> logits, state), through torch.onnx; `graph.splice`
puts them into the sampler and the scorer."""

from __future__ import annotations

import copy
import io
import logging
import warnings
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from ..contract import has_step_form
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
    with quiet_exporter():
        try:
            proto = traced_export(network, (example,), ["context"], ["logits"], {"context": {0: "batch"}})
        except Exception:  # noqa: BLE001 - a network TorchScript cannot trace: the dynamo exporter may
            proto = dynamo_export(network, example)
    return finish(model, proto, weights, float64)


class Tally:
    """Counts the bytes of every tensor that torch operators make while it is active."""

    def __enter__(self):
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_leaves

        tally = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                tally.made += sum(t.numel() * t.element_size() for t in tree_leaves(out) if isinstance(t, torch.Tensor))
                return out

        self.made, self.mode = 0, Mode()
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self.mode.__exit__(*exc)


def bytes_per_context(model) -> int:
    """What one more context adds to the tensors a float64 evaluation of the network makes, summed
    over every operator (a bound on what it holds at once): the difference between a batch of 2
    contexts and of 1, so that per-call costs such as transposed weights do not count."""
    network = copy.deepcopy(model._fitted()).eval().double()
    made = []
    with torch.no_grad():
        for batch in (1, 2):
            with Tally() as tally:
                network(torch.zeros(batch, network.block_size, dtype=torch.int64))
            made.append(tally.made)
    return max(made[1] - made[0], 1)


def bytes_per_step_row(model) -> int | None:
    """What one more row adds to a float64 step of the step form (None without one), at its
    largest over the block's steps, summed over that step's operators, plus the state it
    carries: a step loop holds one step's tensors and the state at once, far less than the
    whole window's evaluation."""
    network = copy.deepcopy(model._fitted()).eval().double()
    if not has_step_form(network):
        return None
    made = []
    with torch.no_grad():
        for batch in (1, 2):
            state = [s.expand(batch, *s.shape[1:]).clone() for s in network.initial_state()]
            largest = 0
            for _ in range(network.block_size):
                with Tally() as tally:
                    _, state = network.step(torch.zeros(batch, dtype=torch.int64), state)
                largest = max(largest, tally.made)
            made.append(largest + sum(s.numel() * s.element_size() for s in state))
    return max(made[1] - made[0], 1)


@dataclass(frozen=True)
class StepNetwork:
    """A network's step form as ONNX: `token` int64 [batch] and `state0` .. `stateN` (float64 or
    float32, batch first) -> `logits` [batch, V] and `next0` .. `nextN`; `initial` is the state
    before any token (batch 1), computed here once, as the torch step form gives it.
    `logit_error`: for a float32 step form, the largest |logit - float64 logit| that
    onnxruntime gave on the names `measure_logit_error` fed it; `exact`: the float64 step form
    that draws again the names with a close call (see loops.incremental_loop)."""

    proto: onnx.ModelProto
    initial: tuple[np.ndarray, ...]
    logit_error: float | None = None
    exact: StepNetwork | None = None


class _StepForm(torch.nn.Module):
    """(token, *state) -> (logits, *state): the step form as a module torch.onnx can trace."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network

    def forward(self, token, *state):
        logits, state = self.network.step(token, list(state))
        return (logits, *state)


def export_step_network(model, float64: bool = True) -> StepNetwork | None:
    """The network's step form (namegen.contract.StepNetwork), in float64 unless not `float64`;
    None if it has none. Its initialisers are named and stored as `export_network`'s: the
    sampler holds each weight once."""
    network = model._fitted().eval()
    if not has_step_form(network):
        return None
    weights = {key: tensor.detach() for key, tensor in network.state_dict().items()}
    network = copy.deepcopy(network).to(torch.float64 if float64 else torch.float32)
    with torch.no_grad():
        initial = [s.detach() for s in network.initial_state()]
        # An example past the first position (caches not empty), two rows: nothing in it is a traced constant.
        example = [s.expand(2, *s.shape[1:]) for s in initial]
        for token in (0, 1):
            _, example = network.step(torch.tensor([token, token]), example)
    names = [f"state{i}" for i in range(len(initial))]
    outputs = [f"next{i}" for i in range(len(initial))]
    axes = {name: {d: f"{name}_{d}" for d in range(s.dim())} for name, s in zip(names + outputs, example + example)}
    with quiet_exporter():
        proto = traced_export(_StepForm(network), (torch.zeros(2, dtype=torch.int64), *example), ["token", *names],
                              ["logits", *outputs], {"token": {0: "batch"}, "logits": {0: "batch"}, **axes})
    for init in proto.graph.initializer:  # the wrapper's "network." prefix off: the state_dict's keys, as forward's
        old = init.name
        init.name = old.removeprefix("network.")
        for node in proto.graph.node:
            node.input[:] = [init.name if i == old else i for i in node.input]
    return StepNetwork(finish(model, proto, weights, float64), tuple(s.numpy() for s in initial))


MEASURED_NAMES = 512  # names the float32 step form's logit error is measured on (and the longest training names)


def measure_logit_error(model, step: StepNetwork) -> float:
    """How far a float32 step form's logits in onnxruntime come from float64's: the largest
    difference over every step of names the model draws (temperatures 1 and 2, so unusual
    contexts too) and its longest training names, against torch's float64 step form (which
    equals float64 `forward` within 1e-9: tests/test_step_form.py)."""
    import onnxruntime as ort

    network, bs = model._sampling_network(model._fitted()), model.block_size
    rows = [row for temperature in (1.0, 2.0) for row in model.sample_tokens(MEASURED_NAMES // 2, seed=11, temperature=temperature)]
    rows += [model.vocab_.encode(name) for name in sorted(getattr(model, "training_names_", None) or [], key=len)[-8:]]
    names = [[t for t in row if t][: bs - 1] for row in rows]
    lengths = np.array([len(ids) for ids in names])
    tokens = np.zeros((len(names), lengths.max() + 1), np.int64)  # position 0: the boundary token
    for row, ids in zip(tokens, names):
        row[1 : 1 + len(ids)] = ids
    session = ort.InferenceSession(step.proto.SerializeToString(), providers=["CPUExecutionProvider"])
    state, error = [np.repeat(s, len(names), axis=0) for s in step.initial], 0.0
    exact = [s.expand(len(names), *s.shape[1:]) for s in network.initial_state()]
    for t in range(tokens.shape[1]):
        logits, *state = session.run(None, {"token": tokens[:, t], **{f"state{i}": s for i, s in enumerate(state)}})
        with torch.no_grad():
            expected, exact = network.step(torch.from_numpy(tokens[:, t]), exact)
        valid = lengths >= t  # a row past its name's end was fed 0s: not a history any sampler reaches
        error = max(error, float(np.abs(logits[valid].astype(np.float64) - expected.numpy()[valid]).max()))
    return error


@contextmanager
def quiet_exporter():
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        quiet.setLevel(logging.ERROR)  # the exporter logs torchvision notes that say nothing about our model
        try:
            yield
        finally:
            quiet.setLevel(level)


def finish(model, proto: onnx.ModelProto, weights: dict, float64: bool) -> onnx.ModelProto:
    if proto.functions:
        raise NamegenError(f"the {model.plugin_name!r} network exports with ONNX functions, which namegen cannot splice yet")
    if float64:
        keep_float32_weights(proto.graph, weights)
    return proto


def traced_export(network: torch.nn.Module, example: tuple, inputs: list[str], outputs: list[str], axes: dict) -> onnx.ModelProto:
    """torch.onnx's TorchScript exporter: an order of magnitude quicker than the dynamo exporter
    for the zoo's networks. Constant
    folding is off, and initialisers are first kept as inputs (which skips the exporter's
    merging of equal tensors: an n-gram's small levels can be equal), so that every weight stays
    an initialiser named by its state_dict key."""
    buffer = io.BytesIO()
    # Opset 20, the newest this exporter supports; its nodes mean the same under the sampler's opset 21.
    torch.onnx.export(network, example, buffer, dynamo=False, opset_version=TRACED_OPSET, input_names=inputs,
                      output_names=outputs, dynamic_axes=axes, do_constant_folding=False, keep_initializers_as_inputs=True)
    proto = onnx.load_from_string(buffer.getvalue())
    weights = {init.name for init in proto.graph.initializer}
    kept = [i for i in proto.graph.input if i.name not in weights]
    del proto.graph.input[:]
    proto.graph.input.extend(kept)
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
