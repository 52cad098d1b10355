#!/usr/bin/env python3
"""Where a sampler's time goes: onnxruntime's profiler on an exported sampler, per subgraph
(the candidate-batch loop, a step loop, a join, ...) and per operator.

    python bench/profile_sampler.py EXPORT.onnx [--counts 1,1000] [--calls 50] [--constraints '{"novel": true}']

Profiling slows every kernel down, so the table gives each part's share of the profiled
kernel time and its kernel calls per sampler call; the unprofiled time per call (best of
--calls, through namegen.runtime, one thread) is printed beside it. Nodes are named after the
subgraph that holds them on a copy of the model; the file itself is not changed.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
import time

import onnx
import onnxruntime as ort

from namegen import runtime


def named_copy(model: onnx.ModelProto) -> bytes:
    """The model with every node named `subgraph|op|i`, so the profile says where each kernel ran."""
    model = onnx.ModelProto.FromString(model.SerializeToString())

    def name(graph: onnx.GraphProto, scope: str) -> None:
        for i, node in enumerate(graph.node):
            node.name = f"{scope}|{node.op_type}|{i}"
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    name(attribute.g, attribute.g.name or f"{scope}/{attribute.name}")

    name(model.graph, "main")
    return model.SerializeToString()


def best_call(model: runtime.ExportedModel, count: int, calls: int, constraints: dict) -> float:
    model.sample(count, seed=0, **constraints)
    best = float("inf")
    for seed in range(calls):
        started = time.perf_counter()
        model.sample(count, seed=seed, **constraints)
        best = min(best, time.perf_counter() - started)
    return best


def profile(path: str, count: int, calls: int, constraints: dict) -> None:
    model = runtime.load(path)
    seconds = best_call(model, count, calls, constraints)
    with tempfile.TemporaryDirectory() as folder:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(folder, "profile")
        session = ort.InferenceSession(named_copy(onnx.load(path)), options, providers=["CPUExecutionProvider"])
        session.run(["names"], model.feeds(count, seed=0, **constraints))  # warm-up, left out below
        for seed in range(calls):
            session.run(["names"], model.feeds(count, seed=seed, **constraints))
        with open(session.end_profiling()) as file:
            events = json.load(file)
    runs = [e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"]
    warm_end = runs[0]["ts"] + runs[0]["dur"]
    by_scope, by_op, calls_scope, calls_op = (collections.Counter() for _ in range(4))
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time") or e["ts"] < warm_end:
            continue
        scope = e["name"].split("|")[0] if "|" in e["name"] else "(onnxruntime's own nodes)"
        op = e["args"].get("op_name", "?")
        if op in ("Loop", "If", "Scan"):
            continue  # a control-flow kernel's time includes its subgraph's kernels, counted there
        by_scope[scope] += e["dur"]
        by_op[op] += e["dur"]
        calls_scope[scope] += 1
        calls_op[op] += 1
    total = sum(by_scope.values())
    print(f"\n{path}, count {count:,}{', ' + json.dumps(constraints) if constraints else ''}: "
          f"{seconds * 1e6:,.0f} µs a call unprofiled ({count / seconds:,.0f} names/s), "
          f"{sum(calls_scope.values()) / calls:,.0f} kernel calls a call\n")
    for title, times, counts in (("subgraph", by_scope, calls_scope), ("operator", by_op, calls_op)):
        print(f"| {title} | share of kernel time | kernel calls a call |\n|---|---:|---:|")
        for key, spent in times.most_common(12):
            print(f"| {key} | {spent / total:.1%} | {counts[key] / calls:,.1f} |")
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exports", nargs="+")
    parser.add_argument("--counts", default="1,1000", help="comma-separated name counts")
    parser.add_argument("--calls", type=int, default=20, help="profiled (and timed) calls at each count")
    parser.add_argument("--constraints", default="{}", help="rule 2's constraints as JSON, e.g. '{\"novel\": true}'")
    args = parser.parse_args()
    for path in args.exports:
        for count in map(int, args.counts.split(",")):
            profile(path, count, args.calls, json.loads(args.constraints))


if __name__ == "__main__":
    main()
