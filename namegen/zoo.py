"""The zoo leaderboard: fit every selected plugin on one split of one data file, each with the
ONNX export its fit keeps in the run, and tabulate what choosing a model weighs: size, fit time
and memory, NLL, the exported sampler's size and speed beside torch's, and how novel and varied
its names are.

    namegen zoo [--data FILE] [--plugins P,...] [--time-limit 10m] [--out zoo] [--seed 42] [--quick]

writes OUT/runs/PLUGIN/ (each a `namegen fit` run), OUT/exports/PLUGIN.onnx (+ its scorer),
OUT/leaderboard.csv and OUT/leaderboard.md. Each fit runs as `namegen fit` in a child process
of its own, so its peak memory is its own and its run is exactly what `fit` would save (data
provenance included, so `namegen evaluate` reproduces the NLLs). The export is the run's own,
as `namegen export onnx` writes it: copied from the run, built again only where the fit kept
none (a time limit that ran out, an export the fit could not validate).
"""

from __future__ import annotations

import csv
import io
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import data as datasets
from . import registry, runs
from .checkpoint import check_writable_run_folder, folder_lock, os_error, remove_stale_temporaries, write_atomic
from .errors import NamegenError
from .vocab import Vocab

LEADERBOARD_CSV, LEADERBOARD_MD = "leaderboard.csv", "leaderboard.md"
OWN_ENTRIES = ("runs", "exports", LEADERBOARD_CSV, LEADERBOARD_MD)  # all a zoo writes into --out
SAMPLE_COUNT, SAMPLE_SEED = 1000, 0  # the samples whose novelty and distinctness are reported
RATE_COUNTS = (1, 1000)  # names per call for the names/s columns
RATE_MIN_CALLS, RATE_SECONDS = 5, 0.5  # each rate: the median of at least this many calls, and of this long


@dataclass(frozen=True)
class Column:
    key: str  # CSV header
    title: str  # Markdown header
    markdown: Callable[[object], str]  # how the Markdown table shows the CSV's value


COLUMNS = (
    Column("plugin", "plugin", str),
    Column("parameters", "parameters", "{:,}".format),
    Column("fit_seconds", "fit s", "{:.3f}".format),
    Column("peak_memory_mb", "peak MB", "{:.0f}".format),
    Column("train_nll", "train NLL", "{:.4f}".format),
    Column("val_nll", "val NLL", "{:.4f}".format),
    Column("test_nll", "test NLL", "{:.4f}".format),
    Column("test_perplexity", "test ppl", "{:.3f}".format),
    Column("onnx_kb", "ONNX KB", "{:,.1f}".format),
    Column("onnx_names_per_s_1", "ORT names/s ×1", "{:,.0f}".format),
    Column("onnx_names_per_s_1000", "ORT names/s ×1000", "{:,.0f}".format),
    Column("torch_names_per_s_1", "torch names/s ×1", "{:,.0f}".format),
    Column("torch_names_per_s_1000", "torch names/s ×1000", "{:,.0f}".format),
    Column("novel", "novel", "{:.1%}".format),
    Column("distinct", "distinct", "{:.1%}".format),
)


def _stderr(message: str) -> None:
    if sys.stderr is not None:
        print(message, file=sys.stderr, flush=True)


def select_plugins(spec: str | None) -> list[str]:
    """The plugins named by `--plugins a,b` (every registered one when None), checked to exist."""
    if spec is None:
        return registry.available()
    names = list(dict.fromkeys(name.strip() for name in spec.split(",") if name.strip()))  # ordered, no repeats
    if not names:
        raise NamegenError(f"--plugins names no plugin; give a comma-separated list from: {', '.join(registry.available())}")
    for name in names:
        registry.get(name)  # an unknown name raises, listing the available ones
    return names


def check_out_folder(out: Path, plugins: list[str]) -> None:
    """Refuse, before anything is fitted or written, an --out the zoo could not fill or should not
    touch: a file, a folder holding things a zoo does not write, a run folder that `fit` would
    refuse, an export path that is a folder, or a place without write permission."""
    existing = next(p for p in (out, *out.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise NamegenError(f"--out {str(out)!r}: {str(existing)!r} is a file; give a folder for the zoo")
    if out.is_dir():
        try:
            foreign = sorted(p.name for p in out.iterdir() if p.name not in OWN_ENTRIES and not p.name.startswith(".leaderboard."))
        except OSError as err:
            raise os_error("read", out, err) from None
        if foreign:
            raise NamegenError(f"--out {str(out)!r} holds files a zoo does not write ({', '.join(foreign[:3])}"
                               f"{', …' if len(foreign) > 3 else ''}); choose a new folder")
    for plugin in plugins:
        check_writable_run_folder(out / "runs" / plugin)  # also probes for write permission
        if (out / "exports" / f"{plugin}.onnx").is_dir():
            raise NamegenError(f"{str(out / 'exports' / f'{plugin}.onnx')!r} is a folder; remove it or choose another --out")


# The child runs `namegen fit` and, at exit, writes its peak resident memory to the pipe whose
# descriptor is its first argument. VmHWM is the peak of the program's own memory since exec;
# ru_maxrss (getrusage, wait4) would also count the parent's, which a forked child inherits and
# Linux carries across exec, so every plugin after a big one would report the big one's peak.
FIT_CHILD = """
import atexit, os, sys
fd = int(sys.argv.pop(1))

def report():
    try:
        with open("/proc/self/status") as status:
            peak = next((line.split()[1] for line in status if line.startswith("VmHWM:")), "")
    except OSError:
        peak = ""
    os.write(fd, peak.encode())

atexit.register(report)
from namegen.cli import main
main()
"""


def fit_in_child(plugin: str, data: str, run: Path, seed: int, params: dict, time_limit: float | None,
                 plugins_dir: Path | None) -> float | None:
    """Run `namegen fit` for one plugin in a child process; returns its peak resident memory in
    MiB (None where the platform cannot say). Its log and progress bar go to our stderr."""
    read_end, write_end = os.pipe()
    command = [sys.executable, "-c", FIT_CHILD, str(write_end), "fit", "--plugin", plugin,
               "--data", data, "--out", str(run), "--seed", str(seed)]
    for key, value in params.items():
        command += ["--param", f"{key}={value}"]
    if time_limit is not None:
        command += ["--time-limit", repr(time_limit)]
    if plugins_dir is not None:
        command += ["--plugins-dir", str(plugins_dir)]
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, pass_fds=(write_end,))
    finally:
        os.close(write_end)  # the child holds its own copy: the pipe ends when the child does
    with os.fdopen(read_end, "rb") as pipe:
        try:
            process.wait()
        except KeyboardInterrupt:
            process.wait()  # the child got the Ctrl-C too: let it save its best model before we stop
            raise
        peak_kib = pipe.read().decode() or None
    if process.returncode != 0:
        raise NamegenError(f"fitting {plugin!r} failed (exit code {process.returncode}; its error is above); "
                           f"the runs fitted so far are in {run.parent}, and no leaderboard was written")
    return int(peak_kib) / 1024 if peak_kib else None


def names_per_second(draw: Callable[[int, int], object], count: int) -> float:
    """`count` names per call over the median call of `draw(count, seed)`, after a warm-up call;
    each call has its own seed."""
    draw(count, 0)
    times, started = [], time.perf_counter()
    while len(times) < RATE_MIN_CALLS or time.perf_counter() - started < RATE_SECONDS:
        begin = time.perf_counter()
        draw(count, len(times) + 1)
        times.append(time.perf_counter() - begin)
    return count / statistics.median(times)


def measure(run: Path, export_path: Path, split: datasets.Split, peak_mb: float | None, log: Callable[[str], None] = _stderr) -> dict:
    """One leaderboard row from a saved run: scores it as `namegen evaluate` does, writes its
    export to `export_path` (`runs.export`: the one kept in the run when it answers for it),
    times both samplers and draws the novelty sample."""
    import torch

    from . import runtime

    model = runs.load(run)
    scorable_test = model.scorable(split.test)[0]
    train, val, test = model.score(split.train), model.score(split.val), model.score(scorable_test)
    runs.export(run, export_path, log=log)  # validated on held-out names, when it was kept or now
    exported = runtime.load(export_path)  # one intra-op thread, its default
    row = {
        "plugin": model.plugin_name,
        "parameters": sum(tensor.numel() for tensor in model.network_.state_dict().values()),
        "fit_seconds": round(model.training_["fit_seconds"], 3),
        "peak_memory_mb": None if peak_mb is None else round(peak_mb, 1),
        "train_nll": round(train.nll, 6), "val_nll": round(val.nll, 6), "test_nll": round(test.nll, 6),
        "test_perplexity": round(test.perplexity, 4),
        "onnx_kb": round(export_path.stat().st_size / 1024, 1),
    }
    for count in RATE_COUNTS:
        row[f"onnx_names_per_s_{count}"] = round(names_per_second(lambda n, s: exported.sample(n, seed=s), count))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as onnxruntime runs: like for like, and steady on a loaded machine
    try:
        for count in RATE_COUNTS:
            row[f"torch_names_per_s_{count}"] = round(names_per_second(lambda n, s: model.sample(n, seed=s), count))
    finally:
        torch.set_num_threads(threads)
    names = model.sample(SAMPLE_COUNT, seed=SAMPLE_SEED)
    known = {*split.train, *split.val, *split.test}  # novel as `novel=True` means it: no name of the data
    row["novel"] = sum(name not in known for name in names) / SAMPLE_COUNT
    row["distinct"] = len(set(names)) / SAMPLE_COUNT
    return row


def to_csv(rows: list[dict]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, [c.key for c in COLUMNS], lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: "" if value is None else value for key, value in row.items()} for row in rows)
    return text.getvalue()


def to_markdown(rows: list[dict], preamble: str) -> str:
    cells = lambda row: [("–" if row[c.key] is None else c.markdown(row[c.key])) for c in COLUMNS]  # noqa: E731
    lines = ["| " + " | ".join(c.title for c in COLUMNS) + " |",
             "|---|" + "---:|" * (len(COLUMNS) - 1)]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    return preamble + "\n\n" + "\n".join(lines) + "\n"


def run(out: str | Path = "zoo", data: str = datasets.BUNDLED, plugins: str | list[str] | None = None, seed: int = 42,
        time_limit: float | None = None, quick: bool = False, plugins_dir: str | Path | None = None,
        log: Callable[[str], None] = _stderr) -> tuple[list[dict], str]:
    """Fit, export and measure each plugin; write OUT/leaderboard.csv and OUT/leaderboard.md.
    Returns the rows (best test NLL first) and the Markdown text.

    Every check that can fail on the user's input (plugins, data, --out) runs before anything is
    fitted or written. A plugin's fit that fails stops the zoo without writing a leaderboard."""
    out = Path(out)
    plugins_dir = Path(plugins_dir) if plugins_dir is not None else None
    if plugins_dir is not None:
        registry.load_plugins_dir(plugins_dir)
    selected = plugins if isinstance(plugins, list) else select_plugins(plugins)
    for name in selected:
        registry.get(name)
    names = datasets.read_names(data)
    split = datasets.split_names(names, seed)
    vocab = Vocab.from_names(split.train + split.val)  # every plugin's: fit takes it from these names
    scorable_test = [name for name in split.test if vocab.covers(name)]
    if not split.train or not split.val or not scorable_test:
        raise NamegenError(f"{data} has {len(names)} names: too few for a zoo, whose 80/10/10 split needs "
                           "training, validation and scorable test names; give more")
    check_out_folder(out, selected)

    rows = []
    for number, plugin in enumerate(selected, 1):
        cls = registry.get(plugin)
        params = dict(cls.test_hyperparams) if quick else {}
        if time_limit is not None:
            params.pop("time_limit", None)  # --time-limit wins over a test-sized one
        log(f"zoo: {plugin} ({number} of {len(selected)}): fitting")
        run_folder = out / "runs" / plugin
        peak = fit_in_child(plugin, data, run_folder, seed, params, time_limit, plugins_dir)
        log(f"zoo: {plugin}: scoring, exporting and timing")
        rows.append(measure(run_folder, out / "exports" / f"{plugin}.onnx", split, peak, log))
    rows.sort(key=lambda row: row["test_nll"])
    excluded = len(split.test) - len(scorable_test)
    preamble = "\n".join([
        "# namegen zoo",
        "",
        f"Data: {data} ({len(names):,} names), split 80/10/10 with seed {seed}: {len(split.train):,} train, "
        f"{len(split.val):,} val, {len(split.test):,} test"
        + (f" ({excluded:,} left out of the test NLL: characters the training and validation names lack)" if excluded else "")
        + ". Hyper-parameters: " + ("each plugin's test_hyperparams (--quick)" if quick else "each plugin's defaults")
        + (f"; time limit {time_limit:g} s per fit" if time_limit is not None else "") + ".",
        "",
        "NLL in nats per character, end token counted; best test NLL first. Fit s: the run's fit time; peak MB: "
        "peak resident memory of the process that fitted it (Python and torch included). ONNX KB: the sampler file. "
        "Names/s: at 1 and 1,000 names per call, the median call after a warm-up; onnxruntime (ORT) and torch "
        f"each on one thread. Novel and distinct: of {SAMPLE_COUNT:,} names sampled with seed "
        f"{SAMPLE_SEED}, the share that is no name of the data (train, val or test), and the share of unique ones.",
    ])
    markdown = to_markdown(rows, preamble)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise os_error("create", out, err) from None
    with folder_lock(out):  # two zoos into one folder write their leaderboards one after the other
        remove_stale_temporaries(out, [LEADERBOARD_CSV, LEADERBOARD_MD])  # what a killed zoo left
        write_atomic(out / LEADERBOARD_CSV, to_csv(rows).encode())
        write_atomic(out / LEADERBOARD_MD, markdown.encode())
    return rows, markdown
