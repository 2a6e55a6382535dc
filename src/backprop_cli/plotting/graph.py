"""The computational graph of an MLP, drawn with matplotlib alone (no Graphviz).

Columns left to right: inputs x, then per layer its pre-activations Z(l) and activations A(l),
then the loss L. Arrows point forward. Given an explain.GraphValues, each node also carries its
forward value (above) and its gradient ∂L/∂node (below).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch

from backprop_cli.plotting._common import check_format, save

RADIUS = 0.3
COLUMN_GAP = 2.4
ROLE_COLORS = {"input": "#9ecae1", "hidden": "#a1d99b", "output": "#fc9272", "loss": "#d9d9d9"}
EDGE_COLORS = {"input": "#3182bd", "hidden": "#31a354", "output": "#de2d26", "loss": "#636363"}
GRADIENT_COLOR = "#6a3d9a"
MAX_HEADS = 3  # arrowheads per target node


def plot_graph(config, values=None, out: Path = Path("computational_graph.png"), source: str | None = None) -> Path:
    """Draw config's network as a computational graph to `out`; annotate it when values are given.

    config: a RunConfig; values: explain.GraphValues for one sample, or None; source: the config
    file's name for the title (None: the network came from --layers).
    """
    out = Path(out)
    check_format(out.suffix.lstrip(".").lower(), f"--out {out}: the file's suffix")
    fig = graph_figure(config, values, source)
    return save(fig, out)


def _columns(layer_sizes, activation: str, output_activation: str, loss: str) -> list[dict]:
    """One dict per node column: role, header, and a mathtext label per node."""
    n_layers = len(layer_sizes) - 1
    columns = [{"role": "input", "header": "inputs\nx",
                "labels": [f"$x_{{{i + 1}}}$" for i in range(layer_sizes[0])]}]
    for layer in range(1, n_layers + 1):
        role = "output" if layer == n_layers else "hidden"
        f = output_activation if layer == n_layers else activation
        source = "x" if layer == 1 else f"A({layer - 1})"
        units = range(layer_sizes[layer])
        columns.append({"role": role, "header": f"Z({layer}) =\n{source} W({layer}) + b({layer})",
                        "labels": [f"$z^{{({layer})}}_{{{j + 1}}}$" for j in units]})
        columns.append({"role": role, "header": f"A({layer}) =\n{f}(Z({layer}))",
                        "labels": [f"$a^{{({layer})}}_{{{j + 1}}}$" for j in units]})
    columns.append({"role": "loss", "header": f"loss\nL ({loss})", "labels": ["$L$"]})
    return columns


def _node_values(values) -> list[tuple[np.ndarray, list]]:
    """(forward values, gradients) per column, in the order of _columns; None where not formed."""
    pairs = [(values.x, list(values.dx))]
    for Z, A, dZ, dA in zip(values.Z, values.A, values.dZ, values.dA):
        pairs += [(Z, list(dZ)), (A, [None] * len(A) if dA is None else list(dA))]
    pairs.append((np.array([values.loss]), [None]))
    return pairs


def graph_figure(config, values=None, source: str | None = None) -> Figure:
    """The figure for plot_graph; columns of nodes coloured by role, forward arrows, optional values."""
    model = config.model
    columns = _columns(model.layer_sizes, model.activation, model.output_activation, config.train.loss)
    tallest = max(len(column["labels"]) for column in columns)
    row_gap = 1.25 if values is not None else 1.0
    width = max(7.0, 1.45 * len(columns) + 0.6)
    caption = _caption(values, config)
    caption_height = 0.17 * (caption.count("\n") + 1) + 0.15  # inches
    height = max(3.6, 0.5 * row_gap * tallest + 1.4 + caption_height)
    fig = Figure(figsize=(width, height))
    bottom = caption_height / height
    ax = fig.add_axes((0.01, bottom, 0.98, 0.92 - bottom))
    centers = [_centers(len(column["labels"]), row_gap) for column in columns]
    xs = [COLUMN_GAP * i for i in range(len(columns))]
    for i in range(len(columns) - 1):
        dense = columns[i + 1]["role"] != "loss" and i % 2 == 0
        _draw_edges(ax, xs[i], centers[i], xs[i + 1], centers[i + 1], dense, EDGE_COLORS[columns[i + 1]["role"]])
    top = row_gap * (tallest - 1) / 2 + RADIUS
    for i, column in enumerate(columns):
        for y, label in zip(centers[i], column["labels"]):
            ax.add_patch(Circle((xs[i], y), RADIUS, facecolor=ROLE_COLORS[column["role"]],
                                edgecolor=EDGE_COLORS[column["role"]], linewidth=1.2, zorder=3))
            ax.text(xs[i], y, label, ha="center", va="center", fontsize=9, zorder=4)
        ax.text(xs[i], top + 0.35, column["header"], ha="center", va="bottom", fontsize=8.5)
    if values is not None:
        _annotate(ax, xs, centers, _node_values(values))
    ax.set_xlim(xs[0] - 1.0, xs[-1] + 1.0)
    ax.set_ylim(-top - (0.55 if values is not None else 0.2), top + 1.1)
    ax.set_aspect("equal", adjustable="box")
    ax.axis("off")
    sizes = ", ".join(str(s) for s in model.layer_sizes)
    origin = f" of {source}" if source else ""
    fig.suptitle(f"computational graph{origin}: layers [{sizes}], {model.activation} hidden, "
                 f"{model.output_activation} output, {config.train.loss} loss", fontsize=11)
    fig.text(0.5, 0.1 / height, caption, ha="center", va="bottom", fontsize=8.5)
    return fig


def _centers(n: int, gap: float) -> np.ndarray:
    """(n,) vertical positions, centred on 0, top unit first."""
    return gap * ((n - 1) / 2 - np.arange(n))


def _draw_edges(ax, x0: float, ys0: np.ndarray, x1: float, ys1: np.ndarray, dense: bool, color: str) -> None:
    """Forward arrows: every pair (a weight matrix) when dense, else unit to unit (an activation).

    Each arrow runs from rim to rim, so its head stays visible in front of the target node; with a
    fan-in above MAX_HEADS the heads would pile up on the node, so those edges are plain lines.
    """
    pairs = [(a, b) for a in ys0 for b in ys1] if dense or len(ys0) != len(ys1) else list(zip(ys0, ys1))
    fan_in = len(pairs) // len(ys1)
    style = "-|>" if fan_in <= MAX_HEADS else "-"
    alpha = 0.7 if len(pairs) <= 16 else 0.4
    for y0, y1 in pairs:
        start, end = np.array([x0, y0]), np.array([x1, y1])
        unit = (end - start) / np.linalg.norm(end - start)
        ax.add_patch(FancyArrowPatch(start + RADIUS * unit, end - RADIUS * unit, arrowstyle=style,
                                     mutation_scale=9, color=color, alpha=alpha, linewidth=0.8,
                                     shrinkA=0, shrinkB=0, zorder=1))


def _annotate(ax, xs, centers, pairs) -> None:
    """Forward value above each node, its gradient ∂L/∂node below (purple), on a white backing."""
    backing = {"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.85}
    for x, ys, (forward, gradients) in zip(xs, centers, pairs):
        for y, value, gradient in zip(ys, forward, gradients):
            ax.text(x, y + RADIUS + 0.04, f"{value:.3g}", ha="center", va="bottom", fontsize=7,
                    zorder=5, bbox=backing)
            if gradient is not None:
                ax.text(x, y - RADIUS - 0.04, f"{gradient:.3g}", ha="center", va="top", fontsize=7,
                        color=GRADIENT_COLOR, zorder=5, bbox=backing)


def _caption(values, config) -> str:
    roles = ("blue: inputs · green: hidden layer · red: output layer · grey: loss; "
             "the forward pass runs left to right")
    if values is None:
        return roles
    x, y = (", ".join(f"{v:g}" for v in array) for array in (values.x, values.y))
    fused = " (bce is fused with the sigmoid: no ∂L/∂a for the output)" if config.train.loss == "bce" else ""
    return (f"{roles}\nsample x = [{x}], y = [{y}]; L = {values.loss:.4g}; weights: bp train's initial ones "
            f"(seed {config.seed})\nabove each node its forward value, below it in purple ∂L/∂node{fused}")
