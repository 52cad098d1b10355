"""Run the `namegen` command in child processes, quickly.

Every invocation is a real process: its own argv, working directory, stdout, stderr and exit
status, running `namegen.cli.main` (the console script's entry point) from a clean state. To
avoid paying the ~2 s torch import for each of dozens of invocations, one helper interpreter
imports namegen.cli once and forks a child per invocation (children run two at a time).
`run_real` runs one invocation the plain way, through the installed console script.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DRIVER = r"""
import json, os, signal, sys, tempfile, time, traceback
cases = json.loads(sys.stdin.read())
from namegen.cli import main  # the console script's entry point, imported once
# namegen imports torch lazily; import it here, once, so that the children need not (this
# registers no plugin: the children still discover them for themselves). The driver itself
# never runs torch code: a child forked after that could hang in OpenMP.
import namegen.model, namegen.checkpoint  # noqa: E401
try:  # typer parses options through pydantic, when it is installed
    import pydantic  # noqa: F401
except ImportError:
    pass

def child(args, cwd, out, err):
    code = 1
    try:
        signal.alarm(120)  # a hung child dies instead of outliving the test run
        os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
        os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
        try:
            os.chdir(cwd)
            sys.argv = ["namegen", *args]
            main()
            code = 0
        except SystemExit as exit_:  # what the interpreter does with SystemExit
            if exit_.code is None:
                code = 0
            elif isinstance(exit_.code, int):
                code = exit_.code
            else:
                print(exit_.code, file=sys.stderr)
                code = 1
        except BaseException:  # what the interpreter does with an uncaught exception
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)

tmp = tempfile.mkdtemp(prefix="namegen-cli-")
results, running, queue = [None] * len(cases), {}, list(range(len(cases)))
while queue or running:
    while queue and len(running) < 2:
        i = queue.pop(0)
        paths = os.path.join(tmp, f"{i}.out"), os.path.join(tmp, f"{i}.err")
        sys.stdout.flush(); sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            child(cases[i]["args"], cases[i]["cwd"], *paths)
        running[pid] = (i, paths, time.perf_counter())
    pid, status = os.wait()
    i, (out, err), started = running.pop(pid)
    with open(out, encoding="utf-8", errors="replace") as f_out, open(err, encoding="utf-8", errors="replace") as f_err:
        results[i] = {"returncode": os.waitstatus_to_exitcode(status), "stdout": f_out.read(), "stderr": f_err.read(),
                      "seconds": time.perf_counter() - started}
    os.unlink(out); os.unlink(err)
os.rmdir(tmp)
sys.stdout.write(json.dumps(results))
"""


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0  # wall time of the child process

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_many(cases: list[tuple[list, Path]]) -> list[Result]:
    """Run `namegen ARGS` for each (args, cwd), each in its own child process."""
    if not hasattr(os, "fork"):  # Windows: one fresh interpreter per invocation
        return [run_real(args, cwd) for args, cwd in cases]
    payload = [{"args": [str(a) for a in args], "cwd": str(cwd)} for args, cwd in cases]
    done = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(payload), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"CLI driver failed:\n{done.stderr}"
    return [Result(tuple(p["args"]), **r) for p, r in zip(payload, json.loads(done.stdout))]


def run_real(args: list, cwd: Path) -> Result:
    """One invocation through the installed `namegen` console script, in a fresh interpreter."""
    script = shutil.which("namegen", path=os.path.dirname(sys.executable)) or shutil.which("namegen")
    command = [script] if script else [sys.executable, "-c", "from namegen.cli import main; main()"]
    started = time.perf_counter()
    done = subprocess.run([*command, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)
    return Result(tuple(map(str, args)), done.returncode, done.stdout, done.stderr, time.perf_counter() - started)


def assert_one_error(result, *fragments: str) -> str:
    """Exit 2, one `error:` line on stderr (besides fit's opening `fitting …` log line), no
    traceback, nothing on stdout, and the line holds every fragment. Returns the line."""
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("fitting ")]
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def write_names(path: Path, names: list[str]) -> Path:
    """`names`, one per line, into `path`."""
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    return path
