"""The `namegen` command. Names go to stdout, one per line; logs and progress go to stderr.
Bad input ends with a one-line `error: ...` on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import signal
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, NamedTuple

import typer

from . import data as datasets
from . import registry, runs
from .errors import NamegenError

app = typer.Typer(
    help="Learn to generate names character by character; sample, score and export to ONNX.",
    no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None, add_completion=False,
)
export_app = typer.Typer(help="Export a fitted run for use outside Python.", no_args_is_help=True)
app.add_typer(export_app, name="export")
plot_app = typer.Typer(help="Draw pictures, PNG or SVG by --out's extension: the bigram heatmap of a run, "
                            "learning curves of runs, and the zoo's chart.", no_args_is_help=True)
app.add_typer(plot_app, name="plot")

PluginsDir = Annotated[Path | None, typer.Option("--plugins-dir", help="Folder of extra plugins: every .py file in it is imported.")]
Run = Annotated[Path, typer.Argument(help="Run folder written by `namegen fit`.", show_default=False, metavar="RUN")]


def log(message: str) -> None:
    if sys.stderr is not None:  # print(file=None) would write to stdout
        print(message, file=sys.stderr, flush=True)


class Interrupted(Exception):
    """Ctrl-C that a command handled (fit saved its best model): `main` prints the message, exit 130."""


def emit(text: str) -> None:
    """Write `text` to stdout now, so that a closed or full stdout is an error of this command
    (one line, exit 2) rather than a traceback when the interpreter flushes at exit."""
    if sys.stdout is None:
        raise NamegenError("standard output is closed; nothing was written")
    try:
        sys.stdout.flush()
        try:
            fd = sys.stdout.fileno()
        except (AttributeError, ValueError, io.UnsupportedOperation):  # a stream without a descriptor (a test's capture)
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        # os.write, not sys.stdout.write: a pipe whose reader has gone can take part of a large
        # write and Python's buffered writer then reports success, losing the rest silently.
        try:
            text = text.replace("\n", os.linesep) if os.linesep != "\n" else text  # as text-mode stdout would
            data = memoryview(text.encode(sys.stdout.encoding or "utf-8", sys.stdout.errors or "strict"))
        except UnicodeEncodeError as err:
            raise NamegenError(f"standard output's encoding ({err.encoding}) cannot write {err.object[err.start:err.end]!r}; "
                               "set PYTHONIOENCODING=utf-8") from None
        while data:
            data = data[os.write(fd, data):]
    except OSError as err:
        _silence_stdout()
        if err.errno == errno.EPIPE:
            raise BrokenPipeError from None  # the reader has gone (`| head`): main exits quietly
        raise NamegenError(f"cannot write to standard output: {err.strerror or err}") from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush cannot fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _note_unused(run: Path, why: str | None) -> None:
    """Say why the run's kept export did not answer; after torch has loaded the run (a run
    torch cannot load ends with its one error line, not a note before it)."""
    if why:
        log(f"note: not using the ONNX export kept in {run}: {why}; answered through torch "
            f"(`namegen export onnx {run}` keeps a new one)")


def _params(pairs: list[str]) -> dict:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise NamegenError(f"--param takes KEY=VALUE, got {pair!r}")
        params[key.strip()] = value.strip()
    return params


DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)")
SECONDS_PER = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """Seconds from '90s', '10m', '1.5h' or plain seconds ('600')."""
    match = DURATION.fullmatch(text.strip().lower())
    seconds = float(match[1]) * SECONDS_PER[match[2]] if match else 0.0
    if not seconds > 0:
        raise NamegenError(f"--time-limit takes a duration above 0 such as 90s, 10m, 1.5h or plain seconds, got {text!r}")
    return seconds


@app.command("plugins")
def plugins_command(plugins_dir: PluginsDir = None) -> None:
    """List the available plugins (built in, installed through entry points, or from --plugins-dir)
    as TSV: name, description, hyper-parameters with their defaults."""
    if plugins_dir:
        registry.load_plugins_dir(plugins_dir)
    emit(registry.listing())


@app.command("fit")
def fit_command(
    plugin: Annotated[str, typer.Option("--plugin", "-p", help="Plugin to fit (see `namegen plugins`).")] = "linear",
    data: Annotated[str, typer.Option(help="Name file, UTF-8, one name per line; 'bundled' is the dataset that ships with namegen.")] = datasets.BUNDLED,
    val_data: Annotated[Path | None, typer.Option(help="Validation names; given this, all of --data is for training (no internal split).")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder to write. [default: runs/PLUGIN]", show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Seed of the 80/10/10 split (42: the tutorial's split).")] = 42,
    lowercase: Annotated[bool, typer.Option("--lowercase", help="Lower-case every name when reading.")] = False,
    param: Annotated[list[str], typer.Option("--param", "-P", metavar="KEY=VALUE", help="A hyper-parameter, repeatable (e.g. -P l2=0.05); see `namegen plugins` or docs/plugins.md for each plugin's.")] = [],  # noqa: B006
    time_limit: Annotated[str | None, typer.Option(
        "--time-limit", metavar="DURATION", show_default=False,
        help="Bound the whole command to this long (90s, 10m, 1.5h; a plain number is seconds): training stops early enough "
             "for the mixing, the save and the kept ONNX export to fit, and keeps the best model so far. "
             "For plugins trained by the shared gradient trainer, and linear; counts and ngram count in well under a second and ignore it.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Write into --out even if it is a non-empty folder that holds no namegen run.")] = False,
    plugins_dir: PluginsDir = None,
) -> None:
    """Fit a model and save it as a run folder. Ctrl-C stops training and saves the best model so far (exit code 130)."""
    started = time.monotonic()
    if plugins_dir:
        registry.load_plugins_dir(plugins_dir)
    params = _params(param)
    seconds = None
    if time_limit is not None:
        seconds = parse_duration(time_limit)
        if "time_limit" in params:
            raise NamegenError("give the time limit once: --time-limit or -P time_limit, not both")
    out = out or Path("runs") / plugin
    model = runs.fit(plugin, data, out, val_data=val_data, seed=seed, lowercase=lowercase, params=params, time_limit=seconds,
                     started=started, force=force, log=log)
    if model.training_.get("stopped") == "interrupted":
        raise Interrupted(f"interrupted: saved the best model so far (step {model.training_['best_step']}, "
                          f"val NLL {model.training_['best_nll']:.4f}) to {out}")
    figures = " ".join(f"{k.removesuffix('_nll')} {model.training_[k]:.4f}" for k in ("train_nll", "val_nll", "test_nll") if k in model.training_)
    stopped = f" (time limit reached at step {model.training_['steps']})" if model.training_.get("stopped") == "time limit" else ""
    log(f"fit in {model.training_['fit_seconds']:.3f} s{stopped}; NLL/char {figures}; saved {out}")


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    jsonl = "jsonl"


def _pretrained_names() -> str:
    """The pre-built models that ship, for --help: read here, since importing namegen.runtime
    imports onnxruntime, which --help does not need."""
    try:
        manifest = json.loads((Path(__file__).with_name("pretrained") / "manifest.json").read_text(encoding="utf-8"))
        return ", ".join(sorted(manifest["models"])) or "none"
    except (OSError, ValueError, KeyError, TypeError):  # a damaged manifest is reported when a model is asked for
        return "none"


Target = Annotated[str, typer.Argument(
    help="What answers: a run folder written by `namegen fit`, an ONNX sampler written by `namegen export onnx` "
         "(NAME.onnx, its scorer NAME.scorer.onnx beside it), or the name of a pre-built model that ships with namegen "
         f"({_pretrained_names()}). A folder or file of that name in the working directory wins over a pre-built model. "
         "Exports and pre-built models need no torch.",
    show_default=False, metavar="TARGET")]


class Answerer(NamedTuple):
    run: Path | None  # a run folder, answered through its kept export or torch
    exported: object  # else a namegen.runtime.ExportedModel: an export file or a pre-built model


def _target(target: str) -> Answerer:
    """What TARGET names: an existing folder is a run, an existing file an export, else a pre-built model."""
    from . import runtime

    path = Path(target)
    if path.is_dir():
        return Answerer(path, None)
    if path.exists():
        if not path.is_file():  # a FIFO would block onnxruntime's read
            raise NamegenError(f"{target!r} is neither a run folder nor an ONNX file")
        return Answerer(None, runtime.load(path))
    if target in runtime.pretrained():
        return Answerer(None, runtime.load_pretrained(target))
    known = ", ".join(runtime.pretrained()) or "none in this install"
    raise NamegenError(f"{target!r} does not exist: give a run folder (namegen fit), an ONNX sampler file (namegen export onnx) "
                       f"or a pre-built model's name (pre-built models: {known})")


def _run_model(run: Path, plugins_dir: Path | None):
    """The run's model through torch, or one clear line where torch is not installed."""
    try:
        return runs.load(run, plugins_dir)
    except ModuleNotFoundError as err:
        if _train_module(err) is None:
            raise
        from .checkpoint import read_config

        read_config(run)  # torch-free: a folder that holds no run says so rather than asking for torch
        raise NamegenError(f"{run} keeps no ONNX export that can answer, and answering through torch needs the train extra "
                           f"({_train_module(err)} is not installed): pip install 'namegen[train]'; or give an export of the run "
                           "(namegen export onnx, where torch is installed)") from None


FORMAT_HELP = "text: one name per line; json: one JSON array of strings; jsonl: one JSON string per line."


@app.command("sample")
def sample_command(
    target: Target,
    n: Annotated[int, typer.Option("-n", "--count", help="How many names.")] = 10,
    seed: Annotated[int, typer.Option(help="Same seed, same names (in Python, ONNX, Node and browsers).")] = 0,
    temperature: Annotated[float, typer.Option("--temperature", "-t", help="Above 0; lower is safer, higher is wilder.")] = 1.0,
    max_len: Annotated[int | None, typer.Option(help="Cut names at this many characters. [default: the model's max_len]", show_default=False)] = None,
    prefix: Annotated[str, typer.Option(help="Every name starts with this.")] = "",
    suffix: Annotated[str, typer.Option(help="Every name ends with this.")] = "",
    contains: Annotated[str, typer.Option(help="Every name holds this.")] = "",
    min_len: Annotated[int | None, typer.Option(help="Names have at least this many characters. [default: 1]", show_default=False)] = None,
    novel: Annotated[bool, typer.Option("--novel", help="No name is one of the known names: every name of the data the model was fitted on (train, val and test).")] = False,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="No name is this one (repeat for more).", show_default=False)] = None,
    exclude_file: Annotated[Path | None, typer.Option("--exclude-file", help="No name is one of this file's (one per line).", show_default=False)] = None,
    distinct: Annotated[bool, typer.Option("--distinct", help="No name comes twice.")] = False,
    max_candidates: Annotated[int | None, typer.Option(help="Draw at most this many candidates for --suffix, --contains, --novel, --exclude and --distinct. [default: max(10000, 100 x count)]", show_default=False)] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format", help=FORMAT_HELP)] = OutputFormat.text,
    plugins_dir: PluginsDir = None,
) -> None:
    """Print generated names (sampling rules 1 and 2 in docs/sampling.md), one per line unless --format says otherwise."""
    import warnings

    from .errors import NamegenWarning
    from .sampling import MAX_COUNT, check_count

    run, model = _target(target)
    if run is not None:
        own, why = runs.kept_export(run)
        model = own.model if own else _run_model(run, plugins_dir)  # the same names either way (the export validated itself)
        _note_unused(run, why)
    check_count(n, getattr(model, "max_count", MAX_COUNT), name="-n/--count")  # the model's message would name its `n`
    excluded = [*(exclude or []), *(datasets.read_names(str(exclude_file)) if exclude_file is not None else [])]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NamegenWarning)
        names = model.sample(n, seed=seed, temperature=temperature, max_len=max_len, prefix=prefix, suffix=suffix, contains=contains,
                             min_len=min_len, novel=novel, exclude=excluded or None, distinct=distinct, max_candidates=max_candidates)
    if output_format is OutputFormat.json:
        emit(json.dumps(names, ensure_ascii=False) + "\n")
    elif output_format is OutputFormat.jsonl:
        emit("".join(json.dumps(name, ensure_ascii=False) + "\n" for name in names))
    else:
        emit("".join(name + "\n" for name in names))
    for warning in caught:
        log(f"warning: {warning.message}")


@app.command("score")
def score_command(
    target: Target,
    names: Annotated[list[str], typer.Argument(help="Names to score.", show_default=False, metavar="NAME...")],
    unseen_floor: Annotated[float | None, typer.Option(help="Score characters the model never saw at this probability instead of failing (run folders only).")] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format", help="text: TSV with a header; json: one JSON array of objects; jsonl: one JSON object per line. "
                                                                        "Each: name, log_likelihood, nll_per_char, perplexity.")] = OutputFormat.text,
    plugins_dir: PluginsDir = None,
) -> None:
    """Per-name log-likelihood (nats, end token included), NLL per character and perplexity, as TSV unless --format says otherwise."""
    import math

    run, exported = _target(target)
    if run is None:
        if unseen_floor is not None:
            raise NamegenError("--unseen-floor needs a run folder (it scores through torch); an ONNX export scores only names of its own characters")
        scores = exported.log_likelihood(names)
    else:
        own, why = runs.kept_export(run) if unseen_floor is None else (None, None)
        if own is not None and all(own.model.vocab.covers(name) for name in names):
            scores = own.model.log_likelihood(names)  # the scorer: within 1e-4 of torch's (checked when it was exported)
        else:  # torch also says what to do about a character the model never saw
            scores = _run_model(run, plugins_dir).log_likelihood(names, unseen_floor)  # before any output: a bad name prints only the error
            _note_unused(run, why)
    rows = []
    for name, ll in zip(names, scores):
        nll = -float(ll) / (len(name) + 1)
        rows.append({"name": name, "log_likelihood": float(ll), "nll_per_char": nll, "perplexity": math.exp(nll)})
    if output_format is OutputFormat.json:
        emit(json.dumps(rows, ensure_ascii=False) + "\n")
    elif output_format is OutputFormat.jsonl:
        emit("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    else:
        emit("name\tlog_likelihood\tnll_per_char\tperplexity\n" + "".join(
            f"{r['name']}\t{r['log_likelihood']:.4f}\t{r['nll_per_char']:.4f}\t{r['perplexity']:.3f}\n" for r in rows))


@app.command("evaluate")
def evaluate_command(
    run: Run,
    data: Annotated[str | None, typer.Option(help="Score this name file instead of the run's own train/val/test splits.")] = None,
    lowercase: Annotated[bool, typer.Option("--lowercase", help="Lower-case the names of --data.")] = False,
    unseen_floor: Annotated[float | None, typer.Option(help="Probability for characters the model never saw.")] = None,
    plugins_dir: PluginsDir = None,
) -> None:
    """NLL per character and perplexity on each split of the run's data (or on --data), as TSV."""
    model = runs.load(run, plugins_dir)
    if data is not None:
        splits = {"data": datasets.read_names(data, lowercase)}
    else:
        splits = runs.recorded_splits(run, model.training_)
    scores = runs.evaluate(model, splits, unseen_floor, log)
    emit("split\tnames\tnll_per_char\tperplexity\n" + "".join(
        f"{split_name}\t{score.names}\t{score.nll:.4f}\t{score.perplexity:.3f}\n" for split_name, score in scores.items()))


@export_app.command("onnx")
def export_onnx_command(
    run: Run,
    out: Annotated[Path | None, typer.Option(help="Sampler file to write, or an existing folder to write RUN.onnx into; the scorer goes beside it as NAME.scorer.onnx. [default: exports/RUN.onnx]", show_default=False)] = None,
    training_names: Annotated[bool, typer.Option("--known-names/--no-known-names", "--training-names/--no-training-names", help="Carry the known names (every name of the data, as fingerprints) in the sampler, for --novel in any app; --no-known-names keeps them out (novel is then an error).")] = True,
    plugins_dir: PluginsDir = None,
) -> None:
    """Export a run to ONNX: a self-contained sampler, and a scorer beside it."""
    default_name = f"{run.resolve().name}.onnx"
    out = out or Path("exports") / default_name
    if out.is_dir():  # `--out exports` or `--out .`: the folder to write into
        out = out / default_name
    from .runtime import scorer_path

    validation = runs.export(run, out, training_names=training_names, plugins_dir=plugins_dir, log=log)
    log(f"validated: {validation.summary()}")
    for path in (out, scorer_path(out)):
        log(f"wrote {path}")
    emit(f"{out}\n")


Title = Annotated[str | None, typer.Option(help="Title of the picture. [default: says what it shows]", show_default=False)]


class XAxis(str, Enum):
    step = "step"
    seconds = "seconds"


def _picture_path(out: Path | None, default: Path) -> Path:
    out = out or default
    return out / default.name if out.is_dir() else out


def _write_picture(fig, out: Path) -> None:
    from . import plot

    plot.save(fig, out)
    width, height = plot.pixel_size(fig)
    log(f"wrote {out}" + (f" ({width}x{height} px)" if plot.picture_format(out) == "png" else ""))
    emit(f"{out}\n")


@plot_app.command("heatmap")
def plot_heatmap_command(
    run: Run,
    data: Annotated[str | None, typer.Option(help="Names whose bigrams are counted (counts model) or whose contexts are averaged over "
                                                     "(models with more than one character of context). [default: the run's training names]",
                                                show_default=False)] = None,
    lowercase: Annotated[bool, typer.Option("--lowercase", help="Lower-case the names of --data.")] = False,
    out: Annotated[Path | None, typer.Option("--out", show_default=False,
                                                help="Picture to write: .png or .svg (or an existing folder). [default: RUN/heatmap.png]")] = None,
    title: Title = None,
    plugins_dir: PluginsDir = None,
) -> None:
    """The tutorial's bigram figure: previous character down, next character across ('.' first),
    each cell labelled with its bigram and its count (counts model) or p(next | previous
    character) (any other model; averaged over the data's contexts for longer contexts)."""
    from . import plot

    out = _picture_path(out, run / "heatmap.png")
    plot.check_out(out)
    model = runs.load(run, plugins_dir)
    names, source = None, None
    if data is not None:
        names = datasets.read_names(data, lowercase)
        source = f"names: {plot.data_name(data)}"
    elif plot.needs_names(model):
        names = runs.recorded_splits(run, model.training_)["train"]
        source = f"names: the run's training split of {plot.data_name(model.training_['data'])}"
    if names is not None:
        known, unknown = model.scorable(names)
        if unknown:
            log(f"{len(unknown):,} of {len(names):,} names hold characters the model never saw (e.g. {unknown[0]!r}); they are left out")
        if not known:
            raise NamegenError("no name can be used: every one holds a character the model never saw")
        names = known
        source += f" ({len(names):,})"
    _write_picture(plot.heatmap_figure(model, names, title=title, source=source), out)


@plot_app.command("curves")
def plot_curves_command(
    runs: Annotated[list[Path], typer.Argument(help="Run folders fitted by the shared gradient trainer (they record a loss history).",
                                               show_default=False, metavar="RUN...")],
    x: Annotated[XAxis, typer.Option("--x", help="What the x axis counts: optimiser steps or seconds of training.")] = XAxis.step,
    out: Annotated[Path | None, typer.Option("--out", show_default=False,
                                                help="Picture to write: .png or .svg (or an existing folder). [default: curves.png]")] = None,
    title: Title = None,
) -> None:
    """Learning curves: train and validation NLL of each run at each evaluation, on one chart."""
    from . import plot

    out = _picture_path(out, Path("curves.png"))
    plot.check_out(out)
    _write_picture(plot.curves_figure(runs, x=x.value, title=title), out)


@plot_app.command("zoo")
def plot_zoo_command(
    leaderboard: Annotated[Path, typer.Argument(help="leaderboard.csv written by `namegen zoo`.", show_default=False, metavar="LEADERBOARD.csv")],
    out: Annotated[Path | None, typer.Option("--out", show_default=False,
                                                help="Picture to write: .png or .svg (or an existing folder). [default: zoo.png beside the CSV]")] = None,
    title: Title = None,
) -> None:
    """The zoo chart: test NLL against fit seconds (log scale), one labelled point per plugin."""
    from . import plot

    out = _picture_path(out, leaderboard.parent / "zoo.png")
    plot.check_out(out)
    _write_picture(plot.zoo_figure(leaderboard, title=title), out)


@app.command("zoo")
def zoo_command(
    data: Annotated[str, typer.Option(help="Name file, UTF-8, one name per line; 'bundled' is the dataset that ships with namegen.")] = datasets.BUNDLED,
    plugins: Annotated[str | None, typer.Option("--plugins", metavar="P,...", show_default=False,
                                                   help="Plugins to fit, comma-separated. [default: every registered plugin]")] = None,
    time_limit: Annotated[str | None, typer.Option(
        "--time-limit", metavar="DURATION", show_default=False,
        help="Bound each fit by the shared gradient trainer (and linear) to this long, as `fit --time-limit` does "
             "(90s, 10m, 1.5h; a plain number is seconds).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for runs/PLUGIN/, exports/PLUGIN.onnx, leaderboard.md and leaderboard.csv.")] = Path("zoo"),
    seed: Annotated[int, typer.Option(help="Seed of the 80/10/10 split (42: the tutorial's split).")] = 42,
    quick: Annotated[bool, typer.Option("--quick", help="test-sized hyper-parameters: for smoke tests.")] = False,
    plugins_dir: PluginsDir = None,
) -> None:
    """Fit every plugin (or --plugins) on one split of the data, each in a process of its own, export
    each to ONNX, and write a leaderboard (Markdown, also printed, and CSV) of size, fit time, peak
    memory, NLL, sampler size and speed, and the novelty of samples."""
    from . import zoo

    seconds = parse_duration(time_limit) if time_limit is not None else None
    markdown = zoo.run(out=out, data=data, plugins=plugins, seed=seed, time_limit=seconds, quick=quick,
                       plugins_dir=plugins_dir, log=log)[1]
    emit(markdown)


def main() -> None:
    # Usage errors (a missing argument, a bad number) are typer's own: exit code 2 with an
    # "Error: ..." line. Errors in what the arguments name are NamegenError, and failures of the
    # operating system (a full disk, a read-only folder) are OSError: one line, exit 2.
    _reopen_closed_standard_streams()
    interrupted = []

    def on_interrupt(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where SIGINT is ignored (a background job)
        signal.signal(signal.SIGINT, on_interrupt)
    try:
        app()
    except NamegenError as err:
        log(f"error: {err}")
        sys.exit(2)
    except ModuleNotFoundError as err:
        missing = _train_module(err)
        if missing is None:
            raise
        log(f"error: namegen {_command_words()} needs the train extra ({missing} is not installed): pip install 'namegen[train]'; "
            "sample and score of an ONNX export or a pre-built model work without it")
        sys.exit(2)
    except BrokenPipeError:  # the reader of stdout has gone (`namegen sample … | head`): stop quietly
        _silence_stdout()
        sys.exit(128 + signal.SIGPIPE)
    except MemoryError:
        log("error: out of memory; ask for fewer names, a smaller max_len or a smaller model")
        sys.exit(2)
    except OSError as err:
        log(f"error: {err.strerror or err}" + (f": {err.filename!r}" if err.filename else ""))
        sys.exit(2)
    except Interrupted as done:
        log(str(done))
        sys.exit(130)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
    except SystemExit as exit_:
        if interrupted and exit_.code == 130:  # typer turns Ctrl-C into a silent exit 130
            log("interrupted")
        raise


# What only the `train` extra installs: the base install (numpy, onnxruntime, typer) runs the
# command line, and a command that needs one of these says so in one line.
TRAIN_EXTRA = ("torch", "safetensors", "onnx", "onnxscript", "matplotlib")


def _train_module(err: ModuleNotFoundError) -> str | None:
    """The train extra's module that `err` did not find, or None for any other module."""
    root = (err.name or "").partition(".")[0]
    return root if root in TRAIN_EXTRA else None


def _command_words() -> str:
    """The command the user typed (`fit`, `export onnx`), for messages."""
    words = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    return " ".join(words[:2] if words[:1] in (["export"], ["plot"]) else words[:1]) or "this command"


def _reopen_closed_standard_streams() -> None:
    """Give a closed stdin, stdout or stderr (`namegen … >&-`) /dev/null, so that no file the
    command opens can take descriptor 1 and receive the names. Python has already set
    sys.stdout to None for a closed stdout; `emit` reports that as an error."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one
