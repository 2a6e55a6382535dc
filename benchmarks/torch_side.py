"""The PyTorch side of the benchmark, written the idiomatic way. Runs in its own process.

The same network, data, init (bp's initial parameters, W transposed into nn.Linear's
(out, in)), optimizer (torch.optim.SGD), global-norm clipping (clip_grad_norm_) and loss
(BCEWithLogitsLoss: bce fused with the sigmoid, as bp's), float64, full batch, and the same
per-epoch statistics as bp's log: per-parameter grad.norm().item(), max and mean |g|, the norm
clip_grad_norm_ returns, per-layer update norms, vanishing and exploding flags, dead units
(from each pre-activation's retained gradient) and a full-gradient snapshot every 10 epochs.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from backprop_cli.network import ParamLayout

from problems import (CHECK_CLIP_THRESHOLD, CLIP_THRESHOLD, GRADCHECK, GRADCHECK_REPEATS, LEARNING_RATE, PROBLEMS,
                      SNAPSHOT_EVERY)

ACTIVATIONS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}
VANISHING, EXPLODING = 1e-6, 10.0  # bp's log defaults


class Net(nn.Module):
    """nn.Linear layers with one hidden activation; returns the output layer's logits."""

    def __init__(self, layer_sizes, activation: str):
        super().__init__()
        self.linears = nn.ModuleList(nn.Linear(a, b, dtype=torch.float64)
                                     for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
        self.activation = ACTIVATIONS[activation]

    def forward(self, X: torch.Tensor, pre_activations: list | None = None) -> torch.Tensor:
        A = X
        last = len(self.linears) - 1
        for layer, linear in enumerate(self.linears):
            Z = linear(A)
            if pre_activations is not None:
                Z.retain_grad()
                pre_activations.append(Z)
            A = Z if layer == last else self.activation(Z)
        return A


def build(problem, params: np.ndarray) -> Net:
    """A Net holding bp's flat initial parameters."""
    net = Net(problem.layer_sizes, problem.activation)
    layout = ParamLayout.for_sizes(problem.layer_sizes)
    with torch.no_grad():
        for linear, (W, b) in zip(net.linears, layout.views(params)):
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(b.copy()))
    return net


def run(problem, epochs: int, log: bool, clip_threshold: float = CLIP_THRESHOLD) -> dict[str, list]:
    """Train for `epochs` epochs; returns the per-epoch statistics (bp's log keys)."""
    X_np, Y_np, params = problem.data()
    X, Y = torch.from_numpy(X_np), torch.from_numpy(Y_np)
    positive = Y > 0.5
    net = build(problem, params)
    parameters = list(net.parameters())  # W1, b1, W2, b2, ...
    size = sum(p.numel() for p in parameters)
    optimizer = torch.optim.SGD(parameters, lr=LEARNING_RATE)
    loss_fn = nn.BCEWithLogitsLoss()
    stats = {key: [] for key in ("loss", "accuracy", "grad_norm", "clipped", "weight_grad_norm",
                                 "bias_grad_norm", "grad_abs_max", "grad_abs_mean", "vanishing_steps",
                                 "exploding_steps", "dead_fraction", "update_norm", "snapshot_grad")}
    for epoch in range(epochs):
        optimizer.zero_grad()
        pre_activations = [] if log else None
        logits = net(X, pre_activations)
        loss = loss_fn(logits, Y)
        loss.backward()
        stats["loss"].append(loss.item())
        stats["accuracy"].append(((logits > 0) == positive).double().mean().item())
        if log:
            norms = [p.grad.norm().item() for p in parameters]
            weight_norms = norms[0::2]
            stats["weight_grad_norm"].append(weight_norms)
            stats["bias_grad_norm"].append(norms[1::2])
            stats["grad_abs_max"].append(max(p.grad.abs().max().item() for p in parameters))
            stats["grad_abs_mean"].append(sum(p.grad.abs().sum().item() for p in parameters) / size)
            stats["vanishing_steps"].append([norm < VANISHING for norm in weight_norms])
            stats["exploding_steps"].append([norm > EXPLODING for norm in weight_norms])
            stats["dead_fraction"].append([(Z.grad == 0).all(dim=0).double().mean().item()
                                           for Z in pre_activations])
            if epoch % SNAPSHOT_EVERY == 0 or epoch == epochs - 1:
                stats["snapshot_grad"].append(torch.cat([p.grad.reshape(-1) for p in parameters]))
            before = [p.detach().clone() for p in parameters]
        grad_norm = nn.utils.clip_grad_norm_(parameters, clip_threshold)
        optimizer.step()
        if log:
            stats["grad_norm"].append(grad_norm.item())
            stats["clipped"].append(grad_norm.item() > clip_threshold)
            squares = [(p.detach() - old).pow(2).sum() for p, old in zip(parameters, before)]
            stats["update_norm"].append([torch.sqrt(w + b).item() for w, b in zip(squares[0::2], squares[1::2])])
    stats["final_params"] = flat_params(net)
    return stats


def flat_params(net: Net) -> np.ndarray:
    """The Net's parameters in bp's flat layout: W(l) as (d_in, d_out) row-major, then b(l)."""
    return np.concatenate([np.concatenate([linear.weight.detach().numpy().T.ravel(),
                                           linear.bias.detach().numpy()]) for linear in net.linears])


def time_train(name: str, log: bool) -> float:
    """Seconds per epoch of `run` (data and model set-up included, as in bp's train), after an
    untimed 1-epoch run: the steady state, not the first touch of the memory."""
    problem = PROBLEMS[name]
    run(problem, 1, log)
    started = time.perf_counter()
    run(problem, problem.epochs, log)
    return (time.perf_counter() - started) / problem.epochs


def reference(name: str, epochs: int) -> dict[str, np.ndarray]:
    """What bp_side.reference returns, from torch, plus epoch 0's gradient in bp's layout."""
    problem = PROBLEMS[name]
    stats = run(problem, epochs, log=True, clip_threshold=CHECK_CLIP_THRESHOLD)
    out = {key: np.asarray(stats[key]) for key in ("loss", "accuracy", "grad_norm", "weight_grad_norm",
                                                   "bias_grad_norm", "update_norm", "grad_abs_max",
                                                   "grad_abs_mean", "dead_fraction")}
    out["grad0"] = grad_in_bp_layout(problem, stats["snapshot_grad"][0].numpy())
    out["final_params"] = stats["final_params"]
    return out


def grad_in_bp_layout(problem, torch_flat: np.ndarray) -> np.ndarray:
    """torch's flat gradient (weight (out, in) row-major, bias, ...) in bp's order."""
    parts, start = [], 0
    for d_in, d_out in zip(problem.layer_sizes[:-1], problem.layer_sizes[1:]):
        W = torch_flat[start:start + d_in * d_out].reshape(d_out, d_in)
        b = torch_flat[start + d_in * d_out:start + d_in * d_out + d_out]
        parts += [W.T.ravel(), b]
        start += d_in * d_out + d_out
    return np.concatenate(parts)


def spiral_loss(X: torch.Tensor, Y: torch.Tensor):
    """The gradcheck network's loss as a function of its flat parameter vector (bp's layout)."""
    layout = ParamLayout.for_sizes(GRADCHECK.layer_sizes)
    activation = ACTIVATIONS[GRADCHECK.activation]
    offsets = [int(o) for o in layout.offsets]
    sizes = GRADCHECK.layer_sizes

    def loss(theta: torch.Tensor) -> torch.Tensor:
        A = X
        for layer in range(len(sizes) - 1):
            W = theta[offsets[2 * layer]:offsets[2 * layer + 1]].view(sizes[layer], sizes[layer + 1])
            b = theta[offsets[2 * layer + 1]:offsets[2 * layer + 2]]
            Z = A @ W + b
            A = activation(Z) if layer < len(sizes) - 2 else Z
        return nn.functional.binary_cross_entropy_with_logits(A, Y)

    return loss


def time_gradcheck(mode: str) -> tuple[float, bool]:
    """Seconds per torch.autograd.gradcheck on the same loss (defaults for mode 'full', fast_mode
    for 'fast' and 'fast-1'), and whether it passed."""
    fast = mode != "full"
    X, Y, params = GRADCHECK.data()
    loss = spiral_loss(torch.from_numpy(X), torch.from_numpy(Y))
    theta = torch.tensor(params, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(loss, (theta,), fast_mode=fast, raise_exception=False)  # untimed, as bp's
    started = time.perf_counter()
    for _ in range(GRADCHECK_REPEATS):
        passed = torch.autograd.gradcheck(loss, (theta,), fast_mode=fast, raise_exception=False)
    return (time.perf_counter() - started) / GRADCHECK_REPEATS, bool(passed)


def gradcheck_loss_and_grad() -> tuple[float, np.ndarray]:
    """The gradcheck loss and its autograd gradient at bp's initial parameters (for the check)."""
    X, Y, params = GRADCHECK.data()
    theta = torch.tensor(params, dtype=torch.float64, requires_grad=True)
    value = spiral_loss(torch.from_numpy(X), torch.from_numpy(Y))(theta)
    value.backward()
    return value.item(), theta.grad.numpy().copy()


def machine() -> dict[str, str]:
    """torch's version and its intra-op thread count (left at its default)."""
    return {"torch": torch.__version__, "torch threads": str(torch.get_num_threads())}
