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
from backprop_cli.network import MLP, Workspace, init_params
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


class _Training:
    """One run's state: data, parameters and their gradient (flat, with per-layer views),
    optimizer and recorder. `epoch` trains one pass over the data; `result` packs it up."""

    def __init__(self, config: RunConfig):
        self.rng = np.random.default_rng(config.seed)
        self.X, self.y = make_dataset(config.data, self.rng)
        self.positive = self.y > 0.5
        self.mlp = MLP.from_config(config)
        layout = self.mlp.layout
        self.params = init_params(layout, config.model.init, self.rng, config.model.init_std)
        self.initial_params = self.params.copy()
        self.grad = np.zeros_like(self.params)
        self.optimizer = make_optimizer(config.train.optimizer, layout.size)
        self.clip = config.train.clip
        self.slices = batch_slices(len(self.X), config.train.batch_size)
        self.workspaces = {n: Workspace(layout, n) for n in {part.stop - part.start for part in self.slices}}
        self.recorder = GradientRecorder(layout, config.train.epochs, len(self.slices), config.log, self.clip)
        self.grad_norm = float("nan")

    def epoch(self, epoch: int) -> str | None:
        """One pass over the data, shuffled when in mini-batches. Returns why the run must stop
        (a non-finite loss or gradient; that epoch is still logged), or None."""
        self.recorder.start_epoch(self.params)
        order = self.rng.permutation(len(self.X)) if len(self.slices) > 1 else None
        for step, part in enumerate(self.slices):
            if order is None:  # full batch: no indexing on the hot path
                batch = self.X, self.y, self.positive
            else:
                rows = order[part]
                batch = self.X[rows], self.y[rows], self.positive[rows]
            failure = self.step(epoch, step, *batch)
            if failure:
                self.recorder.end_epoch(epoch, self.params, part.stop, step + 1, final=True)
                return f"{failure} at epoch {epoch}, step {step}"
        self.recorder.end_epoch(epoch, self.params, len(self.X), len(self.slices))
        return None

    def step(self, epoch: int, step: int, X: np.ndarray, y: np.ndarray, positive: np.ndarray) -> str | None:
        """Forward, backward, record, clip, update; nothing is updated from a non-finite gradient."""
        workspace = self.workspaces[len(X)]
        output, caches = self.mlp.forward(self.params, X, workspace)
        loss, deltas = self.mlp.backward(caches, y, self.grad, workspace)
        n_correct = int(np.count_nonzero((output > 0.5) == positive))
        grad_norm, abs_max = self.recorder.record_step(epoch, step, loss * len(X), n_correct, self.grad, deltas)
        if not self.recorder.enabled:
            grad_norm = float(np.sqrt(np.dot(self.grad, self.grad)))
            abs_max = float(np.abs(self.grad).max()) if self.clip.method == "value" else abs_max
        self.grad_norm = grad_norm
        if not math.isfinite(loss):
            return "non-finite loss"
        if not math.isfinite(grad_norm):
            return "non-finite gradient"
        clip = self.clip
        if clip.method == "norm" and clip_by_norm(self.grad, clip.threshold, grad_norm):
            self.recorder.record_clip(epoch)
        elif clip.method == "value" and clip_by_value(self.grad, clip.threshold, abs_max):
            self.recorder.record_clip(epoch)
        self.optimizer.step(self.params, self.grad)
        return None

    def progress(self, epochs_done: int, epochs: int) -> Progress:
        rows = self.recorder.rows
        return Progress(epochs_done, epochs, float(rows["loss"][epochs_done - 1]),
                        float(rows["accuracy"][epochs_done - 1]), self.grad_norm)

    def result(self, summary: dict) -> TrainResult:
        """The arrays and the summary, with the final parameters evaluated on all the data."""
        log = self.recorder.arrays(summary["status"], summary["epochs_run"])
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged run's last finite params may be huge
            output, loss = self.mlp.evaluate(self.params, self.X, self.y, self.workspaces.get(len(self.X)))
        summary.update(
            final_loss=float(loss),
            final_accuracy=float(np.mean((output > 0.5) == self.positive)),
            final_weight_grad_norms=(log["weight_grad_norm"][-1].tolist()
                                     if self.recorder.enabled and summary["epochs_run"] else None),
        )
        return TrainResult(self.X, self.y, self.initial_params, self.params, log, summary)


def train(config: RunConfig, progress: Callable[[Progress], None] | None = None,
          progress_every: int | None = None) -> TrainResult:
    """Train the config's MLP on its data. Stops early, keeping what it logged, on a
    non-finite loss or gradient (status diverged) or on Ctrl-C (status interrupted)."""
    started = time.perf_counter()
    run = _Training(config)
    epochs = config.train.epochs
    every = progress_every or max(1, epochs // 100)
    status, message, epochs_run = "complete", f"trained {epochs} epochs", 0
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected and reported
            for epoch in range(epochs):
                failure = run.epoch(epoch)
                epochs_run = epoch + 1
                if failure:
                    status = "diverged"
                    message = (f"{failure}: stopped; {epochs_run} epochs logged, "
                               "parameters are the last finite ones")
                    break
                if progress and (epochs_run % every == 0 or epochs_run == epochs):
                    progress(run.progress(epochs_run, epochs))
    except KeyboardInterrupt:
        status = "interrupted"
        message = f"interrupted after {epochs_run} of {epochs} epochs; the finished epochs are saved"
    return run.result({"status": status, "message": message, "epochs_requested": epochs,
                       "epochs_run": epochs_run, "wall_time_s": time.perf_counter() - started})


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
