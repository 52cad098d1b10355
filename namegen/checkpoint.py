"""Checkpoints: a run folder holds `config.json` and the weights it names, `weights-<sha>.safetensors`.

No pickle: tensors go through safetensors, everything else is JSON. A save is atomic: the
weights go to a new, content-named file first, and config.json, replaced last by a rename, is
the single switch from the old model to the new; an interrupted save leaves the old model whole.
config.json records the sha256 of the weights, so a truncated or altered file is caught at load.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from . import __version__, registry
from .errors import NamegenError
from .vocab import Vocab

FORMAT = "namegen-run"
FORMAT_VERSION = 1
CONFIG = "config.json"


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(model, folder: str | Path) -> Path:
    folder = Path(folder)
    network = model._fitted()
    weights = save_tensors({k: v.detach().contiguous() for k, v in network.state_dict().items()})
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
    write_atomic(folder / weights_name, weights)
    write_atomic(folder / CONFIG, (json.dumps(config, indent=2) + "\n").encode())
    for old in folder.glob("weights-*.safetensors"):  # the previous model's weights, no longer named
        if old.name != weights_name:
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
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NamegenError(f"{folder / CONFIG} is damaged (not valid JSON: {err}); refit or restore the run") from None
    missing = [k for k in ("format", "plugin", "hyperparams", "vocab", "max_len", "weights", "weights_sha256") if k not in config] \
        if isinstance(config, dict) else ["all"]
    if missing or config.get("format") != FORMAT:
        raise NamegenError(f"{folder / CONFIG} is not a namegen run config (missing: {', '.join(missing) or 'format'})")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise NamegenError(f"{folder} was written by a newer namegen (format {config['format_version']}); upgrade namegen")
    return config


def load(folder: str | Path):
    """The model saved in `folder`; its plugin must be available (built in, installed or loaded)."""
    folder = Path(folder)
    config = read_config(folder)
    weights_path = folder / Path(config["weights"]).name
    if not weights_path.is_file():
        raise NamegenError(f"{folder} is missing its weights file {weights_path.name}; refit or restore the run")
    weights = weights_path.read_bytes()
    if hashlib.sha256(weights).hexdigest() != config["weights_sha256"]:
        raise NamegenError(f"{weights_path} is truncated or altered (its sha256 does not match {CONFIG}); refit or restore the run")
    try:
        tensors = load_tensors(weights)
    except SafetensorError as err:
        raise NamegenError(f"{weights_path} is not a valid safetensors file: {err}") from None
    cls = registry.get(config["plugin"])
    model = cls(**config["hyperparams"])
    model.vocab_ = Vocab(tuple(config["vocab"]))
    model.max_len_ = int(config["max_len"])
    model.training_ = config.get("training", {})
    network = model.build_network(len(model.vocab_), model.max_len_)
    try:
        network.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        raise NamegenError(f"{weights_path} does not fit plugin {config['plugin']!r}: {str(err).splitlines()[0]}") from None
    model.network_ = network.eval()
    return model
