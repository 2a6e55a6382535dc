"""Gradient checking: analytic gradients against numerical ones, component by component.

Numerical derivatives: central differences (f(x+ε) − f(x−ε)) / 2ε, or the complex step
Im f(x + ih) / h, which has no subtractive cancellation and reaches machine precision on smooth
functions. Two relative errors, each with its own tolerance:
  element-wise  max_j |a_j − n_j| / max(|a_j| + |n_j|, tiny)   (dominated by the tiniest entries)
  norm-wise     ‖a − n‖ / max(‖a‖ + ‖n‖, tiny)                 (dominated by the largest entries)
ReLU-like kinks: an entry whose ±ε nudge moves a pre-activation across 0 is checked with a
one-sided difference on the side that stays put, and reported apart; if both sides cross, it is
skipped and counted. The full-MLP check reuses the unchanged prefix of the forward pass: a nudge to
W(l)[r, c] or b(l)[c] changes only column c of Z(l) and nothing before layer l.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from backprop_cli.activations import Activation, get_activation
from backprop_cli.config import RunConfig, load_config, resolve_config
from backprop_cli.datasets import make_dataset
from backprop_cli.errors import ConfigError
from backprop_cli.layers import append_ones, linear_backward, linear_forward
from backprop_cli.losses import bce_with_sigmoid_loss, mse_loss, softplus
from backprop_cli.network import MLP, init_params

TINY = np.finfo(np.float64).tiny
EPS_MACH = np.finfo(np.float64).eps
DEFAULT_EPS = 1e-5
DEFAULT_COMPLEX_STEP = 1e-20
KINKED = ("relu", "leaky_relu")
# (element-wise, norm-wise) tolerances per method: see the README's gradcheck section for the
# measured errors they sit above (correct code) and below (every deliberately broken backward).
Tolerances = dict[str, tuple[float, float]]
TOLERANCES: Tolerances = {"central": (1e-5, 1e-8), "complex": (1e-10, 1e-13)}
# What `bp gradcheck` checks when it is given no config: the spiral network of the targets.
BUILTIN_NETWORK = {
    "name": "builtin",
    "data": {"kind": "spiral", "n_samples": 200},
    "model": {"layer_sizes": [2, 16, 16, 1], "activation": "tanh", "output_activation": "sigmoid"},
    "train": {"loss": "bce"},
}
# Entries of a batched temporary: 128 KiB of float64, glibc's default mmap threshold. A larger
# temporary is mapped afresh on every call, and its page faults cost more than the arithmetic
# (spiral net: the full check 2.8 ms at 4x this, 2.6 ms here; --fast with 4 directions 200 us
# in one batch of 8 parameter vectors, 150 us in two of 4).
_CHUNK_ENTRIES = 1 << 14


# --- numerical derivatives and errors ---------------------------------------------------------

def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = DEFAULT_EPS) -> np.ndarray:
    """Central differences of a scalar f at x (any shape), float64.

    grad_j = (f(x + ε e_j) − f(x − ε e_j)) / (x_j⁺ − x_j⁻), the denominator being the step
    actually taken in floating point (≈ 2ε).
    """
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    for index in np.ndindex(x.shape):
        grad[index] = _central(f, x, index, eps)
    return grad


def complex_step_gradient(f: Callable[[np.ndarray], complex], x: np.ndarray,
                          h: float = DEFAULT_COMPLEX_STEP) -> np.ndarray:
    """Complex-step derivative of a real-analytic scalar f at x (any shape).

    grad_j = Im f(x + i h e_j) / h   (f must not conjugate: no np.vdot, no abs)
    """
    x = np.array(x, dtype=np.complex128)
    grad = np.empty(x.shape)
    for index in np.ndindex(x.shape):
        x[index] += 1j * h
        grad[index] = np.imag(f(x)) / h
        x[index] -= 1j * h
    return grad


def _central(f, x: np.ndarray, index, eps: float) -> float:
    old = x[index]
    x[index] = old + eps
    plus, upper = f(x), x[index]
    x[index] = old - eps
    minus, lower = f(x), x[index]
    x[index] = old
    return (plus - minus) / (upper - lower)


def one_sided_derivative(f: Callable[[np.ndarray], float], x: np.ndarray, index, side: int,
                         eps: float = DEFAULT_EPS) -> float:
    """Second-order one-sided difference along +e_j (side 1) or −e_j (side −1), for kinks.

    f'(x) ≈ s (−3 f(x) + 4 f(x + s ε) − f(x + 2 s ε)) / 2ε   (error O(ε²), like central)
    """
    x = np.array(x, dtype=np.float64)
    old = x[index]
    values = []
    for k in (0, 1, 2):
        x[index] = old + side * k * eps
        values.append(f(x))
    return _one_sided(*values, side, eps)


def _one_sided(f0, f1, f2, side: int, eps: float):
    """s (−3 f0 + 4 f1 − f2) / 2ε from f at x, x + s ε, x + 2 s ε (scalars or arrays alike)."""
    return side * (-3.0 * f0 + 4.0 * f1 - f2) / (2.0 * eps)


def round_off(value: float, eps: float) -> float:
    """Round-off bound of a central difference of a function whose value is `value`:
    10 ε_mach |f| / ε (each f carries about ε_mach |f| of error, divided by the step)."""
    return 10.0 * EPS_MACH * abs(float(np.real(value))) / eps


def relative_errors(analytic: np.ndarray, numerical: np.ndarray) -> tuple[float, float]:
    """(element-wise max, norm-wise) relative error of two same-shape arrays.

    max_j |a_j − n_j| / max(|a_j| + |n_j|, tiny);   ‖a − n‖ / max(‖a‖ + ‖n‖, tiny)
    """
    a, n = np.asarray(analytic, dtype=np.float64).ravel(), np.asarray(numerical, dtype=np.float64).ravel()
    if a.size == 0:
        return 0.0, 0.0
    diff = np.abs(a - n)
    return float(np.max(diff / np.maximum(np.abs(a) + np.abs(n), TINY))), _normwise(a, n, diff)


def _normwise(a: np.ndarray, n: np.ndarray, diff: np.ndarray) -> float:
    """‖a − n‖ / max(‖a‖ + ‖n‖, tiny) for flat a, n and diff = |a − n|.

    ‖x‖ = √(x·x): np.linalg.norm's formula (the same bits) without its per-call overhead.
    """
    return float(np.sqrt(diff @ diff) / max(np.sqrt(a @ a) + np.sqrt(n @ n), TINY))


# --- results ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckResult:
    """One component's check: its errors, tolerances, and the deciding entry by name.

    `elementwise` is the plain element-wise error, except that an analytic exact 0 (a dead unit)
    against a numerical value within round-off counts as a match; `judged` also leaves out the
    entries above tolerance whose |a − n| is within the difference quotient's round-off,
    10 ε_mach |f| / ε: tiny entries that no ε resolves better. `round_off` counts both kinds.
    """

    component: str
    method: str
    elementwise: float
    normwise: float
    elementwise_tolerance: float
    normwise_tolerance: float
    worst: str
    worst_analytic: float
    worst_numerical: float
    checked: int
    judged: float = 0.0
    kinks: int = 0
    kink_error: float = 0.0
    skipped: list[str] = field(default_factory=list)
    round_off: int = 0
    round_off_atol: float = 0.0
    note: str = ""

    @property
    def passed(self) -> bool:
        """Something was checked and both errors are within tolerance (NaN fails); kink entries
        count in both. A check whose every entry was skipped has not passed."""
        return bool(self.checked and self.judged <= self.elementwise_tolerance
                    and self.normwise <= self.normwise_tolerance)

    @property
    def verdict(self) -> str:
        """PASS, FAIL, or SKIP when every entry was skipped (which does not pass)."""
        return "SKIP" if not self.checked and not self.note else ("PASS" if self.passed else "FAIL")

    def worst_entry(self) -> str:
        """'W2[3, 0]: analytic 0.0012, numerical -0.0012, error 1' or the note when shapes differ."""
        if self.note.startswith("shape"):
            return self.note
        a, n = self.worst_analytic, self.worst_numerical
        error = abs(a - n) / max(abs(a) + abs(n), TINY)
        return f"{self.worst}: analytic {a:.6g}, numerical {n:.6g}, error {error:.2g}"


def compare(component: str, analytic: np.ndarray, numerical: np.ndarray, *, method: str = "central",
            names: Callable[[int], str] | None = None, tolerances: Tolerances | None = None,
            kink_mask: np.ndarray | None = None, skipped: np.ndarray | None = None,
            round_off_atol: float = 0.0) -> CheckResult:
    """Build a CheckResult from analytic and numerical arrays of the same shape.

    names(j) names flat entry j (default: its index in the array's shape). Entries in `skipped`
    (bool, same shape) are left out of both errors; `kink_mask` marks entries checked one-sided.
    An analytic exact 0 with |n| ≤ round_off_atol has error 0; an entry above the element-wise
    tolerance with |a − n| ≤ round_off_atol does not decide the verdict (both are counted in
    `round_off`). The named entry is the worst one that does.
    """
    tol = (tolerances or TOLERANCES)["complex" if method == "complex" else "central"]
    analytic, numerical = np.asarray(analytic, dtype=np.float64), np.asarray(numerical, dtype=np.float64)
    if analytic.shape != numerical.shape:
        return CheckResult(component, method, np.inf, np.inf, *tol, "", np.nan, np.nan, 0, np.inf,
                           note=f"shape: analytic {analytic.shape} != parameter {numerical.shape}")
    shape = analytic.shape
    names = names or (lambda j: f"[{', '.join(str(int(i)) for i in np.unravel_index(j, shape))}]")
    a, n = analytic.ravel(), numerical.ravel()
    kept = None if skipped is None else np.flatnonzero(~skipped.ravel())  # None: every entry
    skipped_names = [] if skipped is None else [names(int(j)) for j in np.flatnonzero(skipped)]
    if kept is not None:
        if not kept.size:
            return CheckResult(component, method, 0.0, 0.0, *tol, names(0), float(a[0]), float(n[0]), 0,
                               skipped=skipped_names, round_off_atol=round_off_atol)
        a, n = a[kept], n[kept]
    diff = np.abs(a - n)
    errors = diff / np.maximum(np.abs(a) + np.abs(n), TINY)
    within = diff <= round_off_atol
    # A structural zero (a dead unit) against round-off noise is a match, not an error of 1.
    zeros = (a == 0.0) & (n != 0.0) & within
    errors[zeros] = 0.0
    explained = zeros | ((errors > tol[0]) & within)
    judged = np.where(explained, 0.0, errors)
    best = int(judged.argmax())
    kinks = None if kink_mask is None else kink_mask.ravel() if kept is None else kink_mask.ravel()[kept]
    kink_count = 0 if kinks is None else int(kinks.sum())
    return CheckResult(component, method, float(errors.max()), _normwise(a, n, diff), *tol,
                       names(best if kept is None else int(kept[best])), float(a[best]), float(n[best]),
                       int(a.size), float(judged[best]), kink_count,
                       float(judged[kinks].max()) if kink_count else 0.0, skipped_names,
                       int(explained.sum()), round_off_atol)


def check_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, analytic: np.ndarray, *,
                   component: str = "f", eps: float = DEFAULT_EPS, method: str = "central",
                   kink_sides: np.ndarray | None = None, names: Callable[[int], str] | None = None,
                   tolerances: Tolerances | None = None) -> CheckResult:
    """Check an analytic gradient of any scalar f at x against a numerical one.

    method: central (step eps) or complex (step eps, e.g. 1e-20; f must accept complex x).
    kink_sides (int, shape of x): 0 central; +1 / −1 a one-sided difference towards + / −,
    for entries whose central nudge would cross a kink.
    """
    x = np.array(x, dtype=np.float64)
    if method == "complex":
        numerical = complex_step_gradient(f, x, eps)
    else:
        numerical = numerical_gradient(f, x, eps)
    kink_mask = None
    if kink_sides is not None and np.any(kink_sides):
        kink_mask = kink_sides != 0
        for index in zip(*np.nonzero(kink_mask)):
            numerical[index] = one_sided_derivative(f, x, index, int(kink_sides[index]), eps)
    atol = 0.0 if method == "complex" else round_off(f(x), eps)
    return compare(component, analytic, numerical, method=method, names=names, tolerances=tolerances,
                   kink_mask=kink_mask, round_off_atol=atol)


# --- components -------------------------------------------------------------------------------

def activation_kink_sides(activation: Activation, Z: np.ndarray, eps: float) -> np.ndarray | None:
    """For ReLU-like activations, the side (+1 / −1) each entry within ε of the kink at 0 is
    checked on: the side its backward's convention (Z > 0) takes; None for smooth activations."""
    if activation.name not in KINKED:
        return None
    return np.where(np.abs(Z) <= eps, np.where(Z > 0, 1, -1), 0)


def check_activation(activation: Activation, Z: np.ndarray, G: np.ndarray, *, eps: float = DEFAULT_EPS,
                     method: str = "central", complex_step: float = DEFAULT_COMPLEX_STEP,
                     tolerances: Tolerances | None = None) -> CheckResult:
    """Check activation.backward through f(Z) = Σ G ⊙ σ(Z), whose gradient is backward(G, Z, σ(Z)).

    Z, G: (n, k). ReLU-like activations always use central differences (the complex step needs
    an analytic function) with one-sided ones at entries within ε of the kink.
    """
    smooth = activation.name not in KINKED
    method = method if smooth else "central"
    step = eps if method == "central" else complex_step
    analytic = activation.backward(G, Z, activation.forward(Z))
    return check_gradient(lambda Z_: np.sum(G * activation.forward(Z_)), Z, analytic, component=activation.name,
                          eps=step, method=method, kink_sides=activation_kink_sides(activation, Z, step),
                          tolerances=tolerances)


def check_linear(X: np.ndarray, W: np.ndarray, b: np.ndarray, G: np.ndarray, *, eps: float = DEFAULT_EPS,
                 method: str = "central", complex_step: float = DEFAULT_COMPLEX_STEP,
                 tolerances: Tolerances | None = None,
                 forward=linear_forward, backward=linear_backward) -> list[CheckResult]:
    """Check the linear layer's dW, db and dX through f = Σ G ⊙ (X W + b).

    X: (n, d_in), W: (d_in, d_out), b: (d_out,), G: (n, d_out). Returns the W, b, X results.
    `forward` / `backward` default to layers.linear_forward / linear_backward.
    """
    step = eps if method == "central" else complex_step
    _, cache = forward(X, W, b)
    dX, dW, db = backward(G, cache)
    cases = (("linear W", W, dW, lambda W_: forward(X, W_, b)[0]),
             ("linear b", b, db, lambda b_: forward(X, W, b_)[0]),
             ("linear X", X, dX, lambda X_: forward(X_, W, b)[0]))
    return [check_gradient(lambda v, out=out: np.sum(G * out(v)), value, grad, component=name, eps=step,
                           method=method, tolerances=tolerances)
            for name, value, grad, out in cases]


def check_loss(name: str, loss: Callable, A: np.ndarray, Y: np.ndarray, *, eps: float = DEFAULT_EPS,
               method: str = "central", complex_step: float = DEFAULT_COMPLEX_STEP,
               tolerances: Tolerances | None = None) -> CheckResult:
    """Check a loss's gradient w.r.t. its input: loss(A, Y) -> (L, dA). A, Y: (n, k)."""
    step = eps if method == "central" else complex_step
    return check_gradient(lambda A_: loss(A_, Y)[0], A, loss(A, Y)[1], component=name, eps=step,
                          method=method, tolerances=tolerances)


@dataclass(frozen=True)
class ComponentInputs:
    """Random inputs for the single-component checks (drawn once, reused across ε)."""

    Z: np.ndarray   # (8, 6) pre-activations, with entries at and within ε of 0 for the kinks
    G: np.ndarray   # (8, 6) upstream gradient
    X: np.ndarray   # (8, 5) linear input
    W: np.ndarray   # (5, 6)
    b: np.ndarray   # (6,)
    A: np.ndarray   # (8, 6) loss input (output, or logits for bce), away from 0
    Y: np.ndarray   # (8, 6) targets in {0, 1}


def component_inputs(rng: np.random.Generator) -> ComponentInputs:
    """Z, A ~ N(0, 1.5²), Z with three entries placed at the kink (0, ±3e-6); G, X, W, b ~ N(0, 1)."""
    Z = rng.normal(0.0, 1.5, size=(8, 6))
    Z.flat[:3] = [0.0, 3e-6, -3e-6]
    return ComponentInputs(Z, rng.normal(size=(8, 6)), rng.normal(size=(8, 5)), rng.normal(size=(5, 6)),
                           rng.normal(size=6), rng.normal(0.0, 1.5, size=(8, 6)),
                           rng.integers(0, 2, size=(8, 6)).astype(np.float64))


def check_single_components(inputs: ComponentInputs, *, eps: float = DEFAULT_EPS, method: str = "central",
                            complex_step: float = DEFAULT_COMPLEX_STEP, leaky_slope: float = 0.01,
                            tolerances: Tolerances | None = None) -> list[CheckResult]:
    """Every activation, the linear layer (W, b, X) and both losses, on `inputs`."""
    options = {"eps": eps, "method": method, "complex_step": complex_step, "tolerances": tolerances}
    results = [check_activation(get_activation(name, leaky_slope), inputs.Z, inputs.G, **options)
               for name in ("sigmoid", "tanh", "relu", "leaky_relu", "identity")]
    results += check_linear(inputs.X, inputs.W, inputs.b, inputs.G, **options)
    results.append(check_loss("mse", mse_loss, inputs.A, inputs.Y, **options))
    results.append(check_loss("bce+sigmoid", bce_with_sigmoid_loss, inputs.A, inputs.Y, **options))
    return results


# --- the full MLP -----------------------------------------------------------------------------

def _entry_losses(mlp: MLP, Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Per-entry terms ℓ of the network's loss L = (1/n) Σ ℓ, from the output logits Z.

    bce: ℓ = softplus(Z) − Y Z;  mse: ℓ = ½ (σ(Z) − Y)². _base_pass checks these terms
    against the network's own loss on every call.
    """
    if mlp.loss == "bce":
        return softplus(Z) - Y * Z
    diff = mlp.output.forward(Z) - Y
    return 0.5 * diff * diff


def _hidden_signs(mlp: MLP, caches) -> np.ndarray | None:
    """The pattern Z(l) > 0 of every hidden layer, concatenated; None for smooth activations."""
    if mlp.hidden.name not in KINKED:
        return None
    return np.concatenate([cache.Z.ravel() > 0 for cache in caches[:-1]])


@dataclass(frozen=True)
class _BasePass:
    """The unperturbed forward and backward pass that every check of the whole MLP starts from
    (batch-first, as the network returns it: the directional check needs no transposed copies)."""

    weights: list           # [(W(l), b(l))]: views into params
    caches: list            # network.LayerCache per layer: Z(l), A(l): (n, d(l))
    loss_terms: np.ndarray  # (n, d(L)): ℓ at the output
    loss: float
    grad: np.ndarray        # (P,) the analytic gradient under test


def _base_pass(mlp: MLP, params: np.ndarray, X: np.ndarray, Y: np.ndarray) -> _BasePass:
    """One forward and backward pass of the network itself (the analytic gradient)."""
    weights = mlp.layout.views(params)
    _, caches = mlp.forward(params, X)
    grad = np.zeros_like(params)
    loss, _ = mlp.backward(caches, Y, grad)
    terms = _entry_losses(mlp, caches[-1].Z, Y)
    if abs(terms.sum() / len(X) - loss) > 1e-12 * abs(loss):
        raise RuntimeError("gradcheck's per-entry loss disagrees with the network's loss")
    return _BasePass(weights, caches, terms, float(loss), grad)


@dataclass(frozen=True)
class _Transposed:
    """The base pass transposed to (features, samples) and contiguous, so that the long sample axis
    is innermost in every batched operation of the per-parameter checks."""

    weights: list
    ZT: list         # Z(l)ᵀ: (d(l), n) per layer
    X1T: list        # [A(l−1), 1]ᵀ: (d(l−1) + 1, n) per layer, its input and a row of ones (A(0) = X)
    YT: np.ndarray   # (d(L), n)
    loss_terms: np.ndarray  # (d(L), n): ℓ at the output


def _transposed(base: _BasePass, Y: np.ndarray) -> _Transposed:
    """The base pass as the per-parameter checks read it: (n, d) arrays to contiguous (d, n)
    (the network's arrays are column-major: their transposes are contiguous already)."""
    caches = base.caches
    return _Transposed(base.weights, [np.ascontiguousarray(cache.Z.T) for cache in caches],
                       [np.ascontiguousarray(cache.linear.X1.T) for cache in caches],
                       np.ascontiguousarray(Y.T), np.ascontiguousarray(base.loss_terms.T))


def layered_loss_changes(mlp: MLP, params: np.ndarray, X: np.ndarray, Y: np.ndarray,
                         steps: Sequence[complex]) -> tuple[np.ndarray, np.ndarray]:
    """L(θ + s e_j) − L(θ) for every parameter j and step s, reusing the forward prefix.

    params: (P,), steps: (S,) real or imaginary -> changes: (S, P), crossed: (S, P) bool, true
    where the nudge flips the sign of a hidden ReLU-like pre-activation. A nudge to W(l)[r, c]
    adds s A(l−1)[:, r] to Z(l)[:, c] (b(l)[c]: adds s); layer l+1 then gets a rank-1 update and
    the layers after it a batched forward pass. The change is summed entry by entry, (ℓ' − ℓ),
    so it never cancels against the whole loss.
    """
    return _layered_loss_changes(mlp, _transposed(_base_pass(mlp, params, X, Y), Y), steps)


def _layered_loss_changes(mlp: MLP, base: _Transposed, steps: Sequence[complex]) -> tuple[np.ndarray, np.ndarray]:
    steps = np.asarray(steps)
    changes = np.zeros((len(steps), mlp.layout.size), dtype=steps.dtype)
    crossed = np.zeros((len(steps), mlp.layout.size), dtype=bool)
    starts = mlp.layout.layer_offsets
    for layer in range(mlp.layout.n_layers):
        change, cross = _layer_loss_changes(mlp, base, layer, steps)  # (S, d_in + 1, d_out): [W; b]
        block = slice(starts[layer], starts[layer + 1])  # the flat vector holds [W; b] row-major too
        changes[:, block] = change.reshape(len(steps), -1)
        crossed[:, block] = cross.reshape(len(steps), -1)
    changes /= base.YT.shape[1]  # the loss is a mean: one division for every entry sum
    return changes, crossed


def _layer_loss_changes(mlp: MLP, base: _Transposed, layer: int, steps: np.ndarray):
    """Σ_samples (ℓ' − ℓ) and kink flags for one layer's parameters.

    -> (S, d_in + 1, d_out) each, row d_in for b.
    """
    last = mlp.layout.n_layers - 1
    n = base.YT.shape[1]
    U = base.X1T[layer]  # (R, n): how W[r, c] (and b[c], the row of ones) move Z[:, c]
    nudges = (steps[:, None, None] * U)[:, :, None, :]  # (S, R, 1, n)
    ZT = base.ZT[layer]
    d_out = len(ZT)
    kinked = _kinked(mlp, nudges)
    widest = max(mlp.layout.layer_sizes[layer + 1:])
    chunk = max(1, _CHUNK_ENTRIES // (len(steps) * len(U) * n * widest))
    change = np.zeros((len(steps), len(U), d_out), dtype=steps.dtype)
    crossed = np.zeros((len(steps), len(U), d_out), dtype=bool)
    for start in range(0, d_out, chunk):
        cols = slice(start, min(start + chunk, d_out))
        Zc = nudges + ZT[cols]  # (S, R, C, n)
        if layer == last:
            change[:, :, cols] = _loss_change(mlp, base, Zc, cols)
            continue
        dA = mlp.hidden.forward(Zc) - base.X1T[layer + 1][cols]
        Z_next = dA[..., None, :] * base.weights[layer + 1][0][cols][:, :, None]  # (S, R, C, d, n)
        Z_next += base.ZT[layer + 1]
        change[:, :, cols], more = _forward_rest(mlp, base, layer + 1, Z_next, kinked)
        if kinked:
            crossed[:, :, cols] = _flips(Zc, ZT[cols], axes=(-1,)) | more
    return change, crossed


def _forward_rest(mlp: MLP, base: _Transposed, layer: int, Z: np.ndarray, kinked: bool):
    """From a batch of perturbed Z(layer)ᵀ (..., d, n) to Σ_samples (ℓ' − ℓ) (...) and, when
    `kinked`, whether a hidden unit's sign changed (...), else None."""
    last = mlp.layout.n_layers - 1
    crossed = np.zeros(Z.shape[:-2], dtype=bool) if kinked else None
    while layer < last:
        if kinked:
            crossed |= _flips(Z, base.ZT[layer], axes=(-2, -1))
        W, b = base.weights[layer + 1]
        Z = W.T @ mlp.hidden.forward(Z) + b[:, None]
        layer += 1
    return _loss_change(mlp, base, Z, slice(None)).sum(axis=-1), crossed


def _loss_change(mlp: MLP, base: _Transposed, Z: np.ndarray, cols: slice) -> np.ndarray:
    """Σ_samples (ℓ(Z') − ℓ(Z)) for perturbed output logits Zᵀ (..., C, n) -> (..., C)."""
    terms = _entry_losses(mlp, Z, base.YT[cols])
    terms -= base.loss_terms[cols]
    return terms.sum(axis=-1)


def _kinked(mlp: MLP, Z: np.ndarray) -> bool:
    """Whether nudges can flip hidden units across a kink: ReLU-like units and a real step (the
    complex step needs a smooth network anyway)."""
    return mlp.hidden.name in KINKED and not np.iscomplexobj(Z)


def _flips(Z: np.ndarray, Z_base: np.ndarray, axes) -> np.ndarray:
    """Whether the pattern Z > 0 differs from Z_base > 0 anywhere along `axes`."""
    return ((Z > 0) != (Z_base > 0)).any(axis=axes)


def _derivative_along(mlp: MLP, base: _BasePass, params: np.ndarray, X: np.ndarray, Y: np.ndarray,
                      u: np.ndarray, eps: float) -> tuple[float, str]:
    """d/dt L(θ + t u) at t = 0 for ReLU-like hidden units -> (value, how): 'central' when neither
    ±ε nudge flips a hidden unit's sign; 'one-sided' on the side that does not (nor does its 2ε
    point); 'skipped' else. One forward pass per point; Σ ℓ differenced entry by entry."""
    signs = _hidden_signs(mlp, base.caches)

    def at(t: float) -> tuple[np.ndarray, bool]:
        _, caches = mlp.forward(params + t * u, X)
        return _entry_losses(mlp, caches[-1].Z, Y), bool(np.any(_hidden_signs(mlp, caches) != signs))

    (plus, up), (minus, down) = at(eps), at(-eps)
    if not (up or down):
        return float((plus - minus).sum() / (2.0 * eps * len(X))), "central"
    if up and down:
        return float("nan"), "skipped"
    side, near = (-1, minus) if up else (1, plus)
    far, crossed = at(2 * side * eps)
    if crossed:
        return float("nan"), "skipped"
    return float(_one_sided(base.loss_terms, near, far, side, eps).sum() / len(X)), "one-sided"


def _redo_kinks(mlp: MLP, base: _BasePass, params: np.ndarray, X: np.ndarray, Y: np.ndarray,
                direction: Callable[[int], np.ndarray], numerical: np.ndarray, kinks: np.ndarray,
                eps: float) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Redo numerical[k] by _derivative_along(direction(k)) wherever kinks[k] (a nudge crossed a
    ReLU kink) -> compare's (kink_mask, skipped): one-sided and skipped entries, None if no kink."""
    if not kinks.any():
        return None, None
    skipped = np.zeros(len(kinks), dtype=bool)
    for k in np.flatnonzero(kinks):
        numerical[k], how = _derivative_along(mlp, base, params, X, Y, direction(k), eps)
        skipped[k] = how == "skipped"
    return kinks & ~skipped, skipped


def describe_problem(config, n: int | None = None) -> str:
    """'[2, 16, 16, 1] tanh, bce, 200 spiral points' for tables and figure titles; n, the number of
    points, is drawn from the config when the caller does not have the data at hand."""
    n = len(gradcheck_problem(config)[2]) if n is None else n
    return f"{config.model.layer_sizes} {config.model.activation}, {config.train.loss}, {n} {config.data.kind} points"


def check_mlp(mlp: MLP, params: np.ndarray, X: np.ndarray, Y: np.ndarray, eps: float = DEFAULT_EPS,
              tolerances: Tolerances | None = None) -> CheckResult:
    """Every parameter of the MLP by central differences, reusing the forward prefix per layer.

    params: (P,), X: (n, d0), Y: (n, d(L)). Entries next to a ReLU kink: one-sided or skipped.
    """
    base = _base_pass(mlp, params, X, Y)
    changes, crossed = _layered_loss_changes(mlp, _transposed(base, Y), [eps, -eps])
    numerical = (changes[0] - changes[1]) / (2.0 * eps)
    kinks, skipped = _redo_kinks(mlp, base, params, X, Y, lambda j: np.eye(1, mlp.layout.size, j)[0], numerical,
                                 crossed.any(axis=0), eps)
    return compare("MLP", base.grad, numerical, names=mlp.layout.describe, tolerances=tolerances,
                   kink_mask=kinks, skipped=skipped, round_off_atol=round_off(base.loss, eps))


def _require_smooth(mlp: MLP) -> None:
    if mlp.hidden.name in KINKED:
        raise ConfigError(f"--method complex needs a smooth network: model.activation {mlp.hidden.name} "
                          "has a kink at 0 (use tanh or sigmoid, or --method central)")


def check_mlp_complex(mlp: MLP, params: np.ndarray, X: np.ndarray, Y: np.ndarray,
                      h: float = DEFAULT_COMPLEX_STEP,
                      tolerances: Tolerances | None = None) -> CheckResult:
    """Every parameter by the complex step Im L(θ + i h e_j) / h, reusing the forward prefix.

    Smooth hidden activations only (a ConfigError for relu and leaky_relu).
    """
    _require_smooth(mlp)
    base = _base_pass(mlp, params, X, Y)
    changes, _ = _layered_loss_changes(mlp, _transposed(base, Y), [1j * h])
    return compare("MLP", base.grad, changes[0].imag / h, method="complex",
                   names=mlp.layout.describe, tolerances=tolerances)


def _batched_entry_losses(mlp: MLP, base: _BasePass, X: np.ndarray, Y: np.ndarray,
                          thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The loss terms ℓ of every parameter vector in thetas (K, P) -> terms: (K, d(L), n) and
    crossed: (K,), by _chunk_entry_losses on as many vectors at a time as _CHUNK_ENTRIES allows."""
    size = max(1, _CHUNK_ENTRIES // (len(X) * (max(mlp.layout.layer_sizes) + 1)))
    parts = [_chunk_entry_losses(mlp, base, X, Y, thetas[start:start + size])
             for start in range(0, len(thetas), size)]
    return np.concatenate([terms for terms, _ in parts]), np.concatenate([crossed for _, crossed in parts])


def _chunk_entry_losses(mlp: MLP, base: _BasePass, X: np.ndarray, Y: np.ndarray,
                        thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The loss terms ℓ of every parameter vector in thetas, from one batched forward pass.

    thetas: (K, P) -> terms: (K, d(L), n), crossed: (K,) bool, true where a hidden ReLU-like unit's
    sign differs from the base pass. θ's [W(l); b(l)] is one (d(l−1) + 1, d(l)) block, so each
    layer is one matmul, samples innermost: Z(l)ᵀ = [W; b]ᵀ [A(l−1)ᵀ; 1].
    """
    kinked = _kinked(mlp, thetas)
    crossed = np.zeros(len(thetas), dtype=bool)
    A1 = append_ones(X).T  # (d0 + 1, n): the same input for every θ
    last = mlp.layout.n_layers - 1
    for layer, Wb in enumerate(mlp.layout.blocks(thetas)):  # (K, d_in + 1, d_out)
        Z = Wb.swapaxes(1, 2) @ A1  # (K, d_out, n)
        if layer < last:
            if kinked:
                crossed |= _flips(Z, base.caches[layer].Z.T, axes=(-2, -1))
            A1 = np.empty((len(thetas), Z.shape[1] + 1, Z.shape[2]), dtype=Z.dtype)
            A1[:, -1] = 1.0
            mlp.hidden.forward(Z, out=A1[:, :-1])
    return _entry_losses(mlp, Z, Y.T), crossed


def _directions(seed: int, count: int, size: int) -> np.ndarray:
    """(count, size) random unit directions: rows z / ‖z‖, z ~ N(0, I) from default_rng(seed)."""
    U = np.random.default_rng(seed).standard_normal((count, size))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    return U


def check_mlp_directional(mlp: MLP, params: np.ndarray, X: np.ndarray, Y: np.ndarray, *,
                          eps: float = DEFAULT_EPS, directions: int = 4, seed: int = 0,
                          method: str = "central",
                          tolerances: Tolerances | None = None) -> CheckResult:
    """The analytic gradient's projection g·u on a few random unit directions u against the
    numerical derivative of L(θ + t u), as torch's gradcheck fast_mode does: cheap for big nets,
    but a failure names a direction, not a parameter. method central (step eps) or complex;
    all 2K (or K) perturbed parameter vectors go through one batched forward pass, and the
    central difference is summed entry by entry: Σ (ℓ(θ + εu) − ℓ(θ − εu)) / 2εn."""
    if method == "complex":
        _require_smooth(mlp)
    U = _directions(seed, directions, mlp.layout.size)
    base = _base_pass(mlp, params, X, Y)
    if method == "complex":
        terms, _ = _batched_entry_losses(mlp, base, X, Y, params + 1j * eps * U)
        numerical = terms.imag.sum(axis=(1, 2)) / (eps * len(X))
        kinks = skipped = None
    else:
        terms, crossed = _batched_entry_losses(mlp, base, X, Y, params + eps * np.concatenate([U, -U]))
        numerical = (terms[:directions] - terms[directions:]).sum(axis=(1, 2)) / (2.0 * eps * len(X))
        kinks, skipped = _redo_kinks(mlp, base, params, X, Y, lambda k: U[k], numerical,
                                     crossed[:directions] | crossed[directions:], eps)
    return compare(f"MLP ({directions} dirs)", U @ base.grad, numerical,
                   method=method, names=lambda k: f"direction {k}", tolerances=tolerances,
                   kink_mask=kinks, skipped=skipped,
                   round_off_atol=0.0 if method == "complex" else round_off(base.loss, eps))


# --- everything at once, and the ε sweep -------------------------------------------------------

def gradcheck_config(path: str | Path | None, overrides: list[str] | None = None) -> RunConfig:
    """The config file's run config, or the built-in network's when `path` is None, with overrides."""
    if path is None:
        return resolve_config(BUILTIN_NETWORK, "built-in network", overrides)
    return load_config(path, overrides)


def gradcheck_problem(config) -> tuple[MLP, np.ndarray, np.ndarray, np.ndarray]:
    """The config's (a config.RunConfig) network, initial parameters and data, drawn exactly as
    `bp train` draws them: (mlp, params (P,), X (n, d0), Y (n, 1))."""
    rng = np.random.default_rng(config.seed)
    X, Y = make_dataset(config.data, rng)
    mlp = MLP.from_config(config)
    return mlp, init_params(mlp.layout, config.model.init, rng, config.model.init_std), X, Y


def check_all(config, *, method: str = "central", fast: bool = False) -> list[CheckResult]:
    """Every single component, then the config's whole MLP (directional when `fast`).

    Tolerances, ε, the complex step and the number of directions come from config.gradcheck.
    """
    if method not in TOLERANCES:
        raise ConfigError(f"--method {method}: expected central or complex")
    settings = config.gradcheck
    step = settings.complex_step if method == "complex" else settings.eps
    tolerances = settings.tolerance_table()
    mlp, params, X, Y = gradcheck_problem(config)
    if method == "complex":
        _require_smooth(mlp)
    inputs = component_inputs(np.random.default_rng(config.seed))
    results = check_single_components(inputs, eps=settings.eps, method=method,
                                      complex_step=settings.complex_step, leaky_slope=config.model.leaky_slope,
                                      tolerances=tolerances)
    if fast:
        results.append(check_mlp_directional(mlp, params, X, Y, eps=step, directions=settings.directions,
                                             seed=config.seed, method=method, tolerances=tolerances))
    elif method == "complex":
        results.append(check_mlp_complex(mlp, params, X, Y, step, tolerances))
    else:
        results.append(check_mlp(mlp, params, X, Y, step, tolerances))
    return results


# Central differences are exact (no truncation error) for functions linear or quadratic in x
# (third derivative 0), and for piecewise-linear ones between kinks: their curves show round-off alone.
NO_TRUNCATION = ("relu", "leaky_relu", "identity", "linear W", "linear b", "linear X", "mse")


@dataclass(frozen=True)
class EpsSweep:
    """Relative errors of every component over a grid of steps ε (C components, E steps)."""

    eps: np.ndarray            # (E,) descending
    components: list[str]      # (C,)
    methods: list[str]         # (C,) central | complex
    truncation: np.ndarray     # (C,) bool: central differences have a truncation error (a U curve)
    elementwise: np.ndarray    # (C, E)
    normwise: np.ndarray       # (C, E)
    checked: np.ndarray        # (C, E) int: entries compared (the rest were skipped at kinks)
    network: str

    def best(self, metric: str = "elementwise") -> list[tuple[str, float, float, float]]:
        """Per component: (name, best ε, element-wise error, norm-wise error there), best by `metric`."""
        errors = getattr(self, metric)
        index = np.argmin(np.where(np.isfinite(errors), errors, np.inf), axis=1)
        return [(name, float(self.eps[k]), float(self.elementwise[c, k]), float(self.normwise[c, k]))
                for c, (name, k) in enumerate(zip(self.components, index))]

    def overall_best(self, metric: str = "elementwise") -> float:
        """The ε whose worst error (by `metric`) over the components with a truncation error is smallest."""
        errors = getattr(self, metric)[self.truncation]
        return float(self.eps[np.argmin(np.max(np.where(np.isfinite(errors), errors, np.inf), axis=0))])

    def arrays(self) -> dict[str, np.ndarray]:
        """The sweep as .npz arrays (keys documented in the README's gradcheck section)."""
        return {
            "format_version": np.array(1),
            "eps": self.eps, "component": np.array(self.components), "method": np.array(self.methods),
            "truncation": self.truncation, "elementwise": self.elementwise, "normwise": self.normwise,
            "checked": self.checked,
            "best_elementwise_eps": np.array([b[1] for b in self.best("elementwise")]),
            "best_normwise_eps": np.array([b[1] for b in self.best("normwise")]),
            "overall_best_elementwise_eps": np.array(self.overall_best("elementwise")),
            "overall_best_normwise_eps": np.array(self.overall_best("normwise")),
            "network": np.array(self.network),
        }


def eps_grid(eps_max: float, eps_min: float, points: int) -> np.ndarray:
    """(points,) log-spaced steps from eps_max down to eps_min."""
    return np.logspace(np.log10(eps_max), np.log10(eps_min), points)


def eps_sweep(config, grid: np.ndarray) -> EpsSweep:
    """Every component's errors at every ε of `grid`, on the same inputs and parameters; for a
    smooth network also the MLP by complex step with h = ε (no round-off: it has no U)."""
    mlp, params, X, Y = gradcheck_problem(config)
    inputs = component_inputs(np.random.default_rng(config.seed))
    columns = []
    for eps in grid:
        row = check_single_components(inputs, eps=eps, leaky_slope=config.model.leaky_slope)
        row.append(check_mlp(mlp, params, X, Y, eps))
        if mlp.hidden.name not in KINKED:
            row.append(check_mlp_complex(mlp, params, X, Y, eps))
        columns.append(row)
    names = [r.component + (", complex step" if r.method == "complex" else "") for r in columns[0]]
    # relu-like hidden units, identity output and mse: piecewise quadratic in each parameter
    exact_mlp = mlp.hidden.name in KINKED and mlp.output.name == "identity" and mlp.loss == "mse"
    truncation = [r.method == "central" and r.component not in NO_TRUNCATION and not (r.component == "MLP" and exact_mlp)
                  for r in columns[0]]
    table = {key: np.array([[getattr(r, key) for r in col] for col in columns]).T
             for key in ("elementwise", "normwise", "checked")}
    return EpsSweep(np.asarray(grid, dtype=np.float64), names, [r.method for r in columns[0]],
                    np.array(truncation), table["elementwise"], table["normwise"], table["checked"],
                    describe_problem(config, len(X)))
