#!/usr/bin/env python3
"""Bytes of each plugin's export, and which tables a file holds more than once.

    python bench/export_sizes.py [--full] [plugin ...]

Fits every plugin (or those named) with its test-sized hyper-parameters (`--full`: its
defaults) on a 2,000-name slice of the bundled names, as the tests do, exports it with
`namegen.exports.onnx.export` without and with the training names, and prints a Markdown
table: sampler bytes (without / with training names), scorer bytes, export seconds, and any
initialiser or attribute table over 256 bytes that appears twice in one file.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import tempfile
import time
from pathlib import Path

import onnx
import torch

import namegen
import namegen.registry
from namegen.data import read_names, split_names
from namegen.exports.graph import subgraphs
from namegen.exports.onnx import export


def repeated_tables(path: Path) -> list[str]:
    """Initialisers and node attributes over 256 bytes whose contents appear more than once."""
    seen = collections.defaultdict(list)
    for graph in subgraphs(onnx.load(path).graph):
        for init in graph.initializer:
            copy = onnx.TensorProto()
            copy.CopyFrom(init)
            copy.ClearField("name")
            if init.ByteSize() > 256:
                seen[hashlib.sha1(copy.SerializeToString()).hexdigest()].append((f"initialiser {init.name}", init.ByteSize()))
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) or attribute.ByteSize() <= 256:
                    continue
                copy = onnx.AttributeProto()
                copy.CopyFrom(attribute)
                seen[hashlib.sha1(copy.SerializeToString()).hexdigest()].append((f"{node.op_type}.{attribute.name}", attribute.ByteSize()))
    return [f"{where[0][0]} x{len(where)} ({where[0][1]:,} B each)" for where in seen.values() if len(where) > 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plugins", nargs="*")
    parser.add_argument("--full", action="store_true", help="each plugin's default hyper-parameters")
    args = parser.parse_args()
    torch.set_num_threads(1)
    split = split_names(read_names("bundled")[::15], seed=0)
    plugins = args.plugins or [p for p in namegen.registry.available() if namegen.registry.get(p).__module__.startswith("namegen.plugins.")]
    print("| plugin | sampler, no names | sampler, with names | scorer | export s | tables held twice |\n|---|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as folder:
        for plugin in plugins:
            cls = namegen.registry.get(plugin)
            model = namegen.create(plugin, **({} if args.full else cls.test_hyperparams)).fit(split.train, split.val)
            started = time.perf_counter()
            bare = export(model, Path(folder) / plugin / "bare.onnx", names=split.test, training_names=False)
            seconds = time.perf_counter() - started
            named = export(model, Path(folder) / plugin / "named.onnx", names=split.test)
            twice = sorted(set(repeated_tables(bare.sampler) + repeated_tables(named.sampler) + repeated_tables(named.scorer)))
            print(f"| {plugin} | {bare.sampler.stat().st_size:,} | {named.sampler.stat().st_size:,} | {named.scorer.stat().st_size:,} "
                  f"| {seconds:.2f} | {'; '.join(twice) or 'none'} |", flush=True)


if __name__ == "__main__":
    main()
