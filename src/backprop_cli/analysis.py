"""Verdicts read from a run's gradient log, and the rows of the results table (`bp report`).

Everything here is a plain function of a loaded run (recorder.load_run) or of its log dict;
numpy only. The two rules, also in the README:

vanishing risk: how much weaker the first layer's weight gradient is than the output layer's,
  measured at the start of training, r = median over the first EARLY_EPOCHS epochs of
  ‖dL/dW(1)‖ / ‖dL/dW(L)‖. high: r < HIGH_RATIO, or a layer below the log's vanishing threshold
  in those epochs; moderate: r < MODERATE_RATIO; low otherwise. Only the start counts: later a
  stalled net's output-layer gradient shrinks too and hides the gap, and a converged net's
  gradients all shrink for a good reason.
training stability: diverged: a non-finite loss or gradient (status diverged); unstable: the
  global gradient norm before clipping above the log's exploding threshold, or a layer's, in some
  epoch; spiky: the loss above LOSS_SPIKE_FACTOR × its lowest value so far in some epoch;
  stable otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backprop_cli.recorder import Run, load_run, write_text_atomic

EARLY_EPOCHS = 3
HIGH_RATIO = 1e-2
MODERATE_RATIO = 1e-1
LOSS_SPIKE_FACTOR = 2.0
WEAK_FACTOR = 1000.0

RESULTS_COLUMNS = ("run", "problem", "architecture", "activation", "clip", "final gradient norm",
                   "vanishing risk", "training stability", "final accuracy")


@dataclass(frozen=True)
class Verdict:
    """A rule's outcome: a level word and the measured numbers behind it."""

    level: str
    reason: str

    def __str__(self) -> str:
        return f"{self.level} ({self.reason})"


def n_epochs(log: dict[str, np.ndarray]) -> int:
    """E, the number of epochs logged."""
    return int(len(log["loss"]))


def has_statistics(log: dict[str, np.ndarray]) -> bool:
    """False when the run was trained with log.enabled false (loss and accuracy only)."""
    return bool(log.get("statistics_logged", True)) and "weight_grad_norm" in log


def status(log: dict[str, np.ndarray]) -> str:
    """complete | diverged | interrupted, as the log says."""
    return str(log.get("status", "complete"))


def early_gradient_ratio(log: dict[str, np.ndarray]) -> float:
    """r = median over the first EARLY_EPOCHS epochs of ‖dW(1)‖ / ‖dW(L)‖ (finite values only).

    weight_grad_norm: (E, L) -> float; NaN when no epoch gives a finite ratio.
    """
    norms = log["weight_grad_norm"][:EARLY_EPOCHS]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = norms[:, 0] / norms[:, -1]
    ratios = ratios[np.isfinite(ratios)]
    return float(np.median(ratios)) if ratios.size else float("nan")


def vanishing_risk(log: dict[str, np.ndarray]) -> Verdict:
    """low | moderate | high, by the rule in this module's docstring."""
    missing = _missing_statistics(log)
    if missing:
        return missing
    n_layers = log["weight_grad_norm"].shape[1]
    if n_layers == 1:
        return Verdict("low", "one layer: no depth to vanish through")
    threshold = float(log["vanishing_threshold"])
    vanishing = log["vanishing_steps"][:EARLY_EPOCHS].sum(axis=0)
    ratio = early_gradient_ratio(log)
    ratio_text = f"‖dW1‖/‖dW{n_layers}‖ = {ratio:.1e} at the start"
    if vanishing.any():
        layer = int(np.argmax(vanishing > 0)) + 1
        return Verdict("high", f"layer {layer} below {threshold:g} at the start")
    if not np.isfinite(ratio):
        return Verdict("n/a", "no finite gradient norms at the start")
    if ratio < HIGH_RATIO:
        return Verdict("high", ratio_text)
    if ratio < MODERATE_RATIO:
        return Verdict("moderate", ratio_text)
    return Verdict("low", ratio_text)


def weak_threshold(log: dict[str, np.ndarray]) -> float:
    """A layer is weak (not yet vanishing) below WEAK_FACTOR × the log's vanishing threshold."""
    return WEAK_FACTOR * float(log["vanishing_threshold"])


def layer_health(norms: np.ndarray, log: dict[str, np.ndarray]) -> list[str]:
    """norms: (L,) weight-gradient norms -> per layer 'vanishing' (below the log's vanishing
    threshold), 'weak' (below weak_threshold), 'exploding' (above the exploding threshold),
    'non-finite', or 'healthy'."""
    vanishing, exploding = float(log["vanishing_threshold"]), float(log["exploding_threshold"])
    weak = weak_threshold(log)
    out = []
    for norm in np.asarray(norms, dtype=float):
        out.append("non-finite" if not np.isfinite(norm) else "vanishing" if norm < vanishing
                   else "weak" if norm < weak else "exploding" if norm > exploding else "healthy")
    return out


def loss_spike_ratio(loss: np.ndarray) -> np.ndarray:
    """loss: (E,) -> (E,) loss / lowest loss so far (≥ 1; NaN where the loss is not finite)."""
    finite = np.where(np.isfinite(loss), loss, np.nan)
    best = np.fmin.accumulate(finite)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(best > 0, finite / best, np.where(finite > 0, np.inf, 1.0))


def training_stability(log: dict[str, np.ndarray]) -> Verdict:
    """stable | spiky | unstable | diverged, by the rule in this module's docstring."""
    epochs = n_epochs(log)
    if epochs == 0:
        return Verdict("n/a", "no epochs logged")
    if status(log) == "diverged":
        return Verdict("diverged", f"non-finite loss or gradient at epoch {epochs - 1}")
    spikes = loss_spike_ratio(log["loss"])
    n_spikes = int(np.count_nonzero(spikes > LOSS_SPIKE_FACTOR))
    peak_spike = float(np.nanmax(spikes))
    grad_text = ""
    if has_statistics(log):
        threshold = float(log["exploding_threshold"])
        grad_norm = log["grad_norm"]
        exploding = (grad_norm > threshold) | (log["exploding_steps"] > 0).any(axis=1)
        peak = float(np.nanmax(grad_norm))
        grad_text = f"; max ‖g‖ {peak:.3g}"
        if exploding.any():
            return Verdict("unstable", f"max ‖g‖ {peak:.3g} > {threshold:g} in {_epoch_count(int(exploding.sum()))}, "
                                       f"from epoch {int(np.argmax(exploding))}")
    if n_spikes:
        return Verdict("spiky", f"loss > {LOSS_SPIKE_FACTOR:g}× its best so far in {_epoch_count(n_spikes)}, "
                                f"peak {peak_spike:.3g}×")
    loss_text = f"loss ≤ {peak_spike:.3g}× its best so far" if peak_spike > 1 else "loss never rose"
    return Verdict("stable", loss_text + grad_text)


def clip_text(log: dict[str, np.ndarray]) -> str:
    """'none', 'norm ≤ 1' or 'value ±0.5', from the log."""
    method = str(log.get("clip_method", "none"))
    threshold = float(log.get("clip_threshold", np.nan))
    return {"none": "none", "norm": f"norm ≤ {threshold:g}", "value": f"value ±{threshold:g}"}[method]


def clip_fired_epochs(log: dict[str, np.ndarray]) -> np.ndarray:
    """Epoch indices at which clipping changed the gradient at least once."""
    if not has_statistics(log):
        return np.zeros(0, dtype=np.int64)
    return log["epoch"][log["clip_fraction"] > 0]


def architecture_text(log: dict[str, np.ndarray]) -> str:
    """Layer sizes joined by dashes, e.g. '2-16-16-1'."""
    return "-".join(str(int(size)) for size in log["layer_sizes"])


def optimizer_text(config: dict) -> str:
    """'SGD lr 1', 'Adam lr 0.01', ... from a run's config.yaml mapping."""
    optimizer = config["train"]["optimizer"]
    names = {"sgd": "SGD", "momentum": "momentum", "rmsprop": "RMSProp", "adam": "Adam"}
    return f"{names.get(optimizer['name'], optimizer['name'])} lr {optimizer['lr']:g}"


def problem_text(config: dict, data: dict[str, np.ndarray]) -> str:
    """'spiral (400 points)'."""
    return f"{config['data']['kind']} ({len(data['X'])} points)"


def final_grad_norm(log: dict[str, np.ndarray]) -> float:
    """The global gradient norm before clipping at the last epoch (NaN when not logged)."""
    if not has_statistics(log) or n_epochs(log) == 0:
        return float("nan")
    return float(log["grad_norm"][-1])


def accuracy_text(run) -> str:
    """The final training accuracy, with the status when the run did not complete."""
    summary = run.summary
    text = f"{summary['final_accuracy']:.1%}"
    if status(run.log) != "complete":
        text += f" ({status(run.log)}, {n_epochs(run.log)}/{summary['epochs_requested']} epochs)"
    return text


def run_name(run: Run) -> str:
    """The run's config name, e.g. 'spiral_clip' (its folder's name if the config has none)."""
    return str(run.config.get("name", run.path.name))


def results_row(run) -> dict[str, str]:
    """One row of the results table (RESULTS_COLUMNS -> cell text) for a recorder.Run."""
    log, config = run.log, run.config
    model = config["model"]
    norm = final_grad_norm(log)
    return {
        "run": run_name(run),
        "problem": problem_text(config, run.data),
        "architecture": architecture_text(log),
        "activation": str(model["activation"]),
        "clip": _clip_cell(log),
        "final gradient norm": "n/a" if np.isnan(norm) else f"{norm:.2e}",
        "vanishing risk": str(vanishing_risk(log)),
        "training stability": str(training_stability(log)),
        "final accuracy": accuracy_text(run),
    }


def brief_row(row: dict[str, str]) -> dict[str, str]:
    """The row without the parenthesised details, for a narrow terminal table."""
    return {column: text.split(" (", 1)[0] for column, text in row.items()}


def results_markdown(rows: list[dict[str, str]]) -> str:
    """The rows as a GitHub Markdown table (pipes in cells escaped)."""
    lines = ["| " + " | ".join(RESULTS_COLUMNS) + " |", "|" + "---|" * len(RESULTS_COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(row[column].replace("|", "\\|") for column in RESULTS_COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def rules_markdown() -> str:
    """The two rules, with this module's constants, as a Markdown note under the table."""
    return (
        f"**vanishing risk**: r = median of ‖dL/dW1‖ / ‖dL/dW_L‖ (first over output layer) over the first "
        f"{EARLY_EPOCHS} epochs. high: r < {HIGH_RATIO:g}, or a layer's ‖dL/dW‖ below the run's "
        f"vanishing threshold in those epochs; moderate: r < {MODERATE_RATIO:g}; low otherwise. Only the "
        "start counts: later a stalled net's output-layer gradient shrinks too and hides the gap.\n\n"
        "**training stability**: diverged: a non-finite loss or gradient; unstable: the global gradient "
        "norm before clipping (or a layer's) above the run's exploding threshold in some epoch; spiky: the "
        f"loss above {LOSS_SPIKE_FACTOR:g}× its lowest value so far in some epoch; stable otherwise.\n\n"
        "**final gradient norm**: the global ‖g‖ before clipping at the last epoch. "
        "**clip**: the setting, and in how many epochs clipping changed the gradient.\n"
    )


def write_results(run_dirs: list[str | Path], out: Path | None = None) -> tuple[list[dict[str, str]], Path]:
    """`bp report`: load each run, build its row, and write the Markdown table with the rules
    (to `out`, default results.md inside the first run, so that `runs/*` still matches run
    directories only). Returns the rows and the file."""
    rows = [results_row(load_run(run_dir)) for run_dir in run_dirs]
    path = Path(out) if out is not None else Path(run_dirs[0]) / "results.md"
    write_text_atomic(path, results_markdown(rows) + "\n" + rules_markdown())
    return rows, path


def _clip_cell(log: dict[str, np.ndarray]) -> str:
    text = clip_text(log)
    if text == "none" or not has_statistics(log):
        return text
    return f"{text} (fired in {len(clip_fired_epochs(log))}/{n_epochs(log)} epochs)"


def _missing_statistics(log: dict[str, np.ndarray]) -> Verdict | None:
    if not has_statistics(log):
        return Verdict("n/a", "no gradient statistics: log.enabled was false")
    if n_epochs(log) == 0:
        return Verdict("n/a", "no epochs logged")
    return None


def _epoch_count(count: int) -> str:
    return f"{count} epoch" if count == 1 else f"{count} epochs"
