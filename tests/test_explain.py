"""`bp explain`: every value against one computed here by hand, the three-way check, and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from backprop_cli import activations, explain
from backprop_cli.activations import Activation
from backprop_cli.cli import app
from backprop_cli.errors import BackpropError

runner = CliRunner()
X, W, B, Y = np.array([0.5, -1.0]), np.array([0.8, 0.3]), 0.1, 1.0


def bp(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "100"})


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# f, f' written out here, independently of activations.py
BY_HAND = {
    "sigmoid": (sigmoid, lambda z: sigmoid(z) * (1.0 - sigmoid(z))),
    "tanh": (np.tanh, lambda z: 1.0 / np.cosh(z) ** 2),
    "relu": (lambda z: max(z, 0.0), lambda z: float(z > 0)),
    "leaky_relu": (lambda z: z if z > 0 else 0.01 * z, lambda z: 1.0 if z > 0 else 0.01),
}


def values(result) -> dict[str, np.ndarray]:
    return {step.label: step.value for step in result.steps}


def neuron_by_hand(x, w, b, y, activation):
    f, df = BY_HAND[activation]
    z = float(w @ x + b)
    a = f(z)
    dz = (a - y) * df(z)
    return {"z": z, "a": a, "L": 0.5 * (y - a) ** 2, "∂L/∂a": a - y, "∂a/∂z": df(z), "∂L/∂z": dz,
            "∂L/∂w": dz * x, "∂L/∂b": dz}


@pytest.mark.parametrize("activation", sorted(BY_HAND))
def test_neuron_values_equal_the_hand_computed_ones(activation):
    x, w = np.array([0.5, -1.0, 2.0]), np.array([0.8, 0.3, -0.4])  # z = -0.9: both ReLU branches differ
    result = explain.neuron_steps(x, w, 0.1, 1.0, activation)
    expected = neuron_by_hand(x, w, 0.1, 1.0, activation)
    got = values(result)
    assert list(got) == list(expected)
    for label, value in expected.items():
        np.testing.assert_allclose(got[label], np.ravel(value), rtol=1e-12, atol=1e-15, err_msg=label)
    assert result.passed and all(step.passed for step in result.steps)


def test_neuron_bce_is_the_fused_gradient():
    result = explain.neuron_steps(X, W, B, Y, "sigmoid", "bce")
    z = float(W @ X + B)
    got = values(result)
    np.testing.assert_allclose(got["L"], np.log1p(np.exp(z)) - Y * z, rtol=1e-12)
    np.testing.assert_allclose(got["∂L/∂z"], sigmoid(z) - Y, rtol=1e-12)
    np.testing.assert_allclose(got["∂L/∂w"], (sigmoid(z) - Y) * X, rtol=1e-12)
    assert "∂L/∂a" not in got and result.passed


def test_symbolic_and_numerical_agree_with_each_other():
    for result in (explain.neuron_steps(X, W, B, Y, "tanh"),
                   explain.network_steps([2, 3, 2], X, np.array([1.0, 0.0]), "sigmoid", "mse")):
        assert result.symbolic_available
        both = [step for step in result.steps if step.numerical is not None]
        assert len(both) >= 3
        for step in both:
            np.testing.assert_allclose(step.symbolic, step.numerical, rtol=1e-6, atol=1e-10, err_msg=step.label)


def test_a_wrong_derivative_fails_both_checks(monkeypatch):
    def wrong_backward(dA, Z, A, out=None):
        return dA * A  # forgot the (1 - A)

    wrong = Activation("sigmoid", activations.sigmoid_forward, wrong_backward, "output")
    monkeypatch.setitem(activations.ACTIVATIONS, "sigmoid", wrong)
    result = explain.neuron_steps(X, W, B, Y)
    step = {s.label: s for s in result.steps}["∂a/∂z"]
    assert step.passed is False and step.symbolic_error > 0.1 and step.numerical_error > 0.1
    assert not result.passed
    assert {s.label: s.passed for s in result.steps}["z"] is True  # the forward pass is still right
    cli = bp("explain", "neuron")
    assert cli.exit_code == 1
    assert cli.output.count("✗") == 4 and "4/8 steps agree" in cli.output  # ∂a/∂z and all after it


def test_relu_on_its_kink_is_flagged_and_explained():
    result = explain.neuron_steps(X, W, -0.1, Y, "relu")  # z = 0.4 - 0.3 - 0.1 = 0
    assert {s.label: s.passed for s in result.steps}["∂a/∂z"] is False
    assert any("kink" in note for note in result.notes)


def test_without_sympy_the_numerical_check_still_runs(monkeypatch):
    monkeypatch.setattr(explain, "_sympy", lambda: None)
    result = explain.neuron_steps(X, W, B, Y)
    assert not result.symbolic_available
    assert all(step.symbolic is None for step in result.steps)
    assert [step.passed for step in result.steps] == [None] * 3 + [True] * 5
    cli = bp("explain", "neuron")
    assert cli.exit_code == 0
    assert "5/5 steps agree with a central difference" in cli.output
    assert explain.INSTALL_HINT in cli.output


def network_by_hand(given, y, activation_name):
    f, df = (np.vectorize(g) for g in BY_HAND[activation_name])
    x, W1, b1, W2, b2 = (given[k] for k in ("x", "W1", "b1", "W2", "b2"))
    Z1 = x @ W1 + b1
    A1 = f(Z1)
    Z2 = A1 @ W2 + b2
    A2 = sigmoid(Z2)
    d2 = (A2 - y) * A2 * (1 - A2)
    d1 = (W2 @ d2) * df(Z1)
    return {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2, "L": 0.5 * np.sum((y - A2) ** 2), "δ2": d2,
            "∂L/∂W2": np.outer(A1, d2), "∂L/∂b2": d2, "δ1": d1, "∂L/∂W1": np.outer(x, d1), "∂L/∂b1": d1}


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_two_layer_values_equal_the_hand_computed_ones(activation):
    y = np.array([1.0, 0.0])
    result = explain.network_steps([3, 4, 2], np.array([0.5, -1.0, 0.25]), y, activation, "mse", seed=3)
    given = dict(result.given)
    assert given["W1"].shape == (3, 4) and given["W2"].shape == (4, 2)
    expected = network_by_hand(given, y, activation)
    got = values(result)
    assert set(got) == set(expected)
    for label, value in expected.items():
        np.testing.assert_allclose(got[label], np.reshape(value, got[label].shape), rtol=1e-12, atol=1e-15,
                                   err_msg=label)
    assert result.passed
    ratio = np.linalg.norm(expected["∂L/∂W1"]) / np.linalg.norm(expected["∂L/∂W2"])
    assert any(f"= {ratio:.4g}:" in note for note in result.notes)


def test_two_layer_bce_delta_is_output_minus_target():
    y = np.array([1.0])
    result = explain.network_steps([2, 3, 1], X, y, "relu", "bce")
    got = values(result)
    np.testing.assert_allclose(got["δ2"], got["A2"] - y, rtol=1e-12)
    assert result.passed


def test_gradient_ratio_sentences():
    vanishing = explain.gradient_norm_notes([np.full((2, 3), 0.01), np.full((3, 1), 0.1)], "sigmoid")
    ratio = (0.01 * np.sqrt(6)) / (0.1 * np.sqrt(3))
    assert f"= {ratio:.4g}:" in vanishing[1] and f"{1 / ratio:.3g}× more slowly" in vanishing[1]
    exploding = explain.gradient_norm_notes([np.full((2, 3), 1.0), np.full((3, 1), 0.1)], "tanh")
    assert "explode" in exploding[1]


def test_activation_bounds_are_computed():
    bounds, factors = explain.activation_bounds(leaky_slope=0.2, max_layers=10)
    by_name = {bound.name: bound for bound in bounds}
    assert by_name["sigmoid"].code_max == 0.25 and by_name["sigmoid"].exact_max == "1/4"
    assert by_name["tanh"].code_max == 1.0 and by_name["tanh"].exact_max == "1"
    assert by_name["relu"].code_values.tolist() == [0.0, 1.0]
    assert by_name["leaky_relu"].code_values.tolist() == [0.2, 1.0]
    np.testing.assert_array_equal(factors, 0.25 ** np.arange(1, 11))


@pytest.mark.parametrize("text, message", [("0.5,a", "not a comma-separated"), ("1,nan", "not finite")])
def test_parse_values_rejects_bad_text(text, message):
    with pytest.raises(BackpropError, match=message):
        explain.parse_values(text, "--x")


def test_cli_neuron_prints_the_hand_computed_values():
    result = bp("explain", "neuron", "--x", "1,-2,0.5", "--w", "0.3,0.2,-1", "--b", "-0.2", "--y", "0")
    assert result.exit_code == 0, result.output
    x = np.array([1.0, -2.0, 0.5])
    for label, value in neuron_by_hand(x, np.array([0.3, 0.2, -1.0]), -0.2, 0.0, "sigmoid").items():
        for entry in np.ravel(value):
            assert f"{entry + 0.0:.6g}" in result.output, label
    assert "8/8 steps agree with SymPy's exact value and a central difference" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 100


def test_cli_two_layer_prints_the_hand_computed_values():
    result = bp("explain", "two-layer", "--activation", "tanh", "--seed", "1")
    assert result.exit_code == 0, result.output
    given = dict(explain.network_steps([2, 3, 1], X, np.array([1.0]), "tanh", "mse", seed=1).given)
    for label, value in network_by_hand(given, np.array([1.0]), "tanh").items():
        for entry in np.ravel(value):
            assert f"{entry + 0.0:.4g}" in result.output, label
    assert "11/11 steps agree" in result.output and "‖∂L/∂W1‖ / ‖∂L/∂W2‖" in result.output


def test_cli_activations_table():
    result = bp("explain", "activations", "--depth", "12")
    assert result.exit_code == 0, result.output
    assert "1/4" in result.output and f"{0.25 ** 12:.4g}" in result.output and "16,777,216×" in result.output


@pytest.mark.parametrize("args, message", [
    (["neuron", "--x", "1,2,3", "--w", "1,2"], "error: --w has 2 values but --x has 3: give one weight per input"),
    (["neuron", "--loss", "bce", "--activation", "tanh"], "error: --loss bce needs --activation sigmoid"),
    (["neuron", "--activation", "softmax"], "error: --activation: 'softmax' is not one of"),
    (["neuron", "--x", "1,two"], "error: --x: '1,two' is not a comma-separated list of numbers"),
    (["two-layer", "--layers", "2,9,1"], "error: --layers: '2,9,1': each size must be between 1 and 4"),
    (["two-layer", "--layers", "2,3,3,1"], "error: --layers: '2,3,3,1' needs 3 sizes"),
    (["two-layer", "--x", "1,2,3"], "error: --x has 3 values but --layers starts with 2"),
])
def test_cli_bad_options_are_one_clear_line(args, message):
    result = bp("explain", *args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.output
