"""Sweep figures, from a sweep's files alone (sweep.json and its runs' log.npz): per grid value,
the median and 10-90% band over seeds of the training curves, and every seed's final accuracy.

With two or more grid keys (besides the seed), the last key splits the figure into columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from backprop_cli.plotting._common import check_format, positive, save
from backprop_cli.sweep import METRIC_LABELS, METRICS, Group, SweepSummary, bands, load_sweep, value_label

LOG_SCALE = {"loss", "grad_norm", "grad_ratio"}
BAND_NOTE = ("line: median over seeds; band: 10–90% of seeds. After a run diverges, "
             "the curves cover the runs still going.")


def plot_sweep(sweep_dir: str | Path, out_dir: str | Path | None = None, fmt: str = "png") -> list[Path]:
    """Write <name>_sweep_curves and <name>_sweep_final_accuracy (`name`: the base config's)
    into `out_dir`, default the sweep directory."""
    check_format(fmt, f"--format {fmt}")
    summary = load_sweep(sweep_dir)
    out = Path(out_dir) if out_dir is not None else summary.path
    name = summary.index["base"]["name"]
    return [save(curves_figure(summary), out / f"{name}_sweep_curves.{fmt}"),
            save(final_accuracy_figure(summary), out / f"{name}_sweep_final_accuracy.{fmt}")]


def facets(summary: SweepSummary) -> tuple[str | None, list[str]]:
    """The key that splits the figure into columns (the last of two or more), and its value labels."""
    if len(summary.group_keys) < 2:
        return None, [""]
    key = summary.group_keys[-1]
    labels = [value_label(v) for axis in summary.index["grid"] if axis["key"] == key for v in axis["values"]]
    return key, labels


def _in_facet(group: Group, key: str | None, label: str) -> bool:
    return key is None or value_label(group.values[key]) == label


def _name(group: Group, key: str | None) -> str:
    """The group's values other than the facet key's."""
    return " ".join(value_label(v) for k, v in group.values.items() if k != key) or "all"


def _line_label(group: Group, key: str | None) -> str:
    name = _name(group, key)
    extra = f", {int(group.diverged.sum())} diverged" if group.diverged.any() else ""
    failed = f", {group.n_failed} failed" if group.n_failed else ""
    return f"{name} ({len(group.final_accuracy)} runs{extra}{failed})"


def _colors(n: int) -> list:
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    return [colormaps["viridis"](x) for x in np.linspace(0, 0.9, n)]


def _title(summary: SweepSummary) -> str:
    """The sweep's keys, then the base config's main fields, leaving out those the grid sets."""
    base = summary.index["base"]
    model, train = base["model"], base["train"]
    fields = {
        "data.kind": base["data"]["kind"],
        "model.layer_sizes": "-".join(str(s) for s in model["layer_sizes"]),
        "model.activation": model["activation"], "train.loss": train["loss"],
        "train.optimizer.name": train["optimizer"]["name"], "train.optimizer.lr": f"lr {train['optimizer']['lr']:g}",
        "train.clip": "clip " + value_label(train["clip"]) if train["clip"]["method"] != "none" else "no clip",
        "train.epochs": f"{train['epochs']} epochs",
    }
    swept = summary.group_keys
    kept = [text for key, text in fields.items()
            if not any(key == k or key.startswith(k + ".") or k.startswith(key + ".") for k in swept)]
    return f"sweep {summary.index['sweep_id']}: {' × '.join(swept) or 'seeds only'}\nfixed: {' · '.join(kept)}"


def curves_figure(summary: SweepSummary) -> Figure:
    """Rows: loss, gradient norm, first/last-layer ratio, accuracy; one line and band per group."""
    key, columns = facets(summary)
    two_by_two = key is None
    rows, cols = (2, 2) if two_by_two else (len(METRICS), len(columns))
    fig = Figure(figsize=(11, 8) if two_by_two else (4.2 * cols + 1, 12), layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, sharex=True, squeeze=False))
    handles = {}
    for col, facet in enumerate(columns):
        groups = [g for g in summary.groups if _in_facet(g, key, facet)]
        for m, metric in enumerate(METRICS):
            ax = axes.flat[m] if two_by_two else axes[m, col]
            for group, color in zip(groups, _colors(len(groups))):
                line = _draw_band(ax, group.curves[metric], metric, color)
                if line is not None:
                    handles.setdefault((col, group.label), (line, _line_label(group, key)))
            _style(ax, metric, facet if m == 0 and key else None, key)
    for ax in (axes[-1] if not two_by_two else axes[1]):
        ax.set_xlabel("epoch")
    _legend(fig, handles, key, columns, " × ".join(summary.group_keys))
    fig.suptitle(_title(summary) + "\n" + BAND_NOTE, fontsize=10)
    return fig


def _draw_band(ax, curves: np.ndarray, metric: str, color):
    if not curves.size:
        return None
    values = positive(curves) if metric in LOG_SCALE else curves
    median, low, high, _ = bands(values)
    epochs = np.arange(len(median))
    ax.fill_between(epochs, low, high, color=color, alpha=0.2, linewidth=0)
    (line,) = ax.plot(epochs, median, color=color, linewidth=1.4)
    return line


def _style(ax, metric: str, facet: str | None, key: str | None) -> None:
    ax.set_ylabel(METRIC_LABELS[metric], fontsize=9)
    if metric in LOG_SCALE:
        ax.set_yscale("log")
    if metric == "accuracy":
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    if facet is not None:
        ax.set_title(f"{key} = {facet}", fontsize=10)
    ax.grid(True, alpha=0.3)


def _legend(fig: Figure, handles: dict, key: str | None, columns: list[str], title: str) -> None:
    if key is None:
        items = list(handles.values())
        fig.legend([h for h, _ in items], [t for _, t in items], loc="outside lower center",
                   ncols=min(len(items), 3), fontsize=9, title=title or None, title_fontsize=9)
        return
    # One legend per column, under its bottom panel: the same colour means a different group per column.
    for col in range(len(columns)):
        items = [v for (c, _), v in handles.items() if c == col]
        ax = fig.axes[(len(METRICS) - 1) * len(columns) + col]
        ax.legend([h for h, _ in items], [t for _, t in items], loc="upper center",
                  bbox_to_anchor=(0.5, -0.25), fontsize=8, frameon=False)


def final_accuracy_figure(summary: SweepSummary) -> Figure:
    """Final accuracy per grid value: every seed a dot (× when it diverged), the median a bar."""
    key, facet_labels = facets(summary)
    names = list(dict.fromkeys(_name(g, key) for g in summary.groups))
    fig = Figure(figsize=(max(6.5, 1.1 * len(names) * max(1, len(facet_labels) / 2) + 2), 5),
                 layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(facet_labels)
    for f, (facet, color) in enumerate(zip(facet_labels, _colors(len(facet_labels)))):
        for group in (g for g in summary.groups if _in_facet(g, key, facet)):
            x = names.index(_name(group, key)) + (f - (len(facet_labels) - 1) / 2) * width
            _draw_dots(ax, x, group, color, width)
        if key is not None:
            ax.plot([], [], "o", color=color, label=f"{key} = {facet}")
    if any(g.diverged.any() for g in summary.groups):
        ax.plot([], [], "x", color="black", label="diverged run")
    ax.plot([], [], "_", color="black", markersize=14, label="median")
    long_names = max(map(len, names)) > 10
    ax.set_xticks(range(len(names)), names, rotation=20 if long_names else 0, ha="right" if long_names else "center")
    ax.set_xlabel(" × ".join(k for k in summary.group_keys if k != key) or "all runs")
    ax.set_ylabel("final training accuracy")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    n_seeds = max((len(g.points) for g in summary.groups), default=0)
    ax.set_title(f"{_title(summary)}\nfinal accuracy of every seed ({n_seeds} per value)", fontsize=10)
    return fig


def _draw_dots(ax, x: float, group: Group, color, width: float) -> None:
    acc = group.final_accuracy
    if not len(acc):
        return
    spread = np.linspace(-0.3, 0.3, len(acc)) * width if len(acc) > 1 else np.zeros(1)
    ok = ~group.diverged
    ax.scatter(x + spread[ok], acc[ok], s=22, color=color, alpha=0.8, edgecolors="none")
    ax.scatter(x + spread[~ok], acc[~ok], s=30, color=color, marker="x")
    ax.plot([x - 0.4 * width, x + 0.4 * width], [np.median(acc)] * 2, color="black", linewidth=2)
