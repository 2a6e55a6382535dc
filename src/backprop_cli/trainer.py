"""The training loop. `train(config)` is a pure function of the resolved config: it returns every
array and the summary, and writes nothing. `train_to_dir` adds the run directory around it.
It reports progress through a callback and never prints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np

from backprop_cli.config import RunConfig, config_to_yaml
from backprop_cli.datasets import make_dataset
from backprop_cli.network import MLP, init_params
from backprop_cli.optimizers import clip_by_norm, clip_by_value, make_optimizer
from backprop_cli.recorder import (
    GradientRecorder, create_run_dir, write_json_atomic, write_run_files, write_text_atomic,
)


@dataclass(frozen=True)
class Progress:
    """What the progress callback is told, every few epochs and at the end."""

    epochs_done: int
    epochs: int
    loss: float
    accuracy: float
    grad_norm: float


@dataclass
class TrainResult:
    """Everything a run produced; recorder.write_run_files turns it into a run directory."""

    X: np.ndarray               # (n, 2)
    y: np.ndarray               # (n, 1)
    initial_params: np.ndarray  # (P,)
    final_params: np.ndarray    # (P,)
    log: dict[str, np.ndarray]  # recorder.LOG_KEYS
    summary: dict               # recorder.SUMMARY_KEYS, less format_version and run_id

    @property
    def status(self) -> str:
        return self.summary["status"]


def batch_slices(n: int, batch_size: int | None) -> list[slice]:
    """Contiguous slices covering range(n); one slice for full batch (None or >= n)."""
    size = n if batch_size is None or batch_size >= n else batch_size
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def train(config: RunConfig, progress: Callable[[Progress], None] | None = None,
          progress_every: int | None = None) -> TrainResult:
    """Train the config's MLP on its data. Stops early, keeping what it logged, on a
    non-finite loss or gradient (status diverged) or on Ctrl-C (status interrupted)."""
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    X, y = make_dataset(config.data, rng)
    mlp = MLP.from_config(config)
    layout = mlp.layout
    params = init_params(layout, config.model.init, rng, config.model.init_std)
    initial_params = params.copy()
    grad = np.zeros_like(params)
    weights, grads = layout.views(params), layout.views(grad)
    optimizer = make_optimizer(config.train.optimizer, layout.size)
    clip = config.train.clip
    epochs = config.train.epochs
    n = len(X)
    slices = batch_slices(n, config.train.batch_size)
    shuffle = len(slices) > 1
    positive = y > 0.5
    recorder = GradientRecorder(layout, epochs, len(slices), config.log, clip)
    every = progress_every or max(1, epochs // 100)
    status, message, epochs_run = "complete", f"trained {epochs} epochs", 0
    X_batch, y_batch, positive_batch = X, y, positive
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected below
            for epoch in range(epochs):
                recorder.start_epoch(params)
                order = rng.permutation(n) if shuffle else None
                for step, part in enumerate(slices):
                    if shuffle:
                        rows = order[part]
                        X_batch, y_batch, positive_batch = X[rows], y[rows], positive[rows]
                    output, caches = mlp.forward(weights, X_batch)
                    loss, deltas = mlp.backward(caches, y_batch, grads)
                    n_batch = len(X_batch)
                    n_correct = int(np.count_nonzero((output > 0.5) == positive_batch))
                    grad_norm, abs_max = recorder.record_step(epoch, step, loss * n_batch, n_correct, grad, deltas)
                    if not recorder.enabled:
                        grad_norm = float(np.sqrt(np.dot(grad, grad)))
                        abs_max = float(np.abs(grad).max()) if clip.method == "value" else abs_max
                    if not (math.isfinite(loss) and math.isfinite(grad_norm)):
                        recorder.end_epoch(epoch, params, part.stop, step + 1, final=True)
                        epochs_run = epoch + 1
                        what = "loss" if not math.isfinite(loss) else "gradient"
                        status = "diverged"
                        message = (f"non-finite {what} at epoch {epoch}, step {step}: stopped; "
                                   f"{epochs_run} epochs logged, parameters are the last finite ones")
                        break
                    if clip.method == "norm" and clip_by_norm(grad, clip.threshold, grad_norm):
                        recorder.record_clip(epoch)
                    elif clip.method == "value" and clip_by_value(grad, clip.threshold, abs_max):
                        recorder.record_clip(epoch)
                    optimizer.step(params, grad)
                if status == "diverged":
                    break
                recorder.end_epoch(epoch, params, n, len(slices))
                epochs_run = epoch + 1
                if progress and (epochs_run % every == 0 or epochs_run == epochs):
                    progress(Progress(epochs_run, epochs, float(recorder.rows["loss"][epoch]),
                                      float(recorder.rows["accuracy"][epoch]), grad_norm))
    except KeyboardInterrupt:
        status = "interrupted"
        message = f"interrupted after {epochs_run} of {epochs} epochs; the finished epochs are saved"
    log = recorder.arrays(status, epochs_run)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged run's last finite params may be huge
        final_output, final_loss = mlp.evaluate(params, X, y)
    final_accuracy = float(np.mean((final_output > 0.5) == positive))
    last_norms = (log["weight_grad_norm"][-1].tolist()
                  if recorder.enabled and epochs_run else None)
    summary = {
        "status": status,
        "message": message,
        "epochs_requested": epochs,
        "epochs_run": epochs_run,
        "final_loss": float(final_loss),
        "final_accuracy": final_accuracy,
        "final_weight_grad_norms": last_norms,
        "wall_time_s": time.perf_counter() - started,
    }
    return TrainResult(X, y, initial_params, params, log, summary)


def start_run_dir(config: RunConfig, runs_root: str | Path, created: str) -> Path:
    """Create the run directory with its resolved config and a 'running' summary, so that
    even a crashed run leaves a trace."""
    run_dir = create_run_dir(runs_root, config.name)
    write_text_atomic(run_dir / "config.yaml", config_to_yaml(config))
    write_json_atomic(run_dir / "summary.json", {
        "format_version": 1, "run_id": run_dir.name, "status": "running",
        "created": created,
    })
    return run_dir


def train_to_dir(config: RunConfig, runs_root: str | Path = "runs",
                 progress: Callable[[Progress], None] | None = None) -> tuple[Path, TrainResult]:
    """Start a run directory, train, and write every file, whatever the status."""
    created = datetime.now().isoformat(timespec="seconds")
    run_dir = start_run_dir(config, runs_root, created)
    result = train(config, progress)
    result.summary["created"] = created
    write_run_files(run_dir, result)
    return run_dir, result
