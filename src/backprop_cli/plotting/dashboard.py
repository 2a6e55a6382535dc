"""The nine-panel gradient-flow dashboard of one run, drawn from its log.npz alone.

Series longer than MAX_POINTS epochs are drawn as each bin's min and max (spikes survive);
everything is computed from the full log. Log axes skip zeros and non-finite values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory

from backprop_cli import analysis
from backprop_cli.plotting._common import (
    LOG_MAX, MAX_POINTS, bin_max, bin_starts, envelope, epoch_axis, output_path, positive, require_plottable, run_description,
    run_outcome, save, title_color,
)
from backprop_cli.plotting.boundary import write_boundary
from backprop_cli.recorder import Run, load_run

HEALTH_COLORS = {"healthy": "tab:green", "weak": "tab:orange", "vanishing": "tab:red",
                 "exploding": "tab:purple", "non-finite": "black"}
CLIP_COLOR = "darkorange"


def dashboard_figure(run: Run) -> Figure:
    """The 3 × 3 dashboard (panels as in issue #3) for a run with gradient statistics."""
    require_plottable(run)
    log = run.log
    fig = Figure(figsize=(19, 15), layout="constrained")
    axes = fig.subplots(3, 3).ravel()
    panels = (_heatmap, _layer_norms, _abs_max_mean, _layer_ratios, _threshold_counts, _update_norms,
              _histogram, _loss_and_max, _final_bars)
    for ax, panel in zip(axes, panels):
        panel(fig, ax, log)
    long_run = analysis.n_epochs(log) > MAX_POINTS
    note = " · long run: lines show each bin's min and max (bins widen with the epoch)" if long_run else ""
    fig.suptitle(f"{analysis.run_name(run)}: gradient flow\n{run_description(run)}\n{run_outcome(run)}{note}",
                 fontsize=14, color=title_color(run))
    return fig


def write_dashboard(run: Run, path: Path) -> Path:
    """Draw the dashboard and write it to `path` (format from the suffix)."""
    return save(dashboard_figure(run), path)


def plot_run(run_dir: str | Path, out: Path | None = None, fmt: str = "png") -> list[Path]:
    """`bp plot RUN`: write RUN/dashboard.<fmt> and RUN/boundary.<fmt> (or `out` and
    <out stem>_boundary beside it; an existing folder `out` gets both names); returns both paths."""
    run = load_run(run_dir)
    dashboard = output_path(out, run.path / "dashboard", fmt)
    beside = out is not None and not Path(out).is_dir()
    boundary = dashboard.with_name(f"{dashboard.stem}_boundary{dashboard.suffix}" if beside
                                   else f"boundary{dashboard.suffix}")
    return [write_dashboard(run, dashboard), write_boundary(run, boundary)]



def _layer_names(log) -> list[str]:
    sizes = [int(s) for s in log["layer_sizes"]]
    return [f"W{i + 1} ({a}×{b})" for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]


def _layer_colors(n_layers: int, cmap: str = "viridis", stop: float = 0.85) -> list:
    return [colormaps[cmap](stop * i / max(n_layers - 1, 1)) for i in range(n_layers)]


def _epoch_axis(ax, log, label: str = "epoch") -> None:
    epoch_axis(ax, analysis.n_epochs(log) - 1, label)


def _log_axis(ax, label: str, *series: np.ndarray, note: bool = True) -> None:
    """Log y fitted to the positive finite values of `series`; a corner note counts what is not drawn."""
    ax.set_yscale("log")
    ax.set_ylabel(f"{label} (log scale)")
    ax.grid(True, which="major", alpha=0.3)
    values = positive(np.concatenate([np.ravel(s) for s in series]))
    shown = values[np.isfinite(values)]
    if shown.size:
        low, high = shown.min(), shown.max()
        ax.set_ylim(low / 2, high * 2 if high > low else low * 10)
    hidden = values.size - shown.size
    if hidden and note:
        ax.text(0.01, 0.01, f"{hidden} values that are 0, non-finite or > {LOG_MAX:.0e}: not drawn",
                transform=ax.transAxes,
                fontsize=8, color="0.35", va="bottom")


def _note(ax, text: str, y: float = 0.5) -> None:
    ax.text(0.5, y, text, transform=ax.transAxes, ha="center", va="center", fontsize=10,
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.7"})


def _threshold_lines(ax, log, values: np.ndarray) -> np.ndarray:
    """Dotted lines at the vanishing/exploding thresholds when they lie within a decade of the
    data; returns the thresholds drawn, for the axis limits."""
    finite = positive(values)
    finite = finite[~np.isnan(finite)]
    drawn = []
    if not finite.size:
        return np.array(drawn)
    low, high = finite.min() / 10, finite.max() * 10
    for key, color, word in (("vanishing_threshold", "tab:blue", "vanishing"),
                             ("exploding_threshold", "tab:red", "exploding")):
        threshold = float(log[key])
        if low <= threshold <= high:
            ax.axhline(threshold, color=color, linestyle=":", linewidth=1.2, label=f"{word} threshold {threshold:g}")
            drawn.append(threshold)
    return np.array(drawn)


def _clip_marks(ax, log) -> None:
    """Orange ticks along the top edge at the epochs where clipping fired, plus the threshold in the legend."""
    if str(log["clip_method"]) == "none":
        return
    fired = analysis.clip_fired_epochs(log)
    if not fired.size:
        ax.plot([], [], " ", label="clipping never fired")
        return
    starts = bin_starts(analysis.n_epochs(log))
    marks = np.unique(starts[np.searchsorted(starts, fired, side="right") - 1])
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    ax.plot(marks, np.full(marks.shape, 0.97), "|", color=CLIP_COLOR, markersize=10, transform=transform,
            label=f"clipping fired ({fired.size} epochs)")


def _heatmap(fig, ax, log) -> None:
    norms = log["weight_grad_norm"]
    epochs, n_layers = norms.shape
    starts, binned = bin_max(norms)
    grid = positive(binned).T  # (L, bins)
    ax.set_title("1. Weight-gradient norm ‖dL/dW‖ per layer")
    ax.set_yticks(range(1, n_layers + 1), _layer_names(log))
    ax.set_ylabel("layer (input side at the bottom)")
    finite = grid[np.isfinite(grid)]
    _epoch_axis(ax, log, "epoch" + (", each cell the max over its bin" if len(starts) < epochs else "")
                + ("; grey: 0 or non-finite" if np.isnan(grid).any() else ""))
    ax.set_ylim(0.5, n_layers + 0.5)
    if not finite.size:
        _note(ax, "no positive finite gradient norms")
        return
    cmap = colormaps["viridis"].with_extremes(bad="0.85")
    x_edges = np.append(starts, epochs) - 0.5 * (epochs > 1)
    mesh = ax.pcolormesh(x_edges, np.arange(n_layers + 1) + 0.5, np.ma.masked_invalid(grid), cmap=cmap,
                         norm=LogNorm(finite.min(), max(finite.max(), finite.min() * 1.0001)))
    ax.set_xlim(x_edges[0], x_edges[-1])
    fig.colorbar(mesh, ax=ax, label="‖dL/dW‖ (log colour scale)")


def _layer_norms(fig, ax, log) -> None:
    norms = log["weight_grad_norm"]
    for layer, (name, color) in enumerate(zip(_layer_names(log), _layer_colors(norms.shape[1]))):
        ax.plot(*envelope(positive(norms[:, layer])), color=color, linewidth=1.2, label=name)
    ax.plot(*envelope(positive(log["grad_norm"])), color="0.3", linewidth=0.9, linestyle="--",
            label="global ‖g‖ (all W and b)")
    thresholds = _threshold_lines(ax, log, np.concatenate([norms.ravel(), log["grad_norm"]]))
    ax.set_title("2. Each layer's gradient norm (before clipping)")
    _epoch_axis(ax, log)
    _log_axis(ax, "‖dL/dW‖", norms, log["grad_norm"], thresholds)
    ax.legend(fontsize=8, loc="best")


def _abs_max_mean(fig, ax, log) -> None:
    ax.plot(*envelope(positive(log["grad_abs_max"])), color="tab:red", linewidth=1.2, label="max |g|")
    ax.plot(*envelope(positive(log["grad_abs_mean"])), color="tab:blue", linewidth=1.2, label="mean |g|")
    _clip_threshold(ax, log)
    ax.set_title("3. Largest and mean |gradient| entry (before clipping)")
    _epoch_axis(ax, log)
    _log_axis(ax, "|dL/dθ|", log["grad_abs_max"], log["grad_abs_mean"], *_clip_series(log))
    ax.legend(fontsize=8, loc="best")


def _clip_threshold(ax, log) -> None:
    """The clip threshold, against ‖g‖ (norm clipping, drawn too) or max |g| (value clipping)."""
    method = str(log["clip_method"])
    if method == "none":
        return
    threshold = float(log["clip_threshold"])
    if method == "norm":
        ax.plot(*envelope(positive(log["grad_norm"])), color="0.25", linewidth=0.9, linestyle=":",
                label="global ‖g‖ (what norm clipping tests)")
        label = f"clip threshold: ‖g‖ > {threshold:g} is rescaled"
    else:
        label = f"clip threshold: |g| > {threshold:g} is clamped"
    ax.axhline(threshold, color=CLIP_COLOR, linestyle="--", linewidth=1.4, label=label)
    _clip_marks(ax, log)


def _clip_series(log) -> list[np.ndarray]:
    """What _clip_threshold draws, so that the axis limits include it."""
    method = str(log["clip_method"])
    if method == "none":
        return []
    threshold = np.atleast_1d(float(log["clip_threshold"]))
    return [log["grad_norm"], threshold] if method == "norm" else [threshold]


def _layer_ratios(fig, ax, log) -> None:
    norms = positive(log["weight_grad_norm"])
    n_layers = norms.shape[1]
    ax.set_title("4. Gradient-norm ratio of consecutive layers")
    _epoch_axis(ax, log)
    if n_layers == 1:
        _note(ax, "one weight layer: no consecutive pair")
        return
    ratios = norms[:, :-1] / norms[:, 1:]
    for layer, color in zip(range(n_layers - 1), _layer_colors(n_layers - 1, "plasma")):
        ax.plot(*envelope(ratios[:, layer]), color=color, linewidth=1.2,
                label=f"‖dW{layer + 1}‖ / ‖dW{layer + 2}‖")
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="1: equal norms")
    _log_axis(ax, "ratio; < 1: smaller toward the input", ratios, np.ones(1))
    ax.legend(fontsize=8, loc="best")


def _threshold_counts(fig, ax, log) -> None:
    n_layers = log["weight_grad_norm"].shape[1]
    x, vanishing = bin_max((log["vanishing_steps"] > 0).sum(axis=1))
    _, exploding = bin_max((log["exploding_steps"] > 0).sum(axis=1))
    vanishing_t, exploding_t = float(log["vanishing_threshold"]), float(log["exploding_threshold"])
    ax.step(x, vanishing, where="post", color="tab:blue", linewidth=1.5,
            label=f"vanishing: ‖dW‖ < {vanishing_t:g}")
    ax.step(x, exploding, where="post", color="tab:red", linewidth=1.5, linestyle="--",
            label=f"exploding: ‖dW‖ > {exploding_t:g}")
    ax.set_ylim(-0.15, n_layers + 0.5)
    ax.set_yticks(range(n_layers + 1))
    ax.set_title("5. Layers past a threshold (at any step of the epoch)")
    _epoch_axis(ax, log, "epoch" + (", max over each bin" if len(x) < analysis.n_epochs(log) else ""))
    ax.set_ylabel(f"layers (of {n_layers})")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    if not (vanishing.any() or exploding.any()):
        _note(ax, "no layer crossed either threshold in any epoch", y=0.6)


def _update_norms(fig, ax, log) -> None:
    updates = log["update_norm"]
    for layer, (name, color) in enumerate(zip(_layer_names(log), _layer_colors(updates.shape[1], "Greens_r", 0.6))):
        ax.plot(*envelope(positive(updates[:, layer])), color=color, linewidth=1.2, label=name)
    ax.set_title("6. Weight-update size per epoch (W and b of each layer)")
    _epoch_axis(ax, log)
    _log_axis(ax, "‖θ after − θ before‖", updates)
    ax.legend(fontsize=8, loc="best")


def _histogram(fig, ax, log) -> None:
    epochs, grads = log["snapshot_epoch"], log["snapshot_grad"]
    if not len(epochs):
        ax.set_title("7. Gradient values")
        _note(ax, "no gradient snapshot in the log")
        return
    values = grads[-1]
    finite = values[np.isfinite(values) & (np.abs(values) <= LOG_MAX)]
    nonzero = finite[finite != 0]
    ax.set_title(f"7. The {values.size} gradient entries at epoch {int(epochs[-1])}")
    ax.set_ylabel("number of parameters")
    ax.set_xlabel("dL/dθ")
    notes = []
    if finite.size > nonzero.size:
        notes.append(f"{finite.size - nonzero.size} exactly 0 (e.g. dead ReLU units): not drawn")
    if finite.size < values.size:
        notes.append(f"{values.size - finite.size} non-finite or beyond ±{LOG_MAX:.0e}: not drawn")
    if notes:
        ax.text(0.02, 0.97, "\n".join(notes), transform=ax.transAxes, va="top", fontsize=9)
    if not nonzero.size:
        ax.set_xticks([])
        _note(ax, "no non-zero finite entry to draw")
        return
    magnitude = np.abs(nonzero)
    linthresh = 10.0 ** np.floor(np.log10(np.percentile(magnitude, 1)))
    top = max(magnitude.max(), linthresh * 10)
    side = np.geomspace(linthresh, top * 1.0001, 25)
    bins = np.concatenate([-side[::-1], side])
    ax.hist(nonzero, bins=bins, color="tab:purple", edgecolor="white", linewidth=0.4)
    ax.set_xscale("symlog", linthresh=linthresh)
    # at most 3 ticks a side counted down from the top, none at ±linthresh: labels never collide with 0
    decades = np.arange(np.log10(linthresh) + 1, np.ceil(np.log10(top)) + 1)[::-1]
    decades = decades[::-(-len(decades) // 3)] if len(decades) else np.log10([linthresh])
    ax.set_xticks(np.concatenate([-(10.0 ** decades[::-1]), [0.0], 10.0 ** decades]))
    ax.set_xlabel(f"dL/dθ (symmetric log scale, linear within ±{linthresh:.0e})")


def _loss_and_max(fig, ax, log) -> None:
    loss = positive(log["loss"])
    loss_line = ax.plot(*envelope(loss), color="black", linewidth=1.3, label="training loss (left)")
    _epoch_axis(ax, log)
    _log_axis(ax, "training loss", log["loss"])
    ax.set_title("8. Loss (left) and max |gradient| (right)")
    right = ax.twinx()
    right.plot(*envelope(positive(log["grad_abs_max"])), color="tab:red", linestyle="--", linewidth=1.1,
               label="max |g| (right)")
    _clip_threshold(right, log)
    _log_axis(right, "max |dL/dθ|", log["grad_abs_max"], *_clip_series(log), note=False)
    right.grid(False)
    right.set_ylabel("max |dL/dθ| (log scale)", color="tab:red")
    right.tick_params(axis="y", colors="tab:red")
    handles = loss_line + right.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=8, loc="lower left", framealpha=0.85)


def _final_bars(fig, ax, log) -> None:
    norms = log["weight_grad_norm"]
    finite_rows = np.nonzero(np.isfinite(norms).all(axis=1))[0]
    row = int(finite_rows[-1]) if finite_rows.size else len(norms) - 1
    final = norms[row]
    health = analysis.layer_health(final, log)
    x = np.arange(1, len(final) + 1)
    heights = positive(final)
    ax.bar(x, np.nan_to_num(heights, nan=0.0), color=[HEALTH_COLORS[h] for h in health], edgecolor="black")
    vanishing, weak = float(log["vanishing_threshold"]), analysis.weak_threshold(log)
    exploding = float(log["exploding_threshold"])
    positive_values = heights[np.isfinite(heights)]
    low = min([vanishing] + list(positive_values)) / 10
    high = max([exploding] + list(positive_values)) * 1000  # headroom for the legend
    ax.set_ylim(low, high)
    ax.set_yscale("log")
    for xi, value, height in zip(x, final, heights):
        ax.annotate(f"{value:.1e}", (xi, height if np.isfinite(height) else low), ha="center", va="bottom",
                    fontsize=8, xytext=(0, 2), textcoords="offset points")
    lines = []
    for value, color, text in ((exploding, "tab:purple", f"exploding above {exploding:g}"),
                               (weak, "tab:orange", f"weak below {weak:g} ({analysis.WEAK_FACTOR:g} × vanishing)"),
                               (vanishing, "tab:red", f"vanishing below {vanishing:g}")):
        lines.append(ax.axhline(value, color=color, linestyle=":", linewidth=1.3, label=text))
    ax.set_xticks(x, _layer_names(log), fontsize=8)
    ax.set_xlabel("layer")
    ax.set_ylabel("‖dL/dW‖ (log scale)")
    ax.set_title(f"9. Final gradient norm per layer (epoch {int(log['epoch'][row])})")
    present = [h for h in HEALTH_COLORS if h in health]
    patches = [Patch(color=HEALTH_COLORS[h], label=f"bar: {h}") for h in present]
    ax.legend(handles=patches + lines, fontsize=8, loc="upper left", ncols=2)
