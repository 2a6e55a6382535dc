"""The linear (fully connected) layer: Z = X @ W + b, batch-first."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class LinearCache(NamedTuple):
    """What linear_backward needs from the forward pass."""

    X: np.ndarray  # (n, d_in), the layer's input
    W: np.ndarray  # (d_in, d_out)


def linear_forward(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, LinearCache]:
    """Affine map of a batch.

    X: (n, d_in), W: (d_in, d_out), b: (d_out,) -> Z: (n, d_out);  Z = X W + b
    """
    return X @ W + b, LinearCache(X, W)


def linear_backward(dZ: np.ndarray, cache: LinearCache):
    """Gradients of the affine map, using the cached input X and weights W.

    dZ: (n, d_out) -> dX: (n, d_in), dW: (d_in, d_out), db: (d_out,)
    dX = dZ Wᵀ;  dW = Xᵀ dZ;  db = Σ_rows dZ   (no 1/n here: the loss gradient carries it)
    """
    return dZ @ cache.W.T, cache.X.T @ dZ, dZ.sum(axis=0)
