"""Per-epoch gradient statistics, the `.npz` file format, and the run-directory layout.

A run directory `runs/<id>/` holds (all written atomically: temp file, then rename):
  config.yaml   the resolved config; `bp train` on it gives the same run, bit for bit
  data.npz      training inputs and targets (DATA_KEYS)
  params.npz    initial and final parameters, flat (PARAMS_KEYS)
  log.npz       the gradient log (LOG_KEYS)
  summary.json  status and final figures (SUMMARY_KEYS)
Shapes: E epochs run, L weight layers, P parameters, S gradient snapshots, n samples.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np
import yaml

from backprop_cli.errors import RunDirError

FORMAT_VERSION = 1

LOG_KEYS: dict[str, tuple[str, str]] = {
    "format_version": ("()", "int: version of this file format (1)"),
    "status": ("()", "str: complete | diverged | interrupted"),
    "statistics_logged": ("()", "bool: false when log.enabled was false (only epoch, loss, accuracy)"),
    "layer_sizes": ("(L+1,)", "int: units per layer, input first"),
    "param_offsets": ("(2L+1,)", "int: start of W1, b1, W2, b2, ... in the flat vector, then P; "
                      "W(l) is row-major (d(l-1), d(l))"),
    "steps_per_epoch": ("()", "int: optimizer steps per epoch (1 for full batch)"),
    "vanishing_threshold": ("()", "float: a layer is vanishing when its weight-gradient norm is below"),
    "exploding_threshold": ("()", "float: a layer is exploding when its weight-gradient norm is above"),
    "clip_method": ("()", "str: none | norm | value"),
    "clip_threshold": ("()", "float: the clip threshold (NaN when clip_method is none)"),
    "epoch": ("(E,)", "int: epoch index, from 0"),
    "loss": ("(E,)", "float: mean training loss over the epoch's steps, before each step's update"),
    "accuracy": ("(E,)", "float: fraction of the epoch's samples classified right (output > 0.5)"),
    "weight_grad_norm": ("(E, L)", "float: ‖dL/dW(l)‖₂, mean over the epoch's steps, before clipping"),
    "bias_grad_norm": ("(E, L)", "float: ‖dL/db(l)‖₂, likewise"),
    "grad_abs_max": ("(E,)", "float: max |g| over all parameters and the epoch's steps, before clipping"),
    "grad_abs_mean": ("(E,)", "float: mean |g| over all parameters, mean over steps, before clipping"),
    "grad_norm": ("(E,)", "float: global L2 norm of the whole gradient before clipping, mean over steps"),
    "clip_fraction": ("(E,)", "float: fraction of the epoch's steps at which clipping changed the gradient"),
    "update_norm": ("(E, L)", "float: ‖θ(l) after the epoch − θ(l) before‖₂ over layer l's W and b"),
    "vanishing_steps": ("(E, L)", "int: steps of the epoch at which layer l was vanishing"),
    "exploding_steps": ("(E, L)", "int: steps of the epoch at which layer l was exploding"),
    "dead_fraction": ("(E, L)", "float: fraction of layer l's units whose δ = dL/dZ was exactly 0 "
                      "on every sample of the epoch (a dead ReLU)"),
    "snapshot_epoch": ("(S,)", "int: epochs whose full gradient is stored: 0, every "
                       "log.snapshot_every, and the last epoch run"),
    "snapshot_grad": ("(S, P)", "float: the flat gradient (first step of that epoch, before clipping)"),
}
STATISTICS_KEYS = ("weight_grad_norm", "bias_grad_norm", "grad_abs_max", "grad_abs_mean", "grad_norm",
                   "clip_fraction", "update_norm", "vanishing_steps", "exploding_steps", "dead_fraction",
                   "snapshot_epoch", "snapshot_grad")

DATA_KEYS: dict[str, tuple[str, str]] = {
    "format_version": ("()", "int: 1"),
    "X": ("(n, 2)", "float: training inputs, one sample per row"),
    "y": ("(n, 1)", "float: targets in {0, 1}"),
}

PARAMS_KEYS: dict[str, tuple[str, str]] = {
    "format_version": ("()", "int: 1"),
    "layer_sizes": ("(L+1,)", "int: as in log.npz"),
    "param_offsets": ("(2L+1,)", "int: as in log.npz"),
    "initial": ("(P,)", "float: parameters before training"),
    "final": ("(P,)", "float: parameters after the last finite update"),
}

SUMMARY_KEYS: dict[str, str] = {
    "format_version": "int: 1",
    "run_id": "str: the run directory's name",
    "status": "str: running (while training) | complete | diverged | interrupted | failed "
              "(bp sweep: the point raised an error or its worker died; message says which)",
    "message": "str: one line on how the run ended",
    "epochs_requested": "int: train.epochs",
    "epochs_run": "int: rows in log.npz",
    "final_loss": "float: training loss of the final parameters on all the data (null if not finite)",
    "final_accuracy": "float: training accuracy of the final parameters",
    "final_weight_grad_norms": "list[float]: last logged ‖dL/dW(l)‖ per layer (null when not logged)",
    "wall_time_s": "float: training time in seconds (the only value that differs between reruns)",
    "created": "str: ISO time the run started",
}

_UMASK = os.umask(0o022)
os.umask(_UMASK)

RUN_FILES = ("config.yaml", "data.npz", "params.npz", "log.npz", "summary.json")


class GradientRecorder:
    """Collects per-step gradient statistics into preallocated per-epoch rows.

    Everything works on the flat gradient (P,) with np.add.reduceat over the layout's
    segments, so the cost per step is a handful of array calls whatever the depth.
    """

    def __init__(self, layout, epochs: int, steps_per_epoch: int, log_config, clip_config):
        L = layout.n_layers
        self.layout = layout
        self.enabled = log_config.enabled
        self.steps_per_epoch = steps_per_epoch
        self.snapshot_every = log_config.snapshot_every
        self.vanishing = log_config.vanishing_threshold
        self.exploding = log_config.exploding_threshold
        self.clip_method = clip_config.method
        self.clip_threshold = clip_config.threshold if clip_config.method != "none" else float("nan")
        self.last_epoch = epochs - 1
        self.segment_starts = layout.offsets[:-1]
        self.layer_starts = layout.layer_offsets[:-1]
        self.rows = {
            "loss": np.zeros(epochs), "accuracy": np.zeros(epochs),
        }
        if self.enabled:
            self.rows.update({
                "weight_grad_norm": np.zeros((epochs, L)), "bias_grad_norm": np.zeros((epochs, L)),
                "grad_abs_max": np.zeros(epochs), "grad_abs_mean": np.zeros(epochs),
                "grad_norm": np.zeros(epochs), "clip_fraction": np.zeros(epochs),
                "update_norm": np.zeros((epochs, L)),
                "vanishing_steps": np.zeros((epochs, L), dtype=np.int64),
                "exploding_steps": np.zeros((epochs, L), dtype=np.int64),
                "dead_fraction": np.zeros((epochs, L)),
            })
        # The epoch's running sums, kept in Python floats and one small array, so that a step
        # costs few array calls; end_epoch and arrays() write them into the rows.
        self._loss = self._correct = self._abs_max = 0.0
        # A step's ‖dW1‖, ‖db1‖, ..., ‖dWL‖, ‖dbL‖, ‖g‖ and mean |g|, and their sums per epoch.
        self._step_figures = np.zeros(2 * L + 2)
        self._step_norms = self._step_figures[:-2]  # a view, made once
        self._all_alive = False  # this epoch's gradient proved every unit alive
        self._sums = np.zeros((epochs if self.enabled else 0, 2 * L + 2))
        # Preallocated like the rows, so that the log is never copied or stacked at the end (a
        # 10,000-epoch run's snapshots would be held twice); np.zeros maps pages lazily, so the
        # rows of epochs never reached cost no memory. At most: 0, every k-th, the last, and one
        # more for a run that stops early.
        max_snapshots = (-(-epochs // self.snapshot_every) + 2) if self.enabled else 0
        self._snapshot_epochs = np.zeros(max_snapshots, dtype=np.int64)
        self._snapshots = np.zeros((max_snapshots, layout.size))
        self._n_snapshots = 0
        self._epoch_grad = np.zeros(layout.size)
        self._last_grad = np.zeros(layout.size)
        self._epoch_start_params = np.zeros(layout.size)
        self._scratch = np.zeros(layout.size)  # (P,) for g², |g| and the update: large nets fault on fresh arrays
        units = np.array(layout.layer_sizes[1:])
        self._units = units
        self._unit_starts = np.concatenate([[0], np.cumsum(units)[:-1]])
        # Where every b(l) entry sits in the flat gradient: db = Σ_rows δ tells most units' fate.
        self._bias_index = np.concatenate([np.arange(start, stop) for start, stop
                                           in zip(layout.offsets[1::2], layout.offsets[2::2])])
        self._alive = np.zeros(units.sum(), dtype=bool)  # (units of all layers,) δ ≠ 0 seen this epoch
        self._alive_per_layer = np.split(self._alive, np.cumsum(units)[:-1])
        # Raw per-epoch figures; arrays() turns them into the logged means, norms and fractions
        # for all epochs at once, which costs less than a few array calls every epoch.
        self._update_squares = np.zeros((epochs, L) if self.enabled else (0, L))
        self._alive_counts = np.zeros((epochs, L) if self.enabled else (0, L), dtype=np.int64)

    def start_epoch(self, params: np.ndarray) -> None:
        self._loss = self._correct = self._abs_max = 0.0
        if self.enabled:
            np.copyto(self._epoch_start_params, params)
            self._alive[:] = False
            self._all_alive = False

    def record_step(self, epoch: int, step: int, loss: float, n_correct: int, grad: np.ndarray,
                    deltas: list[np.ndarray]) -> tuple[float, float]:
        """Add one step's figures to epoch `epoch`'s sums; returns (global norm, max |g|) before clipping."""
        self._loss += loss
        self._correct += n_correct
        if not self.enabled:
            return float("nan"), float("nan")
        squares = np.add.reduceat(np.multiply(grad, grad, out=self._scratch), self.segment_starts)  # (2L,) per W, b
        grad_norm = math.sqrt(math.fsum(squares.tolist()))  # a list: 3x faster than the array's sum at 2L values
        abs_grad = np.abs(grad, out=self._scratch)
        abs_max = float(np.maximum.reduce(abs_grad))
        self._abs_max = max(self._abs_max, abs_max)
        figures = self._step_figures
        np.sqrt(squares, out=self._step_norms)
        figures[-2] = grad_norm
        figures[-1] = np.add.reduce(abs_grad) / abs_grad.size
        self._sums[epoch] += figures
        if self.steps_per_epoch > 1:  # with one step an epoch, arrays() reads them off the norms
            weight_norms = figures[:-2:2]
            self.rows["vanishing_steps"][epoch] += weight_norms < self.vanishing
            self.rows["exploding_steps"][epoch] += weight_norms > self.exploding
        self._record_alive_units(grad, deltas)
        if step == 0:
            np.copyto(self._epoch_grad, grad)
        return grad_norm, abs_max

    def _record_alive_units(self, grad: np.ndarray, deltas: list[np.ndarray]) -> None:
        """Mark the units with a nonzero δ this step. A nonzero db = Σ_rows δ proves it: a
        gradient without a single zero proves it for every unit in one call (and for the rest of
        the epoch), else one gather does; only a layer with a unit at db = 0 (a dead ReLU, say)
        reads δ."""
        if self._all_alive or np.count_nonzero(grad) == grad.size:
            self._all_alive = True
            return
        self._alive |= grad[self._bias_index] != 0
        if np.count_nonzero(self._alive) < self._alive.size:  # 3x faster than .all()
            for alive, delta in zip(self._alive_per_layer, deltas):
                if np.count_nonzero(alive) < alive.size:
                    unsure = np.flatnonzero(~alive)
                    alive[unsure] = delta[:, unsure].any(axis=0)  # δ is column-major: whole columns

    def record_clip(self, epoch: int) -> None:
        if self.enabled:
            self.rows["clip_fraction"][epoch] += 1

    def end_epoch(self, epoch: int, params: np.ndarray, n_seen: int, steps: int, final: bool = False) -> None:
        """Turn row `epoch`'s sums into means over its `steps` steps and `n_seen` samples, note
        its update and its live units, keep a snapshot when due (or `final`: the run stops here)."""
        rows = self.rows
        rows["loss"][epoch] = self._loss / n_seen
        rows["accuracy"][epoch] = self._correct / n_seen
        if not self.enabled:
            return
        rows["grad_abs_max"][epoch] = self._abs_max
        if steps > 1:
            self._sums[epoch] /= steps
            rows["clip_fraction"][epoch] /= steps
        change = np.subtract(params, self._epoch_start_params, out=self._scratch)
        np.add.reduceat(np.square(change, out=change), self.layer_starts, out=self._update_squares[epoch])
        if self._all_alive:
            self._alive_counts[epoch] = self._units
        else:
            np.add.reduceat(self._alive, self._unit_starts, out=self._alive_counts[epoch])
        if final or epoch % self.snapshot_every == 0 or epoch == self.last_epoch:
            self._keep_snapshot(epoch, self._epoch_grad)
        # Swap, not copy: the finished epoch's gradient stays at hand for an interrupted run.
        self._epoch_grad, self._last_grad = self._last_grad, self._epoch_grad

    def _finish_rows(self, epochs_run: int) -> None:
        """The epochs' sums into their rows, squared update norms to norms and live-unit counts
        to dead fractions, for the first `epochs_run` rows."""
        rows, E = self.rows, epochs_run
        sums = self._sums[:E]
        rows["weight_grad_norm"][:E] = sums[:, :-2:2]
        rows["bias_grad_norm"][:E] = sums[:, 1:-2:2]
        rows["grad_norm"][:E] = sums[:, -2]
        rows["grad_abs_mean"][:E] = sums[:, -1]
        if self.steps_per_epoch == 1:
            rows["vanishing_steps"][:E] = sums[:, :-2:2] < self.vanishing
            rows["exploding_steps"][:E] = sums[:, :-2:2] > self.exploding
        np.sqrt(self._update_squares[:E], out=rows["update_norm"][:E])
        rows["dead_fraction"][:E] = 1.0 - self._alive_counts[:E] / self._units

    def _keep_snapshot(self, epoch: int, grad: np.ndarray) -> None:
        self._snapshot_epochs[self._n_snapshots] = epoch
        self._snapshots[self._n_snapshots] = grad
        self._n_snapshots += 1

    def arrays(self, status: str, epochs_run: int) -> dict[str, np.ndarray]:
        """The log.npz content for the first `epochs_run` rows (LOG_KEYS): views of the
        recorder's buffers, not copies."""
        kept = self._n_snapshots
        if self.enabled and epochs_run and (not kept or self._snapshot_epochs[kept - 1] < epochs_run - 1):
            self._keep_snapshot(epochs_run - 1, self._last_grad)  # an interrupted run's last finished epoch
        out = {
            "format_version": np.array(FORMAT_VERSION),
            "status": np.array(status),
            "statistics_logged": np.array(self.enabled),
            "layer_sizes": np.array(self.layout.layer_sizes, dtype=np.int64),
            "param_offsets": self.layout.offsets.copy(),
            "steps_per_epoch": np.array(self.steps_per_epoch),
            "vanishing_threshold": np.array(self.vanishing),
            "exploding_threshold": np.array(self.exploding),
            "clip_method": np.array(self.clip_method),
            "clip_threshold": np.array(self.clip_threshold),
            "epoch": np.arange(epochs_run, dtype=np.int64),
        }
        if self.enabled:
            self._finish_rows(epochs_run)
        for key, values in self.rows.items():
            out[key] = values[:epochs_run]
        if self.enabled:
            out["snapshot_epoch"] = self._snapshot_epochs[:self._n_snapshots]
            out["snapshot_grad"] = self._snapshots[:self._n_snapshots]
        return out


# --- files -----------------------------------------------------------------------------------

def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call write(handle) on a temp file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a run's files are as readable as any other
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


def write_json_atomic(path: Path, data: dict) -> None:
    """Strict JSON: a non-finite number (a diverged run's loss) is written as null."""
    write_text_atomic(path, json.dumps(_finite_or_none(data), indent=2, allow_nan=False) + "\n")


def _finite_or_none(value):
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed .npz readable by np.load, with fixed zip timestamps so that the same
    arrays always give the same bytes (np.savez stamps the current time). Each array is streamed
    into the file: no copy of the archive is built in memory."""
    def write(handle: BinaryIO) -> None:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
            for key, value in arrays.items():
                value = np.asanyarray(value)
                info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                big = value.nbytes * 1.05 > zipfile.ZIP64_LIMIT  # its size is unknown to zipfile up front
                with archive.open(info, "w", force_zip64=big) as entry:
                    np.lib.format.write_array(entry, value, allow_pickle=False)

    write_atomic(path, write)


def read_npz(path: Path, required: dict[str, tuple[str, str]] | tuple[str, ...],
             only: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Load the arrays of an .npz (allow_pickle=False): every one, or `format_version`, the
    `required` keys and those of `only` that exist (the others, say the snapshots, are never
    read). A missing, corrupt or newer file, or one lacking a `required` key, is a RunDirError."""
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path}: missing")
    wanted = None if only is None else {"format_version", *required, *only}
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files if wanted is None or key in wanted}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise RunDirError(f"{path}: corrupt or truncated ({type(err).__name__}: {err})") from err
    version = int(arrays.get("format_version", -1))
    if version > FORMAT_VERSION:
        raise RunDirError(f"{path}: format version {version} is newer than this bp reads "
                          f"({FORMAT_VERSION}); upgrade backprop-cli")
    missing = [key for key in required if key not in arrays]
    if missing:
        raise RunDirError(f"{path}: missing keys {', '.join(missing)}")
    return arrays


def create_run_dir(root: str | Path, name: str, now: datetime | None = None) -> Path:
    """Make a new, empty `root/<YYYYmmdd-HHMMSS>-<name>[-k]`: sortable by start time, and never
    an existing folder (two runs started in the same second both land)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    return fresh_dir(root, f"{(now or datetime.now()):%Y%m%d-%H%M%S}-{name}")


def fresh_dir(parent: Path, stem: str) -> Path:
    """Make `parent/stem`, or `stem-2`, `stem-3`, ... when taken: mkdir is atomic, so two
    processes never get the same folder."""
    for attempt in range(1, 10_000):
        run_dir = parent / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise RunDirError(f"{parent}: cannot find a free folder name for {stem}")


def write_run_files(run_dir: Path, result) -> None:
    """Write data, params, log and summary of a trainer.TrainResult into `run_dir`.
    The log goes before the summary: a summary that says 'complete' always has its log."""
    run_dir = Path(run_dir)
    write_npz_atomic(run_dir / "data.npz", {"format_version": np.array(FORMAT_VERSION),
                                            "X": result.X, "y": result.y})
    write_npz_atomic(run_dir / "params.npz", {
        "format_version": np.array(FORMAT_VERSION),
        "layer_sizes": result.log["layer_sizes"], "param_offsets": result.log["param_offsets"],
        "initial": result.initial_params, "final": result.final_params,
    })
    write_npz_atomic(run_dir / "log.npz", result.log)
    write_json_atomic(run_dir / "summary.json",
                      {"format_version": FORMAT_VERSION, "run_id": run_dir.name, **result.summary})


@dataclass
class Run:
    """A run directory read back: every file as written."""

    path: Path
    config: dict
    summary: dict
    log: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    data: dict[str, np.ndarray]


def load_run(run_dir: str | Path) -> Run:
    """Read every file of a run directory; anything missing or corrupt is a RunDirError."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a directory")
    if not (run_dir / "log.npz").exists() and not (run_dir / "summary.json").exists():
        raise RunDirError(f"{run_dir}: not a run directory (no log.npz or summary.json)")
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise RunDirError(f"{run_dir}: missing {Path(err.filename).name}") from err
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise RunDirError(f"{run_dir}: corrupt {type(err).__module__.split('.')[0]} file: {err}") from err
    log = read_npz(run_dir / "log.npz", ("format_version", "layer_sizes", "param_offsets", "epoch", "loss"))
    params = read_npz(run_dir / "params.npz", PARAMS_KEYS)
    data = read_npz(run_dir / "data.npz", DATA_KEYS)
    return Run(run_dir, config, summary, log, params, data)
