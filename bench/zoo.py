#!/usr/bin/env python3
"""The zoo leaderboard on ../shared/data/names.txt and on the bundled data, with makemore's
published figures beside the names.txt table as a labelled reference (not run here).

    python bench/zoo.py [--plugins P,...] [--datasets names,bundled] [--quick] [--time-limit 10m] [--out DIR] [--plugins-dir DIR]

Each dataset gets one `namegen zoo` (namegen.zoo.run): every plugin fitted with its defaults
(--quick: its test_hyperparams) on the 80/10/10 split with seed 42, each fit in a process of its
own. Runs and exports go to a temporary folder unless --out keeps them (DIR/names, DIR/bundled).
names.txt is read where it is, never copied; without it that table is skipped, saying so.
Prints Markdown. With the neural plugins' defaults this takes many minutes: makemore's own fits
took 1:40 to 6:49 each on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

from namegen import zoo
from namegen.cli import parse_duration

SHARED = Path(__file__).resolve().parents[2] / "shared"
NAMES_TXT = SHARED / "data" / "names.txt"

# ../shared/reference/makemore.md: makemore's defaults, 20,001 steps, test NLL on namegen's split
# (80/10/10, seed 42; checkpoint chosen on val), wall time on its own split, 2 CPU cores.
MAKEMORE = [  # (model, parameters, wall seconds, test NLL)
    ("transformer", "0.20M", 6 * 60 + 49, 2.0186),
    ("GRU", None, 1 * 60 + 52, 2.0382),
    ("MLP", None, 1 * 60 + 40, 2.0744),
]


def with_reference(markdown: str) -> str:
    """The zoo's table with makemore's rows slotted in by test NLL, in italics, marked †."""
    lines = markdown.rstrip("\n").split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    titles = [cell.strip() for cell in lines[start].strip("|").split("|")]
    test = titles.index("test NLL")
    ours = lines[start + 2:]
    reference = []
    for model, parameters, seconds, nll in MAKEMORE:
        cells = ["–"] * len(titles)
        cells[0] = f"*makemore {model}* †"
        cells[1] = parameters or "–"
        cells[2] = f"*{seconds}*"
        cells[test] = f"*{nll:.4f}*"
        cells[titles.index("test ppl")] = f"*{math.exp(nll):.3f}*"
        reference.append((nll, "| " + " | ".join(cells) + " |"))
    rows = sorted([(float(line.strip("|").split("|")[test]), line) for line in ours] + reference, key=lambda r: r[0])
    note = ("† Reference, not run here: makemore's published figures (../shared/reference/makemore.md), its default "
            "models trained 20,001 steps, test NLL on this same split with the checkpoint chosen on val; fit s is its "
            "wall time on its own split, 2 CPU cores.")
    return "\n".join(lines[: start + 2] + [line for _, line in rows] + ["", note]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", help="comma-separated (default: every registered plugin)")
    parser.add_argument("--quick", action="store_true", help="test-sized hyper-parameters: for smoke tests")
    parser.add_argument("--time-limit", help="per fit by the shared trainer (90s, 10m, 1.5h)")
    parser.add_argument("--out", type=Path, help="keep runs and exports here (DIR/names, DIR/bundled)")
    parser.add_argument("--plugins-dir", type=Path)
    parser.add_argument("--datasets", default="names,bundled", help="which tables: names (names.txt), bundled, or both")
    args = parser.parse_args()
    time_limit = parse_duration(args.time_limit) if args.time_limit else None
    with tempfile.TemporaryDirectory(prefix="namegen-zoo-") as scratch:
        root = args.out or Path(scratch)
        for label, data, folder in (("names.txt", NAMES_TXT, "names"), ("bundled data", "bundled", "bundled")):
            if folder not in args.datasets.split(","):
                continue
            if data != "bundled" and not Path(data).is_file():
                print(f"## {label}\n\nSkipped: the benchmark corpus {data} is absent (it is never copied into the repo).\n",
                      flush=True)
                continue
            _, markdown = zoo.run(out=root / folder, data=str(data), plugins=args.plugins, time_limit=time_limit,
                                  quick=args.quick, plugins_dir=args.plugins_dir)
            markdown = markdown.replace("# namegen zoo", f"## {label}", 1)
            if data == NAMES_TXT:
                markdown = with_reference(markdown)
            else:
                markdown += "\nmakemore publishes no figures on this data; its reference rows are in the names.txt table.\n"
            print(markdown, flush=True)


if __name__ == "__main__":
    try:
        main()
    except zoo.NamegenError as err:
        sys.exit(f"error: {err}")
