"""The linear (fully connected) layer: Z = X @ W + b, batch-first."""

from __future__ import annotations

from functools import lru_cache
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
    # Adding b in place saves the second (n, d_out) array that X @ W + b allocates; the dtype
    # covers a complex b on real X, W (the complex-step check).
    Z = np.matmul(X, W, dtype=np.result_type(X, W, b))
    Z += b
    return Z, LinearCache(X, W)


def linear_param_grads(dZ: np.ndarray, cache: LinearCache, dW: np.ndarray | None = None,
                       db: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of the affine map's parameters, using the cached input X.

    dZ: (n, d_out) -> dW: (d_in, d_out), db: (d_out,);  dW = Xᵀ dZ;  db = Σ_rows dZ = 1ᵀ dZ
    dW, db: optional arrays of those shapes to write into (e.g. views into a flat gradient).
    """
    dW = np.matmul(cache.X.T, dZ, out=dW)
    # The row sum as a matrix-vector product: one BLAS call, several times faster than dZ.sum(axis=0).
    db = np.matmul(ones_vector(len(dZ)), dZ, out=db)
    return dW, db


@lru_cache(maxsize=16)
def ones_vector(n: int) -> np.ndarray:
    """A read-only vector of n ones, made once per batch size: np.ones costs a microsecond a call."""
    vector = np.ones(n)
    vector.flags.writeable = False
    return vector


def linear_backward(dZ: np.ndarray, cache: LinearCache, dW: np.ndarray | None = None,
                    db: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of the affine map, using the cached input X and weights W.

    dZ: (n, d_out) -> dX: (n, d_in), dW: (d_in, d_out), db: (d_out,)
    dX = dZ Wᵀ;  dW = Xᵀ dZ;  db = Σ_rows dZ   (no 1/n here: the loss gradient carries it)
    dW, db: optional arrays to write into, as in linear_param_grads.
    """
    dW, db = linear_param_grads(dZ, cache, dW, db)
    # A contiguous copy of the small Wᵀ puts BLAS on its fast path for a skinny dZ: about twice
    # as fast as the transposed view at our layer sizes, the same bits.
    return dZ @ np.ascontiguousarray(cache.W.T), dW, db
