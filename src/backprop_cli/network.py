"""The MLP: one flat parameter buffer, per-layer views, full forward and backward passes.

Layer l (1-based, L layers) maps A(l-1): (n, d(l-1)) to A(l): (n, d(l)) by
Z(l) = A(l-1) W(l) + b(l), A(l) = σ(Z(l)); hidden layers share one activation, the output
layer has its own. Backward is the matrix chain rule:
δ(L) = dL/dZ(L);  δ(l) = (δ(l+1) W(l+1)ᵀ) ⊙ σ'(Z(l));  dW(l) = A(l-1)ᵀ δ(l);  db(l) = Σ_rows δ(l).
Each layer's W and b are one block [W; b] of the flat vector, so each layer is one matrix product
with the bias folded in (layers.py), forward and backward.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

from backprop_cli.activations import Activation, get_activation
from backprop_cli.layers import LinearCache, linear_backward_stacked, linear_forward_stacked
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

    @cached_property
    def _block_spans(self) -> list[tuple[int, int, tuple[int, int]]]:
        """(start, stop, (d_in + 1, d_out)) of each layer's [W; b] block, as plain ints."""
        starts = self.layer_offsets.tolist()
        return [(start, stop, (d_in + 1, d_out)) for start, stop, d_in, d_out
                in zip(starts[:-1], starts[1:], self.layer_sizes[:-1], self.layer_sizes[1:])]

    def blocks(self, flat: np.ndarray) -> list[np.ndarray]:
        """[[W1; b1], [W2; b2], ...]: each layer's (d_in + 1, d_out) block of `flat` (P,), a view.
        b(l) follows W(l) in `flat`, so the block is W(l) with b(l) as its last row. A stack of
        vectors (K, P) gives stacks of blocks (K, d_in + 1, d_out)."""
        lead = flat.shape[:-1]
        return [flat[..., start:stop].reshape(lead + shape) for start, stop, shape in self._block_spans]

    def views(self, flat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(W1, b1), ...] as views into `flat` (P,): writing to them writes to `flat`."""
        return [(block[:-1], block[-1]) for block in self.blocks(flat)]

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


class Workspace:
    """The arrays of a forward and backward pass on n samples, made once and reused by every
    training step of that batch size: fresh multi-megabyte arrays every step cost more in page
    faults than the arithmetic on them (a third of the 8192-sample, 256-wide net's epoch).

    inputs[l]: (n, d(l) + 1), layer l+1's input [A(l), 1] (A(0) = X);  Z[l]: (n, d(l+1));
    A[l]: A(l+1), a view of inputs[l+1] (the last: of output, (n, d(L)));  dA[l]: (n, d(l+1))
    per hidden layer. Column-major (order F): the shapes stay batch-first, but each unit's column
    is contiguous, so A(l) = inputs[l][:, :-1] is one contiguous block that the activation writes
    straight into. A pass overwrites the previous one's values: its caches and deltas are good
    until the next pass.
    """

    def __init__(self, layout: ParamLayout, n: int, dtype=np.float64):
        sizes, L = layout.layer_sizes, layout.n_layers
        arrays = _aligned_arrays([(n, d + 1) for d in sizes[:-1]] + [(n, d) for d in sizes[1:]]
                                 + [(n, sizes[-1])] + [(n, d) for d in sizes[1:-1]], dtype)
        self.inputs, self.Z, self.output, self.dA = arrays[:L], arrays[L:2 * L], arrays[2 * L], arrays[2 * L + 1:]
        for X1 in self.inputs:
            X1[:, -1] = 1.0
        self.A = [X1[:, :-1] for X1 in self.inputs[1:]] + [self.output]  # views: where A(1)..A(L) go


def _aligned_arrays(shapes: list[tuple[int, int]], dtype, alignment: int = 64) -> list[np.ndarray]:
    """Empty column-major arrays of `shapes`, cut from one allocation, each starting on a 64-byte
    boundary: with malloc's 16-byte alignment, where an array happened to land moved a whole pass
    by 3-5% (vector loads straddling cache lines), enough to decide a benchmark's ratio."""
    step = alignment // np.dtype(dtype).itemsize
    lengths = [-(-rows * cols // step) * step for rows, cols in shapes]  # whole 64-byte lines each
    raw = np.empty(sum(lengths) + step, dtype)
    start = (-raw.ctypes.data % alignment) // raw.itemsize
    arrays = []
    for (rows, cols), length in zip(shapes, lengths):
        arrays.append(raw[start:start + rows * cols].reshape((rows, cols), order="F"))
        start += length
    return arrays


class MLP:
    """A fully connected network: layer sizes, hidden and output activations, and a loss.

    Holds no parameters: every call takes them as the flat vector (P,), and the backward pass
    writes the gradient into a flat vector of the same layout.
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

    def forward(self, params: np.ndarray, X: np.ndarray,
                workspace: Workspace | None = None) -> tuple[np.ndarray, list[LayerCache]]:
        """params: (P,), X: (n, d0) -> output A(L): (n, d(L)) and every layer's cache.

        workspace: the arrays to compute in (see Workspace); fresh ones when None.
        """
        if workspace is None:
            workspace = Workspace(self.layout, len(X), np.result_type(params, X))
        workspace.inputs[0][:, :-1] = X
        caches = []
        last = self.layout.n_layers - 1
        for layer, (Wb, X1, Z, A) in enumerate(zip(self.layout.blocks(params), workspace.inputs,
                                                   workspace.Z, workspace.A)):
            _, linear = linear_forward_stacked(X1, Wb, out=Z)
            (self.output if layer == last else self.hidden).forward(Z, out=A)
            caches.append(LayerCache(linear, Z, A))
        return A, caches

    def backward(self, caches: list[LayerCache], Y: np.ndarray, grad: np.ndarray,
                 workspace: Workspace | None = None) -> tuple[float, list[np.ndarray]]:
        """Loss and gradient; writes d[W; b] of every layer straight into `grad` (P,).

        Y: (n, d(L)). Returns the loss and δ(l) = dL/dZ(l) for every layer, (n, d(l)) each.
        workspace: as in forward; each hidden δ(l) is computed in place over its dA(l).
        """
        out = caches[-1]
        if self.loss == "bce":
            loss, dZ = bce_with_sigmoid_loss(out.Z, Y, out.A)  # fused: δ(L) = (A - Y) / n
        else:
            loss, dA = mse_loss(out.A, Y)
            dZ = self.output.backward(dA, out.Z, out.A)
        deltas = [dZ]
        grad_blocks = self.layout.blocks(grad)
        for layer in range(len(caches) - 1, 0, -1):
            prev = caches[layer - 1]
            # Fresh arrays take Z's memory order, so that both ways give the same bits.
            dA_prev = workspace.dA[layer - 1] if workspace else np.empty_like(prev.Z)
            linear_backward_stacked(dZ, caches[layer].linear, grad_blocks[layer], dX=dA_prev)
            dZ = self.hidden.backward(dA_prev, prev.Z, prev.A, out=dA_prev)
            deltas.append(dZ)
        linear_backward_stacked(dZ, caches[0].linear, grad_blocks[0], input_grad=False)  # X needs none
        deltas.reverse()
        return loss, deltas

    def loss_and_grad(self, params: np.ndarray, X: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
        """Flat in, flat out: params (P,) -> loss, grad (P,)."""
        grad = np.zeros_like(params)
        _, caches = self.forward(params, X)
        loss, _ = self.backward(caches, Y, grad)
        return loss, grad

    def evaluate(self, params: np.ndarray, X: np.ndarray, Y: np.ndarray,
                 workspace: Workspace | None = None) -> tuple[np.ndarray, float]:
        """Output (n, d(L)) and loss L of flat params (P,), from one forward pass (in `workspace`,
        as in forward: the output is one of its arrays)."""
        output, caches = self.forward(params, X, workspace)
        if self.loss == "bce":
            return output, bce_with_sigmoid_loss(caches[-1].Z, Y)[0]
        return output, mse_loss(output, Y)[0]

    def loss_value(self, params: np.ndarray, X: np.ndarray, Y: np.ndarray) -> float:
        """The loss alone, for numerical gradients: params (P,) -> L."""
        return self.evaluate(params, X, Y)[1]

    def predict(self, params: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Network output (n, d(L)) for flat params (P,)."""
        return self.forward(params, X)[0]
