"""One step of each optimizer against its update written out by hand; clipping."""

from __future__ import annotations

import numpy as np
import pytest

from backprop_cli.config import Adam as AdamConfig
from backprop_cli.optimizers import SGD, Adam, Momentum, RMSProp, clip_by_norm, clip_by_value, make_optimizer

W0 = np.array([1.0, -2.0, 0.5])
G1 = np.array([0.2, -0.4, 1.0])
G2 = np.array([-0.1, 0.3, 0.5])


def two_steps(optimizer):
    params = W0.copy()
    optimizer.step(params, G1)
    first = params.copy()
    optimizer.step(params, G2)
    return first, params


def test_sgd():
    first, second = two_steps(SGD(3, lr=0.1))
    assert np.allclose(first, W0 - 0.1 * G1)
    assert np.allclose(second, W0 - 0.1 * G1 - 0.1 * G2)


def test_momentum():
    first, second = two_steps(Momentum(3, lr=0.1, beta=0.9))
    v1 = G1
    v2 = 0.9 * v1 + G2
    assert np.allclose(first, W0 - 0.1 * v1)
    assert np.allclose(second, W0 - 0.1 * v1 - 0.1 * v2)


def test_rmsprop():
    first, second = two_steps(RMSProp(3, lr=0.01, beta=0.9, eps=1e-8))
    s1 = 0.1 * G1**2
    s2 = 0.9 * s1 + 0.1 * G2**2
    w1 = W0 - 0.01 * G1 / (np.sqrt(s1) + 1e-8)
    assert np.allclose(first, w1)
    assert np.allclose(second, w1 - 0.01 * G2 / (np.sqrt(s2) + 1e-8))


def test_adam():
    first, second = two_steps(Adam(3, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8))
    m1, v1 = 0.1 * G1, 0.001 * G1**2
    w1 = W0 - 0.01 * (m1 / 0.1) / (np.sqrt(v1 / 0.001) + 1e-8)
    m2, v2 = 0.9 * m1 + 0.1 * G2, 0.999 * v1 + 0.001 * G2**2
    w2 = w1 - 0.01 * (m2 / (1 - 0.9**2)) / (np.sqrt(v2 / (1 - 0.999**2)) + 1e-8)
    assert np.allclose(first, w1) and np.allclose(second, w2)
    # Adam's first step moves every coordinate by about lr, whatever the gradient's scale.
    assert np.allclose(np.abs(first - W0), 0.01, rtol=1e-5)


def test_make_optimizer_passes_hyper_parameters():
    optimizer = make_optimizer(AdamConfig(lr=0.3, beta1=0.5), 4)
    assert isinstance(optimizer, Adam) and optimizer.lr == 0.3 and optimizer.beta1 == 0.5
    assert optimizer.m.shape == (4,)


def test_norm_clip_rescales_to_threshold():
    grad = np.array([3.0, 4.0, 0.0])
    assert clip_by_norm(grad, 1.0, float(np.linalg.norm(grad)))
    assert np.linalg.norm(grad) == pytest.approx(1.0)
    assert np.allclose(grad, [0.6, 0.8, 0.0])  # direction kept


def test_norm_clip_leaves_small_gradients():
    grad = np.array([0.3, 0.4])
    assert not clip_by_norm(grad, 1.0, 0.5)
    assert np.array_equal(grad, [0.3, 0.4])


def test_value_clip_bounds_every_entry():
    grad = np.array([-5.0, 0.2, 3.0, -0.7])
    assert clip_by_value(grad, 0.5, 5.0)
    assert np.array_equal(grad, [-0.5, 0.2, 0.5, -0.5])
    assert not clip_by_value(grad, 1.0, 0.5)
