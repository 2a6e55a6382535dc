"""The ε-sensitivity figure of `bp gradcheck --eps-sweep`, drawn from the sweep's .npz alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from backprop_cli.plotting._common import positive, save
from backprop_cli.recorder import read_npz

SWEEP_KEYS = ("eps", "component", "method", "truncation", "elementwise", "normwise", "checked",
              "overall_best_elementwise_eps", "overall_best_normwise_eps", "network")
PANELS = (("elementwise", "element-wise: max_j |a_j − n_j| / (|a_j| + |n_j|)"),
          ("normwise", "norm-wise: ‖a − n‖ / (‖a‖ + ‖n‖)"))


def plot_epsilon_sweep(sweep_path: Path, out: Path) -> Path:
    """Two log-log panels (element-wise and norm-wise relative error against ε), a line per
    component: bold for the U-shaped curves (a red dot at each one's minimum), thin dotted for
    the components central differences get exactly (round-off only), dashed for the complex
    step; a red vertical line at the overall best ε; the round-off and truncation sides named."""
    sweep = read_npz(Path(sweep_path), SWEEP_KEYS)
    fig = Figure(figsize=(14, 6.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (key, title) in zip(axes, PANELS):
        _draw_panel(ax, sweep, key)
        ax.set_title(title, fontsize=10)
    errors = np.concatenate([sweep["elementwise"].ravel(), sweep["normwise"].ravel()])
    drawn = positive(errors)
    drawn = drawn[~np.isnan(drawn)]
    if drawn.size:
        axes[0].set_ylim(drawn.min() / 1e3, max(drawn.max(), 1.0) * 5)  # room for the region labels
    axes[0].set_ylabel("relative error, analytic vs numerical (log)")
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8.5, title="component",
                   title_fontsize=9, frameon=False)
    fig.suptitle("Gradient check: how the error depends on the finite-difference step ε\n"
                 f"{sweep['network']}; red dots: each U-shaped curve's best ε", fontsize=11)
    return save(fig, Path(out))


def _draw_panel(ax, sweep: dict, key: str) -> None:
    eps = sweep["eps"]
    errors = positive(sweep[key])  # an exact match has no logarithm
    strong = iter(colormaps["tab10"].colors)
    faint = iter(colormaps["Set2"].colors)
    rows = zip(sweep["component"], sweep["method"], sweep["truncation"], errors, sweep["checked"])
    for name, method, truncation, row, checked in rows:
        name, method = str(name), str(method)
        label = name if truncation or method == "complex" else f"{name} (exact: round-off only)"
        if checked.min() < checked.max():
            label += f"\n  {checked.max() - checked.min()} of {checked.max()} skipped (kinks) at ε = {eps[np.argmin(checked)]:.0e}"
        if method == "complex":
            ax.loglog(eps, row, "--", color="black", linewidth=1.6, label=f"{label} (h = ε)")
            continue
        bold = name == "MLP"
        color = "black" if bold else next(strong if truncation else faint)
        ax.loglog(eps, row, "-" if truncation else ":", marker="." if truncation else None, markersize=4,
                  linewidth=2.4 if bold else 1.5 if truncation else 1.3, color=color, label=label)
        if truncation and np.isfinite(row).any():
            k = int(np.nanargmin(row))
            ax.plot(eps[k], row[k], "o", color="red", markersize=5, zorder=5)
    best = float(sweep[f"overall_best_{key}_eps"])
    ax.axvline(best, color="red", linewidth=1.2)
    ax.text(best, 0.985, f" best ε = {best:.1e}", color="red", transform=ax.get_xaxis_transform(),
            va="top", ha="left", fontsize=9)
    _regions(ax)
    ax.set_xlim(eps.min() / 3, eps.max() * 3)
    ax.set_xlabel("step ε (log)")
    ax.grid(True, which="major", alpha=0.3)


def _regions(ax) -> None:
    """Name the two sides of the U: round-off ∝ 1/ε at small ε (left), truncation ∝ ε² at large ε."""
    style = {"transform": ax.transAxes, "fontsize": 8.5, "color": "0.25", "va": "bottom",
             "bbox": {"boxstyle": "round", "facecolor": "white", "edgecolor": "0.8", "alpha": 0.9}}
    ax.text(0.02, 0.02, "← round-off error\n    (∝ 1/ε) dominates", ha="left", **style)
    ax.text(0.98, 0.02, "truncation error →\n(∝ ε²) dominates", ha="right", **style)
