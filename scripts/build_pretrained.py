"""Rebuild the pre-built models that ship in the wheel (namegen/pretrained/) and in the npm
package (js/models/): each plugin fitted with its defaults on the bundled data, exported with
namegen's full validation, and described in manifest.json.

    python scripts/build_pretrained.py                    # transformer and ngram: fit, export, write both copies
    python scripts/build_pretrained.py ngram              # only these plugins; the others' entries stay
    python scripts/build_pretrained.py --runs zoo/runs    # reuse fitted run folders (RUNS/PLUGIN) instead of fitting
    python scripts/build_pretrained.py --copy-js          # only copy namegen/pretrained/ to js/models/
    python scripts/build_pretrained.py transformer -P steps=20 --out /tmp/p --js-out /tmp/j   # a smoke run

Reproducible: the split is the 80/10/10 of seed 42 that `namegen fit` makes, each plugin's own
seed initialises it, torch's global generator (dropout's) is seeded before each fit, and torch
runs on a fixed number of threads (--threads, recorded), since the order of a sum across
threads changes the weights' last bits. The manifest records the weights' sha256, so a rerun
shows whether it reached the same model (on the same code: a change to a plugin or to the
storage changes it). The export's id is fresh each time, so the ONNX files themselves differ
from build to build.

namegen/pretrained/ is the one source: the npm copies are written from its files, byte for
byte (a test checks that). Every file is written atomically (a temporary name, then a rename),
the manifest last, so a build killed midway leaves the previous manifest, which the runtime
then refuses to pair with a new file (it checks the export id) until the build is rerun.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's namegen, whatever is installed

from namegen import __version__, runtime  # noqa: E402
from namegen import data as datasets  # noqa: E402
from namegen.checkpoint import folder_lock, remove_stale_temporaries, write_atomic  # noqa: E402
from namegen.errors import NamegenError, NamegenWarning  # noqa: E402

DEFAULT_PLUGINS = ("transformer", "ngram")
PYTHON_DIR = runtime.PRETRAINED_DIR
JS_DIR = ROOT / "js" / "models"
MANIFEST = runtime.PRETRAINED_MANIFEST
MANIFEST_FORMAT = "namegen-pretrained"
SPLIT_SEED = 42  # `namegen fit`'s default: the split the README's figures use
GLOBAL_SEED = 0  # torch's global generator before each fit (the plugin's own `seed` initialises and batches)
PROMISE = {"count": 10, "seed": 0, "temperature": 1.0}  # what the tests hold every runtime to
NOVELTY_COUNT, NOVELTY_SEED = 1000, 0  # as the zoo's novel and distinct columns
SHIPPED = ("*.onnx", MANIFEST)  # what the folders hold, and what --copy-js mirrors


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise NamegenError(f"--param takes KEY=VALUE, got {pair!r}")
        params[key.strip()] = value.strip()
    return params


def fit(plugin: str, split: datasets.Split, params: dict, save_to: Path):
    """Fit `plugin` as `namegen fit --plugin PLUGIN` does on the bundled data (same split, same
    known names, same recorded provenance), and save the run."""
    import torch

    import namegen

    model = namegen.create(plugin, **params)
    log(f"{plugin}: fitting on {len(split.train):,} names (val {len(split.val):,})")
    # Dropout draws from torch's global generator, which fit leaves as it finds it: seeded here,
    # two builds draw the same masks (measured: unseeded, two fits of one process differ).
    torch.manual_seed(GLOBAL_SEED)
    model.fit(split.train, split.val, progress=True, known_names=split.test)  # as `namegen fit`: novel never gives a name of the data
    model.training_.update({"data": datasets.BUNDLED, "data_sha256": datasets.fingerprint(datasets.BUNDLED),
                            "split_seed": SPLIT_SEED, "lowercase": False})
    model.save(save_to, force=True)
    return model


def reuse(plugin: str, run: Path):
    """A run folder fitted on the bundled data, as it is now, with `namegen fit`'s split."""
    import namegen

    model = namegen.load(run)
    info = model.training_
    if model.plugin_name != plugin:
        raise NamegenError(f"{run} holds a {model.plugin_name!r} model, not {plugin!r}")
    if info.get("data") != datasets.BUNDLED or info.get("data_sha256") != datasets.fingerprint(datasets.BUNDLED) \
            or "val_data" in info or info.get("lowercase") or info.get("split_seed") != SPLIT_SEED:
        raise NamegenError(f"{run} was not fitted on the bundled data as it is now, split with seed {SPLIT_SEED} "
                           "(`namegen fit --plugin PLUGIN` fits one that is)")
    return model


def build(plugin: str, model, split: datasets.Split, how: dict) -> tuple[bytes, bytes, dict]:
    """The model's sampler and scorer (exported with full validation) and its manifest entry;
    `how` says how it was fitted (torch threads and seed, or the run it was reused from)."""
    import namegen
    from namegen.exports.onnx import export

    test = model.scorable(split.test)[0]
    with tempfile.TemporaryDirectory() as tmp:
        log(f"{plugin}: exporting and validating")
        exported = export(model, Path(tmp) / f"{plugin}.onnx", names=test)
        sampler, scorer = exported.sampler.read_bytes(), exported.scorer.read_bytes()
        served = runtime.load(exported.sampler)
        promised = served.sample(PROMISE["count"], seed=PROMISE["seed"], temperature=PROMISE["temperature"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NamegenWarning)
            drawn = served.sample(NOVELTY_COUNT, seed=NOVELTY_SEED)
    if promised != model.sample(PROMISE["count"], seed=PROMISE["seed"], temperature=PROMISE["temperature"]):
        raise NamegenError(f"{plugin}: the export's names differ from the model's")  # validation checks this; never trust one check
    meta = served.metadata
    test_score = model.score(test)
    training = set(split.train)
    info = model.training_
    entry = {
        "plugin": plugin,
        "hyperparams": model.hyperparams,
        "defaults": model.hyperparams == namegen.create(plugin).hyperparams,  # False: a smoke run's, never shipped
        "sampler": f"{plugin}.onnx", "scorer": f"{plugin}{runtime.SCORER_SUFFIX}",
        "sampler_bytes": len(sampler), "scorer_bytes": len(scorer),
        "sampler_sha256": sha256(sampler), "scorer_sha256": sha256(scorer),
        "export_id": meta["export_id"],
        "namegen_format": meta["namegen_format"],
        "sampling_rule_version": int(meta["sampling_rule_version"]),
        "validation": json.loads(meta["validation"]),
        "known_names": served.known_names,  # the data's names, carried for novel
        "vocab": "".join(served.vocab.chars), "max_len": served.max_len,
        "data": {"file": f"namegen/datasets/{datasets.BUNDLED_FILE}", "sha256": datasets.fingerprint(datasets.BUNDLED),
                 "names": len(split.train) + len(split.val) + len(split.test), "lowercase": False},
        "split": {"seed": SPLIT_SEED, "train": len(split.train), "val": len(split.val), "test": len(split.test),
                  "test_excluded": len(split.test) - len(test)},
        "weights_sha256": model.weights_sha256_,
        "fit": {**how, "seconds": info.get("fit_seconds"), "steps": info.get("steps"), "stopped": info.get("stopped"),
                "namegen_version": __version__, "torch_version": torch_version()},
        "parameters": sum(tensor.numel() for tensor in model.network_.state_dict().values()),
        "train_nll": round(info["train_nll"], 6), "val_nll": round(info["val_nll"], 6),
        "test_nll": round(test_score.nll, 6), "test_perplexity": round(test_score.perplexity, 4),
        "novel": sum(name not in training for name in drawn) / len(drawn),
        "distinct": len(set(drawn)) / len(drawn),
        "promise": {**PROMISE, "names": promised},
    }
    return sampler, scorer, entry


def torch_version() -> str:
    import torch

    return torch.__version__


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.is_file():
        return {"format": MANIFEST_FORMAT, "models": {}}
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != MANIFEST_FORMAT:
        raise NamegenError(f"{path} is not a pre-built models' manifest")
    return manifest


def manifest_bytes(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode()


def write_model(folder: Path, sampler: bytes, scorer: bytes, entry: dict) -> None:
    """The scorer, the sampler, then the manifest with this entry (the others kept), each atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    with folder_lock(folder):
        remove_stale_temporaries(folder, [*SHIPPED])
        write_atomic(folder / entry["scorer"], scorer)
        write_atomic(folder / entry["sampler"], sampler)
        models = {**read_manifest(folder)["models"], entry["plugin"]: entry}
        manifest = {"format": MANIFEST_FORMAT, "namegen_version": __version__, "models": dict(sorted(models.items()))}
        write_atomic(folder / MANIFEST, manifest_bytes(manifest))


def shipped_files(folder: Path) -> dict[str, Path]:
    return {path.name: path for pattern in SHIPPED for path in sorted(folder.glob(pattern)) if path.is_file()}


def copy_js(source: Path, target: Path) -> list[str]:
    """Make `target` hold exactly `source`'s shipped files, byte for byte: the models first, the
    manifest last, then whatever the source no longer has is removed. Returns what changed."""
    files = shipped_files(source)
    if MANIFEST not in files:
        raise NamegenError(f"{source} holds no {MANIFEST}: build the models first")
    target.mkdir(parents=True, exist_ok=True)
    changed = []
    with folder_lock(target):
        remove_stale_temporaries(target, [*SHIPPED])
        for name in sorted(files, key=lambda name: name == MANIFEST):
            data = files[name].read_bytes()
            if not (target / name).is_file() or (target / name).read_bytes() != data:
                write_atomic(target / name, data)
                changed.append(name)
        for name, path in shipped_files(target).items():
            if name not in files:
                path.unlink()
                changed.append(f"{name} (removed)")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("plugins", nargs="*", metavar="PLUGIN", help=f"plugins to build (default: {' '.join(DEFAULT_PLUGINS)})")
    parser.add_argument("--runs", type=Path, help="reuse RUNS/PLUGIN, run folders `namegen fit` fitted on the bundled data, instead of fitting")
    parser.add_argument("--save-runs", type=Path, help="keep the runs fitted here as SAVE_RUNS/PLUGIN (for a later --runs); default: discarded")
    parser.add_argument("-P", "--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a hyper-parameter for every plugin fitted (for smoke runs: the shipped models use the defaults)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads while fitting and exporting (default 2); recorded in the manifest")
    parser.add_argument("--out", type=Path, default=PYTHON_DIR, help=f"folder of the Python copy (default {PYTHON_DIR.relative_to(ROOT)})")
    parser.add_argument("--js-out", type=Path, default=JS_DIR, help=f"folder of the npm copy (default {JS_DIR.relative_to(ROOT)})")
    parser.add_argument("--no-js", action="store_true", help="write the Python copy only")
    parser.add_argument("--copy-js", action="store_true", help="fit nothing: only copy --out's files to --js-out")
    args = parser.parse_args(argv)
    try:
        if not args.copy_js:
            build_all(args)
        if not args.no_js:
            changed = copy_js(args.out, args.js_out)
            log(f"{args.js_out}: " + (", ".join(changed) if changed else "already identical to " + str(args.out)))
    except NamegenError as err:
        log(f"error: {err}")
        return 2
    return 0


def build_all(args) -> None:
    import torch

    from namegen import registry

    plugins = args.plugins or list(DEFAULT_PLUGINS)
    params = parse_params(args.param)
    if args.runs is not None and params:
        raise NamegenError("--param applies to fits; --runs reuses fitted runs as they are")
    for plugin in plugins:
        registry.create(plugin, **params)  # every name and hyper-parameter checked before the first fit
    if args.threads < 1:
        raise NamegenError(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    split = datasets.split_names(datasets.read_names(datasets.BUNDLED), SPLIT_SEED)
    with tempfile.TemporaryDirectory() as scratch:
        for plugin in plugins:
            started = time.monotonic()
            if args.runs is not None:
                model = reuse(plugin, args.runs / plugin)
                how = {"reused_run": True}  # how it was fitted (threads, dropout seed) is not recorded in a run
            else:
                model = fit(plugin, split, params, (args.save_runs or Path(scratch)) / plugin)
                how = {"torch_threads": args.threads, "torch_seed": GLOBAL_SEED}
            sampler, scorer, entry = build(plugin, model, split, how)
            write_model(args.out, sampler, scorer, entry)
            log(f"{plugin}: test NLL {entry['test_nll']:.4f}, sampler {len(sampler) / 1024:,.1f} KB, scorer {len(scorer) / 1024:,.1f} KB, "
                f"weights {entry['weights_sha256'][:12]}, {time.monotonic() - started:.1f} s; seed 0 draws {' '.join(entry['promise']['names'])}")


if __name__ == "__main__":
    sys.exit(main())
