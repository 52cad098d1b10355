#!/usr/bin/env python3
"""The documentation's pictures, docs/heatmap.png, docs/curves.png and docs/zoo.png, in one command.

    python bench/pictures.py --zoo ZOO_DIR [--out docs] [--x step|seconds]
    python bench/pictures.py --runs RUN... --leaderboard LEADERBOARD.csv [--out docs]

heatmap.png: `namegen fit --plugin counts` on the bundled data (the default split, into a
temporary folder), then `namegen plot heatmap`. curves.png and zoo.png: `namegen plot curves`
and `namegen plot zoo` on the runs and leaderboard of a benchmark, by default a `namegen zoo`
folder (ZOO_DIR/runs/*, every run with a loss history, in leaderboard order, and
ZOO_DIR/leaderboard.csv); for the docs that is the zoo on names.txt:

    namegen zoo --data ../shared/data/names.txt --out zoo-names
    python bench/pictures.py --zoo zoo-names

Every picture is drawn by the `namegen plot` command itself (run as a child process), so the
docs show exactly what users get. When the zoo's leaderboard.md says it ran with --quick,
the titles say so.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
NAMEGEN = [sys.executable, "-c", "from namegen.cli import main; main()"]


def namegen(*args) -> None:
    command = [*NAMEGEN, *map(str, args)]
    print("$ namegen " + " ".join(map(str, args)), file=sys.stderr, flush=True)
    if subprocess.run(command).returncode != 0:
        sys.exit(f"namegen {args[0]} failed (its error is above)")


def has_history(run: Path) -> bool:
    try:
        return bool(json.loads((run / "config.json").read_text(encoding="utf-8")).get("training", {}).get("history"))
    except (OSError, ValueError):
        return False


def zoo_runs(zoo: Path, leaderboard: Path) -> list[Path]:
    """The zoo's runs that have learning curves, in the leaderboard's order (best test NLL first)."""
    with open(leaderboard, encoding="utf-8") as f:
        order = [row["plugin"] for row in csv.DictReader(f)]
    runs = [zoo / "runs" / plugin for plugin in order]
    skipped = [run.name for run in runs if not has_history(run)]
    if skipped:
        print(f"curves: leaving out {', '.join(skipped)} (not trained by the gradient trainer: no loss history)", file=sys.stderr)
    return [run for run in runs if has_history(run)]


def quick_note(leaderboard: Path) -> str:
    """' (quick: test-sized hyper-parameters)' when the zoo beside the CSV ran with --quick."""
    markdown = leaderboard.with_name("leaderboard.md")
    text = markdown.read_text(encoding="utf-8") if markdown.is_file() else ""
    return " (--quick: test-sized hyper-parameters)" if "(--quick)" in text else ""


def data_name(leaderboard: Path) -> str:
    """The data file the zoo ran on, from the leaderboard.md beside the CSV ('' when unknown)."""
    markdown = leaderboard.with_name("leaderboard.md")
    for line in (markdown.read_text(encoding="utf-8").splitlines() if markdown.is_file() else []):
        if line.startswith("Data: "):
            source = line.removeprefix("Data: ").split(" (")[0]
            return "the bundled data" if source == "bundled" else Path(source).name
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", type=Path, help="a `namegen zoo` --out folder: its runs/ and leaderboard.csv")
    parser.add_argument("--runs", type=Path, nargs="+", help="run folders for the learning curves (instead of the zoo's)")
    parser.add_argument("--leaderboard", type=Path, help="leaderboard.csv for the zoo chart (instead of the zoo's)")
    parser.add_argument("--x", choices=["step", "seconds"], default="step", help="x axis of the learning curves")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for heatmap.png, curves.png, zoo.png (default: docs/)")
    args = parser.parse_args()
    leaderboard = args.leaderboard or (args.zoo / "leaderboard.csv" if args.zoo else None)
    if leaderboard is None:
        parser.error("give --zoo DIR (a namegen zoo folder), or --runs RUN... and --leaderboard CSV")
    if not leaderboard.is_file():
        parser.error(f"{leaderboard} is not a file: give the leaderboard.csv that namegen zoo wrote")
    runs = args.runs or (zoo_runs(args.zoo, leaderboard) if args.zoo else None)
    if not runs:
        parser.error("no run with a loss history: give --runs, or a --zoo whose runs include gradient-trained plugins")
    args.out.mkdir(parents=True, exist_ok=True)
    note, data = quick_note(leaderboard), data_name(leaderboard)

    with tempfile.TemporaryDirectory(prefix="namegen-pictures-") as tmp:
        namegen("fit", "--plugin", "counts", "--data", "bundled", "--out", Path(tmp) / "counts")
        namegen("plot", "heatmap", Path(tmp) / "counts", "--out", args.out / "heatmap.png")
    namegen("plot", "curves", *runs, "--x", args.x, "--out", args.out / "curves.png",
            *(["--title", f"Learning curves{' on ' + data if data else ''}{note}"] if note else []))
    namegen("plot", "zoo", leaderboard, "--out", args.out / "zoo.png",
            "--title", f"namegen zoo{' on ' + data if data else ''}: test NLL against fit time{note}")


if __name__ == "__main__":
    main()
