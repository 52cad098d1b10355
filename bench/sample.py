#!/usr/bin/env python3
"""Names per second: the ONNX sampler (onnxruntime) at count 1, 1,000 and 100,000, the torch
sampler, and the tutorial's one-at-a-time sampler, all in one run on one fitted model.

    python bench/sample.py [--plugin linear] [--data bundled] [--seconds 2]

The tutorial's sampler is its loop as written (torch.multinomial, one character at a time,
on the counts model's probability table). Prints a Markdown table: names per second at the
median call, the best and median call; ratios are against the tutorial's loop in the same run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import namegen
from namegen import runtime
from namegen.data import read_names, split_names
from namegen.exports.onnx import export


def rate(run, count: int, seconds: float) -> tuple[float, float, float]:
    """(names per second at the median call, best and median seconds per call) of `run(count, seed)`."""
    run(count, 0)  # warm up
    times, started = [], time.perf_counter()
    while time.perf_counter() - started < seconds or len(times) < 5:
        t = time.perf_counter()
        run(count, len(times) + 1)
        times.append(time.perf_counter() - t)
    median = float(np.median(times))
    return count / median, min(times), median


def tutorial_sampler(counts_model):
    """The tutorial's loop: one name at a time, one torch.multinomial call per character."""
    probs = counts_model.network_.log_probs.exp()

    def run(count: int, seed: int) -> None:
        g = torch.Generator().manual_seed(2147483647 + seed)
        for _ in range(count):
            ix = 0
            while True:
                ix = torch.multinomial(probs[ix], num_samples=1, replacement=True, generator=g).item()
                if ix == 0:
                    break

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", default="linear")
    parser.add_argument("--data", default="bundled")
    parser.add_argument("--seconds", type=float, default=2.0, help="time spent on each row")
    args = parser.parse_args()
    split = split_names(read_names(args.data), seed=42)
    model = namegen.create(args.plugin).fit(split.train, split.val)
    counts = namegen.create("counts").fit(split.train, split.val)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{args.plugin}.onnx"
        export(model, path)
        exported = runtime.load(path)
        rows = [("tutorial loop (torch.multinomial, one at a time)", 1000, *rate(tutorial_sampler(counts), 1000, args.seconds))]
        for count in (1, 1000, 100_000):
            rows.append((f"torch sampler, count {count:,}", count, *rate(lambda n, s: model.sample(n, seed=s), count, args.seconds)))
        for count in (1, 1000, 100_000):
            rows.append((f"ONNX sampler (onnxruntime), count {count:,}", count,
                         *rate(lambda n, s: exported.sample(n, seed=s), count, args.seconds)))
    base = rows[0][2]
    print(f"plugin {args.plugin}, data {args.data}, torch threads {torch.get_num_threads()}, onnxruntime threads 1\n")
    print("| sampler | names/s (median call) | best call | median call | vs tutorial |\n|---|---:|---:|---:|---:|")
    for name, _, per_second, best, median in rows:
        print(f"| {name} | {per_second:,.0f} | {duration(best)} | {duration(median)} | {per_second / base:,.1f}x |")


def duration(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs" if seconds < 0.01 else f"{seconds * 1e3:,.1f} ms"

if __name__ == "__main__":
    main()
