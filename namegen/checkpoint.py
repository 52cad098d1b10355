"""Checkpoints: a run folder holds `config.json` and the weights it names, `weights-<sha>.safetensors`.

This module only serialises: the model gives its state (`NameModel.to_state`, `tensors`) and
takes it back (`from_state`, `load_tensors`); here it becomes JSON and safetensors, and back.
torch and safetensors are imported by save and load only: reading a config, and the file
helpers it re-exports from namegen.files, serve the torch-free paths of the CLI. No pickle:
tensors go through safetensors, everything else is JSON. A save is atomic: the
weights go to a new, content-named file first, and config.json, replaced last by a rename, is
the single switch from the old model to the new; an interrupted save leaves the old model whole.
config.json records the sha256 of the weights, so a truncated or altered file is caught at load.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from . import __version__, registry
from .errors import NamegenError

# Re-exported: callers import the file helpers from here too.
from .files import TMP_SUFFIX, check_file_target, folder_lock, os_error, probe_writable, remove_stale_temporaries, write_atomic  # noqa: F401
from .layout import HISTORY_COLUMNS, scorer_path
from .sampling import MAX_LEN
from .vocab import Vocab

FORMAT = "namegen-run"
# 2: TrainConfig.ngram_mix (a run of format 1 mixes no n-gram in); 3: n-grams stored compact
# (a run of format 2 holds their dense tables, float32, and loads with them); 4: the known names
# (every name of the data) under KNOWN_NAMES (a run of format 3 holds its training split under
# TRAINING_NAMES, which loads as its known names), and an n-gram's contexts and n-grams as packed
# keys (`key<k>`, `gram<k>`; format 3's parents, counts and tokens are turned into them at load)
FORMAT_VERSION = 4
CONFIG = "config.json"
KNOWN_NAMES = "namegen.known_names"  # a uint8 tensor in the weights file: the known names, UTF-8, one per line
TRAINING_NAMES = "namegen.training_names"  # what formats up to 3 wrote instead: the training names alone
WEIGHTS_NAME = re.compile(r"weights-[0-9a-f]{16}\.safetensors")  # a plain name: a config cannot point outside its folder


def is_run_folder(folder: Path) -> bool:
    """Whether `folder` holds a namegen run: a config.json in namegen's format."""
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return False
    return isinstance(config, dict) and config.get("format") == FORMAT


# What a save killed before its first config.json leaves in a new folder (weights and the
# temporaries of write_atomic), and the write probe of check_writable_run_folder. Nothing else:
# a config.json that is not a run's, or a model.onnx, may be somebody else's.
LEFTOVER = re.compile(r"weights-[0-9a-f]{16}\.safetensors|\.(config\.json|weights-[0-9a-f]{16}\.safetensors)\..+\.tmp|\.namegen-probe-.+")


def holds_only_namegen_files(folder: Path) -> bool:
    """Whether every entry of `folder` is a regular file that namegen left there (LEFTOVER)."""
    return all(LEFTOVER.fullmatch(entry.name) and entry.is_file(follow_symlinks=False) for entry in os.scandir(folder))


def check_writable_run_folder(folder: Path, force: bool = False) -> None:
    """A save may go to a new or empty folder, replace a namegen run, or finish one that a killed
    save left without its config; anything else is somebody else's folder, and saving would
    replace its config.json. `force` allows it (and then removes nothing in it)."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.absolute().parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        where = "it is a file" if existing == folder else f"{str(existing)!r} is a file"
        raise NamegenError(f"cannot use {str(folder)!r} as a run folder: {where}, not a folder; give a folder path")
    try:
        foreign = folder.is_dir() and not is_run_folder(folder) and not holds_only_namegen_files(folder)
    except OSError as err:
        raise os_error("read", folder, err) from None
    if foreign and not force:
        raise NamegenError(f"{str(folder)!r} is not empty and holds no namegen run (no namegen {CONFIG}); "
                           "choose a new folder, or pass --force (force=True) to write into it")
    probe_writable(existing, "write into", folder)  # where the folder is, or would be created


def strict_json(value, what: str) -> str:
    """`value` as indented JSON; Infinity and NaN are not JSON, so one is a NamegenError naming its field."""
    try:
        return json.dumps(value, indent=2, allow_nan=False) + "\n"
    except ValueError:
        def bad(item, path):
            if isinstance(item, float) and item != item or item in (float("inf"), float("-inf")):
                return path
            children = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, (list, tuple)) else ()
            return next((found for key, child in children if (found := bad(child, f"{path}.{key}" if path else str(key)))), None)

        raise NamegenError(f"cannot write {what}: {bad(value, '') or 'a value'} is not a finite number; nothing was saved") from None


def save(model, folder: str | Path, force: bool = False) -> Path:
    """Save `model` into the run folder `folder` (created if need be).

    Safe against interruption and against other saves: the weights go to a new content-named
    file, config.json (replaced last, by a rename) switches to them, and only then are the
    previous weights removed, all under an exclusive lock on the folder. Only files in namegen's
    own names in a folder that already was a namegen run are ever removed (old weights, and the
    temporaries of a killed save). A non-empty folder that is no namegen run is refused unless
    `force`; then nothing in it is removed."""
    import torch
    from safetensors.torch import save as save_tensors

    folder = Path(folder)
    state = model.to_state()  # an unfitted model is refused here, before anything is checked or written
    check_writable_run_folder(folder, force)
    tensors = model.tensors()
    names = state["known_names"]
    if names is not None:  # kept beside the weights (one file, one hash) for novel=True
        tensors[KNOWN_NAMES] = torch.frombuffer(bytearray("\n".join(names).encode()), dtype=torch.uint8)
    weights = save_tensors(tensors)
    digest = hashlib.sha256(weights).hexdigest()
    weights_name = f"weights-{digest[:16]}.safetensors"
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "namegen_version": __version__,
        **{key: state[key] for key in ("plugin", "hyperparams", "vocab", "block_size", "max_len", "training")},
        "weights": weights_name,
        "weights_sha256": digest,
    }
    text = strict_json(config, "config.json")  # before anything is written: a refusal leaves no weights behind
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise os_error("create", folder, err) from None
    with folder_lock(folder):
        check_writable_run_folder(folder, force)  # again, now that no other save can be mid-way
        # Then every weights-*.safetensors and temporary in it is namegen's (a run, or what a
        # save killed before its first config.json left behind).
        ours = is_run_folder(folder) or holds_only_namegen_files(folder)
        if ours:
            remove_stale_temporaries(folder, [CONFIG, "weights-*"])
        write_atomic(folder / weights_name, weights)
        write_atomic(folder / CONFIG, text.encode())
        if ours:  # the previous model's weights, and any that a killed save left unnamed
            for old in folder.glob("weights-*.safetensors"):
                if WEIGHTS_NAME.fullmatch(old.name) and old.name != weights_name:
                    old.unlink(missing_ok=True)
    model.weights_sha256_ = digest  # what the CLI tags the export it keeps in the run with
    return folder


# A run's kept export (see `keep_export`): its two files, and the sha256 of each and of the
# config it was kept with, recorded in config.json under KEPT_EXPORT.
KEPT_SAMPLER, KEPT_EXPORT = "model.onnx", "kept_export"
KEPT_SCORER = scorer_path(KEPT_SAMPLER).name
KEPT_FIELDS = ("sampler_sha256", "scorer_sha256", "config_sha256")
SHA256 = re.compile(r"[0-9a-f]{64}")


def read_config(folder: str | Path) -> dict:
    """The config.json of the run in `folder`, every field checked (`_config_problem`): what
    `load` and the CLI's torch-free path both read, so they accept and refuse the same runs."""
    folder = Path(folder)
    if not folder.exists():
        raise NamegenError(f"run folder {str(folder)!r} does not exist; fit a model first (namegen fit)")
    if not (folder / CONFIG).is_file():
        raise NamegenError(f"{str(folder)!r} holds no namegen model (no {CONFIG}); give a folder written by namegen fit")
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except OSError as err:
        raise os_error("read", folder / CONFIG, err) from None
    except (UnicodeDecodeError, ValueError) as err:  # JSONDecodeError is a ValueError
        raise NamegenError(f"{folder / CONFIG} is damaged (not valid JSON: {err}); refit or restore the run") from None
    except RecursionError:  # nested deeper than the parser's recursion limit
        raise NamegenError(f"{folder / CONFIG} is damaged (not a namegen config: nested too deeply); refit or restore the run") from None
    required = ("format", "format_version", "plugin", "hyperparams", "vocab", "block_size", "max_len", "weights", "weights_sha256")
    missing = [k for k in required if k not in config] if isinstance(config, dict) else ["all"]
    if missing or config.get("format") != FORMAT:
        raise NamegenError(f"{folder / CONFIG} is not a namegen run config (missing: {', '.join(missing) or 'format'}); "
                           "give a folder written by namegen fit")
    version = config["format_version"]
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise NamegenError(f"{folder} was written by a newer namegen (format {version}); upgrade namegen")
    problem = _config_problem(config)
    if problem:
        raise NamegenError(f"{folder / CONFIG} is damaged: {problem}; refit or restore the run")
    return config


def _is_int(value, low: int, high: float = float("inf")) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _config_problem(config: dict) -> str | None:
    """What is wrong with the fields of a (hand-edited) config, or None. Torch-free: whether the
    plugin exists and takes these hyper-parameters, and whether the weights fit them, is for
    `load` (the CLI's torch-free path answers only for the very config its export was kept with)."""
    from .data import name_problem

    if not _is_int(config["format_version"], 1, FORMAT_VERSION):  # every namegen wrote one, from 1
        return f"format_version must be an integer from 1 to {FORMAT_VERSION}, got {config['format_version']!r}"
    if not isinstance(config["plugin"], str) or not config["plugin"]:
        return f"plugin must be a string, a plugin's name, got {config['plugin']!r}"
    if not isinstance(config["hyperparams"], dict):
        return f"hyperparams must be an object, got {config['hyperparams']!r}"
    vocab = config["vocab"]
    if not isinstance(vocab, str):
        return f"vocab must be a string, got {vocab!r}"
    try:
        Vocab(tuple(vocab))
    except NamegenError as err:
        return f"vocab {vocab[:40]!r}: {err}"
    if len(vocab) < 2 or name_problem(vocab[1:]):
        return f"vocab must hold the boundary token, then the characters of the names, got {vocab[:40]!r}"
    if not _is_int(config["block_size"], 1):
        return f"block_size must be an integer of at least 1, got {config['block_size']!r}"
    if not _is_int(config["max_len"], 1, MAX_LEN):
        return f"max_len must be an integer from 1 to {MAX_LEN:,}, got {config['max_len']!r}"
    if not isinstance(config["weights"], str) or not WEIGHTS_NAME.fullmatch(config["weights"]):
        return f"weights must name a weights-<hex>.safetensors file in the run folder, got {config['weights']!r}"
    if not isinstance(config["weights_sha256"], str) or not SHA256.fullmatch(config["weights_sha256"]):
        return f"weights_sha256 must be 64 hex digits, got {config['weights_sha256']!r}"
    kept = config.get(KEPT_EXPORT, {})
    if not isinstance(kept, dict) or set(kept) - set(KEPT_FIELDS) or not all(isinstance(kept.get(k), str) and SHA256.fullmatch(kept[k])
                                                                          for k in KEPT_FIELDS if kept):
        return f"{KEPT_EXPORT} must be an object of {', '.join(KEPT_FIELDS)}, 64 hex digits each"
    training = config.get("training", {})
    if not isinstance(training, dict):
        return f"training must be an object, got {training!r}"
    return _training_problem(training)


def _training_problem(training: dict) -> str | None:
    """What is wrong with the training fields that `evaluate` and `plot curves` read, or None."""
    for key, kind, what in (("data", str, "a path"), ("val_data", str, "a path"), ("data_sha256", str, "a sha256"),
                            ("val_data_sha256", str, "a sha256"), ("lowercase", bool, "true or false")):
        if key in training and not isinstance(training[key], kind):
            return f"training.{key} must be {what}, got {training[key]!r}"
    if "split_seed" in training and not _is_int(training["split_seed"], -(2**63), 2**63 - 1):
        return f"training.split_seed must be an integer, got {training['split_seed']!r}"
    if "history" not in training:
        return None
    history = training["history"]
    nullable = ("train_nll", "val_nll")  # None: no finite NLL at that evaluation
    if (not isinstance(history, dict) or not all(isinstance(history.get(c), list) for c in HISTORY_COLUMNS)
            or len({len(history[c]) for c in HISTORY_COLUMNS}) != 1
            or not all(_is_number(v) or (v is None and c in nullable) for c in HISTORY_COLUMNS for v in history[c])):
        return f"training.history must be an object of equal-length lists of numbers: {', '.join(HISTORY_COLUMNS)}"
    return None


def config_digest(config: dict) -> str:
    """The sha256 of everything in `config` but its kept-export record: what that record binds
    the kept export to, so that any edit of config.json since sends the CLI back to torch."""
    body = {k: v for k, v in config.items() if k != KEPT_EXPORT}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def keep_export(folder: str | Path, weights_sha256: str, sampler: bytes, scorer: bytes) -> bool:
    """Keep an export (`sampler`, `scorer` bytes, validated already) in the run `folder`, for
    the CLI's torch-free path, if config.json still names the weights it was made from
    (`weights_sha256`): another save may have replaced them while it was built. Under the run's
    exclusive lock: the two files, then config.json recording their sha256 and its own, each
    atomically; config.json switches last, so a kill mid-way leaves no record that matches.
    Returns whether it was kept."""
    import glob

    folder = Path(folder)
    with folder_lock(folder):
        config = read_config(folder)
        if config["weights_sha256"] != weights_sha256:
            return False
        remove_stale_temporaries(folder, [glob.escape(KEPT_SAMPLER), glob.escape(KEPT_SCORER)])
        write_atomic(folder / KEPT_SCORER, scorer)
        write_atomic(folder / KEPT_SAMPLER, sampler)
        config.pop(KEPT_EXPORT, None)
        config[KEPT_EXPORT] = {"sampler_sha256": hashlib.sha256(sampler).hexdigest(), "scorer_sha256": hashlib.sha256(scorer).hexdigest(),
                               "config_sha256": config_digest(config)}
        write_atomic(folder / CONFIG, strict_json(config, CONFIG).encode())
    return True


def load(folder: str | Path):
    """The model saved in `folder`; its plugin must be available (built in, installed or loaded)."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_tensors

    folder = Path(folder)
    if not folder.is_dir():
        read_config(folder)  # says what is wrong: no such folder, or no model in it
    with folder_lock(folder, exclusive=False):  # no save may swap the weights between our two reads
        config = read_config(folder)
        weights_path = folder / config["weights"]
        if not weights_path.is_file():
            raise NamegenError(f"{folder} is missing its weights file {weights_path.name}; refit or restore the run")
        try:
            weights = weights_path.read_bytes()
        except OSError as err:
            raise os_error("read", weights_path, err) from None
    if hashlib.sha256(weights).hexdigest() != config["weights_sha256"]:
        raise NamegenError(f"{weights_path} is truncated or altered (its sha256 does not match {CONFIG}); refit or restore the run")
    try:
        tensors = load_tensors(weights)
    except SafetensorError as err:
        raise NamegenError(f"{weights_path} is not a valid safetensors file: {err}") from None
    try:
        cls = registry.get(config["plugin"])
    except NamegenError as err:
        raise NamegenError(f"{folder / CONFIG} names a plugin that is not available: {err} "
                           "(give the plugin's --plugins-dir, or refit)") from None
    hyperparams = dict(config["hyperparams"])
    if config["format_version"] < 2 and "ngram_mix" in getattr(cls.Config, "__dataclass_fields__", {}):
        hyperparams.setdefault("ngram_mix", 0)  # written before the mixture existed: the plugin's default now mixes one in
    if config["format_version"] < 3 and "bits" in getattr(cls.Config, "__dataclass_fields__", {}) and config["plugin"] == "ngram":
        hyperparams.setdefault("bits", 32)  # the dense tables of format 2: float32
    old = tensors.pop(TRAINING_NAMES, None)
    names = tensors.pop(KNOWN_NAMES, old)
    known = None
    if names is not None:
        try:
            known = tuple(bytes(names.numpy()).decode().split("\n")) if len(names) else ()
        except (UnicodeDecodeError, TypeError) as err:
            raise NamegenError(f"{weights_path} holds damaged known names ({err}); refit or restore the run") from None
    state = {"hyperparams": hyperparams, "vocab": config["vocab"], "max_len": config["max_len"],
             "training": config.get("training", {}), "known_names": known}
    try:
        model = cls.from_state(state)
    except NamegenError as err:
        raise NamegenError(f"{folder / CONFIG} is damaged: {err}; refit or restore the run") from None
    try:
        model.load_tensors(tensors)
    except RuntimeError as err:
        raise NamegenError(f"{weights_path} does not fit plugin {config['plugin']!r}: {str(err).splitlines()[0]}") from None
    except NamegenError as err:  # tables that fit any shape, but not the order the config asks for (mixture, ngram)
        raise NamegenError(f"{folder / CONFIG} contradicts its weights: {err}; restore config.json or refit the run") from None
    if model.block_size != config["block_size"]:
        raise NamegenError(f"{folder / CONFIG} contradicts its weights: block_size is {config['block_size']} but the network "
                           f"reads {model.block_size} characters; restore config.json or refit the run")
    model.weights_sha256_ = config["weights_sha256"]
    return model
