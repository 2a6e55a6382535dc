"""The decision boundary, as TensorFlow Playground draws it: the network's output over the input
plane with the training points on top, before and after training. Recomputed from params.npz and
data.npz with the network's forward pass; nothing is retrained.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from backprop_cli import analysis
from backprop_cli.network import MLP
from backprop_cli.plotting._common import run_description, run_outcome, save, title_color
from backprop_cli.recorder import Run

GRID = 200
ORANGE, BLUE = "#f59322", "#0877bd"  # the Playground's class colours: class 0 orange, class 1 blue
PLAYGROUND = LinearSegmentedColormap.from_list("playground", [ORANGE, "#f5f5f5", BLUE])


def network_of(run: Run) -> MLP:
    """The run's MLP, from its config.yaml."""
    model = run.config["model"]
    return MLP([int(s) for s in run.log["layer_sizes"]], model["activation"], model["output_activation"],
               run.config["train"]["loss"], model.get("leaky_slope", 0.01))


def output_grid(mlp: MLP, params: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The network's output on a GRID × GRID lattice covering X with a 15% margin.

    X: (n, 2), params: (P,) -> xs (GRID,), ys (GRID,), output (GRID, GRID); NaN where not finite.
    """
    low, high = X.min(axis=0), X.max(axis=0)
    margin = 0.15 * np.maximum(high - low, 1e-9)
    xs = np.linspace(low[0] - margin[0], high[0] + margin[0], GRID)
    ys = np.linspace(low[1] - margin[1], high[1] + margin[1], GRID)
    xx, yy = np.meshgrid(xs, ys)
    with np.errstate(all="ignore"):
        out = mlp.predict(params, np.column_stack([xx.ravel(), yy.ravel()]))[:, 0]
    return xs, ys, np.where(np.isfinite(out), out, np.nan).reshape(GRID, GRID)


def boundary_figure(run: Run) -> Figure:
    """Two panels: the output over the plane at initialisation and after training."""
    mlp = network_of(run)
    X, y = run.data["X"], run.data["y"][:, 0]
    identity = run.config["model"]["output_activation"] == "identity"
    fig = Figure(figsize=(13, 6.2), layout="constrained")
    axes = fig.subplots(1, 2)
    epochs = analysis.n_epochs(run.log)
    for ax, key, when in ((axes[0], "initial", "at initialisation (epoch 0)"),
                          (axes[1], "final", f"after {epochs} epochs")):
        params = run.params[key]
        xs, ys, out = output_grid(mlp, params, X)
        with np.errstate(all="ignore"):
            accuracy = float(np.mean((mlp.predict(params, X)[:, 0] > 0.5) == (y > 0.5)))
        mesh = ax.pcolormesh(xs, ys, np.clip(out, 0.0, 1.0), cmap=PLAYGROUND, vmin=0.0, vmax=1.0,
                             shading="auto", rasterized=True)
        if np.nanmin(out) < 0.5 < np.nanmax(out):
            ax.contour(xs, ys, out, levels=[0.5], colors="black", linewidths=1.5)
        elif np.isfinite(out).any():
            side = "class 1" if np.nanmin(out) >= 0.5 else "class 0"
            ax.text(0.5, 0.02, f"no boundary in view: everything predicted {side}", transform=ax.transAxes,
                    ha="center", va="bottom", fontsize=10, bbox={"facecolor": "white", "alpha": 0.85})
        ax.scatter(X[:, 0], X[:, 1], c=np.where(y > 0.5, BLUE, ORANGE), s=90 if len(X) < 50 else 22,
                   edgecolors="black", linewidths=0.6, zorder=3)
        ax.set_title(f"{when}: training accuracy {accuracy:.1%}")
        ax.set_xlabel("input x₁")
        ax.set_ylabel("input x₂")
        ax.set_aspect("equal")
    label = "network output, clipped to [0, 1] (identity output)" if identity else "network output P(class 1)"
    fig.colorbar(mesh, ax=axes, label=label, shrink=0.85)
    handles = [Line2D([], [], marker="o", linestyle="", color=BLUE, markeredgecolor="black", label="class 1"),
               Line2D([], [], marker="o", linestyle="", color=ORANGE, markeredgecolor="black", label="class 0"),
               Line2D([], [], color="black", label="decision boundary (output 0.5)")]
    axes[1].legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.85)
    fig.suptitle(f"{analysis.run_name(run)}: decision boundary\n{run_description(run)}\n{run_outcome(run)}",
                 color=title_color(run))
    return fig


def write_boundary(run: Run, path: Path) -> Path:
    """Draw the decision boundary and write it to `path` (format from the suffix)."""
    return save(boundary_figure(run), path)
