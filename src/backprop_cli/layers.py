"""The linear (fully connected) layer: Z = X @ W + b, batch-first.

The bias rides inside the matrix product. With X1 = [X, 1] (a column of ones appended) and
Wb = [W; b] (b appended as a last row), X1 Wb = X W + b: one BLAS call does the whole map, no
separate pass adds b, and the bias gradient is the last row of d[W; b] = X1ᵀ dZ, since that row
is 1ᵀ dZ = Σ_rows dZ. The network's flat parameter vector stores b right after W, so there Wb is
a view (network.ParamLayout.blocks), and so is its gradient.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class LinearCache(NamedTuple):
    """What the backward pass needs from the forward pass."""

    X1: np.ndarray  # (n, d_in + 1): the layer's input X with a column of ones appended
    Wb: np.ndarray  # (d_in + 1, d_out): the weights W with the bias b appended as a last row

    @property
    def X(self) -> np.ndarray:
        return self.X1[:, :-1]

    @property
    def W(self) -> np.ndarray:
        return self.Wb[:-1]


def append_ones(X: np.ndarray) -> np.ndarray:
    """X: (n, d) -> X1 = [X, 1]: (n, d + 1)."""
    X1 = np.ones((X.shape[0], X.shape[1] + 1), dtype=X.dtype)
    X1[:, :-1] = X
    return X1


def linear_forward(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, LinearCache]:
    """Affine map of a batch, from separate W and b (a copy into [W; b]; the network has the view).

    X: (n, d_in), W: (d_in, d_out), b: (d_out,) -> Z: (n, d_out);  Z = X W + b
    """
    return linear_forward_stacked(append_ones(X), np.vstack([W, b]))


def linear_forward_stacked(X1: np.ndarray, Wb: np.ndarray,
                           out: np.ndarray | None = None) -> tuple[np.ndarray, LinearCache]:
    """Affine map of a batch, with the bias folded into the product.

    X1: (n, d_in + 1) = [X, 1], Wb: (d_in + 1, d_out) = [W; b] -> Z: (n, d_out);  Z = X1 Wb = X W + b
    out: optional (n, d_out) array to write Z into (the network's reused buffers).
    """
    return np.matmul(X1, Wb, out=out), LinearCache(X1, Wb)


def linear_backward(dZ: np.ndarray, cache: LinearCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of the affine map, using the cached input and weights.

    dZ: (n, d_out) -> dX: (n, d_in), dW: (d_in, d_out), db: (d_out,)
    dX = dZ Wᵀ;  dW = Xᵀ dZ;  db = Σ_rows dZ   (no 1/n here: the loss gradient carries it)
    """
    dX, dWb = linear_backward_stacked(dZ, cache)
    return dX, dWb[:-1], dWb[-1]


def linear_backward_stacked(dZ: np.ndarray, cache: LinearCache, dWb: np.ndarray | None = None,
                            dX: np.ndarray | None = None,
                            input_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
    """linear_backward with the bias folded in: one product gives dW and db together.

    dZ: (n, d_out) -> dX: (n, d_in), dWb: (d_in + 1, d_out);  d[W; b] = X1ᵀ dZ;  dX = dZ Wᵀ
    dWb, dX: optional arrays to write into (views into a flat gradient, reused buffers).
    input_grad: False skips dX (returned as None): the network's input needs no gradient.
    """
    dWb = np.matmul(cache.X1.T, dZ, out=dWb)
    if not input_grad:
        return None, dWb
    if dZ.shape[1] == 1:
        # One output: dZ Wᵀ is an outer product, and numpy's matmul over a length-1 axis skips
        # BLAS for a slow loop (14x slower at 8192 x 256). Broadcasting gives the same bits.
        return np.multiply(dZ, cache.W.T, out=dX), dWb
    return np.matmul(dZ, cache.W.T, out=dX), dWb
