#!/usr/bin/env python3
"""Cold starts of the command line, export times and file sizes, per plugin.

    python bench/cli.py [--runs DIR] [--plugins P,...] [--repeats 5] [--code CHECKOUT]

Every figure is the median wall time of `--repeats` fresh processes (nothing is warm but the
operating system's file cache): `namegen --help`, `namegen plugins`, and for each plugin's run
`namegen sample RUN -n 10`, `namegen score RUN emma`, `namegen export onnx RUN` (as a user runs
it after `fit`) and the full export (the same run without the export that `fit` keeps: torch
export, graph building and self-validation). Sizes: the sampler with and without the training
names, and the scorer.

Runs: `--runs DIR` uses DIR/PLUGIN run folders (e.g. the zoo's, `namegen zoo --out DIR` keeps
them in DIR/runs); otherwise each plugin is fitted here on the bundled data, with its test-sized
hyper-parameters for the neural plugins (quick; sizes then are of those small networks).
`--code CHECKOUT` times another checkout of namegen (e.g. an older commit in a git worktree)
with this interpreter, for before/after tables; its runs are fitted with that code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEURAL = {"mlp", "cnn", "rnn", "transformer"}


def command(code: Path) -> tuple[list[str], dict]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    return [sys.executable, "-c", "from namegen.cli import main; main()"], env


def cold(code: Path, args: list, cwd: Path, repeats: int) -> float:
    base, env = command(code)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run([*base, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
        times.append(time.perf_counter() - started)
        if done.returncode:
            raise RuntimeError(f"namegen {' '.join(map(str, args))} failed: {done.stderr[-2000:]}")
    return statistics.median(times)


def fit_runs(code: Path, plugins: list[str], folder: Path) -> dict[str, Path]:
    base, env = command(code)
    runs = {}
    for plugin in plugins:
        params = []
        if plugin in NEURAL:
            probe = subprocess.run([sys.executable, "-c", f"import namegen.registry; print(repr(namegen.registry.get({plugin!r}).test_hyperparams))"],
                                   env=env, capture_output=True, text=True, check=True)
            for key, value in eval(probe.stdout).items():  # noqa: S307 - our own repr of a dict of numbers
                params += ["-P", f"{key}={value}"]
        subprocess.run([*base, "fit", "--plugin", plugin, "--out", folder / plugin, *params], env=env, cwd=folder,
                       capture_output=True, text=True, check=True, timeout=900)
        runs[plugin] = folder / plugin
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, help="a folder of run folders named after their plugin")
    parser.add_argument("--plugins", default="counts,linear,ngram,mlp,cnn,rnn,transformer")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--code", type=Path, default=ROOT, help="the namegen checkout to time (default: this one)")
    args = parser.parse_args()
    plugins = args.plugins.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"namegen at {args.code}; median of {args.repeats} cold processes, seconds\n")
        print(f"| command | seconds |\n|---|---|\n| `namegen --help` | {cold(args.code, ['--help'], tmp, args.repeats):.2f} |")
        print(f"| `namegen plugins` | {cold(args.code, ['plugins'], tmp, args.repeats):.2f} |\n")
        runs = {p: args.runs / p for p in plugins} if args.runs else fit_runs(args.code, plugins, tmp)
        print("| plugin | sample -n 10 | score | export onnx (after fit) | full export | sampler KB | sampler KB, no training names | scorer KB |")
        print("|---|---|---|---|---|---|---|---|")
        for plugin, run in runs.items():
            copy = tmp / f"{plugin}-run"
            shutil.copytree(run, copy, dirs_exist_ok=True)
            sample = cold(args.code, ["sample", copy, "-n", "10"], tmp, args.repeats)
            score = cold(args.code, ["score", copy, "emma"], tmp, args.repeats)
            after_fit = cold(args.code, ["export", "onnx", copy, "--out", tmp / "a.onnx"], tmp, args.repeats)
            bare = tmp / f"{plugin}-bare"  # the run without its own export: the export is built from the weights
            shutil.copytree(run, bare, dirs_exist_ok=True, ignore=shutil.ignore_patterns("model*.onnx"))
            full = cold(args.code, ["export", "onnx", bare, "--out", tmp / "b.onnx"], tmp, max(1, args.repeats // 2))
            sizes = [(tmp / "b.onnx").stat().st_size, None, (tmp / "b.scorer.onnx").stat().st_size]
            try:
                cold(args.code, ["export", "onnx", bare, "--out", tmp / "c.onnx", "--no-training-names"], tmp, 1)
                sizes[1] = (tmp / "c.onnx").stat().st_size
            except RuntimeError:  # a checkout from before --no-training-names
                pass
            kb = [f"{s / 1024:,.0f}" if s is not None else "–" for s in sizes]
            print(f"| {plugin} | {sample:.2f} | {score:.2f} | {after_fit:.2f} | {full:.2f} | " + " | ".join(kb) + " |", flush=True)


if __name__ == "__main__":
    main()
