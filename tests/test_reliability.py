"""The promises under hostile input and failing disks: a fit never throws its work away, runs are
never lost (foreign folders, concurrent saves, kills between renames, stale temporaries), no
silent garbage (non-finite hyper-parameters, a diverged fit, a byte-order mark, a linear fit
that does not converge), and one `error:` line with exit 2 where an operating-system failure,
a hand-edited file or an absurd size would otherwise give a traceback.

Fault injection is real where it can be: tmpfs mounts (read-only, full), an immutable folder,
an unprivileged user, processes killed with SIGKILL between two renames, SIGINT, /dev/full and
a closed stdout. Tests that need root (mount, chattr, setuid) skip without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import onnx
import pytest
from _cli import assert_one_error, run_many, write_names

import namegen
from namegen import NamegenError, runtime
from namegen.data import read_names, split_names

pytestmark = pytest.mark.slow  # command-line runs, fits and exports of their own

PLUGINS_DIR = Path(__file__).parent / "plugins"
CLI = [sys.executable, "-c", "from namegen.cli import main; main()"]
NAMES = ["emma", "olivia", "ava", "mia", "luna", "ella", "mila", "aria", "lily", "nora", "zoe", "leah", "anna", "eva", "ivy"]


def cli(args: list, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300, **kwargs)






@pytest.fixture(scope="module")
def small_model():
    return namegen.create("linear", steps=30).fit(NAMES)


@pytest.fixture(scope="module")
def other_model():
    return namegen.create("counts").fit(NAMES[::-1] + ["bob"])


# ---- a fit never throws its work away ----------------------------------------------------------------------


def test_a_character_only_in_the_test_split_is_reported_not_fatal(tmp_path, bundled_names):
    names = bundled_names[::20]
    # put a name with a character nothing else has where seed 0's split sends it to test
    order = split_names(list(range(len(names))), 0).test
    names[order[0]] = "zo\u00eb"
    data = write_names(tmp_path / "names.txt", names)
    fit, evaluate = run_many([(["fit", "--plugin", "counts", "--data", data, "--seed", "0", "--out", tmp_path / "run"], tmp_path)])[0], None
    assert fit.returncode == 0 and "Traceback" not in fit.stderr, fit.stderr
    assert "1 of" in fit.stderr and "left out of the test NLL" in fit.stderr and "'\u00eb'" in fit.stderr
    training = json.loads((tmp_path / "run" / "config.json").read_text())["training"]
    assert training["test_names_excluded"] == 1
    (evaluate,) = run_many([(["evaluate", tmp_path / "run"], tmp_path)])
    assert evaluate.returncode == 0, evaluate.stderr
    test_row = [row.split("\t") for row in evaluate.stdout.splitlines() if row.startswith("test\t")][0]
    split = split_names(names, 0)
    assert int(test_row[1]) == len(split.test) - 1
    assert float(test_row[2]) == pytest.approx(training["test_nll"], abs=1e-4)


@pytest.mark.parametrize("bad", ["a.b", "ab\x00c", "tab\there"])
def test_a_forbidden_character_anywhere_fails_before_training(tmp_path, bad):
    names = NAMES * 10
    names[-1] = bad  # the last line: wherever the split would send it, the file check sees it first
    data = write_names(tmp_path / "names.txt", names)
    (result,) = run_many([(["fit", "--plugin", "counts", "--data", data, "--out", tmp_path / "run"], tmp_path)])
    message = assert_one_error(result, f"line {len(names)}", "remove it from the data")
    assert "unseen-floor" not in message
    assert not (tmp_path / "run").exists()


def test_the_api_checks_names_the_same_way():
    with pytest.raises(NamegenError, match="control character"):
        namegen.create("counts").fit(["ab\x00", "ba"])
    with pytest.raises(NamegenError, match="boundary token"):
        namegen.create("counts").fit(["ab"], ["b.a"])


# ---- runs are not lost ---------------------------------------------------------------------------------------


def test_a_foreign_folder_is_refused_and_force_removes_nothing(tmp_path, small_model):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text('{"my": "settings"}')
    (folder / "weights-0123456789abcdef.safetensors").write_bytes(b"not namegen's")
    data = write_names(tmp_path / "names.txt", NAMES * 10)
    (refused,) = run_many([(["fit", "--plugin", "counts", "--data", data, "--out", folder], tmp_path)])
    assert_one_error(refused, "mine", "--force")
    assert (folder / "config.json").read_text() == '{"my": "settings"}'
    with pytest.raises(NamegenError, match="holds no namegen run"):
        small_model.save(folder)
    small_model.save(folder, force=True)
    assert (folder / "weights-0123456789abcdef.safetensors").read_bytes() == b"not namegen's"  # forced: nothing removed
    assert namegen.load(folder).sample(5, seed=1) == small_model.sample(5, seed=1)
    with pytest.raises(NamegenError, match="is a file"):
        small_model.save(data)


def test_resaving_a_run_removes_only_namegen_files(tmp_path, small_model, other_model):
    run = tmp_path / "run"
    small_model.save(run)
    (run / "notes.txt").write_text("mine")
    (run / ".config.json.abc123.tmp").write_bytes(b"left by a killed save")
    (run / ".weights-00ff.safetensors.xyz.tmp").write_bytes(b"left by a killed save")
    (run / "weights-00000000000000ff.safetensors").write_bytes(b"orphan of a killed save")
    other_model.save(run)
    assert sorted(p.name for p in run.iterdir()) == sorted(["config.json", "notes.txt", json.loads((run / "config.json").read_text())["weights"]])


KILLER = textwrap.dedent("""
    import os, signal, sys
    import namegen
    from namegen import checkpoint
    real_replace = os.replace
    def replace_then_die(src, dst):
        if str(dst).endswith(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)  # killed between the two renames
        return real_replace(src, dst)
    checkpoint.os.replace = replace_then_die
    model = namegen.create("counts").fit(["xyz", "zyx", "yy"])
    if sys.argv[1] == "save":
        model.save(sys.argv[3])
    else:
        from namegen.exports.onnx import export
        export(model, sys.argv[3])
""")


def test_a_save_killed_mid_way_keeps_the_old_model_and_the_next_save_cleans_up(tmp_path, small_model, other_model):
    run = tmp_path / "run"
    small_model.save(run)
    killed = subprocess.run([sys.executable, "-c", KILLER, "save", "config.json", run], capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    leftovers = [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    assert leftovers and len(list(run.glob("weights-*.safetensors"))) == 2  # a temporary and an orphan were left
    assert namegen.load(run).sample(20, seed=3) == small_model.sample(20, seed=3)
    other_model.save(run)
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    assert len(list(run.glob("weights-*.safetensors"))) == 1


def test_an_export_killed_between_its_renames_is_caught_at_load(tmp_path, small_model):
    from namegen.exports.onnx import export

    sampler = tmp_path / "exports" / "m.onnx"
    export(small_model, sampler)
    before = runtime.load(sampler)
    assert before.log_likelihood(["emma"]).shape == (1,)  # a whole pair loads and scores
    killed = subprocess.run([sys.executable, "-c", KILLER, "export", "m.onnx", sampler], capture_output=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    mixed = runtime.load(sampler)  # old sampler, new scorer
    with pytest.raises(NamegenError, match="different exports"):
        mixed.log_likelihood(["emma"])
    export(small_model, sampler)  # exporting again mends the pair and clears the temporaries
    assert runtime.load(sampler).log_likelihood(["emma"]).shape == (1,)
    assert sorted(p.name for p in sampler.parent.iterdir()) == ["m.onnx", "m.scorer.onnx"]


SAVER = textwrap.dedent("""
    import sys
    import namegen
    names = sys.argv[2].split(",")
    model = namegen.create("counts").fit(names)
    for _ in range(int(sys.argv[3])):
        model.save(sys.argv[1])
""")
LOADER = textwrap.dedent("""
    import sys, time
    import namegen
    end, loads = time.time() + float(sys.argv[2]), 0
    while time.time() < end:
        namegen.load(sys.argv[1]).sample(3, seed=loads)
        loads += 1
    print(loads)
""")


def test_concurrent_saves_and_loads_never_see_a_broken_run(tmp_path):
    run = tmp_path / "run"
    namegen.create("counts").fit(["ab", "ba"]).save(run)
    savers = [subprocess.Popen([sys.executable, "-c", SAVER, run, names, "40"], stderr=subprocess.PIPE, text=True)
              for names in ("ab,ba,aab", "xy,yx,xxy,yyy")]
    loader = subprocess.Popen([sys.executable, "-c", LOADER, run, "6"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for process in savers:
        assert process.wait(timeout=240) == 0, process.stderr.read()
    out, err = loader.communicate(timeout=240)
    assert loader.returncode == 0, err
    assert int(out) > 0
    assert len(list(run.glob("weights-*.safetensors"))) == 1 and not list(run.glob(".*.tmp"))
    assert namegen.load(run).vocab_.chars[1:] in (("a", "b"), ("x", "y"))


# ---- no silent garbage ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("plugin, param", [("linear", "lr=inf"), ("linear", "l2=inf"), ("counts", "alpha=inf"), ("linear", "lr=nan")])
def test_non_finite_hyperparameters_are_errors(plugin, param, tmp_path):
    with pytest.raises(NamegenError, match="finite"):
        namegen.create(plugin, **dict([param.split("=")]))


def test_a_diverged_fit_fails_and_saves_nothing(tmp_path):
    model = namegen.create("tiny-mlp", lr=1e20, steps=20, eval_every=10)  # the first step overflows the logits
    with pytest.raises(NamegenError, match="diverged"):
        model.fit(NAMES, NAMES[:3])
    with pytest.raises(NamegenError, match="not fitted"):
        model.sample(1)


def test_a_byte_order_mark_is_not_a_character(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffemma\nzo\u00eb\n".encode("utf-8"))
    assert read_names(path) == ["emma", "zo\u00eb"]


def test_linear_converges_on_a_two_token_vocabulary():
    names = ["a", "aa", "aaa", "a", "aaaa", "aa"]
    linear = namegen.create("linear", l2=0.0).fit(names)
    best = namegen.create("counts", alpha=1e-9).fit(names).training_["train_nll"]  # the maximum-likelihood bigram, to within 1e-9
    assert linear.training_["train_nll"] == pytest.approx(best, abs=0.01)
    assert linear.training_["refused_steps"] > 0


def test_linear_keeps_the_tutorials_figures(shared_names):
    split = split_names(shared_names, 42)
    model = namegen.create("linear").fit(split.train, split.val)
    assert model.training_["refused_steps"] == 0
    assert model.training_["train_nll"] == pytest.approx(2.4598, abs=1e-3)
    assert model.training_["val_nll"] == pytest.approx(2.4578, abs=1e-3)
    assert model.score(split.test).nll == pytest.approx(2.4629, abs=1e-3)


def test_evaluate_notices_a_changed_val_file_and_works_from_anywhere(tmp_path):
    data, val = write_names(tmp_path / "train.txt", NAMES * 4), write_names(tmp_path / "val.txt", NAMES[:5])
    (tmp_path / "elsewhere").mkdir()
    fit, = run_many([(["fit", "--plugin", "counts", "--data", "train.txt", "--val-data", "val.txt", "--out", "run"], tmp_path)])
    assert fit.returncode == 0, fit.stderr
    (from_elsewhere,) = run_many([(["evaluate", tmp_path / "run"], tmp_path / "elsewhere")])
    assert from_elsewhere.returncode == 0 and from_elsewhere.stdout.count("\n") == 3, from_elsewhere.stderr
    write_names(val, NAMES[5:9])
    (changed,) = run_many([(["evaluate", tmp_path / "run"], tmp_path / "elsewhere")])
    assert_one_error(changed, "val.txt", "changed since")
    data.unlink()
    (gone,) = run_many([(["evaluate", tmp_path / "run"], tmp_path)])
    assert_one_error(gone, "train.txt", "is gone")


# ---- one error line, exit 2: operating-system failures ----------------------------------------------------


@contextlib.contextmanager
def tmpfs(where: Path, options: str):
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}); needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount_read_only(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory, small_model):
    root = tmp_path_factory.mktemp("saved")
    small_model.save(root / "run")
    write_names(root / "names.txt", NAMES * 10)
    return root


def test_a_read_only_file_system(tmp_path, saved_run, small_model):
    with tmpfs(tmp_path / "ro", "size=1m") as ro:
        shutil.copytree(saved_run / "run", ro / "run")
        remount_read_only(ro)
        results = run_many([
            (["fit", "--plugin", "counts", "--data", saved_run / "names.txt", "--out", ro / "run"], tmp_path),
            (["fit", "--plugin", "counts", "--data", saved_run / "names.txt", "--out", ro / "new"], tmp_path),
            (["export", "onnx", ro / "run", "--out", ro / "x.onnx"], tmp_path),
            (["sample", ro / "run", "-n", "3"], tmp_path),
        ])
        for result in results[:3]:
            assert_one_error(result, "Read-only file system")
        assert results[3].returncode == 0 and len(results[3].stdout.splitlines()) == 3  # loading needs no write
        assert namegen.load(ro / "run").sample(10, seed=2) == small_model.sample(10, seed=2)


def test_a_full_disk_loses_nothing(tmp_path, saved_run, small_model, bundled_names):
    with tmpfs(tmp_path / "full", "size=64k") as full:
        shutil.copytree(saved_run / "run", full / "run")
        free = os.statvfs(full)
        (full / "filler").write_bytes(b"\0" * (free.f_bavail * free.f_frsize))  # not one block left
        big = namegen.create("counts").fit(bundled_names[::50])  # its weights do not fit in what is left
        with pytest.raises(NamegenError, match="No space left on device"):
            big.save(full / "run")
        assert namegen.load(full / "run").sample(10, seed=2) == small_model.sample(10, seed=2)
        assert not [p.name for p in (full / "run").iterdir() if p.name.endswith(".tmp")]
        write_names(tmp_path / "big.txt", bundled_names[::50])
        (result,) = run_many([(["fit", "--plugin", "counts", "--data", tmp_path / "big.txt", "--out", full / "run"], tmp_path)])
        assert_one_error(result, "No space left on device")
        assert namegen.load(full / "run").sample(10, seed=2) == small_model.sample(10, seed=2)


def test_an_immutable_folder(tmp_path, saved_run):
    folder = tmp_path / "frozen"
    shutil.copytree(saved_run / "run", folder)
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        (result,) = run_many([(["fit", "--plugin", "counts", "--data", saved_run / "names.txt", "--out", folder], tmp_path)])
        assert_one_error(result, "Operation not permitted")
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=False)


def test_no_permission(tmp_path, saved_run):
    """Root without its power to override file permissions (setpriv drops CAP_DAC_OVERRIDE)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run a child without permission overrides")
    shutil.copytree(saved_run / "run", tmp_path / "run")
    shutil.copy(saved_run / "names.txt", tmp_path / "names.txt")
    (tmp_path / "locked").mkdir()
    os.chmod(tmp_path / "locked", 0o555)
    os.chmod(tmp_path / "names.txt", 0)
    os.chmod(tmp_path / "run" / "config.json", 0)
    unprivileged = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--"]
    cases = [
        (["fit", "--plugin", "counts", "--data", "bundled", "--out", tmp_path / "locked" / "run"], "cannot write"),
        (["fit", "--plugin", "counts", "--data", tmp_path / "names.txt", "--out", tmp_path / "new"], "cannot read data file"),
        (["sample", tmp_path / "run", "-n", "2"], "Permission denied"),
        (["export", "onnx", saved_run / "run", "--out", tmp_path / "locked" / "x.onnx"], "Permission denied"),
    ]
    for args, fragment in cases:
        result = subprocess.run([*unprivileged, *CLI, *map(str, args)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert_one_error(result, fragment)
    assert list((tmp_path / "locked").iterdir()) == [] and not (tmp_path / "new").exists()


def test_a_full_or_closed_stdout(saved_run):
    run = saved_run / "run"
    with open("/dev/full", "w") as full:
        result = subprocess.run([*CLI, "sample", str(run), "-n", "3"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == ["error: cannot write to standard output: No space left on device"]
    closed = subprocess.run(" ".join(map(str, [*CLI[:2], repr(CLI[2]), "sample", run, "-n", "3"])) + " >&-",
                            shell=True, stderr=subprocess.PIPE, text=True, timeout=120)
    assert closed.returncode == 2 and closed.stderr.strip().splitlines() == ["error: standard output is closed; nothing was written"]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone, as with `| head`: a quiet exit, as Unix tools do
    try:
        gone = subprocess.run([*CLI, "sample", str(run), "-n", "3"], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert gone.returncode == 128 + signal.SIGPIPE and gone.stderr == ""


# ---- one error line, exit 2: paths, hand-edited files, absurd sizes ----------------------------------------------


DAMAGE = {
    "max_len text": ("max_len", "twelve", "max_len must be an integer"),
    "max_len huge": ("max_len", 10**9, "max_len must be an integer"),
    "max_len negative": ("max_len", -1, "max_len must be an integer"),
    "hyperparams list": ("hyperparams", [1, 2], "hyperparams must be an object"),
    "hyperparam type": ("hyperparams", {"l2": "heavy"}, "'l2' must be float"),
    "vocab number": ("vocab", 5, "vocab must be a string"),
    "vocab no boundary": ("vocab", "abc", "boundary token"),
    "weights path": ("weights", "../../etc/passwd", "weights must name"),
    "plugin number": ("plugin", 3, "plugin must be a string"),
    "training list": ("training", [], "training must be an object"),
    "format_version text": ("format_version", "1", "format_version must be an integer"),
}


def test_hand_edited_config_fields(tmp_path, saved_run):
    cases = []
    for label, (key, value, _) in DAMAGE.items():
        run = tmp_path / label.replace(" ", "-")
        shutil.copytree(saved_run / "run", run)
        config = json.loads((run / "config.json").read_text())
        config[key] = value
        (run / "config.json").write_text(json.dumps(config))
        cases.append((["sample", run, "-n", "2"], tmp_path))
    for result, (_, (_, _, fragment)) in zip(run_many(cases), DAMAGE.items()):
        assert_one_error(result, fragment)


def test_hand_edited_sampler_metadata(tmp_path, small_model):
    from namegen.exports.onnx import export

    sampler, _ = export(small_model, tmp_path / "m.onnx")
    for key, value, fragment in [("max_len", "many", "max_len must be an integer"), ("max_len", "99999999", "max_len must be an integer"),
                                 ("vocab", "[1, 2]", "vocab is not a valid vocabulary"), ("vocab", "not json", "vocab is not a valid"),
                                 ("max_count", "0", "max_count must be an integer"), ("sampling_rule_version", "x", "sampling_rule_version")]:
        proto = onnx.load(str(sampler))
        meta = {p.key: p.value for p in proto.metadata_props}
        onnx.helper.set_model_props(proto, {**meta, key: value})
        damaged = tmp_path / f"damaged-{key}.onnx"
        onnx.save(proto, str(damaged))
        with pytest.raises(NamegenError, match=fragment):
            runtime.load(damaged)


def test_paths_and_sizes(tmp_path, saved_run):
    run = saved_run / "run"
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "exports").mkdir()
    results = run_many([
        (["fit", "--plugin", "counts", "--data", saved_run / "names.txt", "--out", tmp_path / "a-file"], tmp_path),
        (["export", "onnx", run, "--out", tmp_path / "a-file" / "x.onnx"], tmp_path),
        (["sample", run, "--max-len", "100000000", "-n", "1000"], tmp_path),
        (["sample", run, "--max-len", "10000", "-n", "1000000"], tmp_path),
        (["sample", run, "--max-len", "0"], tmp_path),
        (["sample", tmp_path / "a-file"], tmp_path),
        (["export", "onnx", run, "--out", "exports"], tmp_path),
        (["export", "onnx", run, "--out", "."], tmp_path / "exports"),
    ])
    assert_one_error(results[0], "a-file", "is a file")
    assert_one_error(results[1], "a-file")
    assert_one_error(results[2], "max_len", "10,000")
    assert_one_error(results[3], "too much for one call")
    assert_one_error(results[4], "max_len")
    assert_one_error(results[5], "a-file")
    for result in results[6:]:
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == ["run.onnx", "run.scorer.onnx"]
    assert (tmp_path / "a-file").read_text() == "x"


def test_ctrl_c_ends_with_one_line(tmp_path, bundled_names):
    data = write_names(tmp_path / "names.txt", bundled_names[::10])
    process = subprocess.Popen([*CLI, "fit", "--plugin", "tiny-mlp", "--plugins-dir", str(PLUGINS_DIR), "--data", str(data),
                                "-P", "steps=1000000", "-P", "eval_every=1000000", "--out", str(tmp_path / "run")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # a background test run may ignore SIGINT
    time.sleep(8)  # well into training
    process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()  # a fit that never stopped must not outlive the test (it would train for 10^6 steps)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("fitting")]
    assert len(lines) == 1 and lines[0].startswith("interrupted"), err


def test_api_misuse_raises_namegen_error(small_model):
    unfitted = namegen.create("linear")
    for call in (lambda: unfitted.log_likelihood(["emma"]), lambda: unfitted.score(["emma"]), lambda: unfitted.sample(2),
                 lambda: unfitted.save("/tmp/never"), lambda: small_model.sample(2, seed=1.5), lambda: small_model.sample(2, seed="7"),
                 lambda: small_model.sample(2, seed=None), lambda: small_model.sample(2, prefix=None), lambda: small_model.sample(2, prefix=5),
                 lambda: small_model.sample(2, max_len="8"), lambda: small_model.log_likelihood(["emma"], unseen_floor="x"),
                 lambda: small_model.log_likelihood([None])):
        with pytest.raises(NamegenError):
            call()


def test_plugins_dir_skips_what_is_not_a_regular_file(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    os.mkfifo(folder / "blocking.py")  # importing it would wait forever for a writer
    (folder / "folder.py").mkdir()
    (folder / "real.py").write_text("import namegen\n")
    assert stat.S_ISFIFO(os.stat(folder / "blocking.py").st_mode)
    (result,) = run_many([(["plugins", "--plugins-dir", folder], tmp_path)])
    assert result.returncode == 0 and "linear" in result.stdout, result.stderr
