#!/usr/bin/env python3
"""What a constraint costs: names per second of the ONNX sampler with rule 2's constraints
inside the graph (onnxruntime in Python, and in Node when it is installed), next to the
filter-after-sampling loops a user would otherwise write in Python around the same sampler.

    python bench/constraints.py [--plugins linear,transformer] [--count 1000] [--seconds 3]

Cases: no constraint (rule 1), prefix only (forced tokens: nothing is rejected), novel (most
draws pass), and a one-letter suffix (most draws fail). The user's loops call
`runtime.load(...).sample` without constraints and keep the names that pass, until `count`
are found: one name per call (the loop people write around markovify's make_sentence), or
`count` names per call. Models are fitted on the bundled data (the transformer with its
default size, trained for --steps steps: speed, not quality, is measured here; a sampler that
runs the network on the whole window at every step, `sampler_loop` "stepwise", is slow, so it
runs --stepwise-cases only). Prints a Markdown table;
every figure is the median of at least 3 calls in this run, one intra-op thread.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import namegen
from namegen import runtime
from namegen.data import read_names, split_names
from namegen.exports.onnx import export

ROOT = Path(__file__).resolve().parent.parent
NODE_TIMER = r"""
import { readFile } from 'node:fs/promises';
import ort from 'onnxruntime-node';
const [path, feedsJson, seconds] = process.argv.slice(2);
const session = await ort.InferenceSession.create(await readFile(path), { intraOpNumThreads: 1, logSeverityLevel: 3 });
const spec = JSON.parse(feedsJson);
const feeds = (seed) => {
  const out = {};
  for (const [name, [type, value]] of Object.entries({ ...spec, seed: ['int64', seed] })) {
    if (type === 'int64') out[name] = Array.isArray(value)
      ? new ort.Tensor('int64', BigInt64Array.from(value.map(BigInt)), [value.length])
      : new ort.Tensor('int64', BigInt64Array.from([BigInt(value)]), []);
    else if (type === 'float32') out[name] = new ort.Tensor('float32', Float32Array.from([value]), []);
    else out[name] = new ort.Tensor('bool', Uint8Array.from([value ? 1 : 0]), []);
  }
  return out;
};
await session.run(feeds(0));
const times = [];
const start = performance.now();
while (performance.now() - start < seconds * 1000 || times.length < 3) {
  const t = performance.now();
  const { found } = await session.run(feeds(times.length + 1), ['found']);
  times.push((performance.now() - t) / 1000);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ median: times[Math.floor(times.length / 2)] }));
"""


REPEATS = 3  # calls at least per figure (more while within --seconds)


def median_seconds(call, seconds: float) -> float:
    call(0)  # warm up
    times, started = [], time.perf_counter()
    while time.perf_counter() - started < seconds or len(times) < REPEATS:
        t = time.perf_counter()
        call(len(times) + 1)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def filter_loop(rt, count: int, per_call: int, test) -> callable:
    """The loop a user writes without rule 2: sample, keep what passes, repeat with the next seed."""
    def call(seed: int) -> list[str]:
        kept, calls = [], 0
        while len(kept) < count:
            kept += [name for name in rt.sample(per_call, seed=seed * 1_000_003 + calls) if test(name)]
            calls += 1
        return kept[:count]
    return call


def promoted(path: Path) -> tuple[Path, dict]:
    """A copy of the sampler whose optional inputs are plain inputs, and their defaults:
    onnxruntime-node ignores feeds of initialisers (see docs/javascript.md), so the
    Node figures use what the JS clients do."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    inputs = {i.name for i in model.graph.input}
    defaults = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer if i.name in inputs}
    kept = [i for i in model.graph.initializer if i.name not in inputs]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    copy = path.with_name(path.stem + ".promoted.onnx")
    onnx.save(model, copy)
    return copy, defaults


def node_seconds(path: Path, feeds: dict, seconds: float) -> float | None:
    node, modules = shutil.which("node"), ROOT / "examples" / "node" / "node_modules"
    if node is None or not (modules / "onnxruntime-node").is_dir():
        return None
    path, defaults = promoted(path)
    feeds = {**{key: ["int64", value.tolist()] if value.dtype == np.int64 else ["bool", bool(value)]
                for key, value in defaults.items()}, **feeds}
    script = ROOT / "examples" / "node" / ".bench_constraints.mjs"  # beside node_modules, so the import resolves
    script.write_text(NODE_TIMER)
    try:
        done = subprocess.run([node, str(script), str(path), json.dumps(feeds), str(seconds)], capture_output=True, text=True, timeout=600)
    finally:
        script.unlink(missing_ok=True)
    if done.returncode:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout)["median"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", default="linear,transformer")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent on each figure")
    parser.add_argument("--steps", type=int, default=1500, help="training steps of the neural plugins")
    parser.add_argument("--suffix", default="n", help="the one-letter suffix case")
    parser.add_argument("--stepwise-cases", default="none,novel",
                        help="cases for plugins whose sampler runs the network on the whole window at every step (slow)")
    args = parser.parse_args()
    split = split_names(read_names("bundled"), seed=42)
    print(f"{args.count:,} names per call; names per second (median call); x: in-graph speed over the user's loop\n", flush=True)
    print("| plugin | case | pass rate | onnxruntime (Python) | Node | user's loop, 1 name/call | x | user's loop, "
          f"{args.count:,} names/call | x |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for plugin in args.plugins.split(","):
            params = {"steps": args.steps} if "steps" in namegen.registry.get(plugin).Config.__dataclass_fields__ else {}
            model = namegen.create(plugin, **params).fit(split.train, split.val)
            path = export(model, Path(tmp) / f"{plugin}.onnx").sampler
            rt = runtime.load(path)
            train = set(model.training_names_)
            cases = [
                ("none", {}, None),
                ("prefix 'ma'", {"prefix": "ma"}, None),
                ("novel", {"novel": True}, lambda name, train=train: name not in train),
                (f"suffix '{args.suffix}'", {"suffix": args.suffix}, lambda name: name.endswith(args.suffix)),
            ]
            if rt.metadata.get("sampler_loop") == "stepwise":
                cases = [case for case in cases if case[0].split(" ")[0] in args.stepwise_cases.split(",")]
            for label, constraints, test in cases:
                sample = rt.sample(5000, seed=12345)
                rate = sum(map(test, sample)) / len(sample) if test else 1.0
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # a short answer would make the figure meaningless
                    graph = median_seconds(lambda s, rt=rt, constraints=constraints: rt.sample(args.count, seed=s, **constraints), args.seconds)
                feeds = {key: ["int64", value.tolist()] if value.dtype == np.int64 else
                         ["float32", float(value)] if value.dtype == np.float32 else ["bool", bool(value)]
                         for key, value in rt.feeds(args.count, 0, 1.0, **constraints).items()}
                node = node_seconds(path, feeds, args.seconds)
                cells = [f"{args.count / graph:,.0f}", f"{args.count / node:,.0f}" if node else "–"]
                if test is None:
                    cells += ["–", "", "–", ""]
                else:
                    one = median_seconds(filter_loop(rt, args.count, 1, test), args.seconds)
                    batch = median_seconds(filter_loop(rt, args.count, args.count, test), args.seconds)
                    cells += [f"{args.count / one:,.0f}", f"{one / graph:.1f}", f"{args.count / batch:,.0f}", f"{batch / graph:.1f}"]
                print(f"| {plugin} | {label} | {rate:.0%} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
