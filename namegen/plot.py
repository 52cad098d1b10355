"""Pictures: the tutorial's bigram heatmap, learning curves and the zoo chart.

    namegen plot heatmap RUN [--data FILE] [--out FILE]
    namegen plot curves RUN... [--x step|seconds] [--out FILE]
    namegen plot zoo LEADERBOARD.csv [--out FILE]

This is the only module that imports matplotlib, and only `namegen plot` imports it, so no other
command pays for it. It draws on Figure objects with the Agg canvas, never through pyplot: no
display is needed, and no global backend of a program that imports this module is touched.
Each `*_figure` function returns the figure (tests read its artists); `save` renders it to
bytes and writes them with `namegen.files.write_atomic`.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from .errors import NamegenError
from .files import check_file_target, probe_writable, write_atomic
from .zoo import COLUMNS as LEADERBOARD_COLUMNS
from .zoo import LEADERBOARD_CSV

FORMATS = {".png": "png", ".svg": "svg"}
DPI = 100  # PNG pixels per inch: a figure of W x H inches is W*DPI x H*DPI pixels (SVG: W*72 x H*72 pt)
LABEL_LIMIT = 40  # characters: a larger vocabulary's heatmap has no cell labels (they could not be read)
TICK_LIMIT = 100  # characters: past this, every k-th character is named on the axes
CELL_INCHES = 0.6  # a heatmap cell at the default size; the grid grows with the vocabulary up to GRID_MAX
GRID_MIN, GRID_MAX = 8.0, 20.0  # inches
CURVES_SIZE = (10.0, 6.0)  # inches
ZOO_SIZE = (10.0, 6.0)
MIN_SECONDS = 0.001  # the zoo CSV's resolution: a fit recorded as 0 s is drawn here on the log axis
CHUNK = 65536  # contexts per forward pass when averaging a model's probabilities over data

# ---- saving ----------------------------------------------------------------------------------


def picture_format(out: Path) -> str:
    """"png" or "svg" from the extension of `out`; anything else is an error."""
    fmt = FORMATS.get(Path(out).suffix.lower())
    if fmt is None:
        raise NamegenError(f"--out {str(out)!r}: cannot tell the picture type from {Path(out).suffix or 'no extension'!r}; "
                           f"end the file name in {' or '.join(FORMATS)}")
    return fmt


def check_out(out: Path) -> str:
    """Refuse, before any drawing, an --out that cannot be written: an unknown extension, a
    folder, a path under a file, or a place without write permission. Returns the format."""
    out = Path(out)
    fmt = picture_format(out)
    check_file_target(out)  # a folder, a device or a FIFO would be replaced by the rename
    existing = next(p for p in (out.parent, *out.absolute().parent.parents) if p.exists())
    if not existing.is_dir():
        raise NamegenError(f"cannot write {str(out)!r}: {str(existing)!r} is a file, not a folder")
    probe_writable(existing, "write", out)
    return fmt


def render(fig: Figure, fmt: str) -> bytes:
    """The figure as PNG or SVG bytes. What would change from run to run (the SVG's date and
    random ids) is left out or fixed, so the same figure gives the same file."""
    from matplotlib import rc_context

    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {}
    with warnings.catch_warnings(), rc_context({"svg.hashsalt": "namegen"}):  # SVG ids: fixed, not random
        warnings.filterwarnings("ignore", message="Glyph .* missing from")  # a character no font has draws as a box
        fig.savefig(buffer, format=fmt, dpi=DPI, metadata=metadata)
    return buffer.getvalue()


def save(fig: Figure, out: Path) -> Path:
    """Write the figure to `out` (PNG or SVG by its extension) atomically; returns `out`."""
    out = Path(out)
    write_atomic(out, render(fig, picture_format(out)))
    return out


def pixel_size(fig: Figure) -> tuple[int, int]:
    """Width and height in pixels of the figure's PNG."""
    width, height = fig.get_size_inches()
    return round(width * DPI), round(height * DPI)


def _figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


# ---- heatmap ---------------------------------------------------------------------------------


def shown(char: str) -> str:
    """A character as the picture shows it: whitespace visible."""
    return {" ": "␣", "\u00a0": "⍽"}.get(char, char if char.isprintable() else f"U+{ord(char):04X}")


def shows_counts(model) -> bool:
    """Whether the heatmap of `model` shows bigram counts rather than probabilities: a model
    whose fit summary says it was fitted by counting, and that reads one character, is a table
    of the names' bigram counts (smoothed), and the tutorial's figure shows those counts. What
    the model records decides, not its plugin, so any plugin that fits this way is drawn so."""
    return model.training_.get("method") == "counting" and model.block_size == 1


def needs_names(model) -> bool:
    """Whether the heatmap of `model` needs names: a count table shows the bigram counts of
    names, and a model with a longer context averages its probabilities over their contexts. A
    model that reads only the previous character (block_size 1) gives p(next | previous) itself."""
    return shows_counts(model) or model.block_size > 1


def _encode_known(model, names: Sequence[str]) -> tuple[list[list[int]], int]:
    """The names the model can encode, encoded, and how many were left out (unseen characters)."""
    known, unknown = model.scorable(names)
    if not known:
        raise NamegenError(f"none of the {len(names):,} names can be used: every one holds a character the model never saw")
    return [model.vocab_.encode(name) for name in known], len(unknown)


def bigram_table(model, names: Sequence[str]) -> np.ndarray:
    """int64 [V, V]: how often character j follows character i in `names` ('.' starts and ends
    every name), in the model's vocabulary order; names with a character it lacks are left out."""
    from .data import examples

    encoded, _ = _encode_known(model, names)
    contexts, targets, _ = examples(encoded, 1)
    size = len(model.vocab_)
    return np.bincount(contexts[:, -1] * size + targets, minlength=size * size).reshape(size, size)


def next_char_probs(model, names: Sequence[str] | None = None) -> np.ndarray:
    """float64 [V, V]: p(next = j | previous character = i). A model whose context is one
    character gives it exactly (no names needed); one with a longer context gives it averaged
    over every context in `names` whose last character is i (NaN where no context ends in i)."""
    import torch

    size = len(model.vocab_)
    if model.block_size == 1:
        contexts = torch.arange(size)[:, None]
        return model.token_log_probs(contexts).double().exp().numpy()
    if names is None:
        raise NamegenError(f"the {model.plugin_name!r} model reads {model.block_size} characters of context: "
                           "its heatmap averages over the contexts of some names; give --data")
    from .data import examples

    encoded, _ = _encode_known(model, names)
    contexts = torch.from_numpy(examples(encoded, model.block_size)[0])
    last = contexts[:, -1]
    sums = torch.zeros(size, size, dtype=torch.float64)
    for start in range(0, len(contexts), CHUNK):
        probs = model.token_log_probs(contexts[start:start + CHUNK]).double().exp()
        sums.index_add_(0, last[start:start + CHUNK], probs)
    seen = torch.bincount(last, minlength=size).double()
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums / seen[:, None]).numpy()


def heatmap_values(model, names: Sequence[str] | None) -> tuple[np.ndarray, str]:
    """What the heatmap shows, and what that is: bigram counts for a count table (`shows_counts`),
    p(next | previous) for any other model."""
    if shows_counts(model):
        if names is None:
            raise NamegenError("the counts heatmap shows the bigram counts of some names; give --data")
        return bigram_table(model, names), "count"
    return next_char_probs(model, names), "p(next | previous)"


def heatmap_size(vocab_size: int) -> tuple[float, float]:
    """Figure size in inches: a grid of CELL_INCHES per character (within GRID_MIN..GRID_MAX),
    plus room for the axis labels, the title and the colour bar."""
    grid = min(GRID_MAX, max(GRID_MIN, vocab_size * CELL_INCHES))
    return grid + 2.4, grid + 1.4


def heatmap_figure(model, names: Sequence[str] | None = None, title: str | None = None,
                   source: str | None = None) -> Figure:
    """The tutorial's figure: previous character down, next character across, in the model's
    vocabulary order ('.' first); each cell labelled with its bigram (above) and its count or
    probability (below), up to LABEL_LIMIT characters. `source` says what names were used."""
    values, what = heatmap_values(model, names)
    chars = [shown(c) for c in model.vocab_.chars]
    size = len(chars)
    fig = _figure(heatmap_size(size))
    ax = fig.add_subplot()
    masked = np.ma.masked_invalid(values.astype(np.float64))
    top = float(masked.max()) if masked.count() else 1.0
    norm = PowerNorm(gamma=0.5, vmin=0.0, vmax=top if top > 0 else 1.0)  # square root: the rare bigrams stay visible
    cmap = _colormap("Blues")
    image = ax.imshow(masked, cmap=cmap, norm=norm, interpolation="nearest")
    bar = fig.colorbar(image, ax=ax, shrink=0.6, pad=0.02)
    bar.set_label(f"{what} (square-root colour scale)")

    step = 1 if size <= TICK_LIMIT else math.ceil(size / TICK_LIMIT)
    ticks = list(range(0, size, step))
    ax.set_xticks(ticks, [chars[i] for i in ticks], fontsize=11 if size <= LABEL_LIMIT else 8)
    ax.set_yticks(ticks, [chars[i] for i in ticks], fontsize=11 if size <= LABEL_LIMIT else 8)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xlabel("next character", fontsize=12)
    ax.set_ylabel("previous character", fontsize=12)
    notes = []
    if size <= LABEL_LIMIT:
        for i in range(size):
            for j in range(size):
                value = values[i, j]
                if not np.isfinite(value):
                    continue
                colour = "white" if norm(value) > 0.55 else "#303030"
                ax.text(j, i, chars[i] + chars[j], ha="center", va="bottom", fontsize=8, color=colour)
                ax.text(j, i, format_value(value, what), ha="center", va="top", fontsize=8, color=colour)
    else:
        notes.append(f"{size} characters: cells are not labelled past {LABEL_LIMIT}"
                     + (f", and every {step}th character is named on the axes" if step > 1 else ""))
    if not np.isfinite(values).all():
        notes.append("blank rows: no context in the data ends in that character")
    if what != "count" and model.block_size > 1:
        notes.append(f"averaged over the data's contexts ({model.block_size} characters) that end in each character")
    heading = title or (f"Bigram counts of the {model.plugin_name!r} model" if what == "count"
                        else f"p(next character | previous character) of the {model.plugin_name!r} model")
    if source:
        heading += f"\n{source}"
    fig.suptitle(heading, fontsize=14)
    if notes:
        fig.supxlabel("; ".join(notes), fontsize=10, color="#505050")
    return fig


def format_value(value: float, what: str) -> str:
    """A cell's number: a count as an integer, a probability to 3 decimals."""
    return f"{int(value)}" if what == "count" else f"{value:.3f}"


def _colormap(name: str):
    from matplotlib import colormaps

    return colormaps[name].with_extremes(bad="#f0f0f0")  # bad: cells without a value


# ---- learning curves -------------------------------------------------------------------------

X_COLUMNS = {"step": "optimiser step", "seconds": "seconds of training"}


def read_history(run: Path) -> tuple[dict, dict]:
    """The loss history of a run (layout.HISTORY_COLUMNS: equal-length lists), and the run's
    config; a run without one (not trained by the shared gradient trainer) is an error."""
    from .checkpoint import read_config

    config = read_config(run)  # refuses a history that is not lists of numbers in HISTORY_COLUMNS
    training = config.get("training", {})
    history = training.get("history")
    if not history:
        how = training.get("method")
        raise NamegenError(f"{str(run)!r} records no loss history: its {config['plugin']!r} model was fitted "
                           + (f"by {how}, " if how else "")
                           + "not by the shared gradient trainer (mlp, cnn, rnn, transformer, …); "
                             "only such runs have learning curves")
    if not any(v is not None and math.isfinite(v) for c in ("train_nll", "val_nll") for v in history[c]):
        raise NamegenError(f"{str(run)!r} records no evaluation in its loss history (training stopped before the first); "
                           "there is no curve to draw")
    return history, config


def _numbers(values: list) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


def data_name(recorded: str) -> str:
    """How a picture names a run's recorded data file: its file name, never the whole path."""
    from .data import BUNDLED

    return "the bundled data" if recorded == BUNDLED else Path(recorded).name


def run_labels(runs: Sequence[Path]) -> list[str]:
    """Each run's folder name, or its path as given where two runs share a folder name."""
    names = [Path(run).resolve().name for run in runs]
    return [name if names.count(name) == 1 else str(run) for name, run in zip(names, runs)]


def curves_figure(runs: Sequence[Path], x: str = "step", title: str | None = None) -> Figure:
    """Train and validation NLL of each run against `x` ("step" or "seconds"): one colour per
    run, the val line solid with a dot at the best evaluation (the weights kept), the train line
    dashed."""
    if x not in X_COLUMNS:
        raise NamegenError(f"--x takes {' or '.join(X_COLUMNS)}, got {x!r}")
    if not runs:
        raise NamegenError("give at least one run folder")
    loaded = [read_history(Path(run)) for run in runs]  # every run checked before anything is drawn
    fig = _figure(CURVES_SIZE)
    ax = fig.add_subplot()
    colours = _colormap("tab10").colors if len(runs) <= 10 else None
    for number, ((history, config), label) in enumerate(zip(loaded, run_labels(runs))):
        colour = colours[number] if colours else _colormap("viridis")(number / (len(runs) - 1))
        xs = _numbers(history[x])
        val = _numbers(history["val_nll"])
        held_out = config.get("training", {}).get("val_names", 1) != 0  # without val names the trainer evaluates on train
        best = int(np.nanargmin(val)) if np.isfinite(val).any() else None
        ax.plot(xs, val, color=colour, linestyle="-", linewidth=1.8, label=f"{label} val" if held_out else f"{label} train (full)",
                marker="o", markevery=[best] if best is not None else [], markersize=6)
        ax.plot(xs, _numbers(history["train_nll"]), color=colour, linestyle="--", linewidth=1.2, alpha=0.8,
                label=f"{label} train")
    ax.set_xlabel(X_COLUMNS[x], fontsize=12)
    ax.set_ylabel("NLL (nats per character)", fontsize=12)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9, ncol=2 if len(runs) > 4 else 1)
    data = {data_name(str(c.get("training", {}).get("data", ""))) for _, c in loaded}
    ax.set_title(title or ("Learning curves" + (f" on {data.pop()}" if len(data) == 1 and "" not in data else "")), fontsize=14)
    fig.supxlabel("solid: validation NLL at each evaluation (dot: the best, whose weights the run keeps); "
                  "dashed: mean minibatch NLL since the previous evaluation", fontsize=9, color="#505050")
    return fig


# ---- zoo chart -------------------------------------------------------------------------------


def _leaderboard_column(key: str) -> str:
    """`key`, a column of namegen.zoo's leaderboard schema: one the zoo renames or drops fails
    here, on import, rather than on a user's leaderboard."""
    if key not in {column.key for column in LEADERBOARD_COLUMNS}:
        raise ImportError(f"namegen.zoo's leaderboard has no {key!r} column, which namegen.plot reads")
    return key


# The leaderboard columns the chart reads: the first three are required, PARAMETERS is drawn where present.
PLUGIN, FIT_SECONDS, TEST_NLL, PARAMETERS = map(_leaderboard_column, ("plugin", "fit_seconds", "test_nll", "parameters"))
ZOO_COLUMNS = (PLUGIN, FIT_SECONDS, TEST_NLL)


def read_leaderboard(path: Path) -> list[dict]:
    """The rows of a `namegen zoo` leaderboard.csv, with fit_seconds and test_nll as floats and
    parameters as an int (None where absent)."""
    path = Path(path)
    if not path.exists():
        raise NamegenError(f"leaderboard {str(path)!r} does not exist; run namegen zoo first")
    if not path.is_file():
        raise NamegenError(f"leaderboard {str(path)!r} is not a file; give the {LEADERBOARD_CSV} that namegen zoo wrote")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise NamegenError(f"cannot read {str(path)!r}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise NamegenError(f"{str(path)!r} is not UTF-8 text; give the {LEADERBOARD_CSV} that namegen zoo wrote") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ZOO_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise NamegenError(f"{str(path)!r} is not a zoo leaderboard: it has no {', '.join(missing)} column; "
                           f"give the {LEADERBOARD_CSV} that namegen zoo wrote")
    rows = []
    for number, row in enumerate(reader, start=2):
        try:
            seconds, nll = float(row[FIT_SECONDS]), float(row[TEST_NLL])
            if not (math.isfinite(seconds) and seconds >= 0 and math.isfinite(nll)):
                raise ValueError
        except (TypeError, ValueError):
            raise NamegenError(f"{str(path)!r}, line {number}: {FIT_SECONDS} and {TEST_NLL} must be numbers "
                               f"({FIT_SECONDS} >= 0), got {row.get(FIT_SECONDS)!r} and {row.get(TEST_NLL)!r}") from None
        params = row.get(PARAMETERS)
        rows.append({"plugin": row[PLUGIN] or "?", "fit_seconds": seconds, "test_nll": nll,
                     "parameters": int(float(params)) if params not in (None, "") else None})
    if not rows:
        raise NamegenError(f"{str(path)!r} has no rows; run namegen zoo to fill it")
    return rows


def _short_count(n: int) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= limit:
            return f"{n / limit:.3g}{suffix}"
    return str(n)


def zoo_figure(path: Path, title: str | None = None) -> Figure:
    """Test NLL against fit seconds (log scale), one labelled point per leaderboard row."""
    rows = read_leaderboard(path)
    fig = _figure(ZOO_SIZE)
    ax = fig.add_subplot()
    xs = np.array([max(row["fit_seconds"], MIN_SECONDS) for row in rows])
    ys = np.array([row["test_nll"] for row in rows])
    colours = [_colormap("tab10")(i % 10) for i in range(len(rows))]
    ax.scatter(xs, ys, s=60, c=colours, zorder=3, edgecolors="black", linewidths=0.5)
    ax.set_xscale("log")
    low, high = xs.min(), xs.max()
    ax.set_xlim(low / 2, high * 4)  # room for the rightmost label
    spread = max(ys.max() - ys.min(), 0.05)
    ax.set_ylim(ys.min() - 0.1 * spread, ys.max() + 0.15 * spread)
    ax.set_xlabel("fit time (seconds, log scale)", fontsize=12)
    ax.set_ylabel("test NLL (nats per character; lower is better)", fontsize=12)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title or "namegen zoo: quality against fitting cost", fontsize=14)
    if (np.array([row["fit_seconds"] for row in rows]) < MIN_SECONDS).any():
        fig.supxlabel(f"fits recorded as under {MIN_SECONDS:g} s are drawn at {MIN_SECONDS:g} s", fontsize=9, color="#505050")
    labels = [row["plugin"] + (f" ({_short_count(row['parameters'])} params)" if row["parameters"] is not None else "")
              for row in rows]
    _place_labels(fig, ax, labels, xs, ys)
    return fig


LABEL_PLACES = [(7, 4, "left"), (7, -14, "left"), (-7, 4, "right"), (-7, -14, "right"),
                (7, 16, "left"), (-7, 16, "right"), (7, -26, "left"), (-7, -26, "right")]  # offsets in points


def _place_labels(fig: Figure, ax, labels: list[str], xs: np.ndarray, ys: np.ndarray) -> None:
    """Label each point beside it, at the first of LABEL_PLACES where the label stays inside the
    axes and covers no other label or point (the first place when none is free): plugins with
    similar cost and quality would otherwise print their names over each other."""
    fig.draw_without_rendering()  # lay the figure out: label boxes are measured in its final pixels
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    centres = ax.transData.transform(np.column_stack([xs, ys]))
    radius = 6  # pixels: a marker and a margin
    points = [Bbox.from_extents(cx - radius, cy - radius, cx + radius, cy + radius) for cx, cy in centres]
    placed: list = []
    for number, (label, x, y) in enumerate(zip(labels, xs, ys)):
        others = placed + points[:number] + points[number + 1:]
        for dx, dy, ha in LABEL_PLACES:
            text = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, fontsize=10)
            text.set_in_layout(False)  # the layout measured above stays valid
            box = text.get_window_extent(renderer)
            free = box.x0 >= inside.x0 and box.x1 <= inside.x1 and box.y0 >= inside.y0 and box.y1 <= inside.y1 \
                and not any(box.overlaps(other) for other in others)
            if free or (dx, dy, ha) == LABEL_PLACES[-1]:
                break
            text.remove()
        if not free:  # nowhere free: the first place, as a plain label would go
            text.remove()
            dx, dy, ha = LABEL_PLACES[0]
            text = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, fontsize=10)
            text.set_in_layout(False)
            box = text.get_window_extent(renderer)
        placed.append(box)
