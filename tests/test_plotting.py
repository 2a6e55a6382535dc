"""bp plot: the dashboard's nine panels hold data, files are written, comparisons work, and every
bad input is one line on stderr (or a figure that says what happened), never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from typer.testing import CliRunner

from backprop_cli import recorder
from backprop_cli.cli import app
from backprop_cli.config import load_config
from backprop_cli.plotting._common import MAX_POINTS, bin_max, envelope
from backprop_cli.plotting.compare import comparison_figure
from backprop_cli.plotting.dashboard import dashboard_figure
from backprop_cli.trainer import train_to_dir

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
runner = CliRunner()


def make_run(root: Path, config: str, *overrides: str, interrupt_at: int | None = None, monkeypatch=None) -> Path:
    """Train a shipped config, shrunk by overrides; interrupt_at=k raises Ctrl-C as epoch k starts."""
    cfg = load_config(CONFIGS / config, list(overrides))
    if interrupt_at is not None:
        original, calls = recorder.GradientRecorder.start_epoch, []

        def start_epoch(self, params):
            calls.append(1)
            if len(calls) > interrupt_at:
                raise KeyboardInterrupt
            original(self, params)

        monkeypatch.setattr(recorder.GradientRecorder, "start_epoch", start_epoch)
    run_dir, _ = train_to_dir(cfg, root)
    if interrupt_at is not None:
        monkeypatch.undo()
    return run_dir


SMALL = ("train.epochs=40", "data.n_samples=60")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {
        "spiral": make_run(root, "spiral.yaml", *SMALL),
        "spiral_clip": make_run(root, "spiral_clip.yaml", *SMALL),
        "deep": make_run(root, "deep.yaml", *SMALL),
    }


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def panel_axes(fig) -> dict[int, object]:
    """The dashboard's panels by number, found by their titles ('1. ...' to '9. ...')."""
    panels = {}
    for ax in fig.axes:
        title = ax.get_title()
        if title[:2] in {f"{i}." for i in range(1, 10)}:
            panels[int(title[0])] = ax
    return panels


def drawn_values(ax) -> int:
    """How many finite data values the axes draw (lines, bars, meshes)."""
    count = sum(np.isfinite(np.asarray(line.get_ydata(), dtype=float)).sum() for line in ax.get_lines())
    count += sum(1 for patch in ax.patches if patch.get_height() > 0) if ax.patches else 0
    for collection in ax.collections:
        array = collection.get_array()
        if array is not None:
            count += int(np.isfinite(np.ma.filled(array, np.nan)).sum())
    return int(count)


def test_dashboard_has_nine_panels_each_with_data(runs):
    fig = dashboard_figure(recorder.load_run(runs["deep"]))
    panels = panel_axes(fig)
    assert sorted(panels) == list(range(1, 10))
    for number, ax in panels.items():
        assert drawn_values(ax) > 0, f"panel {number} is empty"
        assert ax.get_xlabel() or number == 9, f"panel {number} has no x label"
        assert ax.get_ylabel(), f"panel {number} has no y label"
    for number in (2, 3, 4, 6):
        assert panels[number].get_legend() is not None, f"panel {number} has several lines but no legend"
    title = fig._suptitle.get_text()
    for fragment in ("deep", "2-10-10-10-1", "sigmoid", "SGD lr 0.5", "clip none", "final loss", "accuracy"):
        assert fragment in title


def test_clipped_run_shows_threshold_and_firing(runs):
    fig = dashboard_figure(recorder.load_run(runs["spiral_clip"]))
    panels = panel_axes(fig)
    labels = [line.get_label() for line in panels[3].get_lines()]
    assert any(label.startswith("clip threshold") for label in labels)
    assert any(label.startswith("clipping fired") or label == "clipping never fired" for label in labels)
    right = [ax for ax in fig.axes if ax is not panels[8] and ax.bbox.bounds == panels[8].bbox.bounds]
    assert any(line.get_label().startswith("clip threshold") for ax in right for line in ax.get_lines())


def test_plot_cli_writes_dashboard_and_boundary(runs):
    result = invoke("plot", runs["spiral"])
    assert result.exit_code == 0, result.output
    for name in ("dashboard.png", "boundary.png"):
        path = runs["spiral"] / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 50_000
        assert str(path) in result.stdout
    height, width = matplotlib.image.imread(runs["spiral"] / "dashboard.png").shape[:2]
    assert width > 1500 and height > 1200


def test_plot_out_and_format(runs, tmp_path):
    result = invoke("plot", runs["spiral"], "--out", tmp_path / "fig.svg", "--format", "svg")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fig.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "fig_boundary.svg").stat().st_size > 10_000
    (tmp_path / "folder").mkdir()
    assert invoke("plot", runs["spiral"], "--out", tmp_path / "folder").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == ["boundary.png", "dashboard.png"]
    assert_one_line_error(invoke("plot", runs["spiral"], "--format", "gif"), "--format gif")
    assert_one_line_error(invoke("plot", runs["spiral"], "--out", tmp_path / "a.png", "--format", "pdf"), "suffix")


def test_comparison_of_real_runs(runs, tmp_path):
    result = invoke("plot", runs["spiral"], runs["spiral_clip"], "--out", tmp_path / "cmp.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cmp.png").stat().st_size > 50_000
    fig = comparison_figure([recorder.load_run(runs["spiral"]), recorder.load_run(runs["spiral_clip"])])
    titles = [ax.get_title() for ax in fig.axes]
    assert any("loss" in t for t in titles) and any("before clipping" in t for t in titles)
    norm_ax = next(ax for ax in fig.axes if "before clipping" in ax.get_title())
    assert any("clip threshold 1" in line.get_label() for line in norm_ax.get_lines())
    for ax in fig.axes:
        assert drawn_values(ax) > 0
    default = invoke("plot", runs["deep"], runs["spiral"])
    assert default.exit_code == 0, default.output
    assert (runs["deep"] / f"compare_{runs['deep'].name}_vs_{runs['spiral'].name}.png").is_file()


def test_bad_paths_are_one_line_errors(runs, tmp_path):
    assert_one_line_error(invoke("plot", tmp_path / "nope"), "not a directory")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(invoke("plot", tmp_path / "empty"), "not a run directory")
    assert_one_line_error(invoke("plot", runs["spiral"], tmp_path / "nope"), "not a directory")


@pytest.fixture()
def copy_of(runs, tmp_path):
    def copy(name: str) -> Path:
        target = tmp_path / name
        target.mkdir()
        for path in runs[name].glob("*.npz"):
            (target / path.name).write_bytes(path.read_bytes())
        for path in ("config.yaml", "summary.json"):
            (target / path).write_bytes((runs[name] / path).read_bytes())
        return target
    return copy


def test_damaged_logs_are_one_line_errors(copy_of):
    missing = copy_of("spiral")
    (missing / "log.npz").unlink()
    assert_one_line_error(invoke("plot", missing), "log.npz: missing")
    truncated = copy_of("spiral_clip")
    data = (truncated / "log.npz").read_bytes()
    (truncated / "log.npz").write_bytes(data[: len(data) // 2])
    assert_one_line_error(invoke("plot", truncated), "corrupt or truncated")
    corrupt = copy_of("deep")
    (corrupt / "log.npz").write_bytes(b"not a zip file at all" * 50)
    assert_one_line_error(invoke("plot", corrupt), "corrupt or truncated")


def test_newer_format_and_missing_keys(copy_of):
    newer = copy_of("spiral")
    log = recorder.read_npz(newer / "log.npz", ())
    recorder.write_npz_atomic(newer / "log.npz", {**log, "format_version": np.array(99)})
    assert_one_line_error(invoke("plot", newer), "format version 99 is newer")
    partial = copy_of("deep")
    log = recorder.read_npz(partial / "log.npz", ())
    recorder.write_npz_atomic(partial / "log.npz", {k: v for k, v in log.items() if k != "update_norm"})
    assert_one_line_error(invoke("plot", partial), "missing keys update_norm")


def test_log_disabled_run_is_a_one_line_error(tmp_path):
    run_dir = make_run(tmp_path, "xor.yaml", "train.epochs=5", "log.enabled=false")
    assert_one_line_error(invoke("plot", run_dir), "no gradient statistics")


def test_zero_epoch_run_is_a_one_line_error(tmp_path, monkeypatch):
    run_dir = make_run(tmp_path, "xor.yaml", "train.epochs=5", interrupt_at=0, monkeypatch=monkeypatch)
    assert json.loads((run_dir / "summary.json").read_text())["epochs_run"] == 0
    assert_one_line_error(invoke("plot", run_dir), "no epochs logged")


def test_interrupted_run_is_plotted_and_says_so(tmp_path, monkeypatch):
    run_dir = make_run(tmp_path, "xor.yaml", "train.epochs=50", interrupt_at=7, monkeypatch=monkeypatch)
    run = recorder.load_run(run_dir)
    assert run.summary["status"] == "interrupted" and len(run.log["loss"]) == 7
    assert "INTERRUPTED" in dashboard_figure(run)._suptitle.get_text()
    assert invoke("plot", run_dir).exit_code == 0
    assert (run_dir / "dashboard.png").stat().st_size > 50_000


def test_diverged_run_is_plotted_and_says_so(tmp_path):
    run_dir = make_run(tmp_path, "spiral.yaml", "train.optimizer.lr=50", "data.n_samples=60", "train.epochs=300")
    run = recorder.load_run(run_dir)
    assert run.summary["status"] == "diverged"
    assert not np.isfinite(run.log["loss"][-1]) or not np.isfinite(run.log["grad_norm"][-1]) \
        or run.log["grad_norm"].max() > 1e100
    fig = dashboard_figure(run)
    assert "DIVERGED" in fig._suptitle.get_text()
    assert len(panel_axes(fig)) == 9
    result = invoke("plot", run_dir)
    assert result.exit_code == 0, result.output
    assert (run_dir / "dashboard.png").stat().st_size > 50_000


def test_envelope_keeps_spikes_and_bounds_points():
    y = np.full(100_000, 1.0)
    y[77_777], y[12_345], y[50_000] = 1e6, 1e-9, np.nan
    x, drawn = envelope(y)
    assert len(x) <= MAX_POINTS and len(x) == len(drawn)
    assert np.nanmax(drawn) == 1e6 and np.nanmin(drawn) == 1e-9
    assert np.all(np.diff(x) >= 0) and x[0] == 0 and x[-1] < 100_000
    short = np.arange(10.0)
    assert np.array_equal(envelope(short)[1], short)
    starts, binned = bin_max(np.column_stack([y, -y]))
    assert binned.shape == (len(starts), 2) and np.nanmax(binned[:, 0]) == 1e6


def test_output_path_keeps_dots_in_names_and_checks_the_format(tmp_path):
    from backprop_cli.errors import BackpropError
    from backprop_cli.plotting._common import output_path

    default = tmp_path / "compare_lr0.5_vs_lr0.1"
    assert output_path(None, default, "png") == tmp_path / "compare_lr0.5_vs_lr0.1.png"
    assert output_path(tmp_path, default, "svg") == tmp_path / "compare_lr0.5_vs_lr0.1.svg"
    with pytest.raises(BackpropError, match="--format gif: expected one of"):
        output_path(None, default, "gif")
