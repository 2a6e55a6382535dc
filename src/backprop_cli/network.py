"""The MLP: one flat parameter buffer, per-layer views, full forward and backward passes.

Layer l (1-based, L layers) maps A(l-1): (n, d(l-1)) to A(l): (n, d(l)) by
Z(l) = A(l-1) W(l) + b(l), A(l) = σ(Z(l)); hidden layers share one activation, the output
layer has its own. Backward is the matrix chain rule:
δ(L) = dL/dZ(L);  δ(l) = (δ(l+1) W(l+1)ᵀ) ⊙ σ'(Z(l));  dW(l) = A(l-1)ᵀ δ(l);  db(l) = Σ_rows δ(l).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from backprop_cli.activations import Activation, get_activation
from backprop_cli.layers import LinearCache, linear_backward, linear_forward, linear_param_grads
from backprop_cli.losses import bce_with_sigmoid_loss, mse_loss


@dataclass(frozen=True)
class ParamLayout:
    """Where each layer's W and b live in the flat parameter vector.

    offsets: (2L + 1,) start of W1, b1, W2, b2, ..., then the total size P.
    W(l) is stored row-major with shape (d(l-1), d(l)); b(l) has shape (d(l),).
    """

    layer_sizes: tuple[int, ...]
    offsets: np.ndarray

    @classmethod
    def for_sizes(cls, layer_sizes) -> ParamLayout:
        sizes = tuple(int(s) for s in layer_sizes)
        lengths = []
        for d_in, d_out in zip(sizes[:-1], sizes[1:]):
            lengths += [d_in * d_out, d_out]
        return cls(sizes, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))

    @property
    def n_layers(self) -> int:
        return len(self.layer_sizes) - 1

    @property
    def size(self) -> int:
        """P, the number of parameters."""
        return int(self.offsets[-1])

    @property
    def layer_offsets(self) -> np.ndarray:
        """(L + 1,) start of each layer's [W, b] block, then P."""
        return self.offsets[::2]

    def views(self, flat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(W1, b1), ...] as views into `flat` (P,): writing to them writes to `flat`."""
        out = []
        for layer in range(self.n_layers):
            w0, b0, b1 = self.offsets[2 * layer: 2 * layer + 3]
            d_in, d_out = self.layer_sizes[layer], self.layer_sizes[layer + 1]
            out.append((flat[w0:b0].reshape(d_in, d_out), flat[b0:b1]))
        return out

    def describe(self, index: int) -> str:
        """Human name of flat entry `index`, e.g. 'W2[3, 0]' or 'b1[4]' (layers 1-based)."""
        segment = int(np.searchsorted(self.offsets, index, side="right")) - 1
        layer, is_bias = divmod(segment, 2)
        local = index - int(self.offsets[segment])
        if is_bias:
            return f"b{layer + 1}[{local}]"
        row, col = divmod(local, self.layer_sizes[layer + 1])
        return f"W{layer + 1}[{row}, {col}]"


def init_params(layout: ParamLayout, init: str, rng: np.random.Generator, init_std: float = 0.1) -> np.ndarray:
    """A fresh flat parameter vector (P,): weights drawn per `init`, biases zero.

    xavier: N(0, 2/(d_in + d_out));  he: N(0, 2/d_in);  normal: N(0, init_std²)
    """
    params = np.zeros(layout.size)
    for W, _ in layout.views(params):
        d_in, d_out = W.shape
        std = {"xavier": np.sqrt(2.0 / (d_in + d_out)), "he": np.sqrt(2.0 / d_in)}.get(init, init_std)
        W[...] = rng.normal(0.0, std, size=W.shape)
    return params


class LayerCache(NamedTuple):
    """One layer's forward values, kept for backward."""

    linear: LinearCache
    Z: np.ndarray  # (n, d_out) pre-activation
    A: np.ndarray  # (n, d_out) activation


class MLP:
    """A fully connected network: layer sizes, hidden and output activations, and a loss.

    Holds no parameters: every call takes them, as per-layer views (`layout.views(flat)`)
    or, for the convenience methods, as the flat vector.
    """

    def __init__(self, layer_sizes, activation: str = "tanh", output_activation: str = "sigmoid",
                 loss: str = "bce", leaky_slope: float = 0.01):
        if loss == "bce" and output_activation != "sigmoid":
            raise ValueError("bce is fused with a sigmoid output")
        self.layout = ParamLayout.for_sizes(layer_sizes)
        self.hidden: Activation = get_activation(activation, leaky_slope)
        self.output: Activation = get_activation(output_activation)
        self.loss = loss

    @classmethod
    def from_config(cls, config) -> MLP:
        """Build from a config.RunConfig."""
        model = config.model
        return cls(model.layer_sizes, model.activation, model.output_activation,
                   config.train.loss, model.leaky_slope)

    def forward(self, weights, X: np.ndarray) -> tuple[np.ndarray, list[LayerCache]]:
        """X: (n, d0) -> output A(L): (n, d(L)) and every layer's cache."""
        caches = []
        A = X
        last = len(weights) - 1
        for layer, (W, b) in enumerate(weights):
            Z, linear = linear_forward(A, W, b)
            A = (self.output if layer == last else self.hidden).forward(Z)
            caches.append(LayerCache(linear, Z, A))
        return A, caches

    def backward(self, caches: list[LayerCache], Y: np.ndarray, grads) -> tuple[float, list[np.ndarray]]:
        """Loss and gradient; writes dW, db straight into `grads` (views like `weights`).

        Y: (n, d(L)). Returns the loss and δ(l) = dL/dZ(l) for every layer, (n, d(l)) each.
        """
        out = caches[-1]
        if self.loss == "bce":
            loss, dZ = bce_with_sigmoid_loss(out.Z, Y, out.A)  # fused: δ(L) = (A - Y) / n
        else:
            loss, dA = mse_loss(out.A, Y)
            dZ = self.output.backward(dA, out.Z, out.A)
        deltas = [dZ]
        for layer in range(len(caches) - 1, 0, -1):
            dA_prev, _, _ = linear_backward(dZ, caches[layer].linear, *grads[layer])
            prev = caches[layer - 1]
            dZ = self.hidden.backward(dA_prev, prev.Z, prev.A)
            deltas.append(dZ)
        linear_param_grads(dZ, caches[0].linear, *grads[0])  # the input X needs no gradient
        deltas.reverse()
        return loss, deltas

    def loss_and_grad(self, params: np.ndarray, X: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
        """Flat in, flat out: params (P,) -> loss, grad (P,)."""
        grad = np.zeros_like(params)
        _, caches = self.forward(self.layout.views(params), X)
        loss, _ = self.backward(caches, Y, self.layout.views(grad))
        return loss, grad

    def evaluate(self, params: np.ndarray, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, float]:
        """Output (n, d(L)) and loss L of flat params (P,), from one forward pass."""
        output, caches = self.forward(self.layout.views(params), X)
        if self.loss == "bce":
            return output, bce_with_sigmoid_loss(caches[-1].Z, Y)[0]
        return output, mse_loss(output, Y)[0]

    def loss_value(self, params: np.ndarray, X: np.ndarray, Y: np.ndarray) -> float:
        """The loss alone, for numerical gradients: params (P,) -> L."""
        return self.evaluate(params, X, Y)[1]

    def predict(self, params: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Network output (n, d(L)) for flat params (P,)."""
        return self.forward(self.layout.views(params), X)[0]
