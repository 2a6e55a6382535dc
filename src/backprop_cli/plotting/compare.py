"""Several runs side by side: loss, global gradient norm before clipping (with each run's clip
threshold), final per-layer gradient norms, and accuracy. Drawn from the runs' logs alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from backprop_cli import analysis
from backprop_cli.errors import RunDirError
from backprop_cli.plotting._common import (
    envelope, epoch_axis, loss_and_accuracy, output_path, positive, require_plottable, save,
)
from backprop_cli.recorder import Run, load_run


def comparison_name(runs: list[Run]) -> str:
    """A file stem naming the runs: 'compare_A_vs_B', or 'compare_A_and_3_more' beyond three."""
    names = [run.path.name for run in runs]
    if len(names) > 3:
        return f"compare_{names[0]}_and_{len(names) - 1}_more"
    return "compare_" + "_vs_".join(names)


def legend_labels(runs: list[Run]) -> list[str]:
    """'spiral (clip none)'; the run id is added when two runs share a config name."""
    labels = [f"{analysis.run_name(run)} (clip {analysis.clip_text(run.log)})" for run in runs]
    if len(set(labels)) < len(labels):
        labels = [f"{label} {run.path.name}" for label, run in zip(labels, runs)]
    return labels


def comparison_figure(runs: list[Run]) -> Figure:
    """A 2 × 2 figure comparing the runs; each run keeps one colour in every panel."""
    if len(runs) < 2:
        raise RunDirError("a comparison needs at least two run directories")
    for run in runs:
        require_plottable(run)
    colors = [colormaps["tab10"](i % 10) for i in range(len(runs))]
    labels = legend_labels(runs)
    fig = Figure(figsize=(15, 11), layout="constrained")
    (loss_ax, norm_ax), (layer_ax, accuracy_ax) = fig.subplots(2, 2)
    for run, color, label in zip(runs, colors, labels):
        log = run.log
        loss_ax.plot(*envelope(positive(log["loss"])), color=color, linewidth=1.2, label=label)
        norm_ax.plot(*envelope(positive(log["grad_norm"])), color=color, linewidth=1.2, label=label)
        if str(log["clip_method"]) == "norm":
            norm_ax.axhline(float(log["clip_threshold"]), color=color, linestyle="--", linewidth=1.3,
                            label=f"{analysis.run_name(run)}: clip threshold {float(log['clip_threshold']):g} "
                                  f"(fired in {len(analysis.clip_fired_epochs(log))} epochs)")
        first, final = log["weight_grad_norm"][0], log["weight_grad_norm"][-1]
        layers = np.arange(1, len(final) + 1)
        layer_ax.plot(layers, positive(first), "o--", color=color, markerfacecolor="white", linewidth=1,
                      label=f"{label}: epoch 0")
        layer_ax.plot(layers, positive(final), "o-", color=color, label=f"{label}: epoch {analysis.n_epochs(log) - 1}")
        accuracy_ax.plot(*envelope(100 * log["accuracy"]), color=color, linewidth=1.2, label=label)
    thresholds = sorted({float(run.log["exploding_threshold"]) for run in runs})
    for threshold in thresholds:
        norm_ax.axhline(threshold, color="tab:red", linestyle=":", linewidth=1.2,
                        label=f"exploding threshold {threshold:g}")
    _epoch_axes(loss_ax, runs, "1. Training loss", "loss (log scale)", log_y=True)
    _epoch_axes(norm_ax, runs, "2. Global gradient norm ‖g‖ before clipping", "‖g‖ (log scale)", log_y=True)
    _epoch_axes(accuracy_ax, runs, "4. Training accuracy", "accuracy (%)", log_y=False)
    accuracy_ax.set_ylim(0, 102)
    layer_ax.set_yscale("log")
    layer_ax.set_title("3. Gradient norm per layer at the first and the last epoch")
    layer_ax.set_xlabel("layer (1 = input side)")
    layer_ax.set_ylabel("‖dL/dW‖ (log scale)")
    layer_ax.set_xticks(range(1, max(len(run.log["layer_sizes"]) for run in runs)))
    layer_ax.grid(True, alpha=0.3)
    layer_ax.legend(fontsize=8)
    statuses = [f"{label}: {analysis.status(run.log)}" for run, label in zip(runs, labels)
                if analysis.status(run.log) != "complete"]
    summary = " · ".join(f"{label}: {loss_and_accuracy(run.summary, 3)}" for run, label in zip(runs, labels))
    fig.suptitle(f"Comparison of {len(runs)} runs\n{summary}" + (f"\nnot complete: {'; '.join(statuses)}"
                                                                if statuses else ""),
                 fontsize=13, color="darkred" if statuses else "black")
    return fig


def write_comparison(runs: list[Run], path: Path) -> Path:
    """Draw the comparison and write it to `path` (format from the suffix)."""
    return save(comparison_figure(runs), path)


def plot_comparison(run_dirs: list[str | Path], out: Path | None = None, fmt: str = "png") -> Path:
    """`bp plot A B ...`: write the comparison to `out`, or compare_<ids>.<fmt> inside the first run
    (not beside it, so that `runs/*` still matches run directories only)."""
    runs = [load_run(run_dir) for run_dir in run_dirs]
    return write_comparison(runs, output_path(out, runs[0].path / comparison_name(runs), fmt))


def _epoch_axes(ax, runs: list[Run], title: str, ylabel: str, log_y: bool) -> None:
    ax.set_title(title)
    epoch_axis(ax, max(analysis.n_epochs(run.log) - 1 for run in runs))
    if log_y:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
