"""The gradient checker, checked: correct backward passes pass over many seeds, deliberately
broken ones (a sign flipped, a transpose missing, a factor of 2, a wrong bias sum) fail and
name the right component and entry, ReLU kinks never cause a false failure."""

from __future__ import annotations

import numpy as np
import pytest

from backprop_cli import gradcheck as gc
from backprop_cli.activations import Activation, get_activation
from backprop_cli.config import GradcheckConfig, validate_config
from backprop_cli.errors import ConfigError
from backprop_cli.losses import bce_with_sigmoid_loss, mse_loss
from backprop_cli.network import MLP

SEEDS = range(12)


def small_problem(seed: int, activation: str = "tanh", loss: str = "bce", sizes=(2, 5, 4, 1), n: int = 12):
    """A small MLP, random parameters (biases too) and data: (mlp, params, X, Y)."""
    rng = np.random.default_rng(seed)
    output = "sigmoid" if loss == "bce" else "identity"
    mlp = MLP(list(sizes), activation, output, loss)
    params = rng.normal(0.0, 0.8, size=mlp.layout.size)
    X = rng.normal(size=(n, sizes[0]))
    Y = rng.integers(0, 2, size=(n, sizes[-1])).astype(np.float64)
    return mlp, params, X, Y


def builtin():
    return validate_config(gc.BUILTIN_NETWORK, "built-in")


# --- numerical derivatives and the error measures -------------------------------------------------

def test_numerical_gradient_of_a_cubic_any_shape():
    x = np.random.default_rng(0).normal(size=(2, 3))
    grad = gc.numerical_gradient(lambda v: np.sum(v ** 3), x)
    assert grad.shape == x.shape and grad.dtype == np.float64
    np.testing.assert_allclose(grad, 3 * x ** 2, rtol=1e-8)


def test_numerical_gradient_leaves_its_input_untouched():
    x = np.array([1.0, 2.0])
    gc.numerical_gradient(lambda v: float(v @ v), x)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_complex_step_reaches_machine_precision():
    x = np.linspace(-2, 2, 7)
    grad = gc.complex_step_gradient(lambda v: np.sum(np.sin(v)), x)
    np.testing.assert_allclose(grad, np.cos(x), rtol=1e-15, atol=1e-16)


def test_relative_errors_by_hand():
    assert gc.relative_errors(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == (0.0, 0.0)
    assert gc.relative_errors(np.array([1.0]), np.array([-1.0])) == (1.0, 1.0)
    elementwise, normwise = gc.relative_errors(np.array([2.0, 100.0]), np.array([1.0, 100.0]))
    assert elementwise == pytest.approx(1 / 3)
    assert normwise == pytest.approx(1.0 / (np.hypot(2, 100) + np.hypot(1, 100)))


def test_check_gradient_names_the_worst_entry():
    x = np.random.default_rng(1).normal(size=(3, 4))
    analytic = 2 * x
    analytic[1, 2] *= -1
    result = gc.check_gradient(lambda v: np.sum(v * v), x, analytic, component="square")
    assert not result.passed and result.verdict == "FAIL"
    assert result.worst == "[1, 2]"
    assert result.worst_analytic == pytest.approx(-2 * x[1, 2])
    assert result.worst_numerical == pytest.approx(2 * x[1, 2], rel=1e-8)
    assert "[1, 2]: analytic" in result.worst_entry()


def test_a_wrong_shape_fails_and_says_so():
    x = np.ones(3)
    result = gc.check_gradient(lambda v: np.sum(v), x, np.ones(()), component="b")
    assert not result.passed and "shape" in result.worst_entry()


# --- single components: correct ones pass, broken ones fail -------------------------------------

@pytest.mark.parametrize("method", ["central", "complex"])
def test_every_single_component_passes_over_many_seeds(method):
    for seed in SEEDS:
        inputs = gc.component_inputs(np.random.default_rng(seed))
        for result in gc.check_single_components(inputs, method=method):
            assert result.passed, (seed, result.component, result.worst_entry())
            assert result.checked > 0


def _broken(name: str, backward) -> Activation:
    good = get_activation(name)
    return Activation(name, good.forward, backward, good.uses)


@pytest.mark.parametrize("name, backward", [
    ("tanh", lambda dA, Z, A, out=None: -dA * (1 - A * A)),                 # sign flipped
    ("sigmoid", lambda dA, Z, A, out=None: 2 * dA * A * (1 - A)),           # factor of 2
    ("relu", lambda dA, Z, A, out=None: dA * (Z >= 0) * (Z < 0.5)),         # wrong mask
    ("leaky_relu", lambda dA, Z, A, out=None: np.where(Z > 0, dA, 0.1 * dA)),  # wrong slope
])
def test_broken_activation_backward_fails(name, backward):
    inputs = gc.component_inputs(np.random.default_rng(3))
    assert gc.check_activation(get_activation(name), inputs.Z, inputs.G).passed
    result = gc.check_activation(_broken(name, backward), inputs.Z, inputs.G)
    assert not result.passed and result.component == name


def _linear_case(seed: int = 4):
    rng = np.random.default_rng(seed)  # square W, so that a missing transpose still fits the shape
    return rng.normal(size=(6, 4)), rng.normal(size=(4, 4)), rng.normal(size=4), rng.normal(size=(6, 4))


@pytest.mark.parametrize("backward, broken_component", [
    (lambda dZ, c: (dZ @ c.W, c.X.T @ dZ, dZ.sum(axis=0)), "linear X"),         # transpose missing in dX
    (lambda dZ, c: (dZ @ c.W.T, (c.X.T @ dZ).T, dZ.sum(axis=0)), "linear W"),   # dW transposed
    (lambda dZ, c: (dZ @ c.W.T, -(c.X.T @ dZ), dZ.sum(axis=0)), "linear W"),    # sign flipped
    (lambda dZ, c: (dZ @ c.W.T, 2 * c.X.T @ dZ, dZ.sum(axis=0)), "linear W"),   # factor of 2
    (lambda dZ, c: (dZ @ c.W.T, c.X.T @ dZ, dZ.mean(axis=0)), "linear b"),      # mean, not sum
    (lambda dZ, c: (dZ @ c.W.T, c.X.T @ dZ, dZ.sum()), "linear b"),             # summed over everything
    (lambda dZ, c: (dZ @ c.W.T, c.X.T @ dZ, dZ[:4].sum(axis=1)), "linear b"),   # the wrong axis
])
def test_broken_linear_backward_fails_in_its_component_only(backward, broken_component):
    X, W, b, G = _linear_case()
    results = {r.component: r for r in gc.check_linear(X, W, b, G, backward=backward)}
    assert not results[broken_component].passed, results[broken_component]
    for name, result in results.items():
        if name != broken_component:
            assert result.passed, (name, result.worst_entry())


def test_the_real_linear_layer_passes_with_square_weights():
    assert all(r.passed for r in gc.check_linear(*_linear_case()))


@pytest.mark.parametrize("name, loss", [
    ("mse", lambda A, Y: (0.5 * np.sum((A - Y) ** 2) / len(A), (A - Y))),                 # 1/n forgotten
    ("mse", lambda A, Y: (0.5 * np.sum((A - Y) ** 2) / len(A), (Y - A) / len(A))),        # sign flipped
    ("bce", lambda Z, Y: (bce_with_sigmoid_loss(Z, Y)[0], 2 * bce_with_sigmoid_loss(Z, Y)[1])),  # factor 2
])
def test_broken_loss_gradient_fails(name, loss):
    rng = np.random.default_rng(5)
    A, Y = rng.normal(size=(7, 2)), rng.integers(0, 2, size=(7, 2)).astype(float)
    good = mse_loss if name == "mse" else bce_with_sigmoid_loss
    assert gc.check_loss(name, good, A, Y).passed
    assert not gc.check_loss(name, loss, A, Y).passed


# --- ReLU kinks ------------------------------------------------------------------------------------

def test_relu_inputs_at_the_kink_are_checked_one_sided_and_pass():
    relu = get_activation("relu")
    Z = np.array([[0.0, 4e-6, -4e-6, 1.0], [-2.0, 1e-6, 0.3, -0.0]])
    G = np.ones_like(Z)
    result = gc.check_activation(relu, Z, G)
    assert result.passed and result.kinks == 5  # 0, ±4e-6, 1e-6, -0.0
    plain = gc.check_gradient(lambda z: np.sum(relu.forward(z)), Z, relu.backward(G, Z, relu.forward(Z)))
    assert not plain.passed  # without the one-sided treatment, the kink entries would fail


def test_mlp_at_exact_kinks_passes_where_plain_central_differences_fail():
    # XOR's corner (0, 0) with zero biases puts every first-layer pre-activation exactly at 0.
    config = validate_config({"data": {"kind": "xor"}, "model": {"activation": "relu", "layer_sizes": [2, 8, 8, 1]}},
                             "test")
    mlp, params, X, Y = gc.gradcheck_problem(config)
    result = gc.check_mlp(mlp, params, X, Y)
    assert result.passed, result.worst_entry()
    assert result.kinks > 0
    _, analytic = mlp.loss_and_grad(params, X, Y)
    naive = gc.numerical_gradient(lambda p: mlp.loss_value(p, X, Y), params)
    assert not gc.compare("MLP", analytic, naive).passed


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_relu_networks_pass_over_many_seeds(activation):
    for seed in SEEDS:
        for loss in ("bce", "mse"):
            mlp, params, X, Y = small_problem(seed, activation, loss)
            result = gc.check_mlp(mlp, params, X, Y)
            assert result.passed, (seed, loss, result.worst_entry())


# --- the full MLP -------------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_smooth_networks_pass_every_method_over_many_seeds(activation, loss):
    for seed in SEEDS:
        mlp, params, X, Y = small_problem(seed, activation, loss)
        for result in (gc.check_mlp(mlp, params, X, Y), gc.check_mlp_complex(mlp, params, X, Y),
                       gc.check_mlp_directional(mlp, params, X, Y, seed=seed)):
            assert result.passed, (seed, result.component, result.method, result.worst_entry())
            assert result.checked > 0


def test_layered_differences_equal_plain_ones():
    mlp, params, X, Y = small_problem(7, "tanh", "bce", sizes=(2, 6, 5, 3, 2))
    changes, crossed = gc.layered_loss_changes(mlp, params, X, Y, [1e-4, -1e-4])
    base = mlp.loss_value(params, X, Y)
    plain = np.array([[mlp.loss_value(params + s * np.eye(1, len(params), j)[0], X, Y) - base
                       for j in range(len(params))] for s in (1e-4, -1e-4)])
    np.testing.assert_allclose(changes, plain, rtol=1e-7, atol=1e-15)
    assert not crossed.any()


def test_layered_differences_work_in_small_chunks(monkeypatch):
    mlp, params, X, Y = small_problem(8, "relu", "mse", sizes=(2, 7, 6, 1))
    whole = gc.layered_loss_changes(mlp, params, X, Y, [1e-5, -1e-5])
    monkeypatch.setattr(gc, "_CHUNK_ENTRIES", 1)
    chunked = gc.layered_loss_changes(mlp, params, X, Y, [1e-5, -1e-5])
    np.testing.assert_allclose(chunked[0], whole[0], rtol=1e-12, atol=1e-18)
    np.testing.assert_array_equal(chunked[1], whole[1])


def test_every_parameter_is_checked_and_named():
    mlp, params, X, Y = small_problem(2)
    result = gc.check_mlp(mlp, params, X, Y)
    assert result.checked == mlp.layout.size == len(params)
    assert result.worst.startswith(("W", "b"))


def _with_hidden(mlp: MLP, backward) -> MLP:
    mlp.hidden = Activation(mlp.hidden.name, mlp.hidden.forward, backward, mlp.hidden.uses)
    return mlp


def test_broken_hidden_backward_fails_below_the_output_layer():
    mlp, params, X, Y = small_problem(9)
    broken = _with_hidden(mlp, lambda dA, Z, A, out=None: -dA * (1 - A * A))
    for result in (gc.check_mlp(broken, params, X, Y), gc.check_mlp_complex(broken, params, X, Y)):
        assert not result.passed
        assert result.worst[:2] in ("W1", "b1", "W2", "b2")  # layer 3's gradient does not use σ'
    assert not gc.check_mlp_directional(broken, params, X, Y).passed


class WrongBiasSum(MLP):
    """Backward that sums the bias gradient over every entry of δ, not over the batch axis."""

    def backward(self, caches, Y, grad):
        loss, deltas = super().backward(caches, Y, grad)
        for (_, db), delta in zip(self.layout.views(grad), deltas):
            db[...] = delta.sum()
        return loss, deltas


class DoubledOutputDelta(MLP):
    """Backward with the output layer's δ doubled (a factor of 2 dropped from ½(a − y)²)."""

    def backward(self, caches, Y, grad):
        loss, deltas = super().backward(caches, Y, grad)
        W, b = self.layout.views(grad)[-1]
        W *= 2.0
        b *= 2.0
        return loss, deltas


@pytest.mark.parametrize("cls, prefix", [(WrongBiasSum, "b"), (DoubledOutputDelta, ("W3", "b3"))])
def test_broken_network_backward_fails_and_names_the_parameter(cls, prefix):
    _, params, X, Y = small_problem(10, "tanh", "mse")
    mlp = cls([2, 5, 4, 1], "tanh", "identity", "mse")
    result = gc.check_mlp(mlp, params, X, Y)
    assert not result.passed
    assert result.worst.startswith(prefix), result.worst_entry()


def test_complex_step_on_the_spiral_net_meets_its_targets():
    mlp, params, X, Y = gc.gradcheck_problem(builtin())
    result = gc.check_mlp_complex(mlp, params, X, Y)
    assert result.elementwise < 1e-10 and result.normwise < 1e-13


def test_central_on_the_spiral_net_meets_its_targets():
    mlp, params, X, Y = gc.gradcheck_problem(builtin())
    result = gc.check_mlp(mlp, params, X, Y)
    assert result.elementwise < 1e-5 and result.normwise < 1e-8


def test_complex_step_refuses_a_relu_network():
    mlp, params, X, Y = small_problem(0, "relu")
    with pytest.raises(ConfigError, match="smooth"):
        gc.check_mlp_complex(mlp, params, X, Y)


def test_directional_check_skips_kinks_on_both_sides_and_does_not_pass():
    config = validate_config({"data": {"kind": "xor"}, "model": {"activation": "relu"}}, "test")
    mlp, params, X, Y = gc.gradcheck_problem(config)
    result = gc.check_mlp_directional(mlp, params, X, Y, directions=3)
    # every random direction moves some of the zero pre-activations up and others down
    assert result.checked == 0 and len(result.skipped) == 3
    assert result.verdict == "SKIP" and not result.passed


@pytest.mark.parametrize("activation, loss",
                         [("tanh", "bce"), ("sigmoid", "mse"), ("relu", "bce"), ("leaky_relu", "mse")])
def test_batched_forward_matches_the_network(activation, loss):
    mlp, params, X, Y = small_problem(11, activation, loss, sizes=(2, 6, 5, 3, 2))
    thetas = params + np.random.default_rng(12).normal(0.0, 0.3, size=(5, len(params)))
    base = gc._base_pass(mlp, params, X, Y)
    terms, crossed = gc._batched_entry_losses(mlp, base, X, Y, thetas)
    assert terms.shape == (5, 2, len(X)) and crossed.shape == (5,)
    np.testing.assert_allclose(terms.sum(axis=(1, 2)) / len(X), [mlp.loss_value(t, X, Y) for t in thetas], rtol=1e-13)
    signs = gc._hidden_signs(mlp, base.caches)
    if signs is not None:
        expected = [np.any(gc._hidden_signs(mlp, mlp.forward(t, X)[1]) != signs) for t in thetas]
        np.testing.assert_array_equal(crossed, expected)
    else:
        assert not crossed.any()


def test_directional_numerical_equals_a_plain_central_difference():
    mlp, params, X, Y = small_problem(13, "tanh", "bce")
    result = gc.check_mlp_directional(mlp, params, X, Y, directions=1, seed=5, eps=1e-4)
    u = np.random.default_rng(5).standard_normal(len(params))
    u /= np.linalg.norm(u)
    plain = (mlp.loss_value(params + 1e-4 * u, X, Y) - mlp.loss_value(params - 1e-4 * u, X, Y)) / 2e-4
    assert result.worst == "direction 0" and result.worst_numerical == pytest.approx(plain, rel=1e-8)


def test_directional_check_is_deterministic_and_its_directions_unit_vectors():
    mlp, params, X, Y = small_problem(14, "relu", "mse")
    first, second = (gc.check_mlp_directional(mlp, params, X, Y, directions=6, seed=3) for _ in range(2))
    assert first == second and first.passed
    U = gc._directions(3, 6, len(params))
    np.testing.assert_allclose(np.linalg.norm(U, axis=1), 1.0, rtol=1e-15)


class CountingForward(MLP):
    """An MLP that counts its forward passes."""

    calls = 0

    def forward(self, weights, X):
        CountingForward.calls += 1
        return super().forward(weights, X)


@pytest.mark.parametrize("nudged, how, value, passes", [
    ({2: 1.0, 8: 1.0}, "central", -0.5, 2),          # W1[1, 0] (X's column 1 is 0: no unit moves) and b2
    ({4: 1.0, 8: 1.0}, "one-sided", -0.5, 3),        # b1[0] (z = 0 turns on for t > 0: left side) and b2
    ({4: 1.0, 5: -1.0}, "skipped", np.nan, 2),       # b1[0] up, b1[1] down: both sides cross
])
def test_derivative_along_makes_one_forward_pass_per_point(nudged, how, value, passes):
    mlp = CountingForward([2, 2, 1], "relu", "identity", "mse")
    X, Y = np.array([[1.0, 0.0]]), np.array([[0.5]])
    params = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0])  # W1 = 0, b1 = 0: both units at z = 0
    u = np.zeros(len(params))
    u[list(nudged)] = list(nudged.values())
    base = gc._base_pass(mlp, params, X, Y)
    CountingForward.calls = 0
    got_value, got_how = gc._derivative_along(mlp, base, params, X, Y, u, 1e-5)
    # where no unit is on, L(t) = ½ (t − 0.5)² along b2: L'(0) = −0.5
    assert got_how == how and CountingForward.calls == passes
    np.testing.assert_allclose(got_value, value, rtol=1e-8)


def test_describe_problem_takes_the_number_of_points_it_is_given():
    config = builtin()
    expected = "[2, 16, 16, 1] tanh, bce, 200 spiral points"
    assert gc.describe_problem(config) == gc.describe_problem(config, 200) == expected


# --- everything at once, config, sweep -------------------------------------------------------------

def test_check_all_on_the_builtin_network():
    results = gc.check_all(builtin())
    assert [r.component for r in results] == ["sigmoid", "tanh", "relu", "leaky_relu", "identity", "linear W",
                                               "linear b", "linear X", "mse", "bce+sigmoid", "MLP"]
    assert all(r.passed for r in results)
    fast = gc.check_all(builtin(), fast=True, method="complex")[-1]
    assert fast.component.startswith("MLP (") and fast.method == "complex" and fast.passed


def test_check_all_rejects_an_unknown_method():
    with pytest.raises(ConfigError, match="--method"):
        gc.check_all(builtin(), method="forward")


def test_library_tolerances_are_the_config_defaults():
    assert GradcheckConfig().tolerance_table() == gc.TOLERANCES


def test_sweep_range_must_be_ordered():
    with pytest.raises(ConfigError, match="gradcheck: sweep_min must be below sweep_max"):
        validate_config({"gradcheck": {"sweep_min": 1e-2, "sweep_max": 1e-3}}, "test")


def test_eps_sweep_on_a_small_grid():
    grid = gc.eps_grid(1e-2, 1e-8, 4)
    np.testing.assert_allclose(grid, [1e-2, 1e-4, 1e-6, 1e-8])
    sweep = gc.eps_sweep(builtin(), grid)
    arrays = sweep.arrays()
    C = len(sweep.components)
    assert sweep.components[-2:] == ["MLP", "MLP, complex step"]
    assert arrays["elementwise"].shape == arrays["normwise"].shape == arrays["checked"].shape == (C, 4)
    truncation = dict(zip(sweep.components, arrays["truncation"]))
    assert truncation["tanh"] and truncation["MLP"] and not truncation["linear W"]
    assert not truncation["MLP, complex step"]
    # the U: for tanh, 1e-2 (truncation) and 1e-8 (round-off) are both worse than 1e-4
    tanh = arrays["elementwise"][sweep.components.index("tanh")]
    assert tanh[1] < tanh[0] and tanh[1] < tanh[3]
    assert float(arrays["overall_best_elementwise_eps"]) in grid


def test_round_off_spares_only_entries_within_it():
    analytic = np.array([1.0, 2e-9, 0.0])
    within = gc.compare("f", analytic, np.array([1.0, 2.0001e-9, 3e-13]), round_off_atol=1e-12)
    assert within.passed and within.round_off == 2 and within.elementwise > within.elementwise_tolerance
    beyond = gc.compare("f", analytic, np.array([1.0, 2.0001e-9, 3e-11]), round_off_atol=1e-12)
    assert not beyond.passed and beyond.worst == "[2]"
