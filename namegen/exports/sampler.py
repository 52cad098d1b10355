"""The sampler graph: rule 2's loop over candidate batches around rule 1's step loops.

Inputs `seed` int64 [], `count` int64 [], `temperature` float32 [] and rule 2's optional inputs
(`constraint_inputs`: initialisers whose defaults mean "no constraint"); outputs `names` string
[found], `tokens` int64 [found, max_len] (0-padded) and `found` int64 []. Which step loops the
graph holds, and when each runs, is `Plan`'s decision.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .. import sampling
from ..errors import NamegenError, NamegenWarning
from ..runtime import SAMPLER_FORMAT
from .graph import INT64, INT64_MAX, Graph, LoopBody, Type, if_op, info, make_model, metadata
from .loops import MAX_LOGIT_ERROR, ROWS, TOKEN_TYPE, Batch, Call, Tables, network_loop, search_loop, tabulate, trusted_logit_error
from .network import StepNetwork, bytes_per_context, bytes_per_step_row, export_step_network, measure_logit_error
from .rule import mix, seed_key
from .strings import join, name_lengths

ALWAYS_TABLE = 1024  # up to this many contexts, tabulating the network always pays
TABLE_PAYOFF = 16  # past that, a call tabulates when count * this >= contexts
TABLE_LIMIT = 1 << 16  # list every context (V**block_size of them) up to this many, and tabulate the network


@dataclass(frozen=True)
class Plan:
    """Where a sampler's network runs: sizes decide, never the plugin.

    contexts = V**block_size (V tokens, the boundary included):

        contexts                   tables (network on every context)          step loop
        <= ALWAYS_TABLE (1,024)    built on every call                        search
        <= TABLE_LIMIT (65,536)    built when count >= contexts / TABLE_PAYOFF  search if built, else network
        > TABLE_LIMIT              never                                      network

    `sampler_loop` puts the tables column in the metadata. Every path draws the same tokens;
    the thresholds only pick the faster, as bench/sampler_paths.py measures (its table is in
    docs/benchmarks.md). A call that tabulates pays for the CDF of every context only:
    onnxruntime folds the network on every context into a constant when it loads the file, so
    the tables cost about the same for every network, while the network loop costs in
    proportion to the network; TABLE_PAYOFF sits between a cheap network's crossover and a
    default-size MLP's.
    """

    contexts: int
    tabulate_from: int | None  # a call tabulates when count >= this: 0 on every call, None never

    @property
    def step_loops(self) -> tuple[str, ...]:
        """The step loops the graph holds."""
        tabulated = ("search",) if self.tabulate_from is not None else ()
        return tabulated + (("network",) if self.tabulate_from != 0 else ())

    @property
    def sampler_loop(self) -> str:
        """The metadata's `sampler_loop`."""
        if self.tabulate_from is None:
            return "stepwise"
        return "tabulated" if self.tabulate_from == 0 else f"tabulated when count >= {self.tabulate_from}, else stepwise"


def plan_for(vocab_size: int, block_size: int, table_limit: int | None = None) -> Plan:
    """The plan for a model's sizes (`table_limit`: TABLE_LIMIT unless given; 0: never tabulate)."""
    contexts = vocab_size**block_size
    if contexts > (TABLE_LIMIT if table_limit is None else table_limit):
        tabulate_from = None
    elif contexts <= ALWAYS_TABLE:
        tabulate_from = 0
    else:
        tabulate_from = -(-contexts // TABLE_PAYOFF)  # count * TABLE_PAYOFF >= contexts
    return Plan(contexts, tabulate_from)


def constraint_inputs(model, known) -> list[tuple[str, np.ndarray]]:
    """Rule 2's inputs and their defaults, which mean "no constraint" (graph initialisers that
    an app may override: apps that feed only seed, count and temperature keep working).
    `exclude` is a string tensor: the names themselves, compared with the candidates' strings."""
    inputs = [("prefix", np.zeros(0, np.int64)), ("suffix", np.zeros(0, np.int64)), ("contains", np.zeros(0, np.int64)),
              ("min_len", np.array(1, np.int64)), ("max_len", np.array(model.max_len_, np.int64))]
    if known is not None:
        inputs.append(("novel", np.array(False)))
    return inputs + [("exclude", np.zeros(0, object)), ("distinct", np.array(False)), ("max_candidates", np.array(0, np.int64))]


def clamp_inputs(g: Graph, model, network: onnx.ModelProto, step_network: StepNetwork | None, initializers: list) -> Call:
    """The Call: every input clamped into its range (the runtimes reject bad values with a
    message naming the input; the graph itself only promises to stay bounded on any input)."""
    V, bs = len(model.vocab_), model.block_size
    prefix = g.op("Clip", g.op("Slice", "prefix", g.i64([0]), g.i64([sampling.MAX_LEN - 1])), g.i64(1), g.i64(V - 1))
    prefix_len = g.op("Size", prefix)
    max_len = g.op("Min", g.op("Max", "max_len", g.op("Add", prefix_len, g.i64(1))), g.i64(sampling.MAX_LEN))
    min_len = g.op("Min", g.op("Max", "min_len", g.i64(1)), max_len)
    # count x max_len within MAX_CELLS, as the runtimes check: the [count, max_len] tokens stay bounded
    count = g.op("Min", g.op("Max", "count", g.i64(0)), g.i64(sampling.MAX_COUNT))
    count = g.op("Min", count, g.op("Div", g.i64(sampling.MAX_CELLS), max_len))
    # exactly the float32 range check_temperature accepts, so accepted temperatures are unchanged; 0 or NaN would give
    # empty names, a negative one an inverted distribution
    t = "temperature"
    clipped = g.op("Min", g.op("Max", t, g.const(sampling.MIN_TEMPERATURE, np.float32)), g.const(sampling.MAX_TEMPERATURE, np.float32))
    temperature = g.op("Where", g.op("IsNaN", t), g.const(1.0, np.float32), clipped)
    # the context after the prefix: its last block_size tokens, boundary tokens before it
    context0 = g.op("Slice", g.op("Concat", g.i64(np.zeros(bs, np.int64)), prefix, axis=0), g.i64([-bs]), g.i64([INT64_MAX]))
    every_step_mix = mix(g, g.op("Range", g.i64(0), g.i64(sampling.MAX_LEN), g.i64(1)))  # from constants: folded when the file loads
    return Call(vocab_size=V, block_size=bs, network=network, step_network=step_network, initializers=initializers, main=g, count=count, prefix=prefix,
                prefix_len=prefix_len, max_len=max_len, min_len=min_len, steps=g.op("Sub", max_len, prefix_len),
                temperature=g.op("Cast", temperature, to=TensorProto.DOUBLE),
                step_mix=g.op("Slice", every_step_mix, g.i64([0]), g.op("Unsqueeze", max_len, g.i64([0]))), seed_key=seed_key(g, "seed"), context0=context0)


def tables_for(g: Graph, call: Call, plan: Plan) -> tuple[Tables | None, str | None]:
    """The tables and the bool that says whether this call uses them (None: always, or never)."""
    if plan.tabulate_from is None:
        return None, None
    if plan.tabulate_from == 0:
        return tabulate(g, call), None
    tabulating = g.op("GreaterOrEqual", call.count, g.i64(plan.tabulate_from))
    tables = if_op(g, tabulating, lambda b: list(tabulate(b, call)), lambda b: list(Tables.empty(b)), Tables.types())
    return Tables(*tables), tabulating


def draw_rows(g: Graph, call: Call, batch: Batch, tables: Tables | None, tabulating: str | None) -> str:
    """The batch's rows [batch, max_len], by the step loop the plan gives."""
    if tables is None:
        return network_loop(g, call, batch)
    if tabulating is None:
        return search_loop(g, call, batch, tables)
    return if_op(g, tabulating, lambda b: [search_loop(b, call, batch, tables)], lambda b: [network_loop(b, call, batch)], [ROWS])[0]


# What the network's evaluations on one batch of candidates may make, summed over its operators
# (network.bytes_per_context, bytes_per_step_row): a wide network on a batch that MAX_CELLS allows
# (226,000 names of 33 tokens with a `contains` of 8) would otherwise take gigabytes.
MAX_NETWORK_BYTES = 1 << 32  # summed over operators: what onnxruntime holds at once is a small part of it


@dataclass(frozen=True)
class BatchRows:
    """The most candidates a batch may hold: `windows` where the network may run on whole windows
    (max_len > block_size), `steps` where only its step form runs (a step holds far less)."""

    windows: int
    steps: int

    def graph_value(self, g: Graph, call: Call) -> str:
        if self.windows == self.steps:
            return g.i64(self.windows)
        return g.op("Where", g.op("Greater", call.max_len, g.i64(call.block_size)), g.i64(self.windows), g.i64(self.steps))


def network_batch_rows(model, plan: Plan, step_form: bool = False) -> BatchRows:
    """The most candidates a batch may hold (MAX_BATCH, or fewer where the network runs in the
    loop and is wide; `step_form`: the loop runs the network's step form up to block_size).
    Batch sizes change only the speed, never the names."""
    if "network" not in plan.step_loops:
        return BatchRows(sampling.MAX_BATCH, sampling.MAX_BATCH)
    bound = lambda per_row: max(sampling.MIN_BATCH, min(sampling.MAX_BATCH, MAX_NETWORK_BYTES // per_row))  # noqa: E731
    windows = bound(bytes_per_context(model))
    per_step = bytes_per_step_row(model) if step_form else None
    return BatchRows(windows, windows if per_step is None else max(windows, bound(per_step)))


def candidate_budget(g: Graph, call: Call, known, network, batch_rows: BatchRows) -> tuple[str, str, str]:
    """(The candidates a call may draw, the rows a batch may hold, whether a constraint may reject a candidate).

    The budget (sampling.Constraints.budget): max_candidates when given (> 0), else count when
    nothing can reject a candidate, else max(MIN_CANDIDATES, CANDIDATES_PER_NAME * count); at most
    MAX_CANDIDATES and max(count, MAX_CANDIDATE_WORK // sampling.candidate_cost(network, max_len)). A batch holds at most `batch_rows`
    candidates (network_batch_rows), and its [batch, max_len] rows and [batch, max_len, len(contains)] windows stay within MAX_CELLS."""
    given = g.op("Add", g.op("Add", g.op("Size", "suffix"), g.op("Size", "contains")), g.op("Size", "exclude"))
    rejects = g.op("Or", g.op("Greater", given, g.i64(0)), "distinct")
    if known is not None:
        rejects = g.op("Or", rejects, "novel")
    passes = max(sampling.MIN_TOKEN_COST, sum(p.numel() for p in network.parameters()))
    rows = batch_rows.graph_value(g, call)

    def limited(b: Graph) -> list[str]:
        usual = b.op("Max", b.op("Mul", call.count, b.i64(sampling.CANDIDATES_PER_NAME)), b.i64(sampling.MIN_CANDIDATES))
        budget = b.op("Where", b.op("Greater", "max_candidates", b.i64(0)), "max_candidates", b.op("Where", rejects, usual, call.count))
        if sampling.has_step_form(network):  # as sampling.candidate_cost: past the window, a token costs block_size passes
            window = b.i64(network.block_size)
            tokens = b.op("Add", b.op("Min", call.max_len, window), b.op("Mul", b.op("Max", b.op("Sub", call.max_len, window), b.i64(0)), window))
        else:
            tokens = call.max_len
        work = b.op("Max", call.count, b.op("Div", b.i64(sampling.MAX_CANDIDATE_WORK), b.op("Mul", tokens, b.i64(passes))))
        budget = b.op("Min", b.op("Min", budget, b.i64(sampling.MAX_CANDIDATES)), work)
        cells = b.op("Mul", call.max_len, b.op("Add", b.op("Min", b.op("Size", "contains"), b.i64(sampling.MAX_LEN + 1)), b.i64(1)))
        return [budget, b.op("Min", b.op("Max", b.op("Div", b.i64(sampling.MAX_CELLS), cells), b.i64(1)), rows)]

    def plain(b: Graph) -> list[str]:  # every candidate passes: count of them (<= MAX_CANDIDATES), no contains windows
        return [call.count, b.op("Min", b.op("Div", b.i64(sampling.MAX_CELLS), call.max_len), rows)]

    budget, cap = if_op(g, g.op("Or", rejects, g.op("Greater", "max_candidates", g.i64(0))), limited, plain, [INT64, INT64])
    return budget, cap, rejects


def next_batch_size(g: Graph, count: str, accepted: str, drawn: str, last: str) -> str:
    """sampling.next_batch_size, at most MAX_CANDIDATES: twice `last` while nothing passed, else
    max(MIN_BATCH, ceil((count - accepted) * drawn * 5 / (accepted * 4)))."""
    wanted = g.op("Mul", g.op("Mul", g.op("Sub", count, accepted), drawn), g.i64(5))
    per = g.op("Mul", g.op("Max", accepted, g.i64(1)), g.i64(4))
    estimate = g.op("Max", g.op("Div", g.op("Sub", g.op("Add", wanted, per), g.i64(1)), per), g.i64(sampling.MIN_BATCH))
    size = g.op("Where", g.op("Equal", accepted, g.i64(0)), g.op("Mul", last, g.i64(2)), estimate)
    return g.op("Min", size, g.i64(sampling.MAX_CANDIDATES))


def candidate_tests(g: Graph, call: Call, batch: Batch, rows: str, lengths: str, names: str, known: KnownTables | None) -> str:
    """Rule 2's tests of each candidate on its own, [batch] bool: it ends with `suffix`, holds
    `contains`, (with `novel`) has no known name's fingerprint, and is no name of `exclude`.
    Empty suffix, contains and exclude pass all."""
    rows = g.op("Cast", rows, to=TensorProto.INT64)
    # A suffix or contains longer than any name never matches; cutting it to MAX_LEN + 1 keeps that and bounds the work.
    suffix = g.op("Slice", "suffix", g.i64([-(sampling.MAX_LEN + 1)]), g.i64([INT64_MAX]))
    contains = g.op("Slice", "contains", g.i64([0]), g.i64([sampling.MAX_LEN + 1]))
    # suffix: the last len(suffix) tokens of the name equal it
    size = g.op("Size", suffix)
    at = g.op("Add", g.op("Sub", g.op("Unsqueeze", lengths, g.i64([1])), size), g.op("Unsqueeze", g.op("Range", g.i64(0), size, g.i64(1)), g.i64([0])))
    got = g.op("GatherElements", rows, g.op("Clip", at, g.i64(0), g.op("Sub", call.max_len, g.i64(1))), axis=1)
    misses = g.op("ReduceSum", g.op("Cast", g.op("Not", g.op("Equal", got, suffix)), to=TensorProto.INT64), g.i64([1]), keepdims=0)
    ok = g.op("And", g.op("Equal", misses, g.i64(0)), g.op("GreaterOrEqual", lengths, size))
    # contains: some window of len(contains) tokens equals it (windows past the end hold 0s, which no character is)
    size = g.op("Size", contains)
    padded = g.op("Pad", rows, g.op("Concat", g.i64([0, 0, 0]), g.op("Unsqueeze", size, g.i64([0])), axis=0))
    windows = g.op("Add", g.op("Unsqueeze", g.op("Range", g.i64(0), call.max_len, g.i64(1)), g.i64([1])),
                   g.op("Unsqueeze", g.op("Range", g.i64(0), size, g.i64(1)), g.i64([0])))  # [max_len, len(contains)]
    misses = g.op("ReduceSum", g.op("Cast", g.op("Not", g.op("Equal", g.op("Gather", padded, windows, axis=1), contains)),
                                    to=TensorProto.INT64), g.i64([2]), keepdims=0)  # [batch, max_len]
    ok = g.op("And", ok, g.op("Equal", g.op("ReduceMin", misses, g.i64([1]), keepdims=0), g.i64(0)))
    everyone = g.op("Cast", g.op("Add", batch.zeros(g), g.i64(1)), to=TensorProto.BOOL)
    passes = [Type(TensorProto.BOOL, ["batch"])]

    def not_excluded(b: Graph) -> list[str]:
        # Unique in first-seen order numbers exclude's distinct names 0 .. u - 1, so a candidate
        # equals one of them iff its number is below u (the values first seen in exclude).
        _, first, number, _ = b.op("Unique", b.op("Concat", "exclude", names, axis=0), outputs=4, sorted=0)
        given = b.op("Size", "exclude")
        u = b.op("ReduceSum", b.op("Cast", b.op("Less", first, given), to=TensorProto.INT64), keepdims=0)
        return [b.op("GreaterOrEqual", b.op("Slice", number, b.op("Unsqueeze", given, b.i64([0])), b.i64([INT64_MAX])), u)]

    (free,) = if_op(g, g.op("Greater", g.op("Size", "exclude"), g.i64(0)), not_excluded, lambda b: [everyone], passes)
    ok = g.op("And", ok, free)
    if known is None:
        return ok
    (novel,) = if_op(g, "novel", lambda b: [b.op("Not", known.holds(b, call, rows))], lambda b: [everyone], passes)
    return g.op("And", ok, novel)


@dataclass(frozen=True)
class KnownTables:
    """The known names in the graph (sampling.KnownNames.tables): each bucket's first key and
    count, and the keys' low bits, int64, computed in the main graph (onnxruntime folds them at load)."""

    bits: int
    most: int  # the most keys a bucket holds: a candidate compares its remainder with this many slots
    starts: str  # int64 [buckets]
    counts: str  # int64 [buckets]
    remainders: str  # int64 [keys]
    last: str  # int64 []: the last index of remainders

    @classmethod
    def build(cls, g: Graph, known: sampling.KnownNames, initializers: list) -> KnownTables:
        counts, remainders, most = known.tables()
        initializers += [numpy_helper.from_array(counts, "known/counts"), numpy_helper.from_array(remainders, "known/remainders")]
        counts = g.op("Cast", "known/counts", to=TensorProto.INT64)
        return cls(known.bits, most, g.op("Sub", g.op("CumSum", counts, g.i64(0)), counts), counts,
                   g.op("Cast", "known/remainders", to=TensorProto.INT64), g.i64(len(remainders) - 1))

    def fingerprints(self, g: Graph, call: Call, rows: str) -> str:
        """sampling.fingerprint_rows of the rows int64 [batch, max_len]: int64 [batch]."""
        terms = mix(g, g.op("BitwiseXor", g.op("Unsqueeze", call.step_mix, g.i64([0])), rows))
        present = g.op("Cast", g.op("Greater", rows, g.i64(0)), to=TensorProto.INT64)
        total = lambda x: g.op("BitwiseAnd", g.op("ReduceSum", g.op("Mul", x, present), g.i64([1]), keepdims=0), g.i64(sampling.MASK31))  # noqa: E731
        key = total(terms)
        if self.bits > 31:
            high = total(mix(g, g.op("BitwiseXor", terms, g.i64(sampling.FINGERPRINT_SALT))))
            key = g.op("Add", key, g.op("Mul", high, g.i64(1 << 31)))
        return g.op("BitwiseAnd", key, g.i64((1 << self.bits) - 1))

    def holds(self, g: Graph, call: Call, rows: str) -> str:
        """Whether each row's fingerprint is a known key, bool [batch]: its remainder among the
        `most` slots from its bucket's start, those past the bucket's count masked."""
        key = self.fingerprints(g, call, rows)
        bucket = g.op("Div", key, g.i64(1 << sampling.REMAINDER_BITS))
        remainder = g.op("Unsqueeze", g.op("BitwiseAnd", key, g.i64((1 << sampling.REMAINDER_BITS) - 1)), g.i64([1]))
        slots = g.i64(np.arange(self.most)[None, :])
        at = g.op("Min", g.op("Add", g.op("Unsqueeze", g.op("Gather", self.starts, bucket), g.i64([1])), slots), self.last)
        hit = g.op("And", g.op("Equal", g.op("Gather", self.remainders, at), remainder),
                   g.op("Less", slots, g.op("Unsqueeze", g.op("Gather", self.counts, bucket), g.i64([1]))))
        return g.op("Greater", g.op("ReduceSum", g.op("Cast", hit, to=TensorProto.INT64), g.i64([1]), keepdims=0), g.i64(0))


FOUND_ROWS = Type(TOKEN_TYPE, ["found", "max_len"])
FOUND_NAMES = Type(TensorProto.STRING, ["found"])


def candidate_batches(g: Graph, call: Call, plan: Plan, chars: tuple[str, ...], known, network, batch_rows: BatchRows) -> dict[str, str]:
    """Rule 2's loop; returns its outputs (`rows`, `names`, ...). One iteration per batch of
    candidates; with no constraint that rejects, the one batch of `count` candidates is the answer:

        start, size, rows, names = 0, count, [], []
        while len(names) < count and start < budget:
            batch = max(1, min(size, budget - start, cap))
            drawn = candidates start .. start + batch - 1, by the plan's step loop and join
            keep those passing suffix / contains / novel / exclude, in order; with distinct, those equal
            to no accepted name nor an earlier one of the batch; append the first count - len(names)
            start, size = start + batch, next_batch_size(count, len(names), start + batch, batch)
    """
    tables, tabulating = tables_for(g, call, plan)
    budget, cap, rejects = candidate_budget(g, call, known, network, batch_rows)
    known_tables = None if known is None else KnownTables.build(g, known, call.initializers)
    o = LoopBody("batch/", carried={"start": INT64, "size": INT64, "rows": FOUND_ROWS, "names": FOUND_NAMES})
    size = o.op("Max", o.op("Min", o.op("Min", o["size"], o.op("Sub", budget, o["start"])), cap), o.i64(1))
    batch = Batch.build(o, call, o["start"], size)
    rows = draw_rows(o, call, batch, tables, tabulating)
    lengths = name_lengths(o, rows)
    names = join(o, rows, lengths, chars)
    accepted = o.op("Size", o["names"])

    def tested(b: Graph) -> list[str]:  # keep the candidates that pass, in order, up to count in all
        passing = b.op("Squeeze", b.op("NonZero", candidate_tests(b, call, batch, rows, lengths, names, known_tables)), b.i64([0]))
        kept_rows, kept_names = b.op("Gather", rows, passing, axis=0), b.op("Gather", names, passing, axis=0)

        def first_seen(d: Graph) -> list[str]:  # the passing candidates equal to no accepted name nor an earlier one
            _, first, _, _ = d.op("Unique", d.op("Concat", o["names"], kept_names, axis=0), outputs=4, sorted=0)
            return [d.op("Sub", d.op("Slice", first, d.op("Unsqueeze", accepted, d.i64([0])), d.i64([INT64_MAX])), accepted)]

        (chosen,) = if_op(b, "distinct", first_seen, lambda d: [d.op("Range", d.i64(0), d.op("Size", kept_names), d.i64(1))],
                          [Type(TensorProto.INT64, ["chosen"])])
        chosen = b.op("Slice", chosen, b.i64([0]), b.op("Unsqueeze", b.op("Sub", call.count, accepted), b.i64([0])))
        found_rows = b.op("Concat", o["rows"], b.op("Gather", kept_rows, chosen, axis=0), axis=0)
        found_names = b.op("Concat", o["names"], b.op("Gather", kept_names, chosen, axis=0), axis=0)
        return [found_rows, found_names, next_batch_size(b, call.count, b.op("Size", found_names), b.op("Add", o["start"], size), size)]

    def untested(b: Graph) -> list[str]:  # nothing rejects: the whole batch, and the next one no larger than what is missing
        found_names = b.op("Concat", o["names"], names, axis=0)
        return [b.op("Concat", o["rows"], rows, axis=0), found_names, b.op("Sub", call.count, b.op("Size", found_names))]

    found_rows, found_names, next_size = if_op(o, rejects, tested, untested, [FOUND_ROWS, FOUND_NAMES, INT64])
    found = {"rows": found_rows, "names": found_names, "start": o.op("Add", o["start"], size), "size": next_size}
    o.finish(o.op("And", o.op("Less", o.op("Size", found["names"]), call.count), o.op("Less", found["start"], budget)), found)

    no_rows = g.op("ConstantOfShape", g.op("Concat", g.i64([0]), g.op("Unsqueeze", call.max_len, g.i64([0])), axis=0),
                   value=numpy_helper.from_array(np.zeros(1, np.uint8)))
    no_names = g.op("Constant", value=helper.make_tensor(g.name(), TensorProto.STRING, [0], []))
    go = g.op("And", g.op("Greater", call.count, g.i64(0)), g.op("Greater", budget, g.i64(0)))
    return g.loop(o, "", go, {"start": g.i64(0), "size": call.count, "rows": no_rows, "names": no_names}, names={"names": "names"})


def sampler_step_form(model) -> StepNetwork | None:
    """The step form the sampler runs, None without one: float32 (several times faster in
    onnxruntime), with the float64 one to draw again the names with a close call, when its logits measure
    within MAX_LOGIT_ERROR of float64's; else the float64 one alone."""
    try:
        exact = export_step_network(model)
        if exact is None:
            return None
        fast = export_step_network(model, float64=False)
        error = measure_logit_error(model, fast)
    except Exception as err:  # noqa: BLE001 - a step form torch.onnx cannot trace: the windows still draw the same names
        warnings.warn(f"the {model.plugin_name!r} step form did not export ({type(err).__name__}: {err}); "
                      "the sampler runs the network on whole windows instead", NamegenWarning, stacklevel=2)
        return None
    if error > MAX_LOGIT_ERROR:
        return exact
    return StepNetwork(fast.proto, fast.initial, logit_error=error, exact=exact)


def build_sampler(model, network: onnx.ModelProto, table_limit: int | None = None,
                  known: sampling.KnownNames | None = None, plan: Plan | None = None,
                  step_form: bool = True) -> onnx.ModelProto:
    """The sampler graph for `model`, its network (`network`: float64, from export_network) spliced in.

    `plan`: the step loops and joins, `plan_for(V, block_size, table_limit)` unless given.
    `step_form`: the network loop runs the network's step form where it has one (False: the
    whole window at every step, for comparison).
    `known` (model.known_set()) travels in the graph, as fingerprint tables, for `novel`; None
    leaves it and the `novel` input out."""
    chars = model.vocab_.chars
    if len(chars) > 256:
        raise NamegenError(f"the ONNX sampler handles vocabularies of up to 256 tokens; this model has {len(chars)}")
    plan = plan or plan_for(len(chars), model.block_size, table_limit)
    initializers: list = []
    g = Graph("")
    step_network = sampler_step_form(model) if step_form and "network" in plan.step_loops else None
    call = clamp_inputs(g, model, network, step_network, initializers)
    found = candidate_batches(g, call, plan, chars, known, model._fitted(), network_batch_rows(model, plan, step_network is not None))
    g.op("Cast", found["rows"], to=TensorProto.INT64, name="tokens")
    g.op("Size", found["names"], name="found")

    meta = metadata(model, SAMPLER_FORMAT)
    meta["sampler_loop"] = plan.sampler_loop if step_network is None else plan.sampler_loop.replace("stepwise", "incremental")
    if step_network is not None:
        meta["step_form"] = "float64" if step_network.exact is None else (
            f"float32, names with a close call drawn again in float64 (logit error measured {step_network.logit_error:.2g}, "
            f"trusted to {trusted_logit_error(step_network.logit_error):.2g})")
    meta["known_names"] = str(0 if known is None else known.names)
    meta["training_names"] = meta["known_names"]  # its former key, which clients before known_names read
    if known is not None:
        meta["known_names_bits"] = str(known.bits)
    defaults = constraint_inputs(model, known)
    initializers += [numpy_helper.from_array(value, name) for name, value in defaults]
    inputs = [info("seed", INT64), info("count", INT64), info("temperature", Type(TensorProto.FLOAT, []))] + [
        info(name, Type(helper.np_dtype_to_tensor_dtype(value.dtype), list(value.shape) if value.ndim == 0 else [name]))
        for name, value in defaults]
    outputs = [info("names", FOUND_NAMES), info("tokens", Type(TensorProto.INT64, ["found", "max_len"])), info("found", INT64)]
    return make_model(g, inputs, outputs, initializers, meta, f"namegen_{model.plugin_name}_sampler")

