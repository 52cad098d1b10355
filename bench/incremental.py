#!/usr/bin/env python3
"""Incremental sampling: the ONNX sampler of each plugin with a step form, before
(the network on the whole window at every step) and after (one token per step through the step
form, its state carried: in float64, and as exported, in float32 with close calls rechecked in
float64), through namegen.runtime from Python and, as exported, from Node; one intra-op thread.

    python bench/incremental.py [--runs DIR] [--plugins rnn,transformer] [--seconds 2]

--runs: a folder of fitted runs (DIR/rnn, DIR/transformer: `bench/zoo.py --out X` keeps them
in X/names/runs). Without it, each plugin is fitted with its defaults on the bundled names for
--steps steps: speed depends on the sizes, and on how long the names run, not on how well the
model is trained. Both samplers are built here from the same run, their names checked equal,
and timed in this run: the median call over at least 3 calls and --seconds, each with its own
seed, after a warm-up. Sizes: the sampler file (without training names) and the weights
(float32 state_dict). Prints a Markdown table.

A second table answers whether "cheaper windows" pay where a network has no step form: the
torch sampler at 1,000 names (one thread) on whole windows, on windows trimmed to the positions
from the last leading boundary token on (all names of a call are at the same step; rnn and
transformer read such windows as whole ones), and by the step form.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from constraints import median_seconds, node_seconds  # noqa: E402

import namegen  # noqa: E402
from namegen import runtime, sampling  # noqa: E402
from namegen.checkpoint import load  # noqa: E402
from namegen.data import read_names, split_names  # noqa: E402
from namegen.exports import sampler as sampler_module  # noqa: E402
from namegen.exports.network import export_network  # noqa: E402
from namegen.exports.sampler import build_sampler  # noqa: E402


def sampler_seconds(exported: runtime.ExportedModel, count: int, seconds: float) -> float:
    """The median call of the sampler drawing `count` names through namegen.runtime (what apps
    call), each call with its own seed."""
    return median_seconds(lambda seed: exported.sample(count, seed=seed), seconds)


class Trimmed(torch.nn.Module):
    """A padding-invariant network fed only the positions from the last leading boundary token
    that every row has (the sampler's rows are all at the same step)."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network, self.block_size = network, network.block_size
        ngram = getattr(network, "ngram", None)  # a mixed-in n-gram reads its order - 1 last tokens, boundary or not
        self.least = ngram.block_size if ngram is not None else 1

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        leading = int(((context != 0).long().cumsum(dim=1) == 0).sum(dim=1).min())
        return self.network(context[:, min(max(leading - 1, 0), context.shape[1] - self.least):])


def torch_names_per_second(model, seconds: float) -> list[str]:
    """Names/s of the torch sampler at 1,000 names: whole windows, trimmed windows, step form."""
    network, cells = model._sampling_network(model._fitted()), []
    reference = None
    for label, net, step_form in (("whole", network, False), ("trimmed", Trimmed(network), False), ("step", network, True)):
        original = sampling.has_step_form
        if not step_form:
            sampling.has_step_form = lambda n: False
        try:
            with torch.no_grad():
                tokens = sampling.sample_tokens(net, 1000, 5, 1.0, model.max_len_)
                reference = tokens if reference is None else reference
                assert torch.equal(tokens, reference), f"{label}: other names"
                seconds_per_call = median_seconds(lambda seed, net=net: sampling.sample_tokens(net, 1000, seed + 6, 1.0, model.max_len_), seconds)
        finally:
            sampling.has_step_form = original
        cells.append(f"{1000 / seconds_per_call:,.0f}")
    return cells


def fitted(plugin: str, runs: Path | None, steps: int):
    if runs is not None:
        return load(runs / plugin)
    split = split_names(read_names("bundled"), seed=42)
    model = namegen.create(plugin, steps=steps)
    model.fit(split.train, split.val)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path)
    parser.add_argument("--plugins", default="rnn,transformer")
    parser.add_argument("--steps", type=int, default=1500, help="training steps when fitting here (no --runs)")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.log_severity_level = 1, 3
    rows, torch_rows = [], []
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for plugin in args.plugins.split(","):
            model = fitted(plugin, args.runs, args.steps)
            network = export_network(model, float64=True)
            weights_kb = sum(t.numel() * 4 for t in model.network_.state_dict().values()) / 1024
            cells = [plugin, f"{weights_kb:,.0f}"]
            timed = {}
            for label, step_form, max_error in (("before", False, None), ("float64", True, -1.0), ("after", True, None)):
                saved = sampler_module.MAX_LOGIT_ERROR
                sampler_module.MAX_LOGIT_ERROR = saved if max_error is None else max_error  # -1: never float32
                try:
                    proto = build_sampler(model, network, step_form=step_form).SerializeToString()
                finally:
                    sampler_module.MAX_LOGIT_ERROR = saved
                path = Path(tmp) / f"{plugin}.{label}.onnx"
                path.write_bytes(proto)
                session = ort.InferenceSession(proto, options, providers=["CPUExecutionProvider"])
                feeds = {"seed": np.array(5, np.int64), "count": np.array(1000, np.int64), "temperature": np.array(1.0, np.float32)}
                (tokens,) = session.run(["tokens"], feeds)
                assert np.array_equal(tokens, model.sample_tokens(1000, seed=5)), f"{plugin} {label}: not torch's names"
                exported = runtime.ExportedModel(path)  # one intra-op thread, as runtime.load
                one, many = sampler_seconds(exported, 1, args.seconds), sampler_seconds(exported, 1000, args.seconds)
                timed[label] = (len(proto) / 1024, one, many, path)
            for label in ("before", "float64", "after"):
                kb, one, many, _ = timed[label]
                cells += [f"{kb:,.0f}", f"{one * 1e3:.2f}", f"{1000 / many:,.0f}"]
            path = timed["after"][3]
            node_one = node_seconds(path, {"count": ["int64", 1], "temperature": ["float32", 1.0]}, args.seconds)
            node_many = node_seconds(path, {"count": ["int64", 1000], "temperature": ["float32", 1.0]}, args.seconds)
            if node_one and node_many:
                cells += [f"{node_one * 1e3:.2f}", f"{1000 / node_many:,.0f}", f"{node_many / timed['after'][2]:.2f}x"]
            else:
                cells += ["–", "–", "–"]
            rows.append(cells)
            torch_rows.append([plugin, *torch_names_per_second(model, args.seconds)])
            print(f"{plugin}: done", file=sys.stderr)
    print("| plugin | weights KB | windows: sampler KB | ms ×1 | names/s ×1000 | step form, float64: sampler KB | ms ×1 | names/s ×1000 "
          "| step form, float32 + float64 rechecks: sampler KB | ms ×1 | names/s ×1000 | Node ms ×1 | Node names/s ×1000 | Node / Python time ×1000 |")
    print("|---|" + "---:|" * 13)
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    print("\n| plugin | torch names/s ×1000, whole windows | trimmed windows | step form |")
    print("|---|---:|---:|---:|")
    for cells in torch_rows:
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
