#!/usr/bin/env python3
"""Fit time and NLL of `counts` and `linear` beside the tutorial's own method, in one run.

    python bench/fit.py [--data ../shared/data/names.txt] [--skip-baseline]

The tutorial's method is ../shared/reference/seed_baseline.py, run as it is in a subprocess
(it is the reference, not ours to copy). Both use the same 80/10/10 split (seed 42), so the
NLLs compare. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

import namegen
from namegen.data import read_names, split_names

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED / "data" / "names.txt"))
    parser.add_argument("--skip-baseline", action="store_true", help="do not run the tutorial's reference script")
    args = parser.parse_args()
    if not Path(args.data).is_file():
        sys.exit(f"benchmark corpus {args.data} is absent; pass --data")
    torch.set_num_threads(1)  # as the reference does
    split = split_names(read_names(args.data), seed=42)
    rows = []
    if not args.skip_baseline:
        reference = SHARED / "reference" / "seed_baseline.py"
        out = json.loads(subprocess.run([sys.executable, str(reference), "--data", args.data], check=True, capture_output=True, text=True).stdout)
        for plugin in ("counts", "linear"):
            r = out[plugin]
            rows.append((f"tutorial {plugin}", r["fit_s"], r["train"], r["val"], r["test"]))
    for plugin in ("counts", "linear"):
        start = time.perf_counter()
        model = namegen.create(plugin).fit(split.train, split.val)
        seconds = time.perf_counter() - start
        rows.append((f"namegen {plugin}", seconds, *(model.score(names).nll for names in (split.train, split.val, split.test))))
    print("| method | fit s | train NLL | val NLL | test NLL |\n|---|---:|---:|---:|---:|")
    for name, seconds, *nll in rows:
        print(f"| {name} | {seconds:.3f} | " + " | ".join(f"{x:.4f}" for x in nll) + " |")


if __name__ == "__main__":
    main()
