"""The `namegen` console script: the command line, or one clear line when this install is the
runtime alone (`pip install namegen`, without the `train` extra that the command line needs)."""

from __future__ import annotations

import sys

COMMAND_LINE_NEEDS = ("typer", "rich", "torch", "safetensors", "onnx")


def main() -> None:
    try:
        from .cli import main as cli_main
    except ModuleNotFoundError as err:
        if err.name not in COMMAND_LINE_NEEDS:
            raise
        print(f"error: the namegen command needs the train extra ({err.name} is not installed): "
              "pip install 'namegen[train]'; namegen.runtime works without it", file=sys.stderr)
        raise SystemExit(2) from None
    cli_main()
