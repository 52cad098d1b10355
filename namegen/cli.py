"""The `namegen` command. Names go to stdout, one per line; logs and progress go to stderr.
Bad input ends with a one-line `error: ...` on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import data as datasets
from . import registry
from .errors import NamegenError

app = typer.Typer(
    help="Learn to generate names character by character; sample, score and export to ONNX.",
    no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None, add_completion=False,
)
export_app = typer.Typer(help="Export a fitted run for use outside Python.", no_args_is_help=True)
app.add_typer(export_app, name="export")

PluginsDir = Annotated[Optional[Path], typer.Option("--plugins-dir", help="Folder of extra plugins: every .py file in it is imported.")]
Run = Annotated[Path, typer.Argument(help="Run folder written by `namegen fit`.", show_default=False, metavar="RUN")]


def log(message: str) -> None:
    print(message, file=sys.stderr)


def _load(run: Path, plugins_dir: Optional[Path]):
    from .checkpoint import load

    if plugins_dir:
        registry.load_plugins_dir(plugins_dir)
    return load(run)


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
    import dataclasses

    for name in registry.available():
        cls = registry.get(name)
        doc = (cls.__doc__ or "").strip().splitlines()
        defaults = ", ".join(f"{f.name}={getattr(cls.Config(), f.name)!r}" for f in dataclasses.fields(cls.Config))
        print(f"{name}\t{doc[0] if doc else ''}\t{defaults}")


@app.command("fit")
def fit_command(
    plugin: Annotated[str, typer.Option("--plugin", "-p", help="Plugin to fit (see `namegen plugins`).")] = "linear",
    data: Annotated[str, typer.Option(help="Name file, UTF-8, one name per line; 'bundled' is the dataset that ships with namegen.")] = datasets.BUNDLED,
    val_data: Annotated[Optional[Path], typer.Option(help="Validation names; given this, all of --data is for training (no internal split).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder to write. [default: runs/PLUGIN]", show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Seed of the 80/10/10 split (42: the tutorial's split).")] = 42,
    lowercase: Annotated[bool, typer.Option("--lowercase", help="Lower-case every name when reading.")] = False,
    param: Annotated[list[str], typer.Option("--param", "-P", metavar="KEY=VALUE", help="A hyper-parameter, repeatable (e.g. -P l2=0.05); see the README for each plugin's.")] = [],  # noqa: B006
    time_limit: Annotated[Optional[str], typer.Option(
        "--time-limit", metavar="DURATION", show_default=False,
        help="Stop training after this long (90s, 10m, 1.5h; a plain number is seconds) and keep the best model so far. "
             "Only for plugins trained by the shared gradient trainer; counts and linear fit in well under a second and ignore it.")] = None,
    plugins_dir: PluginsDir = None,
) -> None:
    """Fit a model and save it as a run folder. Ctrl-C stops training and saves the best model so far (exit code 130)."""
    if plugins_dir:
        registry.load_plugins_dir(plugins_dir)
    params = _params(param)
    if time_limit is not None:
        seconds = parse_duration(time_limit)
        if "time_limit" in params:
            raise NamegenError("give the time limit once: --time-limit or -P time_limit, not both")
        if hasattr(registry.get(plugin).Config, "time_limit"):  # a TrainConfig: the shared trainer's
            params["time_limit"] = seconds
    model = registry.create(plugin, **params)
    names = datasets.read_names(data, lowercase)
    if val_data is not None:
        split = datasets.Split(names, datasets.read_names(val_data, lowercase), [])
    else:
        split = datasets.split_names(names, seed)
        if not split.train or not split.val:
            raise NamegenError(f"{data} has {len(names)} names: too few to split 80/10/10; give more, or --val-data")
    log(f"fitting {plugin!r} on {len(split.train)} names (val {len(split.val)}, test {len(split.test)}) from {data}")
    model.fit(split.train, split.val, progress=True)
    model.training_.update({
        "data": str(data), "data_sha256": datasets.fingerprint(data), "split_seed": seed, "lowercase": lowercase,
        **({"val_data": str(val_data)} if val_data is not None else {}),
    })
    if split.test:
        model.training_["test_nll"] = model.score(split.test).nll
    out = out or Path("runs") / plugin
    model.save(out)
    if model.training_.get("stopped") == "interrupted":
        log(f"interrupted: saved the best model so far (step {model.training_['best_step']}, val NLL {model.training_['val_nll']:.4f}) to {out}")
        raise typer.Exit(130)
    figures = " ".join(f"{k.removesuffix('_nll')} {model.training_[k]:.4f}" for k in ("train_nll", "val_nll", "test_nll") if k in model.training_)
    stopped = f" (time limit reached at step {model.training_['steps']})" if model.training_.get("stopped") == "time limit" else ""
    log(f"fit in {model.training_['fit_seconds']:.3f} s{stopped}; NLL/char {figures}; saved {out}")


@app.command("sample")
def sample_command(
    run: Run,
    n: Annotated[int, typer.Option("-n", "--count", help="How many names.")] = 10,
    seed: Annotated[int, typer.Option(help="Same seed, same names (in Python, ONNX, Node and browsers).")] = 0,
    temperature: Annotated[float, typer.Option("--temperature", "-t", help="Above 0; lower is safer, higher is wilder.")] = 1.0,
    max_len: Annotated[Optional[int], typer.Option(help="Cut names at this many characters. [default: the run's max_len]", show_default=False)] = None,
    prefix: Annotated[str, typer.Option(help="Every name starts with this.")] = "",
    plugins_dir: PluginsDir = None,
) -> None:
    """Print generated names, one per line."""
    model = _load(run, plugins_dir)
    names = model.sample(n, seed=seed, temperature=temperature, max_len=max_len, prefix=prefix)
    sys.stdout.write("".join(name + "\n" for name in names))


@app.command("score")
def score_command(
    run: Run,
    names: Annotated[list[str], typer.Argument(help="Names to score.", show_default=False, metavar="NAME...")],
    unseen_floor: Annotated[Optional[float], typer.Option(help="Score characters the model never saw at this probability instead of failing.")] = None,
    plugins_dir: PluginsDir = None,
) -> None:
    """Per-name log-likelihood (nats, end token included), NLL per character and perplexity, as TSV."""
    import math

    model = _load(run, plugins_dir)
    scores = model.log_likelihood(names, unseen_floor)  # before any output: a bad name prints only the error
    print("name\tlog_likelihood\tnll_per_char\tperplexity")
    for name, ll in zip(names, scores):
        nll = -ll / (len(name) + 1)
        print(f"{name}\t{ll:.4f}\t{nll:.4f}\t{math.exp(nll):.3f}")


@app.command("evaluate")
def evaluate_command(
    run: Run,
    data: Annotated[Optional[str], typer.Option(help="Score this name file instead of the run's own train/val/test splits.")] = None,
    lowercase: Annotated[bool, typer.Option("--lowercase", help="Lower-case the names of --data.")] = False,
    unseen_floor: Annotated[Optional[float], typer.Option(help="Probability for characters the model never saw.")] = None,
    plugins_dir: PluginsDir = None,
) -> None:
    """NLL per character and perplexity on each split of the run's data (or on --data), as TSV."""
    model = _load(run, plugins_dir)
    if data is not None:
        splits = {"data": datasets.read_names(data, lowercase)}
    else:
        info = model.training_
        if "data" not in info:
            raise NamegenError(f"{run} does not record its training data; pass --data")
        if datasets.fingerprint(info["data"]) != info["data_sha256"]:
            raise NamegenError(f"{info['data']} changed since {run} was fitted; pass --data to score it anyway")
        names = datasets.read_names(info["data"], info["lowercase"])
        if "val_data" in info:
            splits = {"train": names, "val": datasets.read_names(info["val_data"], info["lowercase"])}
        else:
            split = datasets.split_names(names, info["split_seed"])
            splits = {"train": split.train, "val": split.val, "test": split.test}
    scores = {split_name: model.score(names, unseen_floor) for split_name, names in splits.items() if names}
    print("split\tnames\tnll_per_char\tperplexity")
    for split_name, score in scores.items():
        print(f"{split_name}\t{score.names}\t{score.nll:.4f}\t{score.perplexity:.3f}")


@export_app.command("onnx")
def export_onnx_command(
    run: Run,
    out: Annotated[Optional[Path], typer.Option(help="Sampler file to write; the scorer goes beside it as NAME.scorer.onnx. [default: exports/RUN.onnx]", show_default=False)] = None,
    plugins_dir: PluginsDir = None,
) -> None:
    """Export a run to ONNX: a self-contained sampler, and a scorer beside it."""
    from .exports.onnx import export

    model = _load(run, plugins_dir)
    out = out or Path("exports") / f"{run.resolve().name}.onnx"
    report = export(model, out)
    for path in report:
        log(f"wrote {path}")
    print(out)


def main() -> None:
    # Usage errors (a missing argument, a bad number) are typer's own: exit code 2 with an
    # "Error: ..." line. Errors in what the arguments name are NamegenError: one line, exit 2.
    try:
        app()
    except NamegenError as err:
        log(f"error: {err}")
        sys.exit(2)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
