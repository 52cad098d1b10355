"""The `namegen` console script. The command line itself needs only the base install (numpy,
onnxruntime, typer): `sample` and `score` of an ONNX export or a pre-built model run without
torch, and a command that needs the `train` extra says so in one line (namegen.cli.main)."""

from __future__ import annotations

import sys

COMMAND_LINE_NEEDS = ("typer", "click", "numpy", "onnxruntime")  # what importing namegen.cli imports


def main() -> None:
    try:
        from .cli import main as cli_main
    except ModuleNotFoundError as err:  # a broken install: a base dependency removed since
        if (err.name or "").partition(".")[0] not in COMMAND_LINE_NEEDS:
            raise
        print(f"error: the namegen command needs {err.name}, which is not installed: pip install namegen", file=sys.stderr)
        raise SystemExit(2) from None
    cli_main()
