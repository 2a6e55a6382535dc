"""Worked examples of backprop: every forward and backward value, computed three ways.

Each example is a list of Steps holding the value the project's own code computes (activations,
losses, layers, network), the exact value of SymPy's symbolic derivative, and a central difference
of the code's forward pass (gradcheck.numerical_gradient). Nothing here prints; `bp explain` renders
the steps. SymPy is optional: without it the symbolic column is None and only the numerical check
runs. graph_values gives `bp graph` the same forward and backward values for every node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from backprop_cli.activations import Activation, get_activation
from backprop_cli.config import load_config, validate_config
from backprop_cli.errors import BackpropError
from backprop_cli.gradcheck import DEFAULT_EPS, gradcheck_problem, numerical_gradient
from backprop_cli.layers import linear_backward, linear_forward
from backprop_cli.losses import bce_with_sigmoid_loss, mse_loss
from backprop_cli.network import MLP, init_params

SYMPY_RTOL, SYMPY_ATOL = 1e-7, 1e-13  # float64 code vs the exact value
NUMERICAL_RTOL, NUMERICAL_ATOL = 1e-5, 1e-9  # code vs the central difference (its error is ~1e-10)
SYMPY_DIGITS = 30
INSTALL_HINT = "pip install 'backprop-cli[explain]'"
ACTIVATION_NAMES = ("sigmoid", "tanh", "relu", "leaky_relu")
LOSS_NAMES = ("mse", "bce")
MAX_UNITS = 4  # what still reads as matrices in a terminal, and keeps SymPy's derivatives quick
MAX_GRAPH_UNITS = 16  # nodes per column of the graph that still leave room for their labels


@dataclass(frozen=True)
class Step:
    """One line of a worked example: the code's value and the two references it is checked against.

    value, symbolic, numerical: arrays of one shape; symbolic is None without SymPy,
    numerical is None for forward values (there is nothing to differentiate).
    """

    label: str
    formula: str
    value: np.ndarray
    symbolic: np.ndarray | None = None
    numerical: np.ndarray | None = None

    @property
    def symbolic_error(self) -> float | None:
        """max |code − SymPy| over the entries."""
        return None if self.symbolic is None else float(np.max(np.abs(self.value - self.symbolic)))

    @property
    def numerical_error(self) -> float | None:
        """max |code − central difference| over the entries."""
        return None if self.numerical is None else float(np.max(np.abs(self.value - self.numerical)))

    @property
    def passed(self) -> bool | None:
        """True when every available reference agrees with the code; None when there is none."""
        checks = []
        if self.symbolic is not None:
            checks.append(np.allclose(self.value, self.symbolic, rtol=SYMPY_RTOL, atol=SYMPY_ATOL))
        if self.numerical is not None:
            checks.append(np.allclose(self.value, self.numerical, rtol=NUMERICAL_RTOL, atol=NUMERICAL_ATOL))
        return bool(all(checks)) if checks else None


@dataclass(frozen=True)
class Explanation:
    """A worked example: the given values, the checked steps, and sentences on what they show."""

    title: str
    given: list[tuple[str, np.ndarray]]
    steps: list[Step]
    notes: list[str] = field(default_factory=list)
    symbolic_available: bool = True

    @property
    def passed(self) -> bool:
        """No step failed its checks."""
        return all(step.passed is not False for step in self.steps)


def parse_values(text: str, option: str) -> np.ndarray:
    """'0.5,-1' -> array([0.5, -1.0]); anything else is a one-line BackpropError naming the option."""
    try:
        values = np.array([float(part) for part in text.split(",")], dtype=np.float64)
    except ValueError:
        raise BackpropError(f"{option}: {text!r} is not a comma-separated list of numbers") from None
    if not np.all(np.isfinite(values)):
        raise BackpropError(f"{option}: {text!r} has a value that is not finite")
    return values


def parse_integers(text: str, option: str) -> list[int]:
    """'2,3,1' -> [2, 3, 1]; anything else is a one-line BackpropError naming the option."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise BackpropError(f"{option}: {text!r} is not a comma-separated list of integers") from None


def parse_sizes(text: str, option: str = "--layers") -> list[int]:
    """'2,3,1' -> [2, 3, 1]: input, hidden and output sizes, each at most MAX_UNITS."""
    sizes = parse_integers(text, option)
    if len(sizes) != 3:
        raise BackpropError(f"{option}: {text!r} needs 3 sizes: input, hidden, output (e.g. 2,3,1)")
    if min(sizes) < 1 or max(sizes) > MAX_UNITS:
        raise BackpropError(f"{option}: {text!r}: each size must be between 1 and {MAX_UNITS}")
    return sizes


def _check_choice(value: str, choices: Sequence[str], option: str) -> None:
    if value not in choices:
        raise BackpropError(f"{option}: {value!r} is not one of {', '.join(choices)}")


def _sympy():
    """The sympy module, or None when it is not installed."""
    try:
        import sympy
    except ImportError:
        return None
    return sympy


def _symbolic_activation(sp, name: str, leaky_slope: float) -> Callable:
    """The activation as a SymPy function of one expression; the kink goes where the code puts it."""
    slope = sp.Rational(leaky_slope)
    return {
        "sigmoid": lambda t: 1 / (1 + sp.exp(-t)),
        "tanh": sp.tanh,
        "relu": lambda t: sp.Piecewise((t, t > 0), (0, True)),
        "leaky_relu": lambda t: sp.Piecewise((t, t > 0), (slope * t, True)),
        "identity": lambda t: t,
    }[name]


def _symbolic_loss(sp, loss: str, output, Z, y):
    """½ Σ (y − a)² of the outputs, or Σ [log(1 + e^z) − y z] of the logits (one sample, so no 1/n)."""
    if loss == "bce":
        return sum(sp.log(1 + sp.exp(z)) - t * z for z, t in zip(Z, y))
    return sum((t - output(z)) ** 2 / 2 for z, t in zip(Z, y))


def _evaluate(sp, exprs, subs: dict, shape: tuple[int, ...]) -> np.ndarray:
    """Exact expressions at the exact inputs, in SYMPY_DIGITS-digit arithmetic -> float64 array.

    subs: {symbol: float}; mpmath takes each float64 exactly, then rounds only at SYMPY_DIGITS digits.
    """
    import mpmath

    symbols = list(subs)
    evaluate = sp.lambdify(symbols, exprs, modules="mpmath", cse=True)
    with mpmath.workdps(SYMPY_DIGITS):
        values = evaluate(*(mpmath.mpf(subs[s]) for s in symbols))
    return np.array([float(v) for v in values], dtype=np.float64).reshape(shape)


def _exact(symbols, values) -> dict:
    """{symbol: float64 value}, for _evaluate."""
    return {s: float(v) for s, v in zip(symbols, np.ravel(values))}


def _neuron_symbolic(sp, x, w, b, y, activation: str, loss: str, leaky_slope: float) -> list:
    """SymPy values of z, a, L, then the backward quantities, in the order neuron_steps lists them."""
    d = len(x)
    xs, ws = sp.symbols(f"x0:{d}", real=True), sp.symbols(f"w0:{d}", real=True)
    bs, ys, zeta, alpha = sp.symbols("b y zeta alpha", real=True)
    f = _symbolic_activation(sp, activation, leaky_slope)
    z = sum(wi * xi for wi, xi in zip(ws, xs)) + bs
    identity = _symbolic_activation(sp, "identity", leaky_slope)
    loss_of_z = _symbolic_loss(sp, loss, f, [zeta], [ys])
    L = loss_of_z.subs(zeta, z)
    subs = {**_exact(xs, x), **_exact(ws, w), **_exact([bs, ys], [b, y])}

    def value(exprs: list, shape: tuple[int, ...] = (1,)) -> np.ndarray:
        return _evaluate(sp, exprs, subs, shape)

    out = [value([z]), value([f(z)]), value([L])]
    if loss == "mse":
        loss_of_a = _symbolic_loss(sp, "mse", identity, [alpha], [ys])
        out += [value([sp.diff(loss_of_a, alpha).subs(alpha, f(z))]),
                value([sp.diff(f(zeta), zeta).subs(zeta, z)])]
    out += [value([sp.diff(loss_of_z, zeta).subs(zeta, z)]),
            value([sp.diff(L, wi) for wi in ws], (d,)),
            value([sp.diff(L, bs)])]
    return out


def _kink_note(activation: str, Z: np.ndarray) -> list[str]:
    """A sentence when a ReLU-family input sits on the kink, where the two checks must disagree."""
    if activation in ("relu", "leaky_relu") and np.any(np.abs(Z) < DEFAULT_EPS):
        return [f"a z within ε of 0 sits on {activation}'s kink, where the derivative is not defined: the code "
                "takes the left slope, the central difference averages both sides, hence ✗."]
    return []


def neuron_steps(x: np.ndarray, w: np.ndarray, b: float, y: float, activation: str = "sigmoid",
                 loss: str = "mse", leaky_slope: float = 0.01) -> Explanation:
    """One neuron a = f(wᵀx + b) with loss ½(y − a)² (or bce on z), forward and backward.

    x, w: (d,);  b, y: scalars. Values come from linear_forward/backward, the activation's pair
    and the loss, each on a batch of one sample.
    """
    _check_choice(activation, ACTIVATION_NAMES, "--activation")
    _check_choice(loss, LOSS_NAMES, "--loss")
    if len(w) != len(x):
        raise BackpropError(f"--w has {len(w)} values but --x has {len(x)}: give one weight per input")
    if loss == "bce" and activation != "sigmoid":
        raise BackpropError("--loss bce needs --activation sigmoid (bce is fused with a sigmoid output)")
    act = get_activation(activation, leaky_slope)
    X, W, B, Y = x[None, :], w[:, None], np.array([b], dtype=np.float64), np.array([[y]])

    def loss_of_z(Z: np.ndarray) -> float:
        return bce_with_sigmoid_loss(Z, Y)[0] if loss == "bce" else mse_loss(act.forward(Z), Y)[0]

    def loss_of_params(w_: np.ndarray, b_: np.ndarray) -> float:
        return loss_of_z(linear_forward(X, w_[:, None], b_)[0])

    Z, cache = linear_forward(X, W, B)
    A = act.forward(Z)
    f = _formula(activation)
    L = loss_of_z(Z)
    if loss == "bce":
        _, dZ = bce_with_sigmoid_loss(Z, Y)
        middle = [Step("∂L/∂z", "a − y   (bce fused with σ)", dZ[0],
                       numerical=numerical_gradient(lambda z: loss_of_z(z[None, :]), Z[0]))]
    else:
        _, dA = mse_loss(A, Y)
        da_dz = act.backward(np.ones_like(A), Z, A)
        dZ = act.backward(dA, Z, A)
        middle = [
            Step("∂L/∂a", "a − y", dA[0],
                 numerical=numerical_gradient(lambda a: mse_loss(a[None, :], Y)[0], A[0])),
            Step("∂a/∂z", f"{f}'(z)", da_dz[0], numerical=numerical_gradient(lambda z: act.forward(z)[0], Z[0])),
            Step("∂L/∂z", "∂L/∂a · ∂a/∂z", dZ[0],
                 numerical=numerical_gradient(lambda z: loss_of_z(z[None, :]), Z[0])),
        ]
    _, dW, db = linear_backward(dZ, cache)
    loss_formula = "log(1 + eᶻ) − y z" if loss == "bce" else "½ (y − a)²"
    steps = [
        Step("z", "wᵀx + b", Z[0]),
        Step("a", f"{f}(z)", A[0]),
        Step("L", loss_formula, np.array([L])),
        *middle,
        Step("∂L/∂w", "∂L/∂z · x", dW[:, 0], numerical=numerical_gradient(lambda v: loss_of_params(v, B), w)),
        Step("∂L/∂b", "∂L/∂z", db, numerical=numerical_gradient(lambda v: loss_of_params(w, v), B)),
    ]
    notes = _kink_note(activation, Z)
    if loss == "bce":
        notes.append("bce is fused with the sigmoid: ∂L/∂a · σ'(z) = (a − y) / (a(1 − a)) · a(1 − a) "
                     "= a − y, so the code never forms ∂L/∂a.")
    sp = _sympy()
    if sp is not None:
        exact = _neuron_symbolic(sp, x, w, b, y, activation, loss, leaky_slope)
        steps = [_with_symbolic(step, value) for step, value in zip(steps, exact)]
    given = [("x", x), ("w", w), ("b", np.array([b])), ("y", np.array([y]))]
    title = f"one {activation} neuron, loss {loss}: a = {f}(wᵀx + b)"
    return Explanation(title, given, steps, notes, symbolic_available=sp is not None)


def _with_symbolic(step: Step, symbolic: np.ndarray) -> Step:
    return Step(step.label, step.formula, step.value, symbolic.reshape(step.value.shape), step.numerical)


def _formula(activation: str) -> str:
    return {"sigmoid": "σ", "tanh": "tanh", "relu": "relu", "leaky_relu": "lrelu", "identity": "id"}[activation]


def _tail_loss(mlp: MLP, weights, layer: int, Z: np.ndarray, Y: np.ndarray) -> float:
    """The loss as a function of layer `layer`'s pre-activation Z (0-based), through the code's forward."""
    for W, b in weights[layer + 1:]:
        Z, _ = linear_forward(mlp.hidden.forward(Z), W, b)
    if mlp.loss == "bce":
        return bce_with_sigmoid_loss(Z, Y)[0]
    return mse_loss(mlp.output.forward(Z), Y)[0]


def network_steps(layer_sizes: Sequence[int], x: np.ndarray, y: np.ndarray, activation: str = "sigmoid",
                  loss: str = "mse", seed: int = 0, leaky_slope: float = 0.01) -> Explanation:
    """A small MLP (hidden `activation`, sigmoid output) on one sample, through network.MLP.

    Weights: xavier init from `seed`, biases 0.1. x: (d0,), y: (d(L),). Steps per layer l:
    Z(l) = A(l-1) W(l) + b(l), A(l) = f(Z(l)); backward δ(l), ∂L/∂W(l) = A(l-1)ᵀ δ(l), ∂L/∂b(l) = δ(l).
    """
    _check_choice(activation, ACTIVATION_NAMES, "--activation")
    _check_choice(loss, LOSS_NAMES, "--loss")
    sizes = list(layer_sizes)
    if len(x) != sizes[0]:
        raise BackpropError(f"--x has {len(x)} values but --layers starts with {sizes[0]}: give one value per input")
    if len(y) != sizes[-1]:
        raise BackpropError(f"--y has {len(y)} values but --layers ends with {sizes[-1]}: give one target per output")
    mlp = MLP(sizes, activation, "sigmoid", loss, leaky_slope)
    params = init_params(mlp.layout, "xavier", np.random.default_rng(seed))
    weights = mlp.layout.views(params)
    for _, b in weights:
        b[...] = 0.1  # nonzero, so that the bias enters the forward values visibly
    X, Y = x[None, :], y[None, :]
    _, caches = mlp.forward(params, X)
    grad = np.zeros_like(params)
    loss_value, deltas = mlp.backward(caches, Y, grad)
    grads = mlp.layout.views(grad)
    numerical_grads = mlp.layout.views(numerical_gradient(lambda p: mlp.loss_value(p, X, Y), params))
    n_layers = len(weights)
    h, last = _formula(activation), n_layers
    steps = []
    for layer in range(1, n_layers + 1):
        f = "σ" if layer == last else h
        prev = "x" if layer == 1 else f"A{layer - 1}"
        steps += [Step(f"Z{layer}", f"{prev} W{layer} + b{layer}", caches[layer - 1].Z[0]),
                  Step(f"A{layer}", f"{f}(Z{layer})", caches[layer - 1].A[0])]
    loss_formula = "Σ log(1 + eᶻ) − y z" if loss == "bce" else "½ Σ (y − A)²"
    steps.append(Step("L", loss_formula, np.array([loss_value])))
    for layer in range(n_layers, 0, -1):
        if layer == last:
            formula = f"A{layer} − y  (bce, fused)" if loss == "bce" else f"(A{layer} − y) ⊙ σ'(Z{layer})"
        else:
            formula = f"(δ{layer + 1} W{layer + 1}ᵀ) ⊙ {h}'(Z{layer})"
        delta_num = numerical_gradient(lambda z: _tail_loss(mlp, weights, layer - 1, z[None, :], Y),
                                       caches[layer - 1].Z[0])
        prev = "x" if layer == 1 else f"A{layer - 1}"
        steps += [
            Step(f"δ{layer}", formula, deltas[layer - 1][0], numerical=delta_num),
            Step(f"∂L/∂W{layer}", f"{prev}ᵀ δ{layer}", grads[layer - 1][0].copy(),
                 numerical=numerical_grads[layer - 1][0].copy()),
            Step(f"∂L/∂b{layer}", f"δ{layer}", grads[layer - 1][1].copy(),
                 numerical=numerical_grads[layer - 1][1].copy()),
        ]
    notes = ["δl = ∂L/∂Zl, the gradient at layer l's pre-activation."]
    notes += _kink_note(activation, np.concatenate([c.Z[0] for c in caches[:-1]]))
    notes += gradient_norm_notes([g for g, _ in grads], activation)
    sp = _sympy()
    if sp is not None:
        exact = _network_symbolic(sp, weights, x, y, activation, loss, leaky_slope)
        steps = [_with_symbolic(step, exact[step.label]) for step in steps]
    given = [("x", x)] + [(f"{name}{i + 1}", value) for i, (W, b) in enumerate(weights)
                          for name, value in (("W", W.copy()), ("b", b.copy()))] + [("y", y)]
    arrow = " → ".join(str(s) for s in sizes)
    title = f"a {arrow} network, hidden {activation}, output sigmoid, loss {loss} (xavier weights, seed {seed})"
    return Explanation(title, given, steps, notes, symbolic_available=sp is not None)


def gradient_norm_notes(weight_grads: Sequence[np.ndarray], activation: str) -> list[str]:
    """‖∂L/∂W(l)‖ per layer, the ratio of each to the next layer's, and what the ratio means."""
    norms = [float(np.linalg.norm(g)) for g in weight_grads]
    lines = ["‖∂L/∂W‖ per layer: " + ", ".join(f"layer {i + 1}: {n:.4g}" for i, n in enumerate(norms))]
    for layer in range(len(norms) - 1):
        earlier, later = norms[layer], norms[layer + 1]
        if later == 0.0:
            lines.append(f"‖∂L/∂W{layer + 2}‖ is 0, so there is no ratio to take.")
            continue
        ratio = earlier / later
        if ratio < 0.5:
            meaning = (f"layer {layer + 1} learns {1 / ratio:.3g}× more slowly than layer {layer + 2} "
                       f"at the same learning rate; each {activation} layer further back multiplies "
                       "such factors, which is how gradients vanish")
        elif ratio > 2.0:
            meaning = (f"layer {layer + 1} moves {ratio:.3g}× faster than layer {layer + 2}; "
                       "compounded over many layers this is how gradients explode")
        else:
            meaning = f"layers {layer + 1} and {layer + 2} get gradients of a similar size: the signal survives"
        lines.append(f"‖∂L/∂W{layer + 1}‖ / ‖∂L/∂W{layer + 2}‖ = {ratio:.4g}: {meaning}.")
    return lines


def _network_symbolic(sp, weights, x, y, activation: str, loss: str, leaky_slope: float) -> dict:
    """{step label: exact value} for network_steps, from SymPy's derivatives of the loss."""
    f = _symbolic_activation(sp, activation, leaky_slope)
    out_f = _symbolic_activation(sp, "sigmoid", leaky_slope)
    n_layers = len(weights)
    Ws = [sp.Matrix(W.shape[0], W.shape[1], sp.symbols(f"W{i + 1}_0:{W.size}", real=True))
          for i, (W, _) in enumerate(weights)]
    bs = [sp.Matrix(1, b.size, sp.symbols(f"b{i + 1}_0:{b.size}", real=True)) for i, (_, b) in enumerate(weights)]
    xs = sp.Matrix(1, len(x), sp.symbols(f"x0:{len(x)}", real=True))
    ys = sp.symbols(f"y0:{len(y)}", real=True)
    subs = {**_exact(xs, x), **_exact(ys, y)}
    for W, b, (W_val, b_val) in zip(Ws, bs, weights):
        subs |= {**_exact(W, W_val), **_exact(b, b_val)}

    def act(layer: int):
        return out_f if layer == n_layers else f

    def loss_from(layer: int, Z):
        """L as an expression of layer `layer`'s (1-based) pre-activation row Z."""
        for current in range(layer, n_layers):
            Z = Z.applyfunc(act(current)) * Ws[current] + bs[current]
        return _symbolic_loss(sp, loss, out_f, list(Z), ys)

    exact, A = {}, xs
    Zs = []
    for layer in range(1, n_layers + 1):
        Z = A * Ws[layer - 1] + bs[layer - 1]
        A = Z.applyfunc(act(layer))
        Zs.append(Z)
        exact[f"Z{layer}"] = _evaluate(sp, list(Z), subs, (Z.cols,))
        exact[f"A{layer}"] = _evaluate(sp, list(A), subs, (A.cols,))
    L = loss_from(n_layers, Zs[-1])
    exact["L"] = _evaluate(sp, [L], subs, (1,))
    for layer in range(1, n_layers + 1):
        zeta = sp.Matrix(1, Zs[layer - 1].cols, sp.symbols(f"zeta0:{Zs[layer - 1].cols}", real=True))
        tail = loss_from(layer, zeta)
        at_z = dict(zip(zeta, Zs[layer - 1]))
        exact[f"δ{layer}"] = _evaluate(sp, [sp.diff(tail, s).xreplace(at_z) for s in zeta], subs, (zeta.cols,))
        W, b = Ws[layer - 1], bs[layer - 1]
        exact[f"∂L/∂W{layer}"] = _evaluate(sp, [sp.diff(L, s) for s in W], subs, W.shape)
        exact[f"∂L/∂b{layer}"] = _evaluate(sp, [sp.diff(L, s) for s in b], subs, (b.cols,))
    return exact


@dataclass(frozen=True)
class ActivationBound:
    """One activation's derivative: its formula, the code's max and value set on a grid, SymPy's exact max."""

    name: str
    formula: str
    code_max: float
    code_values: np.ndarray | None  # the distinct values when the derivative is piecewise constant
    exact_max: str | None  # SymPy's maximum over the reals, printed exactly (e.g. '1/4')


def activation_bounds(leaky_slope: float = 0.01, max_layers: int = 10) -> tuple[list[ActivationBound], np.ndarray]:
    """Derivative bounds of each activation, and the best case factor max σ'ⁿ for n = 1 … max_layers.

    The code's derivative f'(z) = backward(1, z, f(z)) on a grid over [−10, 10] that includes 0.
    Returns the bounds and an (max_layers,) array of (max σ')ⁿ.
    """
    grid = np.linspace(-10.0, 10.0, 20001)[None, :]  # step 1e-3: z = 0 is on it
    formulas = {"sigmoid": "σ(z)(1 − σ(z))", "tanh": "1 − tanh²(z)", "relu": "1 if z > 0 else 0",
                "leaky_relu": f"1 if z > 0 else {leaky_slope:g}"}
    sp = _sympy()
    bounds = []
    for name in ACTIVATION_NAMES:
        act = get_activation(name, leaky_slope)
        derivative = _derivative_on(act, grid)[0]
        piecewise = name in ("relu", "leaky_relu")
        bounds.append(ActivationBound(name, formulas[name], float(derivative.max()),
                                      np.unique(derivative) if piecewise else None,
                                      None if sp is None else _exact_max(sp, name, leaky_slope)))
    sigmoid_max = bounds[0].code_max
    return bounds, sigmoid_max ** np.arange(1, max_layers + 1)


def _derivative_on(act: Activation, Z: np.ndarray) -> np.ndarray:
    """f'(Z) as the code computes it: backward with dA = 1."""
    return act.backward(np.ones_like(Z), Z, act.forward(Z))


def _exact_max(sp, name: str, leaky_slope: float) -> str:
    """SymPy's maximum of f' over the reals (for piecewise f', the largest branch value)."""
    z = sp.Symbol("z", real=True)
    derivative = sp.diff(_symbolic_activation(sp, name, leaky_slope)(z), z)
    if isinstance(derivative, sp.Piecewise):
        return str(max(value for value, _ in derivative.args))
    from sympy.calculus.util import maximum

    return str(maximum(derivative, z, sp.Reals))


@dataclass(frozen=True)
class GraphValues:
    """Every node's forward value and gradient for one sample, at `bp train`'s initial weights.

    x, dx: (d0,); y: (d(L),); Z, A, dZ, dA: one (d(l),) array per layer; dA[-1] is None with bce, whose
    gradient is fused with the sigmoid and never formed for the output A.
    """

    x: np.ndarray
    y: np.ndarray
    dx: np.ndarray
    Z: list[np.ndarray]
    A: list[np.ndarray]
    dZ: list[np.ndarray]
    dA: list[np.ndarray | None]
    loss: float


def graph_values(config, x: np.ndarray, y: np.ndarray) -> GraphValues:
    """Forward and backward through network.MLP for one sample x: (d0,), target y: (d(L),)."""
    mlp, params, _, _ = gradcheck_problem(config)  # the parameters bp train starts from
    sizes = mlp.layout.layer_sizes
    if len(x) != sizes[0]:
        raise BackpropError(f"--input has {len(x)} values but the network has {sizes[0]} inputs")
    if len(y) != sizes[-1]:
        raise BackpropError(f"--target has {len(y)} values but the network has {sizes[-1]} outputs")
    _, caches = mlp.forward(params, x[None, :])
    loss, deltas = mlp.backward(caches, y[None, :], np.zeros_like(params))
    upstream = [linear_backward(delta, cache.linear)[0][0] for delta, cache in zip(deltas, caches)]
    output_grad = None if mlp.loss == "bce" else mse_loss(caches[-1].A, y[None, :])[1][0]
    return GraphValues(x, y, upstream[0], [c.Z[0] for c in caches], [c.A[0] for c in caches],
                       [d[0] for d in deltas], upstream[1:] + [output_grad], float(loss))



def graph_config(path: Path | None, layers: str | None):
    """The config `bp graph` draws: a YAML file, or --layers with every other field at its default."""
    if (path is None) == (layers is None):
        raise BackpropError("give a CONFIG file or --layers (e.g. --layers 2,3,1), not both or neither")
    if path is not None:
        config = load_config(path, None)
    else:
        sizes = parse_integers(layers, "--layers")
        config = validate_config({"name": "graph", "model": {"layer_sizes": sizes}}, "--layers")
    widest = max(config.model.layer_sizes)
    if widest > MAX_GRAPH_UNITS:
        raise BackpropError(f"a layer of {widest} units is too wide to draw; the graph shows at most "
                            f"{MAX_GRAPH_UNITS} units per layer")
    return config


def parse_sample(input_text: str | None, target_text: str | None) -> tuple[np.ndarray, np.ndarray] | None:
    """--input and --target as arrays, or None when neither is given."""
    if input_text is None and target_text is None:
        return None
    if input_text is None or target_text is None:
        raise BackpropError("--input and --target go together: give both to annotate the graph")
    return parse_values(input_text, "--input"), parse_values(target_text, "--target")
