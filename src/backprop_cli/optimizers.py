"""Optimizers and gradient clipping, each acting in place on one flat float64 array.

The caller owns `params` and `grad` (P,); a step updates `params` in place so that the
per-layer views into it stay valid.
"""

from __future__ import annotations

import numpy as np


class SGD:
    """w -= lr g"""

    def __init__(self, size: int, lr: float):
        self.lr = lr

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:
        params -= self.lr * grad


class Momentum:
    """v = beta v + g;  w -= lr v   (torch.optim.SGD with momentum, dampening 0)"""

    def __init__(self, size: int, lr: float, beta: float):
        self.lr, self.beta = lr, beta
        self.velocity = np.zeros(size)

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:
        self.velocity *= self.beta
        self.velocity += grad
        params -= self.lr * self.velocity


class RMSProp:
    """s = beta s + (1 - beta) g²;  w -= lr g / (√s + eps)   (torch.optim.RMSprop, alpha = beta)"""

    def __init__(self, size: int, lr: float, beta: float, eps: float):
        self.lr, self.beta, self.eps = lr, beta, eps
        self.square_avg = np.zeros(size)

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:
        self.square_avg *= self.beta
        self.square_avg += (1.0 - self.beta) * grad * grad
        params -= self.lr * grad / (np.sqrt(self.square_avg) + self.eps)


class Adam:
    """m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²;  w -= lr m̂ / (√v̂ + eps),
    with m̂ = m / (1 - β1ᵗ), v̂ = v / (1 - β2ᵗ)   (torch.optim.Adam)"""

    def __init__(self, size: int, lr: float, beta1: float, beta2: float, eps: float):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self.t = 0

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:
        self.t += 1
        self.m *= self.beta1
        self.m += (1.0 - self.beta1) * grad
        self.v *= self.beta2
        self.v += (1.0 - self.beta2) * grad * grad
        m_hat = self.m / (1.0 - self.beta1 ** self.t)
        v_hat = self.v / (1.0 - self.beta2 ** self.t)
        params -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "rmsprop": RMSProp, "adam": Adam}


def make_optimizer(optimizer_config, size: int):
    """An optimizer for P = `size` parameters from a config section (config.SGD, Adam, ...)."""
    hyper = optimizer_config.model_dump(exclude={"name"})
    return OPTIMIZERS[optimizer_config.name](size, **hyper)


def clip_by_norm(grad: np.ndarray, threshold: float, norm: float) -> bool:
    """Rescale `grad` in place to L2 norm `threshold` when its global `norm` exceeds it.

    grad: (P,);  g <- g * threshold / ‖g‖ if ‖g‖ > threshold   (torch clip_grad_norm_)
    Returns whether it fired. The caller passes the norm it has already computed.
    """
    if norm > threshold:
        grad *= threshold / norm
        return True
    return False


def clip_by_value(grad: np.ndarray, threshold: float, abs_max: float) -> bool:
    """Clamp every entry of `grad` in place to [-threshold, threshold] (torch clip_grad_value_).

    Returns whether any entry was changed; `abs_max` is max |g|, already computed by the caller.
    """
    if abs_max > threshold:
        np.clip(grad, -threshold, threshold, out=grad)
        return True
    return False
