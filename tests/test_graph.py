"""`bp graph`: the computational-graph figure, its annotated values, and bad input."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from backprop_cli import explain
from backprop_cli.cli import app
from backprop_cli.config import load_config, validate_config
from backprop_cli.gradcheck import gradcheck_problem, numerical_gradient
from backprop_cli.network import MLP
from backprop_cli.plotting._common import DPI
from backprop_cli.plotting.graph import graph_figure, plot_graph

from conftest import CONFIGS

matplotlib.use("Agg")
runner = CliRunner()


def bp(*args: str):
    return runner.invoke(app, list(args))


def small_config(loss: str = "mse"):
    raw = {"name": "small", "model": {"layer_sizes": [2, 3, 1], "activation": "tanh"}, "train": {"loss": loss}}
    return validate_config(raw, "test")


def test_graph_values_are_the_networks_forward_and_gradients():
    config = small_config("mse")
    x, y = np.array([0.5, -1.0]), np.array([1.0])
    values = explain.graph_values(config, x, y)
    mlp = MLP.from_config(config)
    weights = mlp.layout.views(gradcheck_problem(config)[1])
    (W1, b1), (W2, b2) = weights
    Z1 = x @ W1 + b1
    Z2 = np.tanh(Z1) @ W2 + b2
    A2 = 1 / (1 + np.exp(-Z2))
    np.testing.assert_allclose(values.Z[0], Z1, rtol=1e-12)
    np.testing.assert_allclose(values.A[1], A2, rtol=1e-12)
    assert values.loss == pytest.approx(0.5 * float(np.sum((y - A2) ** 2)), rel=1e-12)

    params = gradcheck_problem(config)[1]

    def loss_of(v):
        return mlp.loss_value(params, v[None, :], y[None, :])

    np.testing.assert_allclose(values.dx, numerical_gradient(loss_of, x), rtol=1e-6)
    np.testing.assert_allclose(values.dA[1], A2 - y, rtol=1e-12)
    np.testing.assert_allclose(values.dZ[1], (A2 - y) * A2 * (1 - A2), rtol=1e-12)


def test_initial_params_are_the_ones_bp_train_starts_from(tmp_path):
    from backprop_cli.recorder import load_run
    from backprop_cli.trainer import train_to_dir

    config = load_config(CONFIGS / "xor.yaml", ["train.epochs=1"])
    run_dir, _ = train_to_dir(config, tmp_path)
    _, params, X, Y = gradcheck_problem(config)
    run = load_run(run_dir)
    np.testing.assert_array_equal(params, run.params["initial"])
    np.testing.assert_array_equal(X, run.data["X"])
    np.testing.assert_array_equal(Y, run.data["y"])


def test_annotations_show_every_forward_value_and_gradient():
    config = small_config("bce")
    values = explain.graph_values(config, np.array([0.5, -1.0]), np.array([1.0]))
    fig = graph_figure(config, values)
    texts = [t.get_text() for t in fig.axes[0].texts]
    expected = [*values.x, *values.dx, values.loss]
    for Z, A, dZ, dA in zip(values.Z, values.A, values.dZ, values.dA):
        expected += [*Z, *A, *dZ, *([] if dA is None else dA)]
    for value in expected:
        assert f"{value:.3g}" in texts
    labels = {"$x_{1}$", "$x_{2}$", "$z^{(1)}_{3}$", "$a^{(1)}_{3}$", "$z^{(2)}_{1}$", "$a^{(2)}_{1}$", "$L$"}
    assert labels <= set(texts)
    assert len(fig.axes[0].patches) == 2 + 3 * 2 + 2 + 1 + (6 + 3 + 3 + 1 + 1)  # nodes + arrows


def test_plot_graph_writes_a_png_of_the_figure_size(tmp_path):
    config = load_config(CONFIGS / "xor.yaml", None)
    path = plot_graph(config, None, tmp_path / "computational_graph.png")
    height, width = imread(path).shape[:2]
    fig_width, fig_height = graph_figure(config).get_size_inches()
    assert (width, height) == (round(fig_width * DPI), round(fig_height * DPI))


def test_cli_graph_from_config_and_from_layers(tmp_path):
    plain = bp("graph", str(CONFIGS / "spiral.yaml"), "--out", str(tmp_path / "plain.png"))
    assert plain.exit_code == 0, plain.output
    assert plain.output.strip() == str(tmp_path / "plain.png") and (tmp_path / "plain.png").stat().st_size > 10_000
    annotated = bp("graph", "--layers", "2,4,1", "--input", "0.5,-1", "--target", "1",
                   "--out", str(tmp_path / "annotated.svg"))
    assert annotated.exit_code == 0, annotated.output
    assert (tmp_path / "annotated.svg").read_text().startswith("<?xml")


@pytest.mark.parametrize("args, message", [
    ([], "error: give a CONFIG file or --layers"),
    (["--layers", "2,3,1", "--input", "1,2"], "error: --input and --target go together"),
    (["--layers", "2,3,1", "--input", "1,2,3", "--target", "1"], "error: --input has 3 values but the network has 2"),
    (["--layers", "3,3,1"], "error: --layers: model.layer_sizes: first size 3 must equal"),
    (["--layers", "2,40,1"], "error: a layer of 40 units is too wide to draw"),
    (["--layers", "2,3,1", "--out", "graph.gif"], "error: --out graph.gif: the file's suffix: expected one of png, svg, pdf"),
])
def test_cli_graph_bad_input_is_one_clear_line(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = bp("graph", *args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.output and not list(tmp_path.iterdir())
