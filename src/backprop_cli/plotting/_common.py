"""Helpers shared by the run figures: checks on a loaded run, decimation of long series, titles, saving.

Figures are built on matplotlib.figure.Figure directly (no pyplot), so nothing depends on a GUI
backend or on global pyplot state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from backprop_cli import analysis
from backprop_cli.errors import BackpropError, RunDirError
from backprop_cli.recorder import STATISTICS_KEYS, Run, write_atomic

MAX_POINTS = 2000  # points drawn per series; longer runs are drawn as a min/max envelope
FORMATS = ("png", "svg", "pdf")
DPI = 110
EPOCH_LINEAR = 10  # epoch axes are linear up to here and logarithmic beyond
LOG_MAX = 1e250  # a diverged run's larger values would overflow matplotlib's log-tick arithmetic


def require_plottable(run: Run) -> None:
    """A RunDirError unless the run has gradient statistics and at least one epoch."""
    log = run.log
    if not analysis.has_statistics(log):
        raise RunDirError(f"{run.path}: the run has no gradient statistics (trained with log.enabled "
                          "false); train again with log.enabled true to plot it")
    missing = [key for key in STATISTICS_KEYS if key not in log]
    if missing:
        raise RunDirError(f"{run.path / 'log.npz'}: missing keys {', '.join(missing)}")
    if analysis.n_epochs(log) == 0:
        raise RunDirError(f"{run.path}: no epochs logged (status {analysis.status(log)}, stopped before "
                          "epoch 1 finished): nothing to plot")


def bin_starts(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """First epoch of each drawing bin: every epoch when n ≤ max_points, else about
    max_points / 2 bins whose width grows geometrically (single epochs at the start,
    where the log epoch axis spreads them out)."""
    if n <= max_points:
        return np.arange(n)
    edges = np.geomspace(1, n, max_points // 2).astype(np.int64)
    return np.unique(np.concatenate([[0], edges[edges < n]]))


def bin_max(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(E, ...) -> bin starts (B,) and the NaN-skipping max over each bin (B, ...)."""
    starts = bin_starts(len(values))
    values = np.where(np.isfinite(values), values, np.nan).astype(float)
    return starts, np.fmax.reduceat(values, starts, axis=0)


def envelope(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A series (E,) as drawable points: itself when short, else each bin's min then max.

    Returns x (epochs, float) and y, both (≤ MAX_POINTS,); non-finite values become NaN
    and are skipped by the bin's min and max, so spikes survive and gaps stay gaps.
    """
    y = np.where(np.isfinite(y), y, np.nan).astype(float)
    starts = bin_starts(len(y))
    if len(starts) == len(y):
        return starts.astype(float), y
    low, high = np.fmin.reduceat(y, starts), np.fmax.reduceat(y, starts)
    ends = np.append(starts[1:], len(y)) - 1
    x = np.column_stack([starts, (starts + ends) / 2]).ravel().astype(float)
    return x, np.column_stack([low, high]).ravel()


def epoch_axis(ax, last_epoch: int, label: str = "epoch") -> None:
    """Epochs on a log scale beyond EPOCH_LINEAR (the first epochs are where gradients vanish
    or explode), from 0 to `last_epoch` whatever the drawn series skip."""
    ax.set_xscale("symlog", linthresh=EPOCH_LINEAR, linscale=0.6)
    ax.set_xlim(0, max(last_epoch, 1))
    ax.set_xlabel(f"{label} (log scale beyond {EPOCH_LINEAR})")


def positive(y: np.ndarray) -> np.ndarray:
    """y with values ≤ 0, non-finite or above LOG_MAX as NaN, for log axes."""
    y = np.asarray(y, dtype=float)
    return np.where(np.isfinite(y) & (y > 0) & (y <= LOG_MAX), y, np.nan)


def run_description(run: Run) -> str:
    """One line: data, architecture, activations, loss, optimizer and clip setting."""
    config, log = run.config, run.log
    model = config["model"]
    return (f"{analysis.problem_text(config, run.data)} · {analysis.architecture_text(log)} "
            f"{model['activation']} → {model['output_activation']} · {config['train']['loss']} loss · "
            f"{analysis.optimizer_text(config)} · clip {analysis.clip_text(log)}")


def loss_and_accuracy(summary: dict, digits: int = 4) -> str:
    """'loss 0.0123 · accuracy 99.5%'; summary.json stores a non-finite loss as null."""
    loss = summary["final_loss"]
    return (f"loss {loss:.{digits}g}" if loss is not None else "loss non-finite") + \
        f" · accuracy {summary['final_accuracy']:.1%}"


def run_outcome(run: Run) -> str:
    """One line: final loss and accuracy, epochs, and how the run ended when not complete."""
    summary, log = run.summary, run.log
    text = (f"final {loss_and_accuracy(summary)} · "
            f"{analysis.n_epochs(log)}/{summary['epochs_requested']} epochs")
    state = analysis.status(log)
    if state != "complete":
        text += f"\n{state.upper()}: {summary.get('message', '')}; plotted what was logged"
    return text


def title_color(run: Run) -> str:
    return "black" if analysis.status(run.log) == "complete" else "darkred"


def check_format(fmt: str, what: str) -> str:
    """`fmt` if it is an image format we write; else a BackpropError naming `what`."""
    if fmt not in FORMATS:
        raise BackpropError(f"{what}: expected one of {', '.join(FORMATS)}")
    return fmt


def output_path(out: Path | None, default: Path, fmt: str) -> Path:
    """The file to write: `out` when given (its suffix must agree with fmt; an existing folder
    gets default's name inside it), else `default` + fmt (a dot in default's name is kept)."""
    check_format(fmt, f"--format {fmt}")
    if out is None:
        return default.parent / f"{default.name}.{fmt}"
    out = Path(out)
    if out.is_dir():
        return out / f"{default.name}.{fmt}"
    if out.suffix and out.suffix.lstrip(".").lower() != fmt:
        raise BackpropError(f"--out {out}: the suffix does not match --format {fmt} (give --format too)")
    return out if out.suffix else out.with_suffix(f".{fmt}")


def save(fig: Figure, path: Path) -> Path:
    """Write the figure atomically (temp file in the same folder, then rename); returns path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda handle: fig.savefig(handle, format=path.suffix.lstrip(".").lower(), dpi=DPI))
    return path
