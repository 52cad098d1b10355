"""Checkpoints: a run folder holds `config.json` and the weights it names, `weights-<sha>.safetensors`.

torch and safetensors are imported by save and load only: reading a config, the file helpers
and the locks serve the torch-free paths of the CLI. No pickle: tensors go through safetensors, everything else is JSON. A save is atomic: the
weights go to a new, content-named file first, and config.json, replaced last by a rename, is
the single switch from the old model to the new; an interrupted save leaves the old model whole.
config.json records the sha256 of the weights, so a truncated or altered file is caught at load.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from . import __version__, registry
from .errors import NamegenError
from .sampling import MAX_LEN
from .vocab import Vocab

FORMAT = "namegen-run"
FORMAT_VERSION = 2  # 2: TrainConfig.ngram_mix (a run of format 1 mixes no n-gram in)
CONFIG = "config.json"
TRAINING_NAMES = "namegen.training_names"  # a uint8 tensor in the weights file: the training names, UTF-8, one per line
TMP_SUFFIX = ".tmp"
WEIGHTS_NAME = re.compile(r"weights-[0-9a-f]{16}\.safetensors")  # a plain name: a config cannot point outside its folder


def os_error(action: str, path: Path | str, err: OSError) -> NamegenError:
    """An operating-system failure as the one-line error users see (`cannot write X: Read-only file system`)."""
    return NamegenError(f"cannot {action} {str(path)!r}: {err.strerror or err}")


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it into place. On any failure
    (a full disk, a read-only folder) the temporary file is removed and `path` is untouched."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise NamegenError(f"cannot write {str(path)!r}: it is a folder")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as err:
        raise os_error("write", path, err) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            Path(tmp).unlink(missing_ok=True)


def remove_stale_temporaries(folder: Path, patterns: list[str]) -> None:
    """Remove what write_atomic left behind, for files matching the glob `patterns`, when a
    process was killed mid-write. Call only under `folder_lock`: no other writer is using them."""
    for pattern in patterns:
        for stale in folder.glob(f".{pattern}.*{TMP_SUFFIX}"):
            stale.unlink(missing_ok=True)


@contextlib.contextmanager
def folder_lock(folder: Path, exclusive: bool = True):
    """An advisory lock on `folder` itself (flock on its descriptor: no lock file to leave behind).
    Saves take it exclusively, loads shared, so a load never reads a config whose weights a
    concurrent save is removing, and two saves into one folder run one after the other."""
    if fcntl is None:  # not POSIX: saves are still atomic, only not serialised
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as err:
        raise os_error("open", folder, err) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def is_run_folder(folder: Path) -> bool:
    """Whether `folder` holds a namegen run: a config.json in namegen's format."""
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(config, dict) and config.get("format") == FORMAT


def check_writable_run_folder(folder: Path, force: bool = False) -> None:
    """A save may go to a new or empty folder, or replace a namegen run; anything else is
    somebody else's folder, and saving would replace its config.json. `force` allows it."""
    if folder.exists() and not folder.is_dir():
        raise NamegenError(f"{str(folder)!r} is a file, not a run folder; give a folder path")
    try:
        foreign = folder.is_dir() and any(folder.iterdir()) and not is_run_folder(folder)
    except OSError as err:
        raise os_error("read", folder, err) from None
    if foreign and not force:
        raise NamegenError(f"{str(folder)!r} is not empty and holds no namegen run (no namegen {CONFIG}); "
                           "choose a new folder, or pass --force (force=True) to write into it")
    # A probe file where the folder is (or would be created) finds a read-only file system, an
    # immutable folder or a missing permission now, before a fit spends minutes training.
    existing = next((p for p in (folder, *folder.absolute().parents) if p.is_dir()), None)
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".namegen-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise os_error("write into", folder, err) from None


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
    network = model._fitted()
    check_writable_run_folder(folder, force)
    tensors = {k: v.detach().contiguous() for k, v in network.state_dict().items()}
    if model.training_names_ is not None:  # kept beside the weights (one file, one hash) for novel=True
        tensors[TRAINING_NAMES] = torch.frombuffer(bytearray("\n".join(model.training_names_).encode()), dtype=torch.uint8)
    weights = save_tensors(tensors)
    digest = hashlib.sha256(weights).hexdigest()
    weights_name = f"weights-{digest[:16]}.safetensors"
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "namegen_version": __version__,
        "plugin": model.plugin_name,
        "hyperparams": model.hyperparams,
        "vocab": "".join(model.vocab_.chars),
        "block_size": network.block_size,
        "max_len": model.max_len_,
        "training": model.training_,
        "weights": weights_name,
        "weights_sha256": digest,
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise os_error("create", folder, err) from None
    with folder_lock(folder):
        check_writable_run_folder(folder, force)  # again, now that no other save can be mid-way
        ours = is_run_folder(folder)  # then every weights-*.safetensors and temporary in it is namegen's
        if ours:
            remove_stale_temporaries(folder, [CONFIG, "weights-*"])
        write_atomic(folder / weights_name, weights)
        write_atomic(folder / CONFIG, (json.dumps(config, indent=2) + "\n").encode())
        if ours:  # the previous model's weights, and any that a killed save left unnamed
            for old in folder.glob("weights-*.safetensors"):
                if WEIGHTS_NAME.fullmatch(old.name) and old.name != weights_name:
                    old.unlink(missing_ok=True)
    return folder


def read_config(folder: str | Path) -> dict:
    folder = Path(folder)
    if not folder.exists():
        raise NamegenError(f"run folder {str(folder)!r} does not exist; fit a model first (namegen fit)")
    if not (folder / CONFIG).is_file():
        raise NamegenError(f"{str(folder)!r} holds no namegen model (no {CONFIG}); give a folder written by namegen fit")
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except OSError as err:
        raise os_error("read", folder / CONFIG, err) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NamegenError(f"{folder / CONFIG} is damaged (not valid JSON: {err}); refit or restore the run") from None
    missing = [k for k in ("format", "plugin", "hyperparams", "vocab", "max_len", "weights", "weights_sha256") if k not in config] \
        if isinstance(config, dict) else ["all"]
    if missing or config.get("format") != FORMAT:
        raise NamegenError(f"{folder / CONFIG} is not a namegen run config (missing: {', '.join(missing) or 'format'})")
    version = config.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise NamegenError(f"{folder / CONFIG} is damaged: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise NamegenError(f"{folder} was written by a newer namegen (format {config['format_version']}); upgrade namegen")
    problem = _config_problem(config)
    if problem:
        raise NamegenError(f"{folder / CONFIG} is damaged: {problem}; refit or restore the run")
    return config


def _config_problem(config: dict) -> str | None:
    """What is wrong with the fields of a (hand-edited) config, or None."""
    max_len = config["max_len"]
    if not isinstance(config["plugin"], str):
        return f"plugin must be a string, got {config['plugin']!r}"
    if not isinstance(config["hyperparams"], dict):
        return f"hyperparams must be an object, got {config['hyperparams']!r}"
    if not isinstance(config["vocab"], str):
        return f"vocab must be a string, got {config['vocab']!r}"
    if not isinstance(max_len, int) or isinstance(max_len, bool) or not 1 <= max_len <= MAX_LEN:
        return f"max_len must be an integer from 1 to {MAX_LEN:,}, got {max_len!r}"
    if not isinstance(config["weights"], str) or not WEIGHTS_NAME.fullmatch(config["weights"]):
        return f"weights must name a weights-<hex>.safetensors file in the run folder, got {config['weights']!r}"
    if not isinstance(config["weights_sha256"], str) or not re.fullmatch(r"[0-9a-f]{64}", config["weights_sha256"]):
        return f"weights_sha256 must be 64 hex digits, got {config['weights_sha256']!r}"
    if not isinstance(config.get("training", {}), dict):
        return f"training must be an object, got {config['training']!r}"
    return None


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
    cls = registry.get(config["plugin"])
    hyperparams = dict(config["hyperparams"])
    if config.get("format_version", 0) < 2 and "ngram_mix" in getattr(cls.Config, "__dataclass_fields__", {}):
        hyperparams.setdefault("ngram_mix", 0)  # written before the mixture existed: the plugin's default now mixes one in
    try:
        model = cls(**hyperparams)
        model.vocab_ = Vocab(tuple(config["vocab"]))
    except NamegenError as err:
        raise NamegenError(f"{folder / CONFIG} is damaged: {err}; refit or restore the run") from None
    model.max_len_ = config["max_len"]
    model.training_ = config.get("training", {})
    names = tensors.pop(TRAINING_NAMES, None)
    if names is not None:
        try:
            model.training_names_ = tuple(bytes(names.numpy()).decode().split("\n")) if len(names) else ()
        except (UnicodeDecodeError, TypeError) as err:
            raise NamegenError(f"{weights_path} holds damaged training names ({err}); refit or restore the run") from None
    try:
        network = model.fitted_network(len(model.vocab_), model.max_len_)
        network.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        raise NamegenError(f"{weights_path} does not fit plugin {config['plugin']!r}: {str(err).splitlines()[0]}") from None
    model.network_ = network.eval()
    return model
