"""Losses: the batch-mean value and its gradient w.r.t. the network's output.

The 1/n of the batch mean is applied here, once; layers never divide by n.
"""

from __future__ import annotations

import numpy as np


def mse_loss(A: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
    """Half squared error, the classic derivation's loss, averaged over samples.

    A, Y: (n, k) -> L: scalar (complex when A is: the complex-step check), dA: (n, k);  L = (1/n) Σ ½ (A - Y)²,  dA = (A - Y) / n
    """
    diff = A - Y
    n = A.shape[0]
    return 0.5 * np.sum(diff * diff) / n, diff / n  # not vdot: it conjugates, breaking the complex step


def bce_with_sigmoid_loss(Z: np.ndarray, Y: np.ndarray, P: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Binary cross-entropy of sigmoid(Z), fused with the sigmoid: takes logits, not probabilities.

    Z, Y: (n, k) -> L: scalar, dZ: (n, k);  P: σ(Z) when the caller has it already
    L = (1/n) Σ [log(1 + e^Z) - Y Z]   (= -Y log σ(Z) - (1-Y) log(1-σ(Z)), but never log(0))
    dZ = (σ(Z) - Y) / n               (the sigmoid's derivative cancels against the log's)
    """
    n = Z.shape[0]
    loss = (softplus(Z) - Y * Z).sum() / n
    if P is None:
        P = 0.5 * np.tanh(0.5 * Z) + 0.5
    return loss, (P - Y) / n


def softplus(Z: np.ndarray) -> np.ndarray:
    """log(1 + e^Z) without overflow: max(Z, 0) + log1p(e^-|Z|) for real Z (the same as
    np.logaddexp(0, Z), several times faster); for complex Z (the complex-step derivative,
    |Im Z| tiny) the same identity written with log/exp."""
    if not np.iscomplexobj(Z):
        return np.maximum(Z, 0.0) + np.log1p(np.exp(-np.abs(Z)))
    shift = np.maximum(Z.real, 0.0)
    return shift + np.log(np.exp(-shift) + np.exp(Z - shift))
