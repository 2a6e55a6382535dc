"""bp report: the vanishing-risk and stability rules on hand-made logs and on the shipped configs,
the Markdown table, and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from backprop_cli import analysis, cli
from backprop_cli.cli import app
from backprop_cli.config import load_config
from backprop_cli.recorder import load_run
from backprop_cli.trainer import train_to_dir

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
runner = CliRunner()


def fake_log(weight_norms, loss=None, grad_norm=None, status="complete", vanishing_steps=None) -> dict:
    """A log with the keys the rules read; weight_norms: (E, L)."""
    weight_norms = np.asarray(weight_norms, dtype=float)
    epochs, layers = weight_norms.shape
    return {
        "status": np.array(status), "statistics_logged": np.array(True),
        "layer_sizes": np.array([2] + [4] * (layers - 1) + [1]),
        "vanishing_threshold": np.array(1e-6), "exploding_threshold": np.array(10.0),
        "clip_method": np.array("none"), "clip_threshold": np.array(np.nan),
        "epoch": np.arange(epochs), "loss": np.linspace(1.0, 0.1, epochs) if loss is None else np.asarray(loss),
        "weight_grad_norm": weight_norms,
        "grad_norm": np.ones(epochs) if grad_norm is None else np.asarray(grad_norm, dtype=float),
        "vanishing_steps": np.zeros((epochs, layers), int) if vanishing_steps is None else vanishing_steps,
        "exploding_steps": np.zeros((epochs, layers), int), "clip_fraction": np.zeros(epochs),
    }


@pytest.mark.parametrize("first, level", [(1e-3, "high"), (5e-2, "moderate"), (0.5, "low")])
def test_vanishing_risk_uses_the_early_ratio(first, level):
    norms = np.ones((20, 3))
    norms[:3, 0] = first
    norms[3:, 0] = 1.0  # later the gap closes: the rule must not be fooled by it
    verdict = analysis.vanishing_risk(fake_log(norms))
    assert verdict.level == level
    assert f"{first:.1e}" in verdict.reason


def test_vanishing_risk_high_when_a_layer_is_below_threshold_early():
    steps = np.zeros((10, 2), int)
    steps[1, 0] = 1
    assert analysis.vanishing_risk(fake_log(np.ones((10, 2)), vanishing_steps=steps)).level == "high"


def test_vanishing_risk_edge_cases():
    assert analysis.vanishing_risk(fake_log(np.ones((5, 1)))).level == "low"
    assert analysis.vanishing_risk(fake_log(np.zeros((0, 3)))).level == "n/a"
    no_stats = {"loss": np.ones(3), "statistics_logged": np.array(False)}
    assert analysis.vanishing_risk(no_stats).level == "n/a"


def test_training_stability_levels():
    norms = np.ones((10, 2))
    assert analysis.training_stability(fake_log(norms)).level == "stable"
    spike = np.linspace(1.0, 0.1, 10)
    spike[8] = 0.9  # > 2 × the best so far (0.3 at epoch 7)
    verdict = analysis.training_stability(fake_log(norms, loss=spike))
    assert verdict.level == "spiky" and "1 epoch" in verdict.reason
    grad = np.ones(10)
    grad[2] = 11.3
    verdict = analysis.training_stability(fake_log(norms, grad_norm=grad))
    assert verdict.level == "unstable" and "11.3 > 10" in verdict.reason
    assert analysis.training_stability(fake_log(norms, status="diverged")).level == "diverged"
    assert analysis.training_stability(fake_log(np.zeros((0, 2)))).level == "n/a"


def test_layer_health_uses_the_logged_thresholds():
    log = fake_log(np.ones((1, 5)))
    assert analysis.layer_health([1e-7, 1e-4, 0.5, 20.0, np.nan], log) == [
        "vanishing", "weak", "healthy", "exploding", "non-finite"]


def shipped(root: Path, config: str, epochs: int) -> Path:
    return train_to_dir(load_config(CONFIGS / config, [f"train.epochs={epochs}"]), root)[0]


@pytest.fixture(scope="module")
def shipped_runs(tmp_path_factory) -> dict[str, Path]:
    """The shipped configs, cut short: the rules read the first epochs, where the stories happen."""
    root = tmp_path_factory.mktemp("shipped")
    return {"deep": shipped(root, "deep.yaml", 20), "deep_relu": shipped(root, "deep_relu.yaml", 20),
            "spiral": shipped(root, "spiral.yaml", 60), "spiral_clip": shipped(root, "spiral_clip.yaml", 60)}


def test_shipped_configs_get_the_expected_verdicts(shipped_runs):
    log = {name: load_run(path).log for name, path in shipped_runs.items()}
    assert analysis.vanishing_risk(log["deep"]).level == "high"
    assert log["deep"]["weight_grad_norm"][0, 0] / log["deep"]["weight_grad_norm"][0, -1] < 1e-2
    assert analysis.vanishing_risk(log["deep_relu"]).level == "low"
    assert analysis.training_stability(log["spiral"]).level == "unstable"
    assert analysis.training_stability(log["spiral_clip"]).level == "stable"
    assert analysis.clip_fired_epochs(log["spiral_clip"]).size > 0


def test_report_cli_prints_and_writes_markdown(shipped_runs, tmp_path, monkeypatch):
    monkeypatch.setattr(cli.console, "width", 160)  # a narrow terminal truncates cells with …
    out = tmp_path / "results.md"
    result = runner.invoke(app, ["report", *map(str, shipped_runs.values()), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for word in ("unstable", "stable", "high", "low", "norm ≤ 1"):
        assert word in result.stdout  # the terminal table shows the verdict levels
    lines = out.read_text().splitlines()
    assert lines[0] == "| " + " | ".join(analysis.RESULTS_COLUMNS) + " |"
    rows = [line for line in lines[2:] if line.startswith("| ")]
    assert len(rows) == 4
    spiral = next(row for row in rows if row.startswith("| spiral |"))
    assert "unstable (max ‖g‖" in spiral and "| none |" in spiral
    assert "**vanishing risk**" in out.read_text()


def test_report_default_out_and_bad_path(shipped_runs, tmp_path):
    result = runner.invoke(app, ["report", str(shipped_runs["deep"])])
    assert result.exit_code == 0, result.output
    assert (shipped_runs["deep"] / "results.md").is_file()
    bad = runner.invoke(app, ["report", str(shipped_runs["deep"]), str(tmp_path / "missing")])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.output
    assert len(bad.stderr.strip().splitlines()) == 1


def test_report_row_without_statistics(tmp_path):
    run_dir = train_to_dir(load_config(CONFIGS / "xor.yaml", ["train.epochs=3", "log.enabled=false"]), tmp_path)[0]
    row = analysis.results_row(load_run(run_dir))
    assert row["final gradient norm"] == "n/a"
    assert row["vanishing risk"].startswith("n/a (no gradient statistics")
    assert row["training stability"].startswith("stable")
