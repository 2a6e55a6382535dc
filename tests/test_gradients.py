"""Every backward pass against central differences in float64 (gradcheck.numerical_gradient)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_cli.activations import ACTIVATIONS, get_activation
from backprop_cli.gradcheck import numerical_gradient, relative_errors
from backprop_cli.layers import linear_backward, linear_forward
from backprop_cli.losses import bce_with_sigmoid_loss, mse_loss
from backprop_cli.network import MLP, init_params

ELEMENTWISE_BOUND = 1e-7
NORMWISE_BOUND = 1e-7


def away_from_kink(rng, shape, margin=0.1):
    """Values with |z| >= margin, so a ReLU-like kink is never within eps of a sample."""
    Z = rng.standard_normal(shape)
    return np.where(Z >= 0, Z + margin, Z - margin)


@pytest.mark.parametrize("name", [*ACTIVATIONS, "leaky_relu_0.2"])
def test_activation_backward(name):
    rng = np.random.default_rng(0)
    act = get_activation("leaky_relu", 0.2) if name == "leaky_relu_0.2" else ACTIVATIONS[name]
    Z = away_from_kink(rng, (7, 5))
    dA = rng.standard_normal(Z.shape)
    dZ = act.backward(dA, Z, act.forward(Z))
    assert dZ.shape == Z.shape
    # An element-wise function: differentiate each entry on its own, so that a small derivative
    # (leaky ReLU's 0.01) is not drowned in the round-off of a sum over the other entries.
    slope = np.array([numerical_gradient(lambda z: float(act.forward(z)[0]), np.array([z]))[0]
                      for z in Z.ravel()]).reshape(Z.shape)
    assert relative_errors(dZ, dA * slope)[0] < ELEMENTWISE_BOUND


def test_linear_backward_weights_bias_and_input():
    rng = np.random.default_rng(1)
    X, W, b = rng.standard_normal((6, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    dZ = rng.standard_normal((6, 3))
    Z, cache = linear_forward(X, W, b)
    dX, dW, db = linear_backward(dZ, cache)
    assert (dX.shape, dW.shape, db.shape) == (X.shape, W.shape, b.shape)
    assert np.allclose(Z, X @ W + b)
    for analytic, f, at in [
        (dW, lambda w: np.sum(dZ * linear_forward(X, w, b)[0]), W),
        (db, lambda v: np.sum(dZ * linear_forward(X, W, v)[0]), b),
        (dX, lambda x: np.sum(dZ * linear_forward(x, W, b)[0]), X),
    ]:
        assert relative_errors(analytic, numerical_gradient(f, at))[0] < ELEMENTWISE_BOUND


def test_mse_loss_and_gradient():
    rng = np.random.default_rng(2)
    A, Y = rng.standard_normal((8, 1)), (rng.random((8, 1)) > 0.5).astype(float)
    loss, dA = mse_loss(A, Y)
    assert loss == pytest.approx(np.mean(0.5 * (A - Y) ** 2))
    assert relative_errors(dA, numerical_gradient(lambda a: mse_loss(a, Y)[0], A))[0] < ELEMENTWISE_BOUND


def test_bce_with_sigmoid_matches_textbook_and_gradient():
    rng = np.random.default_rng(3)
    Z, Y = 3 * rng.standard_normal((8, 1)), (rng.random((8, 1)) > 0.5).astype(float)
    loss, dZ = bce_with_sigmoid_loss(Z, Y)
    P = 1 / (1 + np.exp(-Z))
    assert loss == pytest.approx(np.mean(-Y * np.log(P) - (1 - Y) * np.log(1 - P)))
    assert relative_errors(dZ, numerical_gradient(lambda z: bce_with_sigmoid_loss(z, Y)[0], Z))[0] < ELEMENTWISE_BOUND


def test_bce_is_finite_for_saturated_logits():
    Z = np.array([[-800.0], [800.0]])
    loss, dZ = bce_with_sigmoid_loss(Z, np.array([[1.0], [0.0]]))
    assert loss == pytest.approx(800.0) and np.all(np.isfinite(dZ))


def mlp_case(activation, loss, sizes=(2, 5, 4, 1), n=9, seed=0):
    rng = np.random.default_rng(seed)
    output = "sigmoid" if loss == "bce" else "identity"
    mlp = MLP(sizes, activation, output, loss, leaky_slope=0.1)
    params = init_params(mlp.layout, "xavier", rng)
    params += 0.05 * rng.standard_normal(params.shape)  # nonzero biases too
    X = rng.standard_normal((n, sizes[0]))
    Y = (rng.random((n, sizes[-1])) > 0.5).astype(float)
    return mlp, params, X, Y


def relu_safe(mlp, params, X) -> bool:
    """True when no hidden pre-activation is within 1e-4 of the kink (then the check is trustworthy)."""
    _, caches = mlp.forward(params, X)
    return all(np.min(np.abs(c.Z)) > 1e-4 for c in caches[:-1])


@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu"])
def test_whole_mlp_every_parameter(activation, loss):
    mlp, params, X, Y = mlp_case(activation, loss)
    assert relu_safe(mlp, params, X)
    value, grad = mlp.loss_and_grad(params, X, Y)
    assert value == pytest.approx(mlp.loss_value(params, X, Y))
    numerical = numerical_gradient(lambda p: mlp.loss_value(p, X, Y), params)
    assert relative_errors(grad, numerical)[1] < NORMWISE_BOUND


def test_backward_writes_gradients_with_parameter_shapes():
    mlp, params, X, Y = mlp_case("tanh", "bce")
    grad = np.zeros_like(params)
    _, caches = mlp.forward(params, X)
    _, deltas = mlp.backward(caches, Y, grad)
    weights, grads = mlp.layout.views(params), mlp.layout.views(grad)
    for (W, b), (dW, db), delta, cache in zip(weights, grads, deltas, caches):
        assert dW.shape == W.shape and db.shape == b.shape and delta.shape == cache.Z.shape
        assert cache.linear.W.shape == W.shape and cache.linear.X.shape[1] == W.shape[0]
    assert grad.any()


@settings(max_examples=25, deadline=None)
@given(hidden=st.lists(st.integers(1, 7), min_size=1, max_size=3), n=st.integers(1, 12),
       activation=st.sampled_from(["sigmoid", "tanh"]), loss=st.sampled_from(["mse", "bce"]),
       seed=st.integers(0, 2**16))
def test_gradient_holds_for_random_shapes(hidden, n, activation, loss, seed):
    mlp, params, X, Y = mlp_case(activation, loss, sizes=(2, *hidden, 1), n=n, seed=seed)
    value, grad = mlp.loss_and_grad(params, X, Y)
    assert np.isfinite(value) and value >= 0
    assert grad.shape == params.shape
    numerical = numerical_gradient(lambda p: mlp.loss_value(p, X, Y), params)
    assert relative_errors(grad, numerical)[1] < NORMWISE_BOUND
