"""What the tests of the JavaScript clients share: skipping cleanly, saying how to install
what is missing, and the `node` executable (a module-scoped fixture; import it by name)."""

from __future__ import annotations

import shutil

import pytest

INSTALL_HINT = "run scripts/install_clients.sh"


def need(condition: bool, reason: str) -> None:
    if not condition:
        pytest.skip(f"{reason}; {INSTALL_HINT}")


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    need(path is not None, "`node` is not on PATH")
    return path
