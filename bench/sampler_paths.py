#!/usr/bin/env python3
"""What each of the ONNX sampler's alternative paths costs: the evidence for sampler.Plan.

    python bench/sampler_paths.py [--seconds 1] [--quick]

Builds samplers with one path forced (a `Plan` passed to build_sampler) and times onnxruntime
calls on one intra-op thread, median of repeated calls (seeds vary), on models fitted on the
bundled names: the network tabulated on every context (and the search loop) against the
network inside the loop (stepwise), on

* MLPs with block_size 3 (19,683 contexts; test-sized, and default-sized briefly fitted) and an
  order-4 ngram (the same contexts, a network that only looks up a table), at counts around
  the TABLE_PAYOFF threshold;
* linear (27 contexts) and a block_size 2 MLP (729 contexts) at 1-1,000 names, for ALWAYS_TABLE.

Each pair of paths is checked to give the same names. Prints a Markdown table (milliseconds per
call; the ratio is the second path's time over the first's), as docs/benchmarks.md shows it.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import onnxruntime as ort
import torch

import namegen
from namegen.data import read_names, split_names
from namegen.exports import sampler as sampler_module
from namegen.exports.network import export_network
from namegen.exports.sampler import Plan, build_sampler, plan_for

ALWAYS, NEVER = 0, None  # Plan.tabulate_from


def session(model, network, plan: Plan) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(build_sampler(model, network, plan=plan).SerializeToString(), options, providers=["CPUExecutionProvider"])


def call(sess: ort.InferenceSession, count: int, seed: int) -> np.ndarray:
    feeds = {"seed": np.array(seed, np.int64), "count": np.array(count, np.int64), "temperature": np.array(1.0, np.float32)}
    return sess.run(["names"], feeds)[0]


def medians_ms(sessions: list[ort.InferenceSession], count: int, seconds: float, least: int = 5) -> list[float]:
    """Milliseconds per call of each session at the median call. The sessions take turns, so
    that a load that comes and goes on the machine weighs on each alike."""
    for sess in sessions:
        call(sess, count, 0)  # warm up
    times: list[list[float]] = [[] for _ in sessions]
    started = time.perf_counter()
    while len(times[0]) < least or time.perf_counter() - started < seconds * len(sessions):
        for sess, spent in zip(sessions, times):
            t = time.perf_counter()
            call(sess, count, len(spent) + 1)
            spent.append(time.perf_counter() - t)
    return [1000 * float(np.median(spent)) for spent in times]


def compare(title: str, model, network, first: tuple[str, Plan], second: tuple[str, Plan], counts, seconds: float) -> list[str]:
    """Rows of one comparison: ms per call of each path, and second / first."""
    (name_a, plan_a), (name_b, plan_b) = first, second
    a, b = session(model, network, plan_a), session(model, network, plan_b)
    rows = []
    for count in counts:
        if call(a, count, 12345).tolist() != call(b, count, 12345).tolist():
            raise SystemExit(f"{title}: {name_a} and {name_b} disagree at count {count}")
        ms_a, ms_b = medians_ms([a, b], count, seconds, least=3 if count >= 100_000 else 5)
        rows.append(f"| {title} | {count:,} | {name_a} {ms_a:.3g} ms | {name_b} {ms_b:.3g} ms | {ms_b / ms_a:.2f} |")
        print(rows[-1], flush=True)
    return rows


def fitted(plugin: str, split, **hyperparams):
    started = time.perf_counter()
    model = namegen.create(plugin, **hyperparams).fit(split.train, split.val)
    print(f"<!-- fitted {plugin} {hyperparams} in {time.perf_counter() - started:.1f} s -->", flush=True)
    return model, export_network(model, float64=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time spent on each path at each count")
    parser.add_argument("--quick", action="store_true", help="smaller counts and models: a smoke test of this script")
    args = parser.parse_args()
    torch.set_num_threads(1)
    split = split_names(read_names("bundled"), seed=42)
    quick = args.quick
    test = lambda plugin, **extra: {**namegen.registry.get(plugin).test_hyperparams, **extra}  # noqa: E731

    linear, linear_net = fitted("linear", split, **({"steps": 50} if quick else {}))
    mlp3, mlp3_net = fitted("mlp", split, **test("mlp", block_size=3, **({"steps": 20} if quick else {})))
    mlp2, mlp2_net = fitted("mlp", split, **test("mlp", block_size=2, **({"steps": 20} if quick else {})))
    mlp3_big, mlp3_big_net = fitted("mlp", split, block_size=3, steps=20 if quick else 300, eval_every=100)  # default size, briefly fitted
    ngram4, ngram4_net = fitted("ngram", split, order=4)

    def forced(model, **changes) -> Plan:
        return dataclasses.replace(plan_for(len(model.vocab_), model.block_size), **changes)

    print(f"thresholds: ALWAYS_TABLE {sampler_module.ALWAYS_TABLE}, TABLE_PAYOFF {sampler_module.TABLE_PAYOFF}, "
          f"TABLE_LIMIT {sampler_module.TABLE_LIMIT}; onnxruntime {ort.__version__}, 1 thread\n")
    print("| comparison | names | first path | second path | second / first |\n|---|---:|---|---|---:|")
    counts = (256, 1024, 2048, 4096) if quick else (300, 1000, 1231, 1500, 2000, 2500, 3000, 5000)
    for title, model, net in (("mlp block_size 3, test-sized", mlp3, mlp3_net), ("mlp block_size 3, default size", mlp3_big, mlp3_big_net),
                              ("ngram order 4", ngram4, ngram4_net)):
        threshold = plan_for(len(model.vocab_), model.block_size).tabulate_from
        compare(f"tables, {title} ({len(model.vocab_) ** model.block_size:,} contexts; plan: from {threshold})", model, net,
                ("tabulated", forced(model, tabulate_from=ALWAYS)), ("stepwise", forced(model, tabulate_from=NEVER)), counts, args.seconds)
    for title, model, net in (("tables, mlp block_size 2 (729 contexts)", mlp2, mlp2_net), ("tables, linear (27 contexts)", linear, linear_net)):
        compare(title, model, net, ("tabulated", forced(model, tabulate_from=ALWAYS)), ("stepwise", forced(model, tabulate_from=NEVER)),
                (1, 32, 1000), args.seconds)


if __name__ == "__main__":
    main()
