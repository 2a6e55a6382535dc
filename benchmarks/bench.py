"""`make bench`: bp against PyTorch and against the machine's limits, as paired ratios.

bp and torch each run in their own worker process. Every round times each case once on each side,
back to back (the side that goes first alternates); a figure is the median over rounds of the
per-round ratio, because absolute times on a shared machine drift by a third between runs while
paired ratios hold. Prints a table and writes it as Markdown (with the machine and BLAS) to
runs/bench/results.md.

    python benchmarks/bench.py [--rounds 7] [--out runs/bench]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from problems import PROBLEMS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CHECK_EPOCHS = 30
CHECK_TOLERANCE = 1e-9
SETTLE_SECONDS = 0.3
MEMORY_ARGS = ["train", str(REPO / "configs" / "spiral_clip.yaml"), "--quiet",
               "--set", "train.epochs=10000", "--set", "log.snapshot_every=10"]
console = Console()


# --- worker processes ---------------------------------------------------------------------------

def serve(connection, module_name: str) -> None:
    """Worker loop: receive (function name, args), reply ("ok", value) or ("error", traceback)."""
    import importlib
    import traceback

    module = importlib.import_module(module_name)
    while (message := connection.recv()) is not None:
        name, args = message
        try:
            connection.send(("ok", getattr(module, name)(*args)))
        except Exception:  # noqa: BLE001 - reported to the driver, which says what failed
            connection.send(("error", traceback.format_exc()))


class Worker:
    """One framework's process (spawned: torch is imported only in its own)."""

    def __init__(self, module_name: str):
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, module_name), daemon=True)
        self.process.start()

    def __call__(self, name: str, *args):
        self.connection.send((name, args))
        status, value = self.connection.recv()
        if status == "error":
            raise RuntimeError(value)
        return value

    def close(self) -> None:
        self.connection.send(None)
        self.process.join()


# --- measurements -------------------------------------------------------------------------------

def check_agreement(bp: Worker, torch: Worker) -> dict[str, float]:
    """Max relative difference between the sides, per problem, over CHECK_EPOCHS logged epochs:
    losses, epoch 0's full gradient, every logged statistic, and the final parameters."""
    worst = {}
    for name in PROBLEMS:
        ours, theirs = bp("reference", name, CHECK_EPOCHS), torch("reference", name, CHECK_EPOCHS)
        worst[name] = max(relative_difference(ours[key], theirs[key]) for key in ours)
    loss, grad = bp("gradcheck_loss_and_grad")
    torch_loss, torch_grad = torch("gradcheck_loss_and_grad")
    worst["gradcheck"] = max(relative_difference(loss, torch_loss), relative_difference(grad, torch_grad))
    return worst


def relative_difference(a, b) -> float:
    """‖a − b‖∞ / max(‖a‖∞, ‖b‖∞): one number for arrays of any scale."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)))
    return float(np.max(np.abs(a - b)) / scale) if scale > 0 else 0.0


GRADCHECK_MODES = {  # mode -> (what is compared, target ratio)
    "full": ("full vs gradcheck default", 20.0),
    "fast": ("--fast, 4 directions, vs fast_mode", 5.0),
    "fast-1": ("--fast, 1 direction as fast_mode, vs fast_mode", 5.0),
}


@dataclass
class Rounds:
    """Per-round seconds of every case on both sides, and the matmul rate of each round."""

    train: dict[tuple[str, bool, str], list[float]]
    gradcheck: dict[tuple[str, str], list[float]]
    gradcheck_passed: dict[tuple[str, str], bool]
    matmul_gflops: list[float]


def run_rounds(bp: Worker, torch: Worker, rounds: int, with_gradcheck: bool) -> Rounds:
    cases = [(name, log) for name in PROBLEMS for log in (True, False)]
    sides = {"bp": bp, "torch": torch}
    for name, log in cases:  # warm-up: first calls pay for lazy imports and caches
        bp("time_train", name, log), torch("time_train", name, log)
    result = Rounds({(name, log, side): [] for name, log in cases for side in sides}, {}, {}, [])
    for mode in GRADCHECK_MODES if with_gradcheck else ():
        for side in sides:
            result.gradcheck[mode, side] = []
    for index in range(rounds):
        order = list(sides) if index % 2 == 0 else list(sides)[::-1]
        console.print(f"round {index + 1}/{rounds}", style="dim")
        for name, log in cases:
            for side in order:
                settle()
                result.train[name, log, side].append(sides[side]("time_train", name, log))
        result.matmul_gflops.append(bp("matmul_gflops"))
        for mode in GRADCHECK_MODES if with_gradcheck else ():
            for side in order:
                settle()
                seconds, passed = sides[side]("time_gradcheck", mode)
                result.gradcheck[mode, side].append(seconds)
                result.gradcheck_passed[mode, side] = passed
    return result


def settle() -> None:
    """Let the other process's BLAS and OpenMP threads, which spin-wait for a while after each
    call, go to sleep before the next timing starts: on 2 cores they would steal one."""
    time.sleep(SETTLE_SECONDS)


def median_ratio(numerators: list[float], denominators: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(numerators, denominators))


def memory() -> dict[str, float]:
    """rss_probe on the 10,000-epoch spiral run (snapshots every 10 epochs)."""
    with tempfile.TemporaryDirectory() as runs:
        probe = subprocess.run([sys.executable, str(HERE / "rss_probe.py"), *MEMORY_ARGS, "--runs-dir", runs],
                               capture_output=True, text=True, check=True)
        figures = json.loads(probe.stdout.strip().splitlines()[-1])
    mib = 1024.0
    return {
        "startup_mib": figures["startup_kib"] / mib,
        "peak_mib": figures["peak_kib"] / mib,
        "growth_mib": (figures["peak_kib"] - figures["startup_kib"]) / mib,
        "growth_over_imports_mib": (figures["peak_kib"] - figures["imported_kib"]) / mib,
    }


def bp_command() -> str:
    return str(Path(sys.executable).with_name("bp"))


def help_seconds(repeats: int = 7) -> tuple[float, float]:
    """Median wall time and CPU time (user + system) of `bp --help`, after one untimed call
    that warms the disk cache. CPU time does not count waiting for a core another job holds."""
    import resource

    walls, cpus = [], []
    for index in range(repeats + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([bp_command(), "--help"], capture_output=True, check=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if index:
            walls.append(wall)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def machine() -> dict[str, str]:
    """CPU, cores, numpy and its BLAS (from np.show_config), torch's version and threads."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": f"{blas.get('name')} {blas.get('version')}",
        "blas config": str(blas.get("openblas configuration", "")).split("  ")[0],
    }


# --- report -------------------------------------------------------------------------------------

@dataclass
class Row:
    figure: str
    value: str
    target: str
    met: bool | None
    how: str


def yes_no(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "NO")


def build_rows(rounds: Rounds, agreement: dict[str, float], mem: dict[str, float], help_s: tuple[float, float],
               gflops_per_epoch: float) -> list[Row]:
    train = rounds.train
    rows = []
    for name in PROBLEMS:
        rows.append(Row(f"{name}: bp and torch agree (max rel. diff, {CHECK_EPOCHS} epochs)",
                        f"{agreement[name]:.1e}", f"≤ {CHECK_TOLERANCE:g}", agreement[name] <= CHECK_TOLERANCE,
                        "losses, epoch-0 gradient, every statistic, final params"))
    targets = {"spiral": 4.0, "deep": 3.5, "xor": 10.0, "large": 1.1}
    for name in PROBLEMS:
        for log in (True, False):
            ratio = median_ratio(train[name, log, "torch"], train[name, log, "bp"])
            target = targets[name] if log or name == "large" else None
            rows.append(Row(f"{name}, logging {'on' if log else 'off'}: torch / bp time per epoch",
                            f"{ratio:.2f}", f"≥ {target:g}" if target else "", ratio >= target if target else None,
                            f"bp {1e6 * statistics.median(train[name, log, 'bp']):,.0f} µs/epoch, "
                            f"torch {1e6 * statistics.median(train[name, log, 'torch']):,.0f} µs/epoch (medians)"))
    overhead_targets = {"spiral": 1.15, "deep": 1.10, "large": 1.03, "xor": None}
    for name in PROBLEMS:
        ratio = median_ratio(train[name, True, "bp"], train[name, False, "bp"])
        torch_ratio = median_ratio(train[name, True, "torch"], train[name, False, "torch"])
        target = overhead_targets[name]
        rows.append(Row(f"{name}: bp logging overhead (on / off)", f"{ratio:.3f}",
                        f"≤ {target:g}" if target else "", ratio <= target if target else None,
                        f"torch's: {torch_ratio:.2f}"))
    matmul = statistics.median(rounds.matmul_gflops)
    rows.append(Row("np.matmul 1024³ float64", f"{matmul:.0f} GFLOP/s", "", None, "median over rounds"))
    for log in (True, False):
        fractions = [gflops_per_epoch / seconds / rate
                     for seconds, rate in zip(train["large", log, "bp"], rounds.matmul_gflops)]
        fraction = statistics.median(fractions)
        rows.append(Row(f"large net, logging {'on' if log else 'off'}: share of matmul GFLOP/s", f"{fraction:.0%}",
                        "≥ 65%", fraction >= 0.65,
                        f"{gflops_per_epoch:.2f} GFLOP per epoch (6·n·Σ d_in·d_out)"))
    for mode, (what, target) in GRADCHECK_MODES.items():
        if (mode, "bp") not in rounds.gradcheck:
            continue
        ratio = median_ratio(rounds.gradcheck[mode, "torch"], rounds.gradcheck[mode, "bp"])
        rows.append(Row(f"gradcheck, spiral net ({what}): torch / bp time", f"{ratio:.1f}",
                        f"≥ {target:g}", ratio >= target,
                        f"bp {1e3 * statistics.median(rounds.gradcheck[mode, 'bp']):.1f} ms "
                        f"(passed: {rounds.gradcheck_passed[mode, 'bp']}), torch "
                        f"{1e3 * statistics.median(rounds.gradcheck[mode, 'torch']):.1f} ms "
                        f"(passed: {rounds.gradcheck_passed[mode, 'torch']})"))
    rows.append(Row("10,000-epoch spiral run: RSS growth over start-up", f"{mem['growth_mib']:.1f} MiB",
                    "≤ 10 MiB", mem["growth_mib"] <= 10,
                    f"peak {mem['peak_mib']:.0f} MiB over a start-up RSS of {mem['startup_mib']:.0f} MiB "
                    f"(after a 1-epoch warm-up run in the same process); "
                    f"{mem['growth_over_imports_mib']:.1f} MiB over the RSS right after the imports"))
    wall, cpu = help_s
    rows.append(Row("`bp --help` wall time", f"{wall:.2f} s", "≤ 0.3 s", wall <= 0.3,
                    f"median of 7; CPU time {cpu:.2f} s"))
    return rows


def render(rows: list[Row], info: dict[str, str], rounds: int) -> Table:
    table = Table(title=f"make bench ({rounds} interleaved rounds, medians of per-round ratios)",
                  title_justify="left")
    for column, justify in (("figure", "left"), ("value", "right"), ("target", "right"),
                            ("met", "left"), ("how", "left")):
        table.add_column(column, justify=justify)
    for row in rows:
        met = yes_no(row.met)
        table.add_row(row.figure, row.value, row.target, f"[red]{met}[/red]" if met == "NO" else met, row.how)
    table.caption = " · ".join(f"{key}: {value}" for key, value in info.items())
    return table


def markdown(rows: list[Row], info: dict[str, str], rounds: int) -> str:
    lines = ["# `make bench` results", "",
             f"{rounds} interleaved rounds (bp and torch each in its own process, the first side "
             "alternating); each figure is the median over rounds of the per-round ratio.", "",
             "| figure | value | target | met | how |", "|---|---:|---:|---|---|"]
    lines += [f"| {r.figure} | {r.value} | {r.target} | {yes_no(r.met)} | {r.how} |" for r in rows]
    lines += ["", "Machine:", ""] + [f"- {key}: {value}" for key, value in info.items()]
    lines += ["", "Reproduce: `make bench` (installs the `bench` extra, PyTorch CPU, into .venv).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench")
    parser.add_argument("--no-gradcheck", action="store_true", help="leave the gradient-check rows out")
    args = parser.parse_args()
    bp, torch = Worker("bp_side"), Worker("torch_side")
    try:
        info = machine() | torch("machine")
        agreement = check_agreement(bp, torch)
        console.print("agreement (max relative difference): "
                      + ", ".join(f"{name} {value:.1e}" for name, value in agreement.items()))
        rounds = run_rounds(bp, torch, args.rounds, with_gradcheck=not args.no_gradcheck)
    finally:
        bp.close()
        torch.close()
    mem = memory()
    help_s = help_seconds()
    rows = build_rows(rounds, agreement, mem, help_s, PROBLEMS["large"].flops_per_epoch() / 1e9)
    console.print(render(rows, info, args.rounds))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(markdown(rows, info, args.rounds), encoding="utf-8")
    console.print(f"written: {args.out / 'results.md'}")


if __name__ == "__main__":
    main()
