"""Element-wise activations: forward/backward pairs and a name -> pair table.

Every backward has the signature (dA, Z, A) -> dZ = dA * σ'(Z), and says which cached value
it uses: sigmoid and tanh need only their output A, the ReLU family only its input Z.
Both take an optional `out` array to write their result into (it may be dA itself): the
network's training passes reuse one set of arrays per batch size instead of allocating.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np


def sigmoid_forward(Z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic function, written via tanh so that no exp overflows for large |Z|.

    Z: (n, k) -> A: (n, k);  A = 1 / (1 + e^-Z) = (1 + tanh(Z/2)) / 2
    """
    A = np.multiply(Z, 0.5, out=out)
    np.tanh(A, out=A)  # in place on our own temporary: one (n, k) array instead of four
    A *= 0.5
    A += 0.5
    return A


def sigmoid_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Uses the output A.  dZ = dA * A (1 - A);  σ' peaks at 0.25 (Z = 0)."""
    slope = np.subtract(1.0, A)
    slope *= A
    return np.multiply(dA, slope, out=out)


def tanh_forward(Z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Z: (n, k) -> A: (n, k);  A = tanh(Z)"""
    return np.tanh(Z, out=out)


def tanh_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Uses the output A.  dZ = dA * (1 - A²);  tanh' peaks at 1 (Z = 0)."""
    slope = A * A
    np.subtract(1.0, slope, out=slope)  # in place on our own temporary: large fresh arrays cost page faults
    return np.multiply(dA, slope, out=out)


def relu_forward(Z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Z: (n, k) -> A: (n, k);  A = max(Z, 0)"""
    return np.maximum(Z, 0.0, out=out)


def relu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Uses the input Z.  dZ = dA * [Z > 0]  (the kink at 0 gets derivative 0)."""
    return np.multiply(dA, Z > 0.0, out=out)


def leaky_relu_forward(Z: np.ndarray, out: np.ndarray | None = None, slope: float = 0.01) -> np.ndarray:
    """Z: (n, k) -> A: (n, k);  A = Z if Z > 0 else slope Z  (= max(Z, slope Z), as 0 < slope < 1)"""
    A = np.multiply(Z, slope, out=out)
    return np.maximum(Z, A, out=A)


def leaky_relu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray, out: np.ndarray | None = None,
                        slope: float = 0.01) -> np.ndarray:
    """Uses the input Z.  dZ = dA if Z > 0 else slope dA."""
    return np.multiply(dA, np.where(Z > 0.0, 1.0, slope), out=out)


def identity_forward(Z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """A = Z"""
    if out is None:
        return Z
    np.copyto(out, Z)
    return out


def identity_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """dZ = dA"""
    if out is None:
        return dA
    np.copyto(out, dA)
    return out


@dataclass(frozen=True)
class Activation:
    """A named forward/backward pair; `uses` says which cached value backward reads."""

    name: str
    forward: Callable[..., np.ndarray]   # (Z, out=None) -> A
    backward: Callable[..., np.ndarray]  # (dA, Z, A, out=None) -> dZ
    uses: str


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid_forward, sigmoid_backward, "output"),
    "tanh": Activation("tanh", tanh_forward, tanh_backward, "output"),
    "relu": Activation("relu", relu_forward, relu_backward, "input"),
    "leaky_relu": Activation("leaky_relu", leaky_relu_forward, leaky_relu_backward, "input"),
    "identity": Activation("identity", identity_forward, identity_backward, "output"),
}


def get_activation(name: str, leaky_slope: float = 0.01) -> Activation:
    """The pair for `name`; leaky_relu gets its slope bound in."""
    if name == "leaky_relu":
        return Activation(
            name,
            partial(leaky_relu_forward, slope=leaky_slope),
            partial(leaky_relu_backward, slope=leaky_slope),
            "input",
        )
    return ACTIVATIONS[name]
