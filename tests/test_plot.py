"""`namegen plot heatmap|curves|zoo`, checked as a person would check the pictures.

The figures are built in this process and read back from their artists before saving (cell
labels, line data, points); the files are opened as images (PNG through matplotlib's reader,
SVG as XML) and must have the stated size; the command runs as child processes (see _cli.py)
for the defaults, the formats and every kind of bad input (one `error:` line, exit 2).
"""

from __future__ import annotations

import ast
import copy
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from _cli import run_many

import namegen
from namegen import NamegenError, plot, train
from namegen.data import examples, read_names, split_names
from namegen.plugins.counts import bigram_counts
from namegen.zoo import COLUMNS, to_csv

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---- helpers ---------------------------------------------------------------------------------


def cell_labels(fig) -> dict[tuple[int, int], tuple[str, str]]:
    """(row, column) -> (bigram, value) from the heatmap's text artists: the tutorial draws the
    bigram above each cell's centre and the number below it."""
    (ax, _colorbar) = fig.axes
    above, below = {}, {}
    for text in ax.texts:
        j, i = text.get_position()
        (above if text.get_va() == "bottom" else below)[(int(i), int(j))] = text.get_text()
    assert above.keys() == below.keys()
    return {cell: (above[cell], below[cell]) for cell in above}


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG, read as an image."""
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    height, width = imread(path).shape[:2]
    return width, height


def svg_size(path: Path) -> tuple[float, float]:
    """(width, height) in points of an SVG, parsed as XML."""
    root = ET.fromstring(path.read_bytes())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return float(root.get("width").removesuffix("pt")), float(root.get("height").removesuffix("pt"))


def check_picture(path: Path, fig) -> None:
    """The file opens as an image of the figure's stated size (PNG pixels, SVG points)."""
    width, height = fig.get_size_inches()
    if path.suffix == ".png":
        assert png_size(path) == plot.pixel_size(fig) == (round(width * plot.DPI), round(height * plot.DPI))
    else:
        assert svg_size(path) == pytest.approx((width * 72, height * 72))
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # write_atomic left nothing behind


def one_error(result, *fragments: str) -> str:
    """Exit 2, one `error:` line on stderr, no traceback, nothing on stdout."""
    lines = result.stderr_lines
    assert result.returncode == 2, f"{result.args}: exit {result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def ok(result) -> str:
    assert result.returncode == 0, f"{result.args}: exit {result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout.strip()


# ---- heatmap ---------------------------------------------------------------------------------


def test_counts_heatmap_labels_are_the_models_bigram_counts(fitted, tmp_path):
    model, train = fitted("counts"), fitted.split.train
    fig = plot.heatmap_figure(model, train)
    chars = model.vocab_.chars
    assert chars[0] == "."
    # The table the counts plugin itself counts when it fits, and that it learned its probabilities from.
    table = bigram_counts(model._examples(train)[0], len(chars)).long().numpy()
    smoothed = torch.from_numpy(table).double() + model.config.alpha
    assert torch.allclose((smoothed / smoothed.sum(1, keepdim=True)).float(), model.network_.log_probs.exp(), atol=1e-6)

    labels = cell_labels(fig)
    assert len(labels) == len(chars) ** 2  # every cell of the 27 x 27 grid, in vocabulary order
    for (i, j), (bigram, count) in labels.items():
        assert bigram == chars[i] + chars[j]
        assert int(count) == table[i, j]
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(chars) == [t.get_text() for t in ax.get_yticklabels()]
    assert np.array_equal(ax.images[0].get_array(), table)
    assert "count" in fig.axes[1].get_ylabel()  # the colour bar says what the colours mean

    for name in ("heatmap.png", "heatmap.svg"):
        check_picture(plot.save(fig, tmp_path / name), fig)
    assert plot.pixel_size(fig) == (1860, 1760)  # 27 characters: the default, legible size


def test_linear_heatmap_labels_are_its_next_character_probabilities(fitted, tmp_path):
    model = fitted("linear")
    fig = plot.heatmap_figure(model)  # one character of context: no names needed
    chars = model.vocab_.chars
    probs = model.token_log_probs(torch.arange(len(chars))[:, None]).double().exp().numpy()
    assert np.allclose(probs.sum(1), 1)
    labels = cell_labels(fig)
    assert len(labels) == len(chars) ** 2
    for (i, j), (bigram, value) in labels.items():
        assert bigram == chars[i] + chars[j]
        assert value == f"{float(value):.3f}" and abs(float(value) - probs[i, j]) <= 0.0005 + 1e-9
    check_picture(plot.save(fig, tmp_path / "linear.png"), fig)


def test_longer_context_heatmap_averages_over_the_data_contexts(fitted):
    """mlp (block_size 2): p(next | previous character) is the mean of the model's distribution
    over the contexts in the data whose last character is that one, computed here one row at a time."""
    model, names = fitted("mlp"), fitted.split.val
    assert model.block_size > 1
    chars = model.vocab_.chars
    contexts = examples([model.vocab_.encode(n) for n in model.scorable(names)[0]], model.block_size)[0]
    expected = np.full((len(chars), len(chars)), np.nan)
    for i in range(len(chars)):
        rows = contexts[contexts[:, -1] == i]
        if len(rows):
            expected[i] = model.token_log_probs(torch.from_numpy(rows)).exp().double().mean(0).numpy()
    got = plot.next_char_probs(model, names)
    assert np.allclose(got, expected, equal_nan=True, atol=1e-6)

    fig = plot.heatmap_figure(model, names)
    labels = cell_labels(fig)
    for (i, j), (bigram, value) in labels.items():
        assert bigram == chars[i] + chars[j] and abs(float(value) - expected[i, j]) <= 0.0005 + 1e-6
    unseen_rows = {i for i in range(len(chars)) if np.isnan(expected[i]).all()}
    assert {i for i, _ in labels} == set(range(len(chars))) - unseen_rows  # rows no context ends in stay blank
    notes = fig.get_supxlabel()
    assert "averaged over the data's contexts" in notes
    with pytest.raises(NamegenError, match="give --data"):
        plot.heatmap_figure(model)  # without names there is nothing to average over


def test_large_vocabulary_drops_cell_labels_and_says_so(tmp_path):
    alphabet = [chr(c) for c in range(0x3b1, 0x3b1 + 24)] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789")
    names = ["".join(alphabet[(7 * k + 3 * i) % len(alphabet)] for i in range(3 + k % 5)) for k in range(400)]
    model = namegen.create("counts").fit(names)
    size = len(model.vocab_)
    assert size > plot.LABEL_LIMIT
    fig = plot.heatmap_figure(model, names)
    assert len(fig.axes[0].texts) == 0
    assert f"{size} characters: cells are not labelled past {plot.LABEL_LIMIT}" in fig.get_supxlabel()
    assert len(fig.axes[0].get_xticklabels()) == size  # the characters are still named on the axes
    check_picture(plot.save(fig, tmp_path / "big.png"), fig)
    assert max(plot.pixel_size(fig)) <= (plot.GRID_MAX + 2.4) * plot.DPI



def test_what_the_heatmap_shows_is_what_the_model_records(fitted):
    """Bigram counts for a model whose fit summary says it counted and that reads one character,
    whatever its plugin; p(next | previous) for any other."""
    counts, linear = fitted("counts"), fitted("linear")
    assert plot.shows_counts(counts) and plot.needs_names(counts)
    assert not plot.shows_counts(linear) and not plot.needs_names(linear)
    counted = copy.copy(linear)
    counted.training_ = {**linear.training_, "method": "counting"}
    assert plot.shows_counts(counted)
    assert plot.heatmap_values(counted, fitted.split.train)[1] == "count"
    assert plot.heatmap_values(linear, None)[1] == "p(next | previous)"


def test_plot_names_no_plugin():
    tree = ast.parse(Path(plot.__file__).read_text(encoding="utf-8"))
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not [name for name in imported if "plugins" in name]

# ---- learning curves -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gradient_runs(fitted, tmp_path_factory):
    """Two runs saved by the shared trainer (each records training.history), and a counts run (none)."""
    root = tmp_path_factory.mktemp("plot-runs")
    fitted("mlp").save(root / "mlp")
    fitted("tiny-mlp").save(root / "tiny-mlp")
    fitted("counts").save(root / "counts")
    return root


def test_curves_draw_each_runs_recorded_history(gradient_runs, tmp_path):
    runs = [gradient_runs / "mlp", gradient_runs / "tiny-mlp"]
    for x in ("step", "seconds"):
        fig = plot.curves_figure(runs, x=x)
        lines = fig.axes[0].get_lines()
        assert len(lines) == 2 * len(runs)  # one line per run per split
        for run in runs:
            history = namegen.load(run).training_["history"]
            assert len(history["step"]) >= 2
            by_label = {line.get_label(): line for line in lines}
            val, train = by_label[f"{run.name} val"], by_label[f"{run.name} train"]
            assert val.get_color() == train.get_color() and val.get_linestyle() == "-" and train.get_linestyle() == "--"
            assert np.allclose(val.get_xdata(), history[x]) and np.allclose(train.get_xdata(), history[x])
            assert np.allclose(val.get_ydata(), history["val_nll"])
            assert np.allclose(train.get_ydata(), [np.nan if v is None else v for v in history["train_nll"]], equal_nan=True)
            assert val.get_markevery() == [int(np.argmin(history["val_nll"]))]  # the dot: the weights the run kept
        assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [line.get_label() for line in lines]
        assert fig.axes[0].get_xlabel() == plot.X_COLUMNS[x]
        check_picture(plot.save(fig, tmp_path / f"curves-{x}.svg"), fig)


def test_curves_refuse_a_run_without_history(gradient_runs):
    with pytest.raises(NamegenError, match="records no loss history.*'counts'"):
        plot.curves_figure([gradient_runs / "mlp", gradient_runs / "counts"])



def test_the_history_columns_drawn_are_the_trainers():
    from namegen.checkpoint import HISTORY_COLUMNS

    assert set(plot.X_COLUMNS) | {"train_nll", "val_nll"} <= set(HISTORY_COLUMNS) == set(train.HISTORY_COLUMNS)

# ---- zoo chart -------------------------------------------------------------------------------


def leaderboard_rows() -> list[dict]:
    rows = []
    for plugin, seconds, nll, params in [("ngram", 0.18, 1.98, 500_000), ("transformer", 394.0, 1.958, 200_000),
                                         ("mlp", 118.0, 1.98, 12_000), ("counts", 0.0, 2.458, 729)]:
        row = {c.key: 0 for c in COLUMNS}
        row.update(plugin=plugin, fit_seconds=seconds, test_nll=nll, parameters=params, peak_memory_mb=None)
        rows.append(row)
    return rows


def test_zoo_chart_has_one_labelled_point_per_row(tmp_path):
    csv_path = tmp_path / "leaderboard.csv"
    csv_path.write_text(to_csv(leaderboard_rows()), encoding="utf-8")  # as `namegen zoo` writes it
    fig = plot.zoo_figure(csv_path)
    ax = fig.axes[0]
    (points,) = ax.collections
    offsets = points.get_offsets()
    assert offsets.tolist() == [[0.18, 1.98], [394.0, 1.958], [118.0, 1.98], [plot.MIN_SECONDS, 2.458]]
    assert [t.get_text() for t in ax.texts] == ["ngram (500k params)", "transformer (200k params)", "mlp (12k params)",
                                                 "counts (729 params)"]
    assert [t.xy for t in ax.texts] == [tuple(p) for p in offsets.tolist()]  # each label at its point
    assert ax.get_xscale() == "log"
    assert "under 0.001 s are drawn at 0.001 s" in fig.get_supxlabel()  # counts' 0.000 s, said in the picture
    check_picture(plot.save(fig, tmp_path / "zoo.png"), fig)


@pytest.mark.parametrize("text, match", [
    ("plugin,test_nll\nmlp,2.0\n", "no fit_seconds column"),
    ("plugin,fit_seconds,test_nll\n", "has no rows"),
    ("plugin,fit_seconds,test_nll\nmlp,fast,2.0\n", "line 2"),
])
def test_zoo_chart_refuses_what_is_not_a_leaderboard(tmp_path, text, match):
    (tmp_path / "x.csv").write_text(text, encoding="utf-8")
    with pytest.raises(NamegenError, match=match):
        plot.zoo_figure(tmp_path / "x.csv")



def test_the_leaderboard_columns_read_are_the_zoos():
    keys = [c.key for c in COLUMNS]
    assert set(plot.ZOO_COLUMNS) | {plot.PARAMETERS} <= set(keys)
    assert plot.LEADERBOARD_CSV == "leaderboard.csv"

# ---- the command -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli(bundled_names, gradient_runs, tmp_path_factory):
    """Every `namegen plot` invocation of this module, run as child processes in two batches."""
    root = tmp_path_factory.mktemp("plot-cli")
    data = root / "names.txt"
    data.write_text("\n".join(bundled_names[::40]) + "\n", encoding="utf-8")
    (root / "leaderboard.csv").write_text(to_csv(leaderboard_rows()), encoding="utf-8")
    (root / "a-file").write_text("not a folder\n")
    (root / "pictures").mkdir()
    (fit,) = run_many([(["fit", "--plugin", "counts", "--data", data, "--out", root / "counts"], root)])
    ok(fit)
    runs = gradient_runs
    cases = {
        "heatmap": ["plot", "heatmap", root / "counts"],
        "heatmap_svg": ["plot", "heatmap", root / "counts", "--out", root / "h.SVG"],
        "heatmap_data": ["plot", "heatmap", root / "counts", "--data", "bundled", "--out", root / "pictures"],
        "curves": ["plot", "curves", runs / "mlp", runs / "tiny-mlp", "--x", "seconds"],
        "zoo": ["plot", "zoo", root / "leaderboard.csv"],
        "err_missing_run": ["plot", "heatmap", root / "nowhere"],
        "err_curves_missing_run": ["plot", "curves", runs / "mlp", root / "nowhere"],
        "err_no_history": ["plot", "curves", runs / "mlp", runs / "counts"],
        "err_out_under_a_file": ["plot", "heatmap", root / "counts", "--out", root / "a-file" / "h.png"],
        "err_out_extension": ["plot", "zoo", root / "leaderboard.csv", "--out", root / "zoo.jpg"],
        "err_out_no_extension": ["plot", "curves", runs / "mlp", "--out", root / "curves"],
        "err_missing_csv": ["plot", "zoo", root / "missing.csv"],
        "err_not_a_leaderboard": ["plot", "zoo", data],
        "err_bad_x": ["plot", "curves", runs / "mlp", "--x", "epochs"],
    }
    results = dict(zip(cases, run_many([(args, root) for args in cases.values()])))
    return root, data, results


def test_cli_heatmap_defaults_to_the_runs_training_names_and_png(cli):
    root, data, results = cli
    out = root / "counts" / "heatmap.png"
    assert ok(results["heatmap"]) == str(out)
    # Byte for byte the figure of the run's training split (the names the counts were counted from).
    model = namegen.load(root / "counts")
    train = split_names(read_names(data), 42).train
    fig = plot.heatmap_figure(model, train, source=f"names: the run's training split of names.txt ({len(train):,})")
    assert out.read_bytes() == plot.render(fig, "png")
    check_picture(out, fig)
    assert f"wrote {out} (1860x1760 px)" in results["heatmap"].stderr


def test_cli_heatmap_svg_by_extension_and_into_a_folder(cli):
    root, _, results = cli
    assert ok(results["heatmap_svg"]) == str(root / "h.SVG")
    assert svg_size(root / "h.SVG") == pytest.approx((1860 * 0.72, 1760 * 0.72))
    assert ok(results["heatmap_data"]) == str(root / "pictures" / "heatmap.png")
    assert png_size(root / "pictures" / "heatmap.png") == (1860, 1760)


def test_cli_curves_and_zoo(cli):
    root, _, results = cli
    assert ok(results["curves"]) == "curves.png"
    assert png_size(root / "curves.png") == (1000, 600)
    assert ok(results["zoo"]) == str(root / "zoo.png")  # beside the CSV
    assert png_size(root / "zoo.png") == (1000, 600)


@pytest.mark.parametrize("key, fragment", [
    ("err_missing_run", "does not exist"),
    ("err_curves_missing_run", "does not exist"),
    ("err_no_history", "records no loss history"),
    ("err_out_under_a_file", "is a file, not a folder"),
    ("err_out_extension", "'.jpg'"),
    ("err_out_no_extension", "end the file name in .png or .svg"),
    ("err_missing_csv", "does not exist"),
    ("err_not_a_leaderboard", "is not a zoo leaderboard"),
])
def test_cli_bad_input_is_one_error_line(cli, key, fragment):
    one_error(cli[2][key], fragment)


def test_cli_bad_x_is_a_usage_error(cli):
    result = cli[2]["err_bad_x"]
    assert result.returncode == 2 and "Traceback" not in result.stderr and "epochs" in result.stderr


def test_cli_unwritable_out(cli, tmp_path):
    """A folder without write permission, for root without its power to override permissions."""
    root = cli[0]
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run a child without permission overrides")
    (tmp_path / "locked").mkdir()
    os.chmod(tmp_path / "locked", 0o555)
    command = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--",
               sys.executable, "-c", "from namegen.cli import main; main()",
               "plot", "zoo", str(root / "leaderboard.csv"), "--out", str(tmp_path / "locked" / "zoo.png")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: cannot write") and "Permission denied" in lines[0]
    assert list((tmp_path / "locked").iterdir()) == []


def test_only_namegen_plot_imports_matplotlib():
    """`import namegen.cli` and the other commands do not import matplotlib; `namegen plot` does."""
    script = (
        "import sys, contextlib, io\n"
        "import namegen.cli\n"
        "print('after import', 'matplotlib' in sys.modules)\n"
        "sys.argv = ['namegen', 'plugins']\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        namegen.cli.main()\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('after plugins', 'matplotlib' in sys.modules)\n"
        "sys.argv = ['namegen', 'plot', 'zoo', 'missing.csv']\n"
        "try:\n"
        "    namegen.cli.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('after plot', 'matplotlib' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["after import False", "after plugins False", "after plot True"]


def test_figures_draw_on_the_agg_canvas_without_pyplot(fitted):
    """Headless: every figure has the Agg canvas of its own, and pyplot (global state, a GUI
    backend where a display exists) is never imported by namegen.plot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    assert isinstance(plot.heatmap_figure(fitted("linear")).canvas, FigureCanvasAgg)
    done = subprocess.run([sys.executable, "-c", "import sys, namegen.plot; print('matplotlib.pyplot' in sys.modules)"],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
