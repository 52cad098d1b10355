"""Fit a few models on namegen's bundled names and export them for the playground page.

    .venv/bin/python examples/web/build_models.py                  # all of MODELS, into examples/web/models/
    .venv/bin/python examples/web/build_models.py bigram ngram     # only these (a second each)

Each model is fitted on the bundled dataset's 80/10/10 split (seed 42, as `namegen fit`), exported
with `namegen.exports.onnx.export` to models/NAME.onnx (the sampler, which the page loads; the
scorer goes beside it as NAME.scorer.onnx) and listed in models/models.json, the manifest from
which the page fills its model picker:

    {"models": [{"name": "bigram", "label": "Bigram counts", "file": "bigram.onnx", "bytes": 6511,
                 "plugin": "counts", "hyperparams": {...}, "description": "...", "test_nll": 2.45,
                 "training_names": 25653}, ...]}

`file` is relative to the manifest. The page offers these beside the namegen package's pre-built
models and opens on the one with the lowest `test_nll` of them all. The manifest lists the
models of this run, in the order given, and is written to a temporary file and renamed into
place (the exports are written so by `export`). models/ is git-ignored.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Spec:
    plugin: str
    label: str
    params: dict = field(default_factory=dict)


# Small and quick on purpose: a page loads the whole sampler. The neural model stops at
# --time-limit (it keeps the best weights so far), so a build takes minutes at most on a laptop.
MODELS = {
    "bigram": Spec("counts", "Bigram counts"),
    "ngram": Spec("ngram", "5-gram (Kneser-Ney)", {"order": 5}),
    "mlp": Spec("mlp", "MLP (neural network)", {"steps": 4000, "hidden": 256}),
}


def build(out: Path, specs: dict[str, Spec], names: list[str], split_seed: int = 42, time_limit: float | None = None,
          log=print) -> list[dict]:
    """Fit and export each of `specs` (name -> Spec) on `names` into `out`, write out/models.json
    and return its entries. `time_limit` (seconds) caps each model trained by gradient descent."""
    import namegen
    from namegen import registry
    from namegen.data import split_names
    from namegen.exports.onnx import export

    split = split_names(names, seed=split_seed)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, spec in specs.items():
        params = dict(spec.params)
        if time_limit is not None and hasattr(registry.get(spec.plugin).Config, "time_limit"):
            params.setdefault("time_limit", time_limit)
        start = time.perf_counter()
        model = namegen.create(spec.plugin, **params).fit(split.train, split.val)
        exported = export(model, out / f"{name}.onnx", names=split.test)
        known, _ = model.scorable(split.test)
        entry = {
            "name": name,
            "label": spec.label,
            "file": exported.sampler.name,
            "bytes": exported.sampler.stat().st_size,
            "plugin": spec.plugin,
            "hyperparams": spec.params,
            "description": registry.describe(spec.plugin).split("\t")[1],
            "test_nll": round(model.score(known).nll, 4),
            "training_names": len(model.training_names_),
        }
        entries.append(entry)
        log(f"{name}: {spec.plugin} {spec.params or ''} fitted and exported in {time.perf_counter() - start:.1f} s: "
            f"{exported.sampler} ({entry['bytes']:,} bytes), test NLL {entry['test_nll']} nats/char")
    write_manifest(out / "models.json", entries)
    return entries


def write_manifest(path: Path, entries: list[dict]) -> None:
    """Write {"models": entries} to `path` through a temporary file in its folder, renamed into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would keep a web server running as another user out
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump({"models": entries}, file, indent=2, ensure_ascii=False)
            file.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", metavar="MODEL", help=f"models to build, of {', '.join(MODELS)} (default: all)")
    parser.add_argument("--out", type=Path, default=HERE / "models", help="folder to write (default: models/ beside this script)")
    parser.add_argument("--time-limit", type=float, default=180, metavar="SECONDS",
                        help="most seconds of training for each neural model (default: 180)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.models if name not in MODELS]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}; choose from {', '.join(MODELS)}")
    if not args.time_limit > 0:
        parser.error("--time-limit must be a positive number of seconds")

    from namegen.data import read_names

    specs = {name: MODELS[name] for name in dict.fromkeys(args.models or MODELS)}
    build(args.out, specs, read_names("bundled"), time_limit=args.time_limit)
    print(f"wrote {args.out / 'models.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
