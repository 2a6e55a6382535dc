"""The bp side of the benchmark: `bp train`'s own function, timed. Runs in its own process."""

from __future__ import annotations

import time
from functools import partial

import numpy as np

from backprop_cli import gradcheck
from backprop_cli.network import MLP
from backprop_cli.trainer import train

from problems import CHECK_CLIP_THRESHOLD, GRADCHECK, GRADCHECK_REPEATS, PROBLEMS


def time_train(name: str, log: bool) -> float:
    """Seconds per epoch of trainer.train on the problem (data, init and summary included),
    after an untimed 1-epoch run: the steady state, not the first touch of the memory."""
    problem = PROBLEMS[name]
    config = problem.config(log)
    train(problem.config(log, epochs=1))
    started = time.perf_counter()
    train(config)
    return (time.perf_counter() - started) / problem.epochs


def reference(name: str, epochs: int) -> dict[str, np.ndarray]:
    """The per-epoch statistics and final parameters of a short logged run, for the check."""
    result = train(PROBLEMS[name].config(log=True, epochs=epochs, clip_threshold=CHECK_CLIP_THRESHOLD))
    log = result.log
    return {"loss": log["loss"], "accuracy": log["accuracy"], "grad_norm": log["grad_norm"],
            "weight_grad_norm": log["weight_grad_norm"], "bias_grad_norm": log["bias_grad_norm"],
            "update_norm": log["update_norm"], "grad_abs_max": log["grad_abs_max"],
            "grad_abs_mean": log["grad_abs_mean"], "dead_fraction": log["dead_fraction"],
            "grad0": log["snapshot_grad"][0], "final_params": result.final_params}


def time_gradcheck(mode: str) -> tuple[float, bool]:
    """Seconds per check and whether it passed. mode: 'full', gradcheck.check_mlp (every parameter);
    'fast', check_mlp_directional with its default 4 directions; 'fast-1', with 1 direction (torch's
    fast_mode checks one: the like-for-like figure)."""
    mlp = MLP.from_config(GRADCHECK.config(log=True))
    X, Y, params = GRADCHECK.data()
    directions = {"fast": {}, "fast-1": {"directions": 1}}
    check = (gradcheck.check_mlp if mode == "full"
             else partial(gradcheck.check_mlp_directional, **directions[mode]))
    check(mlp, params, X, Y)  # untimed, as in time_train: the steady state, not the first touch
    started = time.perf_counter()
    for _ in range(GRADCHECK_REPEATS):
        result = check(mlp, params, X, Y)
    return (time.perf_counter() - started) / GRADCHECK_REPEATS, result.passed


def matmul_gflops(size: int = 1024, repeats: int = 5) -> float:
    """np.matmul's GFLOP/s on (size, size) float64 matrices: 2·size³ per product, median of `repeats`."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    out = np.empty((size, size))
    np.matmul(a, b, out=out)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - started)
    return 2.0 * size**3 / float(np.median(times)) / 1e9


def gradcheck_loss_and_grad() -> tuple[float, np.ndarray]:
    """The gradcheck network's loss and analytic gradient at its initial parameters."""
    mlp = MLP.from_config(GRADCHECK.config(log=True))
    X, Y, params = GRADCHECK.data()
    loss, grad = mlp.loss_and_grad(params, X, Y)
    return float(loss), grad
