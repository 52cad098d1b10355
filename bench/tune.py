"""Try hyper-parameter settings side by side: each in its own process, on one split, scored on
held-out test names (the checkpoint is chosen on val, as `namegen fit` does).

    python bench/tune.py --data ../shared/data/names.txt --jobs 4 \\
        'transformer:dropout=0.1,steps=20000' 'rnn:hidden=128' 'mlp'

`--device cuda` trains on a GPU (the NLL a setting reaches in a given number of steps does not
depend on the device, so a GPU explores settings quickly; fit times for the docs come from
bench/zoo.py on the CPU). One JSON line per setting goes to stdout as each finishes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_setting(text: str) -> tuple[str, dict]:
    plugin, _, rest = text.partition(":")
    params = dict(pair.split("=", 1) for pair in rest.split(",") if pair)
    return plugin, params


def run(job: tuple) -> dict:
    setting, data, seed, device, threads = job
    import torch

    import namegen
    from namegen.data import read_names, split_names

    torch.set_num_threads(threads)
    plugin, params = parse_setting(setting)
    split = split_names(read_names(data), seed)
    model = namegen.create(plugin, **params)
    start = time.perf_counter()
    try:
        model.fit(split.train, split.val, device=device)
    except Exception as err:  # noqa: BLE001 - report it and go on with the other settings
        return {"setting": setting, "error": f"{type(err).__name__}: {err}"}
    known, _ = model.scorable(split.test)
    training = model.training_
    return {
        "setting": setting, "seconds": round(time.perf_counter() - start, 1),
        "parameters": sum(t.numel() for t in model.network_.state_dict().values()),
        "steps": training.get("steps"), "best_step": training.get("best_step"), "stopped": training.get("stopped"),
        "train_nll": round(training["train_nll"], 4), "val_nll": round(training["val_nll"], 4),
        "test_nll": round(model.score(known).nll, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("settings", nargs="+", help="PLUGIN[:KEY=VALUE,...]")
    parser.add_argument("--data", default="../shared/data/names.txt")
    parser.add_argument("--seed", type=int, default=42, help="the split's seed")
    parser.add_argument("--device", default=None, help="cpu (default) or cuda")
    parser.add_argument("--jobs", type=int, default=1, help="settings trained at once")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per setting")
    args = parser.parse_args()
    jobs = [(setting, args.data, args.seed, args.device, args.threads) for setting in args.settings]
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for result in pool.imap_unordered(run, jobs):
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
