"""Writing never destroys what is at the target, and run folders survive what other processes
leave in them: a device node, a FIFO or a folder named as --out is refused before any work (the
rename that makes writes atomic would replace it with a regular file); a path under a file is
refused before a fit trains; what a killed first save or another fit's write probe leaves in a
new folder does not block the next fit; a reader that goes away mid-write ends the command with
exit 141, never 0 after a partial write."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from _cli import assert_one_error, run_many

import namegen
from namegen import NamegenError, checkpoint

pytestmark = pytest.mark.slow  # command-line runs, fits and exports of their own

NAMES = ["emma", "olivia", "ava", "mia", "luna", "ella", "mila", "aria", "lily", "nora", "zoe", "leah", "anna", "eva", "ivy"]
CLI = [sys.executable, "-c", "from namegen.cli import main; main()"]




@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("safety")
    namegen.create("counts").fit(NAMES).save(root / "run")
    (root / "names.txt").write_text("\n".join(NAMES * 10) + "\n", encoding="utf-8")
    return root


def device_node(path: Path) -> Path:
    """A character device like /dev/null, made where a test can afford to lose it (needs root)."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root")
    return path


def test_special_files_as_out_are_refused_and_left_alone(tmp_path, run):
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    picture_fifo = tmp_path / "pipe.png"
    os.mkfifo(picture_fifo)
    device = device_node(tmp_path / "null.onnx")
    results = run_many([
        (["export", "onnx", run / "run", "--out", fifo], tmp_path),
        (["export", "onnx", run / "run", "--out", device], tmp_path),
        (["plot", "heatmap", run / "run", "--out", picture_fifo], tmp_path),
    ])
    for result in results:
        assert_one_error(result, "not a regular file")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and stat.S_ISFIFO(os.stat(picture_fifo).st_mode)
    assert stat.S_ISCHR(os.stat(device).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null.onnx", "pipe.onnx", "pipe.png"]  # no scorer beside them


def test_a_scorer_path_that_is_a_special_file_is_refused_before_the_sampler_is_written(tmp_path, run):
    os.mkfifo(tmp_path / "m.scorer.onnx")
    (result,) = run_many([(["export", "onnx", run / "run", "--out", tmp_path / "m.onnx"], tmp_path)])
    assert_one_error(result, "m.scorer.onnx", "not a regular file")
    assert not (tmp_path / "m.onnx").exists()


def test_write_atomic_refuses_special_files(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(NamegenError, match="not a regular file"):
        checkpoint.write_atomic(tmp_path / "fifo", b"data")
    assert stat.S_ISFIFO(os.stat(tmp_path / "fifo").st_mode)
    (tmp_path / "target").write_text("old")
    os.symlink(tmp_path / "target", tmp_path / "link")
    checkpoint.write_atomic(tmp_path / "link", b"new")  # a link to a regular file is replaced, its target kept
    assert (tmp_path / "link").read_bytes() == b"new" and (tmp_path / "target").read_text() == "old"


def test_a_run_folder_under_a_file_is_refused_before_training(tmp_path, run):
    (tmp_path / "a-file").write_text("x")
    (result,) = run_many([(["fit", "--plugin", "tiny-mlp", "--plugins-dir", Path(__file__).parent / "plugins",
                            "--data", run / "names.txt", "--out", tmp_path / "a-file" / "sub"], tmp_path)])
    assert_one_error(result, "a-file", "is a file")  # no "fitting …" line: refused before training
    with pytest.raises(NamegenError, match="is a file"):
        namegen.create("counts").fit(NAMES).save(tmp_path / "a-file" / "sub" / "deeper")
    assert (tmp_path / "a-file").read_text() == "x"


def test_what_a_killed_first_save_leaves_does_not_block_the_next_fit(tmp_path, run):
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "weights-0123456789abcdef.safetensors").write_bytes(b"a killed save's weights")
    (folder / ".weights-0123456789abcdef.safetensors.k2j3.tmp").write_bytes(b"half written")
    (folder / ".config.json.x1y2.tmp").write_bytes(b"{")
    (folder / ".namegen-probe-abc").write_bytes(b"")  # another fit checking the folder right now
    (result,) = run_many([(["fit", "--plugin", "counts", "--data", run / "names.txt", "--out", folder], tmp_path)])
    assert result.returncode == 0, result.stderr
    config = json.loads((folder / "config.json").read_text())
    kept = {"config.json", config["weights"], "model.onnx", "model.scorer.onnx", ".namegen-probe-abc"}
    assert {p.name for p in folder.iterdir()} <= kept and config["weights"] in {p.name for p in folder.iterdir()}
    assert not (folder / "weights-0123456789abcdef.safetensors").exists()


def test_a_foreign_file_among_the_leftovers_still_makes_the_folder_foreign(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "weights-0123456789abcdef.safetensors").write_bytes(b"x")
    (folder / "thesis.tex").write_text("mine")
    with pytest.raises(NamegenError, match="holds no namegen run"):
        namegen.create("counts").fit(NAMES).save(folder)


def test_concurrent_fits_into_one_new_folder_both_succeed(tmp_path, run):
    folder = tmp_path / "shared"
    fits = [subprocess.Popen([*CLI, "fit", "--plugin", plugin, "--data", str(run / "names.txt"), "--out", str(folder)],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for plugin in ("counts", "linear")]
    outcomes = [(fit.wait(timeout=300), fit.stderr.read()) for fit in fits]
    for code, stderr in outcomes:
        assert code == 0, stderr
    assert namegen.load(folder).plugin_name in {"counts", "linear"}


@pytest.mark.parametrize("command", ["sample", "score"])
def test_a_reader_that_goes_away_mid_write_gives_exit_141(run, command):
    args = ["-n", "100000"] if command == "sample" else ["emma"] * 30000  # far more than a pipe holds
    process = subprocess.Popen([*CLI, command, str(run / "run"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.readline()  # as `| head -1` does: read one line, then go away
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=300) == 128 + signal.SIGPIPE, stderr
    assert stderr == ""


def test_plugins_dir_that_is_a_file_says_so(tmp_path):
    (tmp_path / "plugin.py").write_text("")
    (result,) = run_many([(["plugins", "--plugins-dir", tmp_path / "plugin.py"], tmp_path)])
    assert_one_error(result, "plugin.py", "is not a folder")


def test_curves_of_a_run_without_an_evaluation_is_an_error(tmp_path, run):
    folder = tmp_path / "empty-history"
    shutil.copytree(run / "run", folder)
    config = json.loads((folder / "config.json").read_text())
    config["training"]["history"] = {column: [] for column in ("step", "seconds", "train_nll", "val_nll", "lr")}
    (folder / "config.json").write_text(json.dumps(config))
    (result,) = run_many([(["plot", "curves", folder, "--out", tmp_path / "c.png"], tmp_path)])
    assert_one_error(result, "no evaluation")
    assert not (tmp_path / "c.png").exists()


def test_the_file_helpers_stand_alone_and_checkpoint_still_offers_them():
    from namegen import files

    for name in ("os_error", "check_file_target", "write_atomic", "remove_stale_temporaries", "folder_lock", "TMP_SUFFIX"):
        assert getattr(checkpoint, name) is getattr(files, name)
    done = subprocess.run([sys.executable, "-c", "import json, sys, namegen.files; "
                           "print(json.dumps(sorted(m for m in sys.modules if m.startswith('namegen'))))"],
                          capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == ["namegen", "namegen.errors", "namegen.files"]
