"""Sweeps: a grid of runs over config fields and seeds, aggregated over seeds.

A sweep is a base config, grid axes (a dotted config key and its values) and the cartesian product
of the axes: one run per point. Any `concurrent.futures` executor runs the points (local processes,
or a Dask client's executor); workers only call `trainer.train(config)` and return its arrays, and
this process writes every run directory and the `sweep.json` index, so nothing needs a shared file
system. A sweep's results depend on its points alone, not on the executor or the number of workers.

Layout of `runs/<sweep-id>/`: `sweep.json` (the index, SWEEP_KEYS), `sweep.yaml` (a sweep file that
repeats the sweep) and one run directory per point, named by the point's index (`007`, or `007-2`
for a rerun after a failure: no run directory is ever overwritten).
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import re
import warnings
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backprop_cli.config import (
    RunConfig, config_to_yaml, default_name, format_validation_error, read_yaml, resolve_config, set_path,
    validate_config,
)
from backprop_cli.errors import ConfigError, RunDirError
from backprop_cli.recorder import (
    FORMAT_VERSION, create_run_dir, fresh_dir, read_npz, write_json_atomic, write_run_files, write_text_atomic,
)

SWEEP_FORMAT_VERSION = 1
INDEX_FILE = "sweep.json"
SPEC_FILE = "sweep.yaml"
SEED_KEY = "seed"
DONE_STATUSES = ("complete", "diverged")  # a rerun would give the same result: resume skips these

SWEEP_KEYS: dict[str, str] = {
    "format_version": "int: version of this file format (1)",
    "sweep_id": "str: the sweep directory's name",
    "created": "str: ISO time the sweep was created",
    "source": "str: the config or sweep file it came from",
    "base": "mapping: the resolved base config (every field), before grid values are set",
    "grid": "list of {key, values, labels}: the axes in order; `seed` (if swept) is last",
    "points": "list of points, in grid order (the last axis varies fastest), each: index, "
              "values {key: value}, group (label of its non-seed values), run_dir (sub-directory, "
              "null until run), status (pending | complete | diverged | interrupted | failed), "
              "message, attempts, final_loss, final_accuracy",
    "counts": "{status: number of points}",
}
METRICS = ("loss", "grad_norm", "grad_ratio", "accuracy")
METRIC_LABELS = {
    "loss": "training loss",
    "grad_norm": "global gradient norm ‖g‖",
    "grad_ratio": "‖dL/dW₁‖ / ‖dL/dW_L‖ (first / last layer)",
    "accuracy": "training accuracy",
}


class SweepFile(BaseModel):
    """A sweep file: a run config under `base`, grid axes under `grid`, optional `seeds`."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    base: dict = Field(default_factory=dict, description="A run config, as in configs/*.yaml.")
    grid: dict[str, list | str] = Field(..., description="key: [values] or a range such as 0:10.")
    seeds: int | None = Field(None, ge=1, le=100_000, description="Add a seed axis 0..seeds-1.")


@dataclass
class Axis:
    """One grid dimension: a dotted config key and its values."""

    key: str
    values: list


@dataclass
class SweepPlan:
    """A validated sweep, before anything runs."""

    name: str
    source: str
    base: dict
    axes: list[Axis]
    points: list[dict]  # {key: value} per point, in grid order
    configs: list[RunConfig] = field(repr=False)


# --- grids ------------------------------------------------------------------------------------

def parse_values(spec: str, where: str) -> list:
    """Grid values: `A:B` (integers A..B-1), `log:LO:HI:N` (N log-spaced values, ends included)
    or a comma list read as YAML (`none,0.5,1`, `[2,8,1],[2,8,8,1]`)."""
    spec = spec.strip()
    span = re.fullmatch(r"(-?\d+):(-?\d+)", spec)
    if span:
        values = list(range(int(span[1]), int(span[2])))
    elif spec.startswith("log:"):
        values = _log_range(spec, where)
    else:
        try:
            values = yaml.safe_load(f"[{spec}]")
        except yaml.YAMLError as err:
            raise ConfigError(f"{where}: the values are not a valid YAML list") from err
    if not values:
        raise ConfigError(f"{where}: no values (expected V1,V2,..., A:B or log:LO:HI:N)")
    return values


def _log_range(spec: str, where: str) -> list[float]:
    parts = spec.split(":")
    try:
        low, high, count = float(parts[1]), float(parts[2]), int(parts[3])
        if len(parts) != 4 or not (0 < low < high) or count < 2:
            raise ValueError
    except (ValueError, IndexError) as err:
        raise ConfigError(f"{where}: expected log:LO:HI:N with 0 < LO < HI and N >= 2") from err
    return [float(f"{v:.6g}") for v in np.geomspace(low, high, count)]


def parse_grid(text: str) -> Axis:
    """`--grid KEY.PATH=VALUES` -> Axis; see parse_values for VALUES."""
    key, sep, spec = text.partition("=")
    key = key.strip()
    if not sep or not all(key.split(".")):
        raise ConfigError(f"--grid {text}: expected KEY.PATH=V1,V2,... e.g. train.clip.threshold=0.5,1,2")
    return Axis(key, parse_values(spec, f"--grid {text}"))


def value_label(value: Any) -> str:
    """A short label: scalars as YAML would write them, lists compactly, a mapping by its values."""
    if isinstance(value, dict):
        return " ".join(value_label(v) for v in value.values())
    if isinstance(value, list):
        return "[" + ",".join(value_label(v) for v in value) + "]"
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


def group_label(values: dict) -> str:
    """The label of a point's non-seed values: its group, aggregated over seeds."""
    parts = [f"{key}={value_label(v)}" for key, v in values.items() if key != SEED_KEY]
    return " ".join(parts) or "all"


def _with_values(base: dict, values: dict, where: str) -> dict:
    raw = copy.deepcopy(base)
    for key, value in values.items():
        set_path(raw, key.split("."), copy.deepcopy(value), where)
    return raw


def expand(base: dict, axes: list[Axis], source: str) -> tuple[list[dict], list[RunConfig]]:
    """Every point of the grid (the last axis varies fastest) and its validated config;
    the first bad point is a one-line ConfigError naming it."""
    points, configs = [], []
    for combo in itertools.product(*(axis.values for axis in axes)):
        values = {axis.key: value for axis, value in zip(axes, combo)}
        where = f"{source} (grid {' '.join(f'{k}={value_label(v)}' for k, v in values.items())})"
        configs.append(validate_config(_with_values(base, values, where), where))
        points.append(values)
    return points, configs


def _check_axes(axes: list[Axis], seeds: int | None, source: str) -> list[Axis]:
    keys = [axis.key for axis in axes]
    for key in keys:
        if keys.count(key) > 1:
            raise ConfigError(f"{source}: grid key {key} is given twice")
    for axis in axes:
        labels = [value_label(v) for v in axis.values]
        if len(set(labels)) < len(labels):
            raise ConfigError(f"{source}: grid {axis.key} repeats a value")
    if seeds is not None:
        if SEED_KEY in keys:
            raise ConfigError(f"{source}: give the seeds either as --seeds/seeds or as a seed grid, not both")
        axes = [*axes, Axis(SEED_KEY, list(range(seeds)))]
    # Seeds vary fastest, so a group's runs sit next to each other.
    return sorted(axes, key=lambda axis: axis.key == SEED_KEY)


def plan_sweep(path: str | Path, grid: list[str] | None = None, seeds: int | None = None,
               overrides: list[str] | None = None) -> SweepPlan:
    """Read a run config or a sweep file, add `--grid` axes, `--seeds` and `--set` overrides,
    and validate every point; nothing is written."""
    path = Path(path)
    raw = read_yaml(path)
    stem = default_name(path)
    if isinstance(raw, dict) and "grid" in raw:
        try:
            spec = SweepFile.model_validate(raw)
        except ValidationError as err:
            raise ConfigError(format_validation_error(str(path), err)) from err
        name, base = spec.name or stem, spec.base
        axes = [Axis(k, v if isinstance(v, list) else parse_values(v, f"{path}: grid.{k}"))
                for k, v in spec.grid.items()]
        seeds = spec.seeds if seeds is None else seeds
    else:
        name, base, axes = stem, raw, []
    base = resolve_config(base, str(path), overrides, name).model_dump(mode="json")
    axes = _check_axes(axes + [parse_grid(text) for text in grid or []], seeds, str(path))
    if not axes:
        raise ConfigError(f"{path}: nothing to sweep: give --grid KEY=V1,V2,... or --seeds N")
    points, configs = expand(base, axes, str(path))
    return SweepPlan(name, str(path), base, axes, points, configs)


# --- the sweep directory ----------------------------------------------------------------------

def create_sweep(plan: SweepPlan, runs_root: str | Path) -> Path:
    """Make `runs_root/<YYYYmmdd-HHMMSS>-<name>/` with sweep.yaml and a sweep.json of pending points."""
    sweep_dir = create_run_dir(runs_root, plan.name)
    grid = {axis.key: axis.values for axis in plan.axes}
    write_text_atomic(sweep_dir / SPEC_FILE, "# Written by bp sweep: `bp sweep THIS_FILE` repeats the sweep.\n"
                      + yaml.safe_dump({"name": plan.name, "base": plan.base, "grid": grid}, sort_keys=False))
    index = {
        "format_version": SWEEP_FORMAT_VERSION,
        "sweep_id": sweep_dir.name,
        "created": datetime.now().isoformat(timespec="seconds"),
        "source": plan.source,
        "base": plan.base,
        "grid": [{"key": a.key, "values": a.values, "labels": [value_label(v) for v in a.values]}
                 for a in plan.axes],
        "points": [{"index": i, "values": values, "group": group_label(values), "run_dir": None,
                    "status": "pending", "message": "", "attempts": 0,
                    "final_loss": None, "final_accuracy": None}
                   for i, values in enumerate(plan.points)],
    }
    write_index(sweep_dir, index)
    return sweep_dir


def prepare_sweep(config: Path | None, grid: list[str] | None, seeds: int | None, overrides: list[str] | None,
                  resume: Path | None, runs_root: str | Path) -> tuple[Path, list[int]]:
    """A new sweep directory from CONFIG (a run config or a sweep file), or the sweep at `resume`;
    returns it and the indices of the points to run."""
    if resume is not None:
        if config is not None or grid or seeds is not None or overrides:
            raise ConfigError("--resume takes no CONFIG, --grid, --seeds or --set: "
                              "the sweep's sweep.json says what to run")
        return Path(resume), points_to_run(resume, load_index(resume))
    if config is None:
        raise ConfigError("give a CONFIG (a run config or a sweep file) or --resume runs/<sweep-id>")
    sweep_dir = create_sweep(plan_sweep(config, grid, seeds, overrides), runs_root)
    return sweep_dir, points_to_run(sweep_dir, load_index(sweep_dir))


def write_index(sweep_dir: Path, index: dict) -> None:
    """Write sweep.json atomically, with fresh status counts."""
    counts: dict[str, int] = {}
    for point in index["points"]:
        counts[point["status"]] = counts.get(point["status"], 0) + 1
    index["counts"] = counts
    write_json_atomic(Path(sweep_dir) / INDEX_FILE, index)


def is_sweep_dir(path: str | Path) -> bool:
    return (Path(path) / INDEX_FILE).is_file()


def load_index(sweep_dir: str | Path) -> dict:
    """Read sweep.json; a missing, corrupt or newer file is a RunDirError."""
    path = Path(sweep_dir) / INDEX_FILE
    if not path.is_file():
        raise RunDirError(f"{sweep_dir}: not a sweep directory (no {INDEX_FILE})")
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise RunDirError(f"{path}: corrupt ({err})") from err
    if not isinstance(index, dict) or not all(key in index for key in ("format_version", "base", "grid", "points")):
        raise RunDirError(f"{path}: not a sweep index (missing keys)")
    if index["format_version"] > SWEEP_FORMAT_VERSION:
        raise RunDirError(f"{path}: format version {index['format_version']} is newer than this bp reads "
                          f"({SWEEP_FORMAT_VERSION}); upgrade backprop-cli")
    return index


def points_to_run(sweep_dir: str | Path, index: dict) -> list[int]:
    """Indices of points that are not done: never run, interrupted, failed, or whose run
    directory (or its log) has gone missing."""
    todo = []
    for point in index["points"]:
        run_dir = point["run_dir"] and Path(sweep_dir) / point["run_dir"]
        done = point["status"] in DONE_STATUSES and run_dir and (run_dir / "log.npz").is_file()
        if not done:
            todo.append(point["index"])
    return todo


def _record(sweep_dir: Path, point: dict, config: RunConfig, width: int,
            result: Any = None, error: str | None = None) -> None:
    """Write one point's run directory (a failure keeps its config and a summary saying why)."""
    run_dir = fresh_dir(sweep_dir, f"{point['index']:0{width}d}")
    created = datetime.now().isoformat(timespec="seconds")
    write_text_atomic(run_dir / "config.yaml", config_to_yaml(config))
    if result is None:
        point.update(status="failed", message=error, final_loss=None, final_accuracy=None)
        write_json_atomic(run_dir / "summary.json", {"format_version": FORMAT_VERSION, "run_id": run_dir.name,
                                                     "status": "failed", "message": error, "created": created})
    else:
        result.summary["created"] = created
        write_run_files(run_dir, result)
        summary = result.summary
        point.update(status=summary["status"], message=summary["message"],
                     final_loss=summary["final_loss"], final_accuracy=summary["final_accuracy"])
    point["run_dir"] = run_dir.name


# --- running ----------------------------------------------------------------------------------

ExecutorFactory = Callable[[], Executor]


@contextmanager
def open_executor(workers: int | None = None, scheduler: str | None = None) -> Iterator[ExecutorFactory]:
    """A factory of executors: local worker processes (`workers`, default the number of cores)
    or the executor of a Dask client connected to `scheduler` (tcp://HOST:PORT)."""
    if scheduler is None:
        count = (os.cpu_count() or 1) if workers is None else workers
        if count < 1:
            raise ConfigError(f"--workers {count}: must be at least 1")
        yield lambda: ProcessPoolExecutor(max_workers=count)
        return
    try:
        from distributed import Client
    except ImportError as err:
        raise ConfigError("--scheduler needs Dask: pip install 'backprop-cli[dask]'") from err
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as err:
        raise ConfigError(f"--scheduler {scheduler}: cannot connect ({type(err).__name__}: {err})") from err
    with client:
        yield lambda: client.get_executor(pure=False)


@dataclass(frozen=True)
class PointDone:
    """What the progress callback is told after each point."""

    index: int
    status: str
    done: int
    total: int
    counts: dict


def run_sweep(sweep_dir: str | Path, executors: ExecutorFactory, only: list[int] | None = None,
              progress: Callable[[PointDone], None] | None = None,
              work: Callable[[RunConfig], Any] | None = None) -> dict:
    """Run the sweep's points that are not done (or those in `only`) with `work` (default
    trainer.train) and record each as it ends. When a worker process dies, every point of its
    pool is rerun alone in a fresh pool; a point whose worker dies while it runs alone is marked
    failed. Any other error marks just that point failed. Returns sweep.json's counts."""
    if work is None:
        from backprop_cli.trainer import train as work  # here, so that reading a sweep never loads the trainer
    sweep_dir = Path(sweep_dir)
    index = load_index(sweep_dir)
    axes = [Axis(axis["key"], axis["values"]) for axis in index["grid"]]
    _, configs = expand(index["base"], axes, str(sweep_dir / INDEX_FILE))
    todo = points_to_run(sweep_dir, index) if only is None else list(only)
    width = len(str(max(len(configs) - 1, 1)))
    total, done, alone = len(todo), 0, False
    while todo:
        died = []
        for batch in ([[i] for i in todo] if alone else [todo]):
            for i, outcome in _outcomes(executors, work, configs, batch):
                point = index["points"][i]
                point["attempts"] += 1
                if isinstance(outcome, BrokenProcessPool):
                    if not alone:
                        died.append(i)
                        continue
                    outcome = BrokenProcessPool(f"the worker running it died ({point['attempts']} attempts)")
                if isinstance(outcome, BaseException):
                    _record(sweep_dir, point, configs[i], width, error=f"{type(outcome).__name__}: {outcome}")
                else:
                    _record(sweep_dir, point, configs[i], width, result=outcome)
                done += 1
                write_index(sweep_dir, index)
                if progress:
                    progress(PointDone(i, point["status"], done, total, dict(index["counts"])))
        todo, alone = died, True
    return dict(index.get("counts", {}))


def _outcomes(executors: ExecutorFactory, work: Callable, configs: list[RunConfig],
              batch: list[int]) -> Iterator[tuple[int, Any]]:
    """(point index, result or exception) as the batch's runs finish on a fresh executor."""
    with executors() as executor:
        futures = {executor.submit(work, configs[i]): i for i in batch}
        try:
            for future in as_completed(futures):
                error = future.exception()
                yield futures[future], future.result() if error is None else error
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            raise


# --- aggregation over seeds -------------------------------------------------------------------

@dataclass
class Group:
    """The runs of one grid value (all seeds), their curves and final figures."""

    label: str
    values: dict                      # non-seed key -> value
    points: list[dict]
    curves: dict[str, np.ndarray]     # metric -> (R, E) padded with NaN after a run stops
    final_accuracy: np.ndarray        # (R,) runs that produced a log
    final_loss: np.ndarray            # (R,)
    diverged: np.ndarray              # (R,) bool

    @property
    def n_failed(self) -> int:
        return sum(p["status"] not in DONE_STATUSES for p in self.points)


@dataclass
class SweepSummary:
    """A sweep read back: its index and its groups in grid order."""

    path: Path
    index: dict
    group_keys: list[str]
    groups: list[Group]


def _run_curves(log: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    epochs = len(log["loss"])
    nan = np.full(epochs, np.nan)
    curves = {"loss": log["loss"], "accuracy": log["accuracy"], "grad_norm": log.get("grad_norm", nan)}
    norms = log.get("weight_grad_norm")
    with np.errstate(divide="ignore", invalid="ignore"):
        curves["grad_ratio"] = norms[:, 0] / norms[:, -1] if norms is not None else nan
    return {key: np.asarray(value, dtype=float) for key, value in curves.items()}


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    width = max((len(row) for row in rows), default=0)
    out = np.full((len(rows), width), np.nan)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def load_sweep(sweep_dir: str | Path) -> SweepSummary:
    """Read sweep.json and the logs of its finished runs, grouped by non-seed grid values."""
    sweep_dir = Path(sweep_dir)
    index = load_index(sweep_dir)
    group_keys = [axis["key"] for axis in index["grid"] if axis["key"] != SEED_KEY]
    by_label: dict[str, list[dict]] = {}
    for point in index["points"]:
        by_label.setdefault(point["group"], []).append(point)
    groups = [_load_group(sweep_dir, label, points) for label, points in by_label.items()]
    return SweepSummary(sweep_dir, index, group_keys, groups)


def _load_group(sweep_dir: Path, label: str, points: list[dict]) -> Group:
    curves: dict[str, list[np.ndarray]] = {metric: [] for metric in METRICS}
    finals, losses, diverged = [], [], []
    for point in points:
        if point["status"] not in DONE_STATUSES or not point["run_dir"]:
            continue
        log = read_npz(sweep_dir / point["run_dir"] / "log.npz", ("loss", "accuracy"),
                       only=("grad_norm", "weight_grad_norm"))
        for metric, values in _run_curves(log).items():
            curves[metric].append(values)
        finals.append(point["final_accuracy"])
        losses.append(point["final_loss"])
        diverged.append(point["status"] == "diverged")
    values = {k: v for k, v in points[0]["values"].items() if k != SEED_KEY}
    return Group(label, values, points, {m: _stack(rows) for m, rows in curves.items()},
                 np.array(finals, dtype=float), np.array(losses, dtype=float), np.array(diverged, dtype=bool))


def bands(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per epoch over runs (rows) still running: median, 10th and 90th percentile, run count.
    (R, E) -> four (E,) arrays; NaN where no run has that epoch or its value is undefined."""
    count = np.sum(np.isfinite(curves), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN epochs stay NaN
        finite = np.where(np.isfinite(curves), curves, np.nan)
        median = np.nanmedian(finite, axis=0)
        low, high = np.nanpercentile(finite, [10, 90], axis=0)
    return median, low, high, count


def mean_std(values: np.ndarray) -> tuple[float, float, int]:
    """Mean and sample std (ddof=1; NaN for fewer than two) of the finite values, and their count."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return math.nan, math.nan, 0
    return float(finite.mean()), float(finite.std(ddof=1)) if len(finite) > 1 else math.nan, len(finite)


def report_rows(summary: SweepSummary) -> list[dict]:
    """One row per group: run counts, final accuracy and loss (mean ± std over seeds),
    median peak gradient norm and median final first/last-layer gradient ratio."""
    rows = []
    for group in summary.groups:
        acc_mean, acc_std, _ = mean_std(group.final_accuracy)
        loss_mean, loss_std, n_loss = mean_std(group.final_loss)
        peak = [_max_finite(row) for row in group.curves["grad_norm"]]
        last_ratio = [_last_finite(row) for row in group.curves["grad_ratio"]]
        rows.append({
            "group": group.label, "values": {k: value_label(v) for k, v in group.values.items()},
            "runs": len(group.points), "finished": len(group.final_accuracy),
            "diverged": int(group.diverged.sum()), "failed": group.n_failed,
            "final_accuracy_mean": acc_mean, "final_accuracy_std": acc_std,
            "final_loss_mean": loss_mean, "final_loss_std": loss_std, "final_loss_n": n_loss,
            "peak_grad_norm_median": _median(np.array(peak)),
            "final_grad_ratio_median": _median(np.array(last_ratio)),
        })
    return rows


def _last_finite(row: np.ndarray) -> float:
    finite = row[np.isfinite(row)]
    return float(finite[-1]) if len(finite) else math.nan


def _max_finite(row: np.ndarray) -> float:
    finite = row[np.isfinite(row)]
    return float(finite.max()) if len(finite) else math.nan


def _median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if len(finite) else math.nan


def format_mean_std(mean: float, std: float, percent: bool = False) -> str:
    """`97.3% ± 1.2%`, `0.0123 ± 0.004`; `n/a` without a value, no ± for a single run."""
    if math.isnan(mean):
        return "n/a"
    if percent:
        return f"{mean:.1%}" if math.isnan(std) else f"{mean:.1%} ± {std:.1%}"
    return f"{mean:.3g}" if math.isnan(std) else f"{mean:.3g} ± {std:.2g}"


REPORT_COLUMNS = ("ok/div/fail", "accuracy", "loss", "peak ‖g‖", "g₁/g_L")
REPORT_NOTE = ("ok/div/fail: runs complete / diverged / failed, interrupted or not run yet; "
               "accuracy and loss (final, of the whole data): mean ± sample std (ddof=1) over seeds, "
               "of the runs that finished "
               "(complete or diverged: a diverged run's are those of its last finite parameters); "
               "peak ‖g‖ (the largest global gradient norm of a run) and g₁/g_L "
               "(first / last layer weight-gradient norm at the last epoch run): medians over the same runs")


def report_cells(row: dict) -> list[str]:
    """A report row as the text cells of REPORT_COLUMNS."""
    ok = row["finished"] - row["diverged"]
    return [f"{ok}/{row['diverged']}/{row['failed']}",
            format_mean_std(row["final_accuracy_mean"], row["final_accuracy_std"], percent=True),
            format_mean_std(row["final_loss_mean"], row["final_loss_std"]),
            _fmt(row["peak_grad_norm_median"]), _fmt(row["final_grad_ratio_median"])]


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3g}"


def write_report(summary: SweepSummary, out: str | Path | None = None) -> tuple[list[dict], list[Path]]:
    """Write the table as Markdown (`out`, default report.md in the sweep directory) and its rows'
    numbers as JSON beside it (same stem, .json)."""
    rows = report_rows(summary)
    header = [*(summary.group_keys or ["group"]), *REPORT_COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([*(row["values"].values() or [row["group"]]), *report_cells(row)]) + " |"
              for row in rows]
    md = Path(out) if out is not None else summary.path / "report.md"
    js = md.with_suffix(".json")
    write_text_atomic(md, f"# sweep {summary.index['sweep_id']}\n\n" + "\n".join(lines) + f"\n\n{REPORT_NOTE}.\n")
    write_json_atomic(js, {"format_version": SWEEP_FORMAT_VERSION, "sweep_id": summary.index["sweep_id"],
                           "rows": rows})
    return rows, [md, js]

