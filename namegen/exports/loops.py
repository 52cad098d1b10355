"""Rule 1's step loops: each draws a batch of candidates, one character position (step) per
iteration, on the names still going, and both give the same tokens as
namegen.sampling.sample_tokens; they differ in where the network runs (see `sampler.Plan` for
which runs when):

* `search_loop`: tabulated CDF rows (`tabulate` runs the network once per call on every
  context), binary search for the pick;
* `network_loop`: the network inside the loop: by its step form (one token in, a carried
  state) where it has one, else on the whole window.

A loop returns the batch's rows [batch, max_len] of TOKEN_TYPE: the prefix, the drawn tokens,
0-padding.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import onnx
from onnx import TensorProto, helper

from .graph import INT64_MAX, Graph, LoopBody, Type, if_op, splice, splice_all
from .rule import cdf_of, count_below, next_state, row_keys, uniforms

if TYPE_CHECKING:
    from .network import StepNetwork

TOKEN_TYPE = TensorProto.UINT8  # token ids inside the sampler (V <= 256): an eighth of int64's memory traffic
ROWS = Type(TOKEN_TYPE, ["batch", "max_len"])  # what a step loop returns
GOING = Type(TensorProto.INT64, ["alive"])  # a value per name still going (compacting loops)
COLUMN = Type(TOKEN_TYPE, ["batch"])  # a step's tokens, every row of the batch (0 for the names that ended)


@dataclass(frozen=True)
class Call:
    """What one sampler call fixes, computed once in the main graph and read by every loop:
    sizes, the network, the inputs clamped into range, and values derived from them."""

    vocab_size: int
    block_size: int
    network: onnx.ModelProto  # context int64 [n, block_size] -> logits float64 [n, V]
    step_network: StepNetwork | None  # its step form (token, state -> logits, state), if it has one
    initializers: list  # the main graph's: the network's weights go there when it is spliced in
    main: Graph  # the main graph: what a spliced network computes from its weights alone goes there, once
    count: str  # int64 []
    prefix: str  # int64 [prefix_len]: tokens forced at steps 0 .. prefix_len - 1
    prefix_len: str
    max_len: str
    min_len: str  # the end token cannot be drawn at a step below it
    steps: str  # max_len - prefix_len: the most iterations a step loop runs
    temperature: str  # float64 []
    step_mix: str  # int64 [max_len]: mix(t) for every step t
    seed_key: str  # int64 []: sampling.seed_key(seed)
    context0: str  # int64 [block_size]: the context after the prefix (boundary tokens before it)

    @property
    def contexts(self) -> int:
        return self.vocab_size**self.block_size


@dataclass(frozen=True)
class Batch:
    """The candidates one step loop draws: numbers start .. start + size - 1."""

    positions: str  # int64 [batch]: 0 .. size - 1, the rows of the batch
    index: str  # int64 [batch]: the candidates' numbers
    keys: str  # int64 [batch]: sampling.row_keys of them

    @classmethod
    def build(cls, g: Graph, call: Call, start: str, size: str) -> Batch:
        positions = g.op("Range", g.i64(0), size, g.i64(1))
        index = g.op("Add", positions, start)
        return cls(positions, index, row_keys(g, call.seed_key, index))

    def zeros(self, g: Graph, to: int = TensorProto.INT64) -> str:
        """[batch] zeros (of type `to`)."""
        zeros = g.op("Mul", self.index, g.i64(0))
        return zeros if to == TensorProto.INT64 else g.op("Cast", zeros, to=to)


class Tables(NamedTuple):
    """The network's CDF on every context, as the search loop reads it. Rows are base-V
    context numbers (state), then the same again with the end token masked (state + contexts,
    for steps below min_len)."""

    flat: str  # float64 [2 * contexts * width]: the rows padded with +inf to width = a power of two, flattened
    totals: str  # float64 [2 * contexts]: each row's last entry

    @staticmethod
    def types() -> list[Type]:
        return [Type(TensorProto.DOUBLE, ["entries"]), Type(TensorProto.DOUBLE, ["rows"])]

    @classmethod
    def empty(cls, g: Graph) -> Tables:
        """No tables (the branch of a call that samples stepwise)."""
        return cls(g.const(np.zeros(0), np.float64), g.const(np.zeros(0), np.float64))


def search_width(vocab_size: int) -> int:
    return 1 << (vocab_size - 1).bit_length()


def tabulate(g: Graph, call: Call) -> Tables:
    """The network once on every context (base-V order, oldest token most significant):

        contexts = [digits of n in base V for n in 0 .. V**block_size - 1]
        p        = exp((logits - max) / temperature) of network(contexts)
        cdf      = cumsum(p) ++ cumsum(p with the end token masked)      # the second for steps below min_len

    The first copy's rows of contexts that end in the boundary token are never read: only the
    first step has such a context, and it is below min_len.
    """
    V, bs = call.vocab_size, call.block_size
    contexts = V**bs
    ids = g.op("Range", g.i64(0), g.i64(contexts), g.i64(1))
    digits = [g.op("Unsqueeze", g.op("Mod", g.op("Div", ids, g.i64(V ** (bs - 1 - k))), g.i64(V)), g.i64([1])) for k in range(bs)]
    logits = g.op("Cast", splice(call.network, g, g.op("Concat", *digits, axis=1), call.initializers, hoist=call.main), to=TensorProto.DOUBLE)
    z = g.op("Sub", logits, g.op("ReduceMax", logits, g.i64([-1]), keepdims=1))
    p = g.op("Exp", g.op("Div", z, call.temperature))
    no_end = g.const(np.array([[0.0] + [1.0] * (V - 1)]), np.float64)  # as sampling.pick: p[end] = 0 exactly
    cdf = g.op("CumSum", g.op("Concat", p, g.op("Mul", p, no_end), axis=0), g.i64(-1))
    width = search_width(V)
    flat = g.op("Reshape", g.op("Pad", cdf, g.i64([0, 0, 0, width - V]), g.const(np.inf, np.float64)), g.i64([-1]))
    return Tables(flat, g.op("Squeeze", g.op("Gather", cdf, g.i64([V - 1]), axis=1), g.i64([1])))


def start_state(g: Graph, call: Call, batch: Batch) -> str:
    """[batch] table index of the context after the prefix."""
    V, bs = call.vocab_size, call.block_size
    state = g.op("ReduceSum", g.op("Mul", call.context0, g.i64(V ** np.arange(bs - 1, -1, -1, dtype=np.int64))), keepdims=0)
    return g.op("Add", batch.zeros(g), state)


def run_steps(g: Graph, call: Call, batch: Batch, body: LoopBody, initial: dict[str, str]) -> str:
    """Run a step loop (scan output `column`) for the steps after the prefix, at most
    max_len - prefix_len of them; returns the rows [batch, max_len]: prefix, draws, 0-padding."""
    column = g.loop(body, call.steps, g.const(True, np.bool_), initial)["column"]
    return rows_of(g, call, batch, [drawn_of(g, batch, column)])


def drawn_of(g: Graph, batch: Batch, column: str) -> str:
    """A step loop's scan output [steps run, batch] as [batch, steps run] tokens. Reshaped, not
    only transposed: a Loop that ran no step gives its scan output the shape [0, 0]."""
    drawn = g.op("Transpose", g.op("Cast", column, to=TOKEN_TYPE), perm=[1, 0])
    return g.op("Reshape", drawn, g.op("Concat", g.op("Shape", batch.index), g.i64([-1]), axis=0))


def rows_of(g: Graph, call: Call, batch: Batch, drawn: list[str]) -> str:
    """The rows [batch, max_len]: the prefix, then the `drawn` tokens ([batch, steps] each), then 0s."""
    shape = g.op("Concat", g.op("Shape", batch.index), g.op("Shape", call.prefix), axis=0)
    prefix = g.op("Expand", g.op("Cast", g.op("Unsqueeze", call.prefix, g.i64([0])), to=TOKEN_TYPE), shape)
    rows = g.op("Concat", prefix, *drawn, axis=1)
    missing = g.op("Sub", g.op("Unsqueeze", call.max_len, g.i64([0])), g.op("Shape", rows, start=1, end=2))
    return g.op("Pad", rows, g.op("Concat", g.i64([0, 0, 0]), missing, axis=0))


def finish_compacting(b: LoopBody, chosen: str, zero_column: str, following: dict[str, str], flagged: str | None = None) -> LoopBody:
    """Close a step that works on the names still going (carried `alive`, their rows in the
    batch, and whatever else `following` gives the next value of): write `chosen` into this
    step's column of all rows (and the bool `flagged` into scan `flags`, if given), keep only the
    names that did not just end, go on while any does."""
    scans = {"column": b.op("ScatterElements", zero_column, b["alive"], b.op("Cast", chosen, to=TOKEN_TYPE), axis=0)}
    if flagged is not None:
        scans["flags"] = b.op("ScatterElements", zero_column, b["alive"], b.op("Cast", flagged, to=TOKEN_TYPE), axis=0)
    going = b.op("Greater", chosen, b.i64(0))
    kept = {key: b.op("Compress", value, going, axis=0) for key, value in {"alive": b["alive"], **following}.items()}
    return b.finish(b.op("Greater", b.op("Size", kept["alive"]), b.i64(0)), kept, scans)


def search_loop(g: Graph, call: Call, batch: Batch, tables: Tables) -> str:
    """The tabulated step loop. Each step hashes the uniforms of the names still going and
    finds the pick by binary search in their CDF row (exactly count(cdf < threshold), as the
    row is non-decreasing and padded with +inf to `width` entries):

        offset[s] = contexts * (prefix_len + s < min_len), up front       # the masked copy below min_len
        alive = 0 .. batch - 1; keys = batch keys; state = start_state
        for s in 0 .. steps - 1, while alive:                              # step prefix_len + s
            row = state + offset[s]
            threshold = uniform(keys, prefix_len + s) * totals[row]
            last = row * width - 1                                  # the last entry known below threshold
            for bit in width / 2, width / 4, ..., 1:
                last += bit * (flat[last + bit] < threshold)
            chosen = last + 1 - row * width
            column = zeros(batch); column[alive] = chosen
            alive, keys, state = (alive, keys, next_state(state, chosen))[chosen > 0]

    GatherElements and arithmetic, not Gather and Where: onnxruntime runs those several times
    slower per element on 1-D tensors."""
    width = search_width(call.vocab_size)
    steps = g.op("Range", call.prefix_len, call.max_len, g.i64(1))
    offsets = g.op("Mul", g.op("Cast", g.op("Less", steps, call.min_len), to=TensorProto.INT64), g.i64(call.contexts))
    step_mix = g.op("Gather", call.step_mix, steps)
    b = LoopBody("search/", carried={"alive": GOING, "keys": GOING, "state": GOING}, scans={"column": COLUMN})
    row = b.op("Add", b["state"], b.op("Gather", offsets, b.iteration))
    u = uniforms(b, b["keys"], b.op("Gather", step_mix, b.iteration))
    threshold = b.op("Mul", u, b.op("GatherElements", tables.totals, row, axis=0))
    start = b.op("Mul", row, b.i64(width))
    last = b.op("Sub", start, b.i64(1))
    bit = width // 2
    while bit:
        below = b.op("Less", b.op("GatherElements", tables.flat, b.op("Add", last, b.i64(bit)), axis=0), threshold)
        last = b.op("Add", last, b.op("Mul", b.op("Cast", below, to=TensorProto.INT64), b.i64(bit)))
        bit //= 2
    chosen = b.op("Sub", b.op("Add", last, b.i64(1)), start)
    finish_compacting(b, chosen, batch.zeros(g, TOKEN_TYPE),
                      {"keys": b["keys"], "state": next_state(b, b["state"], chosen, call.vocab_size, call.block_size)})
    return run_steps(g, call, batch, b, {"alive": batch.positions, "keys": batch.keys, "state": start_state(g, call, batch)})


def network_loop(g: Graph, call: Call, batch: Batch) -> str:
    """Contexts too many to tabulate: the network runs in the loop, on the names still going.
    With a step form, `incremental_loop` draws the steps below block_size and `window_loop`
    any after them (a name longer than the window: the step form no longer equals forward).
    A float32 step form flags its close calls; the names with any are drawn again by the
    float64 step form before the windows go on, so the sampler holds the windows once:

        drawn, going = incremental (float32)
        if any flagged: drawn[flagged], going[flagged] = incremental (float64), for those candidates
        rows = drawn then windows, for the names still going
    """
    if call.step_network is None:
        column = window_loop(g, call, batch, call.prefix_len, call.steps, batch.positions, batch.keys, windows0(g, call, batch.positions))
        return rows_of(g, call, batch, [drawn_of(g, batch, column)])
    until = g.op("Min", call.max_len, g.i64(call.block_size))
    trips = g.op("Max", g.op("Sub", until, call.prefix_len), g.i64(0))
    first = incremental_loop(g, call, batch, trips)
    alive = first["alive"]  # rows of the batch still going after the steps
    drawn = padded(g, drawn_of(g, batch, first["column"]), trips)
    if call.step_network.exact is not None:
        flags = g.op("ReduceMax", g.op("Concat", g.op("Unsqueeze", batch.zeros(g, TOKEN_TYPE), g.i64([0])), first["flags"], axis=0),
                     g.i64([0]), keepdims=0)  # [batch]: any close call (a Loop that ran no step gives its scan [0, 0])
        flagged = g.op("Squeeze", g.op("NonZero", flags), g.i64([0]))

        def again(r: Graph) -> list[str]:
            exact = replace(call, step_network=call.step_network.exact)
            index, keys = r.op("Gather", batch.index, flagged, axis=0), r.op("Gather", batch.keys, flagged, axis=0)
            subset = Batch(r.op("Range", r.i64(0), r.op("Size", flagged), r.i64(1)), index, keys)
            second = incremental_loop(r, exact, subset, trips, "exact/")
            redrawn = padded(r, drawn_of(r, subset, second["column"]), trips)
            unflagged = r.op("Not", r.op("Cast", r.op("Gather", flags, alive, axis=0), to=TensorProto.BOOL))
            kept = r.op("Compress", alive, unflagged, axis=0)
            again_alive = r.op("Gather", flagged, second["alive"], axis=0)  # subset rows -> batch rows
            return [r.op("ScatterND", drawn, r.op("Unsqueeze", flagged, r.i64([1])), redrawn), r.op("Concat", kept, again_alive, axis=0)]

        drawn, alive = if_op(g, g.op("Greater", g.op("Size", flagged), g.i64(0)), again, lambda r: [drawn, alive],
                             [Type(TOKEN_TYPE, ["batch", "steps"]), GOING])
    # the names still going have drawn every step below `until` (a step loop stops only when none is going):
    # their windows are the last block_size tokens of boundary tokens, prefix and draws
    stream = g.op("Cast", g.op("Concat", g.i64(np.zeros(call.block_size, np.int64)), call.prefix, axis=0), to=TOKEN_TYPE)
    head = g.op("Expand", g.op("Unsqueeze", stream, g.i64([0])), g.op("Concat", g.op("Shape", batch.index), g.op("Shape", stream), axis=0))
    windows = g.op("Slice", g.op("Concat", head, drawn, axis=1), g.i64([-call.block_size]), g.i64([INT64_MAX]), g.i64([1]))
    context = g.op("Cast", g.op("Gather", windows, alive, axis=0), to=TensorProto.INT64)
    next_step = g.op("Max", until, call.prefix_len)
    after = window_loop(g, call, batch, next_step, g.op("Sub", call.max_len, next_step), alive, g.op("Gather", batch.keys, alive, axis=0), context)
    return rows_of(g, call, batch, [drawn, drawn_of(g, batch, after)])


def padded(g: Graph, drawn: str, width: str) -> str:
    """Tokens [batch, steps run] padded with 0s (ended) to [batch, width]."""
    missing = g.op("Sub", g.op("Unsqueeze", width, g.i64([0])), g.op("Shape", drawn, start=1, end=2))
    return g.op("Pad", drawn, g.op("Concat", g.i64([0, 0, 0]), missing, axis=0))


def windows0(g: Graph, call: Call, alive: str) -> str:
    """The windows [alive, block_size] after the prefix: context0 for every name `alive`."""
    return g.op("Expand", g.op("Unsqueeze", call.context0, g.i64([0])), g.op("Concat", g.op("Shape", alive), g.i64([call.block_size]), axis=0))


def window_loop(g: Graph, call: Call, batch: Batch, first_step: str, trips: str, alive: str, keys: str, context: str) -> str:
    """The network on each name's whole window, from step `first_step` on; returns the scan
    output `column` [steps run, batch]:

        for step in first_step .. first_step + trips - 1, while alive:
            no_end = context[:, -1] == 0 or step < min_len
            cdf = cdf_of(network(context), temperature, no_end)
            chosen = count(cdf < uniform(keys, step) * cdf[:, -1])
            column = zeros(batch); column[alive] = chosen
            alive, keys, context = (alive, keys, context[:, 1:] ++ chosen)[chosen > 0]
    """
    bs = call.block_size
    b = LoopBody("net/", carried={"alive": GOING, "keys": GOING, "context": Type(TensorProto.INT64, ["alive", bs])},
                 scans={"column": COLUMN})
    step = b.op("Add", b.iteration, first_step)
    window = b["context"]
    last = b.op("Slice", window, b.i64([-1]), b.i64([bs]), b.i64([1]))
    no_end = b.op("Or", b.op("Equal", last, b.i64(0)), b.op("Less", step, call.min_len))
    u = uniforms(b, b["keys"], b.op("Gather", call.step_mix, step))
    chosen, _, _ = pick_from(b, call, splice(call.network, b, window, call.initializers, hoist=call.main), no_end, u)
    shifted = b.op("Concat", b.op("Slice", window, b.i64([1]), b.i64([bs]), b.i64([1])), b.op("Unsqueeze", chosen, b.i64([1])), axis=1)
    finish_compacting(b, chosen, batch.zeros(g, TOKEN_TYPE), {"keys": b["keys"], "context": shifted})
    going = g.op("Greater", g.op("Size", alive), g.i64(0))
    return g.loop(b, trips, going, {"alive": alive, "keys": keys, "context": context})["column"]


MAX_LOGIT_ERROR = 1e-5  # a float32 step form is used only if its logits measure within this of float64's
ERROR_MARGIN = 4  # close calls are flagged as if its logits could be this many times further off than measured


def trusted_logit_error(measured: float) -> float:
    """How far a float32 step form's logits are taken to be from float64's at most."""
    return ERROR_MARGIN * max(measured, 1e-7)


def guard_width(g: Graph, call: Call) -> str:
    """How close (as a fraction of the CDF's total) a uniform may come to a CDF boundary before
    a float32 pick counts as a close call. Logits within d of float64's make each p within a
    factor exp(2d / T) of float64's, so each cdf / total within 2 (exp(2d / T) - 1) of it."""
    d = trusted_logit_error(call.step_network.logit_error)
    spread = g.op("Exp", g.op("Div", g.const(2 * d, np.float64), call.temperature))
    return g.op("Mul", g.op("Sub", spread, g.const(1.0, np.float64)), g.const(2.0, np.float64))


def incremental_loop(g: Graph, call: Call, batch: Batch, trips: str, tag: str = "") -> dict[str, str]:
    """The step form, for `trips` steps from the prefix's end (all below block_size): one token
    per name and step goes through the network, with the state it carries. Returns the Loop's
    outputs (`alive`, ..., scans `column` and, for a float32 step form, `flags`, [steps run, batch]):

        stream = [boundary] ++ prefix
        state = initial; for token in stream[:prefix_len]: state = step(token, state)   # batch 1, once
        u[s, r] = uniform(keys[r], prefix_len + s) for every step s below trips, up front
        alive = 0 .. batch - 1; token = stream[prefix_len]; state: for every row
        for s in 0 .. trips - 1, while alive:                                 # step prefix_len + s
            logits, state = step(token, state)
            chosen = the pick from logits with u[s, alive] (the end masked at step 0 and below min_len)
            column = zeros(batch); column[alive] = chosen
            if the step form is float32:                                   # the rule is float64
                flags = zeros(batch); flags[alive] = the uniform lies within guard_width of a CDF boundary
            alive, token, state = (alive, chosen, state)[chosen > 0]

    A float32 step form draws the float64 rule's names wherever no pick was a close call: a
    pick can differ only where the uniform lies closer to a CDF boundary than the float32
    logits' error can move it. That holds while they are within `trusted_logit_error` of
    float64's; the export measures how far they are (`logit_error`). `network_loop` draws the
    flagged names again in float64.
    """
    net = call.step_network
    states = [f"state{i}" for i in range(len(net.initial))]
    kinds = {name: Type(helper.np_dtype_to_tensor_dtype(value.dtype), None) for name, value in zip(states, net.initial)}
    stream = g.op("Concat", g.i64([0]), call.prefix, axis=0)
    # The prefix is fed only when the loop runs (a prefix of block_size or more characters leaves it to the windows).
    fed = g.op("Where", g.op("Greater", trips, g.i64(0)), call.prefix_len, g.i64(0))
    p = LoopBody(f"{tag}prefix/", carried=kinds)
    _, *after = splice_all(net.proto, p, [p.op("Unsqueeze", p.op("Gather", stream, p.iteration), p.i64([0])), *(p[s] for s in states)],
                           call.initializers, hoist=call.main)
    p.finish(None, dict(zip(states, after)))
    initial = {s: g.const(value, value.dtype) for s, value in zip(states, net.initial)}
    primed = g.loop(p, fed, "", initial)
    batch_shape = g.op("Shape", batch.index)
    for s in states:  # the fed state for every row
        primed[s] = g.op("Expand", primed[s], g.op("Concat", batch_shape, g.op("Shape", primed[s], start=1), axis=0))
    guard = None if net.exact is None else guard_width(g, call)

    # Per step, up front: the uniforms of every row (at most block_size steps of a batch) and whether the end is masked.
    steps = g.op("Range", call.prefix_len, g.op("Add", call.prefix_len, trips), g.i64(1))
    u_all = uniforms(g, g.op("Unsqueeze", batch.keys, g.i64([0])), g.op("Unsqueeze", g.op("Gather", call.step_mix, steps), g.i64([1])))  # [trips, batch]
    no_end_all = g.op("Or", g.op("Equal", steps, g.i64(0)), g.op("Less", steps, call.min_len))  # [trips]

    b = LoopBody(f"{tag}step/", carried={"alive": GOING, "token": GOING, **kinds},
                 scans={"column": COLUMN, **({} if guard is None else {"flags": COLUMN})})
    logits, *state = splice_all(net.proto, b, [b["token"], *(b[s] for s in states)], call.initializers, hoist=call.main)
    u = b.op("Gather", b.op("Gather", u_all, b.iteration, axis=0), b["alive"], axis=0)
    chosen, cdf, threshold = pick_from(b, call, logits, b.op("Gather", no_end_all, b.iteration), u)
    finish_compacting(b, chosen, batch.zeros(g, TOKEN_TYPE), {"token": chosen, **dict(zip(states, state))},
                      None if guard is None else close_calls(b, call, chosen, cdf, threshold, guard))
    token = g.op("Expand", g.op("Gather", stream, call.prefix_len), batch_shape)
    return g.loop(b, trips, g.const(True, np.bool_), {"alive": batch.positions, "token": token, **{s: primed[s] for s in states}})


def pick_from(b: Graph, call: Call, logits: str, no_end: str, u: str) -> tuple[str, str, str]:
    """The rule's pick (and the CDF [rows, V] and threshold [rows, 1] it came from)."""
    V = call.vocab_size
    cdf = cdf_of(b, logits, call.temperature, no_end, V)
    threshold = b.op("Mul", b.op("Unsqueeze", u, b.i64([1])), b.op("Slice", cdf, b.i64([-1]), b.i64([V]), b.i64([1])))
    return count_below(b, cdf, threshold), cdf, threshold


def close_calls(b: Graph, call: Call, chosen: str, cdf: str, threshold: str, guard: str) -> str:
    """[rows] bool: the threshold lies within guard x total of a CDF boundary around the pick
    (the entries just below and at it), where float32 logits could have moved the pick."""
    V = call.vocab_size
    total = b.op("Slice", cdf, b.i64([-1]), b.i64([V]), b.i64([1]))  # [rows, 1]
    at = b.op("Unsqueeze", chosen, b.i64([1]))
    above = b.op("Sub", b.op("GatherElements", cdf, b.op("Min", at, b.i64(V - 1)), axis=1), threshold)
    below = b.op("Sub", threshold, b.op("GatherElements", cdf, b.op("Max", b.op("Sub", at, b.i64(1)), b.i64(0)), axis=1))
    below = b.op("Where", b.op("Greater", at, b.i64(0)), below, threshold)  # no entry below the first: the distance to 0
    margin = b.op("Div", b.op("Min", above, below), total)
    return b.op("Squeeze", b.op("LessOrEqual", margin, guard), b.i64([1]))
