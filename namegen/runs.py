"""Runs: the folders `namegen fit` writes, and what the command line and the zoo do with them.

    from namegen import runs
    model = runs.fit("linear", "names.txt", Path("runs/linear"))  # split, fit, save, keep the export
    own, why = runs.kept_export(Path("runs/linear"))             # the kept export, torch-free
    runs.export(Path("runs/linear"), Path("exports/linear.onnx"))

A run records where its names came from (the data file's path and sha256, the split seed), so
that its splits can be rebuilt (`recorded_splits`) to score it again or to check an export on
names that played no part in training. `fit` also keeps a validated ONNX export in the run
(`model.onnx`, its scorer beside it), tagged with the weights it was made from; `kept_export`
hands it out only while it still answers for the run as it is, so `sample`, `score` and
`export onnx` can serve the run without importing torch.

Torch, onnxruntime and the exporter are imported by the functions that need them, not here:
importing this module costs what importing `namegen.cli` costs.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from . import data as datasets
from . import registry
from .errors import NamegenError

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    if sys.stderr is not None:  # print(file=None) would write to stdout
        print(message, file=sys.stderr, flush=True)


# A time limit bounds the whole fit: training stops this much before the deadline, leaving the
# time for what follows it (mixing in the n-gram, the train, val and test NLLs, the save, the kept
# export and its validation), which costs about the same whatever the limit. A share of the
# limit, so short limits still train.
TAIL_SHARE, TAIL_MAX = 0.25, 30.0


def training_seconds(limit: float, deadline: float) -> float:
    """What training gets of a `limit` (seconds) that ends at `deadline` (time.monotonic()):
    the time left, less the reserve for what follows training; at least a moment (one step)."""
    return max(1e-3, round(deadline - time.monotonic() - min(TAIL_SHARE * limit, TAIL_MAX), 3))


def load(run: Path, plugins_dir: Path | None = None):
    """The model saved in the run folder `run`, through torch; `plugins_dir`: a folder of extra
    plugins to load first (the run's plugin may be one of them)."""
    from .checkpoint import load as load_model

    if plugins_dir:
        registry.load_plugins_dir(plugins_dir)
    return load_model(run)


def fit(plugin: str, data: str | Path, out: Path, *, val_data: Path | None = None, seed: int = 42, lowercase: bool = False,
        params: dict | None = None, time_limit: float | None = None, started: float | None = None,
        force: bool = False, log: Log = _stderr):
    """Fit `plugin` (hyper-parameters `params`) on the names of `data` and save it as the run
    folder `out`, as `namegen fit` does; returns the fitted model.

    The names are split 80/10/10 with `seed`, or, given `val_data`, all of `data` trains and
    `val_data` validates (no test split). The run records its data (absolute path and sha256 of
    each file, split seed, `lowercase`) and its test NLL, keeps a validated ONNX export of itself
    (`keep_export`, checked on the test names), and refuses, before training, an `out` that
    `save` would refuse (`force`: write into a non-empty folder that holds no run).

    `time_limit` (seconds) bounds the whole fit, counted from `started` (time.monotonic(); now
    by default): a plugin trained by the shared gradient trainer (or linear) trains for its share
    (`training_seconds`) and the export is given up once the limit has passed; other plugins
    ignore it. A fit stopped by Ctrl-C saves its best model and keeps no export: the model's
    `training_["stopped"]` is then "interrupted". The progress bar goes to stderr; what the fit
    says (what it fits, warnings, notes) goes to `log`."""
    import warnings

    from .checkpoint import check_writable_run_folder
    from .errors import NamegenWarning

    started = time.monotonic() if started is None else started
    params = dict(params or {})
    deadline = None
    if time_limit is not None and hasattr(registry.get(plugin).Config, "time_limit"):  # a TrainConfig: the shared trainer's
        params["time_limit"] = time_limit  # checked here; set to training's share just before training
        deadline = started + time_limit
    model = registry.create(plugin, **params)
    check_writable_run_folder(out, force)  # before training: a fit must not end in a refusal to save
    names = datasets.read_names(data, lowercase)
    if val_data is not None:
        split = datasets.Split(names, datasets.read_names(val_data, lowercase), [])
    else:
        split = datasets.split_names(names, seed)
        if not split.train or not split.val:
            raise NamegenError(f"{data} has {len(names)} names: too few to split 80/10/10; give more, or --val-data")
    log(f"fitting {plugin!r} on {len(split.train)} names (val {len(split.val)}, test {len(split.test)}) from {data}")
    with warnings.catch_warnings():  # a warning before training (e.g. no ONNX export possible) shows as it comes
        warnings.simplefilter("always", NamegenWarning)
        warnings.showwarning = lambda message, *args, **kwargs: log(f"warning: {message}")
        if deadline is not None:  # the run records this share as its time_limit: what training had
            model.config.time_limit = training_seconds(time_limit, deadline)
        model.fit(split.train, split.val, progress=True, known_names=split.test)  # novel: no name of the data, test names too
    model.training_.update({  # absolute paths: `evaluate` may run from another folder
        "data": datasets.recorded_path(data), "data_sha256": datasets.fingerprint(data), "split_seed": seed, "lowercase": lowercase,
        **({"val_data": datasets.recorded_path(val_data), "val_data_sha256": datasets.fingerprint(val_data)} if val_data is not None else {}),
    })
    if split.test:
        score, excluded = score_split(model, "test", split.test, log)
        model.training_["test_nll"] = score.nll
        if excluded:
            model.training_["test_names_excluded"] = excluded
    model.save(out, force=force)
    if model.training_.get("stopped") != "interrupted":
        keep_export(model, out, split.test, deadline, log)
    return model


class KeptExport(NamedTuple):
    model: object  # a namegen.runtime.ExportedModel
    sampler: bytes
    scorer: bytes
    validation: object  # the namegen.exports.validate.Validation it passed when it was kept


def keep_export(model, run: Path, held_out: list[str], deadline: float | None = None, log: Log = _stderr) -> bool:
    """Export the run into its own folder, so that `sample`, `score` and `export onnx` can serve
    it through onnxruntime without importing torch. Built and validated (seconds, on fewer names
    than `export onnx` checks) outside the run's lock, tagged with the sha256 of the weights
    `model` was saved as; kept only if the run still holds those weights (another fit into the
    folder may have saved since). Given `deadline` (time.monotonic()), it is given up, with a
    note, once the deadline passes before it is done. Returns whether it was kept; every export
    not kept is said why in a note through `log` (the run works without one)."""
    from .checkpoint import KEPT_SAMPLER
    from .checkpoint import keep_export as keep_files
    from .exports.onnx import build
    from .exports.validate import KEPT, OutOfTime, check_deadline

    try:
        check_deadline(deadline, "the export was built")
        sampler, scorer, _ = build(model, run / KEPT_SAMPLER, names=held_out or None, metadata={"run_weights_sha256": model.weights_sha256_},
                                   checks=KEPT, deadline=deadline)
        kept = keep_files(run, model.weights_sha256_, sampler, scorer)
    except OutOfTime as err:  # a run without a kept export answers through torch
        log(f"note: no ONNX export kept in the run ({err}); sample and score will use torch "
            f"(`namegen export onnx {run}` keeps one)")
        return False
    except NamegenError as err:  # e.g. a third-party network the exporter cannot handle: the run works without it
        log(f"note: no ONNX export kept in the run ({err}); sample and score will use torch")
        return False
    if not kept:
        log("note: no ONNX export kept in the run: another save replaced its model meanwhile; sample and score will use torch")
    return kept


def kept_export(run: Path) -> tuple[KeptExport | None, str | None]:
    """The run's kept export, when it is the one kept for the run as it is now: config.json
    records the sha256 of both files and of itself as it was then. Else None and why not (None
    when the run simply has none: never kept, or saved again since); the caller then loads the
    run with torch, whose load also reports any problem of the weights. config.json is checked
    as `load` checks it (read_config), so a damaged one is the same error either way, and any
    edit since the export was kept sends the caller to torch, which reads every field. Torch-free."""
    from .checkpoint import CONFIG, KEPT_EXPORT, KEPT_SAMPLER, config_digest, folder_lock, read_config

    if not (run / KEPT_SAMPLER).is_file():
        return None, None
    from . import runtime
    from .exports.validate import Validation

    sampler_file, scorer_file = run / KEPT_SAMPLER, runtime.scorer_path(run / KEPT_SAMPLER)

    def sha256(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    with folder_lock(run, exclusive=False):  # no save or keep swaps the files between these reads
        config = read_config(run)
        record = config.get(KEPT_EXPORT)
        if not record:
            return None, None
        try:
            weights = (run / config["weights"]).read_bytes()
            sampler, scorer = sampler_file.read_bytes(), scorer_file.read_bytes()
        except OSError as err:
            return None, f"cannot read it ({err.strerror or err})"
    if sha256(weights) != config["weights_sha256"]:  # a damaged run is reported by torch's load, not hidden
        return None, None
    if sha256(sampler) != record["sampler_sha256"] or sha256(scorer) != record["scorer_sha256"]:
        return None, f"{sampler_file.name} or {scorer_file.name} changed since it was kept"
    if config_digest(config) != record["config_sha256"]:
        return None, f"{CONFIG} changed since the export was kept"
    try:
        exported = runtime.ExportedModel(sampler_file, sampler_bytes=sampler, scorer_bytes=scorer)
        meta = exported.metadata
        validation = Validation(**json.loads(meta["validation"]))
        agrees = (meta.get("run_weights_sha256") == config["weights_sha256"] and exported.vocab.chars == tuple(config["vocab"])
                  and exported.max_len == config["max_len"])
    except (NamegenError, KeyError, TypeError, ValueError, RecursionError):  # metadata a kept export never has
        agrees = False
    if not agrees:
        return None, f"its metadata disagrees with {CONFIG}"
    return KeptExport(exported, sampler, scorer, validation), None


def export(run: Path, out: Path, *, training_names: bool = True, plugins_dir: Path | None = None, log: Log = _stderr):
    """Write the run's ONNX export to `out` (the sampler) and its scorer beside it, as `namegen
    export onnx` does; returns the Validation it passed. The run's kept export, when it answers
    for the run, is copied (no torch). Else the run is loaded through torch and exported,
    validated on its held-out names; that export also replaces a kept export that could not
    answer (stale, altered, mixed). `training_names=False` keeps the known names out of the
    sampler: never the kept export, which carries them."""
    from .exports.files import check_export_path, write_export

    own, why = kept_export(run) if training_names else (None, None)
    if own is not None:  # `fit` exported and validated this very model: copy it
        write_export(out, own.sampler, own.scorer)
        return own.validation
    from . import runtime
    from .checkpoint import KEPT_SAMPLER
    from .checkpoint import keep_export as keep_files
    from .exports.onnx import build

    check_export_path(out)  # before the work
    model = load(run, plugins_dir)
    rekeep = training_names and ((run / KEPT_SAMPLER).exists() or runtime.scorer_path(run / KEPT_SAMPLER).exists())
    sampler, scorer, validation = build(model, out, names=held_out_names(model), training_names=training_names,
                                        metadata={"run_weights_sha256": model.weights_sha256_} if rekeep else None)
    write_export(out, sampler, scorer)
    if rekeep:
        try:
            kept = keep_files(run, model.weights_sha256_, sampler, scorer)
        except NamegenError as err:  # e.g. a read-only run: the export itself is written
            log(f"note: could not replace the ONNX export kept in {run} ({err})")
        else:
            log((f"kept this export in {run} too, for sample and score" + (f" (the one kept there could not answer: {why})" if why else ""))
                if kept else f"note: {run} was saved again meanwhile; its kept export is left as it was")
    return validation


def recorded_splits(run: Path, info: dict) -> dict[str, list[str]]:
    """The splits a run was fitted on (train, val and, without --val-data, test), rebuilt from its
    recorded data file(s) and split seed; `info` is the run's `training_` record."""
    if "data" not in info:
        raise NamegenError(f"{run} does not record its training data; pass --data")
    names = recorded_names(run, info, "data")
    if "val_data" in info:
        return {"train": names, "val": recorded_names(run, info, "val_data")}
    split = datasets.split_names(names, info["split_seed"])
    return {"train": split.train, "val": split.val, "test": split.test}


def recorded_names(run: Path, info: dict, key: str) -> list[str]:
    """The names of the data file a run recorded (`data` or `val_data`), checked against its sha256."""
    path, digest = info[key], info.get(f"{key}_sha256")
    if path != datasets.BUNDLED and not Path(path).is_file():
        raise NamegenError(f"{path}, the data {run} was fitted on, is gone; pass --data to score another file")
    if digest is not None and datasets.fingerprint(path) != digest:
        raise NamegenError(f"{path} changed since {run} was fitted; pass --data to score it anyway")
    return datasets.read_names(path, info.get("lowercase", False))


def held_out_names(model) -> list[str] | None:
    """The run's test names (or validation names), when its recorded data is still there and
    unchanged, else None: an export's scorer is checked on names that played no part in training."""
    info = model.training_
    try:
        names = recorded_names(Path("."), info, "val_data" if "val_data" in info else "data")
    except (NamegenError, KeyError):
        return None
    return names if "val_data" in info else datasets.split_names(names, info.get("split_seed", 42)).test


def score_split(model, split_name: str, names: list[str], log: Log = _stderr):
    """Score a held-out split: (its Score, how many names were left out). Names with a character
    the model never saw (one that occurs only in this split) cannot be scored: they are reported
    through `log` and left out, not fatal."""
    known, unknown = model.scorable(names)
    if unknown:
        unseen = sorted(set("".join(unknown)) - set(model.vocab_.chars))
        log(f"{split_name}: {len(unknown)} of {len(names)} names hold characters the model never saw "
            f"({''.join(unseen)!r}, e.g. {unknown[0]!r}); they are left out of the {split_name} NLL")
    if not known:
        raise NamegenError(f"no {split_name} name can be scored: every one holds a character the model never saw")
    return model.score(known), len(unknown)


def evaluate(model, splits: dict[str, list[str]], unseen_floor: float | None = None, log: Log = _stderr) -> dict:
    """The Score of each non-empty split (name: names), as `namegen evaluate` prints them. The
    test split is scored as `fit` scored it (`score_split`) unless `unseen_floor` gives the
    characters the model never saw a probability."""
    scores = {}
    for split_name, names in splits.items():
        if not names:
            continue
        if split_name == "test" and unseen_floor is None:  # as fit scored it: without names it cannot score
            scores[split_name] = score_split(model, split_name, names, log)[0]
        else:
            scores[split_name] = model.score(names, unseen_floor)
    return scores
