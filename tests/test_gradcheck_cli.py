"""`bp gradcheck`: the table, exit codes, one-line errors, the ε sweep's files and figure."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from backprop_cli.cli import app
from backprop_cli.recorder import read_npz

matplotlib.use("Agg")  # figures are drawn on matplotlib.figure.Figure; no display either way

COMPONENTS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity", "linear W", "linear b", "linear X", "mse",
              "bce+sigmoid", "MLP")


@pytest.fixture
def runner():
    return CliRunner()


def test_builtin_network_passes_with_a_row_per_component(runner):
    result = runner.invoke(app, ["gradcheck"])
    assert result.exit_code == 0, result.output
    for name in COMPONENTS:
        assert f"\n {name} " in result.output
    assert result.output.count("PASS") == len(COMPONENTS)
    assert "11/11 components pass" in result.output


@pytest.mark.parametrize("options, row", [(["--method", "complex"], " MLP "), (["--fast"], " MLP (4 dirs) ")])
def test_complex_and_fast_pass(runner, options, row):
    result = runner.invoke(app, ["gradcheck", *options])
    assert result.exit_code == 0, result.output
    assert row in result.output and "FAIL" not in result.output


def test_a_failure_exits_1_and_names_the_worst_entry(runner):
    result = runner.invoke(app, ["gradcheck", "--set", "gradcheck.normwise_tolerance=1e-16"])
    assert result.exit_code == 1
    assert "FAIL MLP: worst W" in result.output or "FAIL MLP: worst b" in result.output
    assert "analytic" in result.output and "numerical" in result.output


def test_a_config_file_is_checked_with_its_kinks_reported(runner, tmp_path):
    config = tmp_path / "relu.yaml"
    config.write_text("data: {kind: xor}\nmodel: {activation: relu}\n")
    result = runner.invoke(app, ["gradcheck", str(config)])
    assert result.exit_code == 0, result.output
    assert "[2, 8, 8, 1] relu, bce, 4 xor points" in result.output
    assert "MLP: " in result.output and "kink" in result.output


@pytest.mark.parametrize("args, message", [
    (["--method", "forward"], "error: --method forward: expected central or complex"),
    (["--eps", "-1"], "error: built-in network: gradcheck.eps: Input should be greater than 0"),
    (["--eps-min", "0.5", "--eps-max", "0.1", "--eps-sweep"], "sweep_min must be below sweep_max"),
    (["missing.yaml"], "error: missing.yaml: no such config file"),
    (["--set", "model.activation=relu", "--method", "complex"], "error: --method complex needs a smooth network"),
    (["--eps-sweep", "--fast"], "error: --eps-sweep runs every method itself"),
    (["--eps-sweep", "--out-dir", "pyproject.toml"], "error: --out-dir pyproject.toml: is a file, not a folder"),
])
def test_bad_input_is_one_line_and_exit_2(runner, args, message):
    result = runner.invoke(app, ["gradcheck", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_eps_sweep_writes_the_npz_and_the_figure(runner, tmp_path):
    result = runner.invoke(app, ["gradcheck", "--eps-sweep", "--eps-max", "1e-2", "--eps-min", "1e-8",
                                 "--set", "gradcheck.sweep_points=4", "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    sweep = read_npz(tmp_path / "epsilon_sweep.npz", ("eps", "component", "elementwise", "normwise"))
    np.testing.assert_allclose(sweep["eps"], [1e-2, 1e-4, 1e-6, 1e-8])
    assert sweep["elementwise"].shape == (len(COMPONENTS) + 1, 4)  # + the MLP by complex step
    assert "overall best ε" in result.output and "MLP, complex step" in result.output
    image = imread(tmp_path / "epsilon_sensitivity.png")
    assert image.shape[0] > 500 and image.shape[1] > 1200
