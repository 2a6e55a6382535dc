"""Sweep bench: a 40-run spiral sweep's wall time on 1 and 2 local worker processes (scaling
efficiency) and the per-run overhead of the Dask path (a LocalCluster on 127.0.0.1) versus local
processes. Timings only; the tests check correctness.

Run: .venv/bin/python benchmarks/sweep_bench.py [--repeats 2] [--epochs 2000]
Each sweep is timed from submitting the first run to writing the last run directory; the best of
`--repeats` is kept (other processes on the machine only ever make a run slower).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from backprop_cli import sweep
from backprop_cli.trainer import train

REPO = Path(__file__).resolve().parents[1]
GRID = ["train.clip={method: none},{method: norm, threshold: 1.0}"]
SEEDS = 20  # 2 clip settings x 20 seeds = 40 runs


def timed_sweep(root: Path, epochs: int, workers: int | None = None, scheduler: str | None = None) -> float:
    plan = sweep.plan_sweep(REPO / "configs/spiral.yaml", GRID, SEEDS, [f"train.epochs={epochs}"])
    sweep_dir = sweep.create_sweep(plan, root)
    with sweep.open_executor(workers, scheduler) as executors:
        started = time.perf_counter()
        counts = sweep.run_sweep(sweep_dir, executors)
        elapsed = time.perf_counter() - started
    assert sum(counts.values()) == counts.get("complete", 0) + counts.get("diverged", 0) == 40, counts
    return elapsed


def in_process(epochs: int) -> float:
    """The same 40 trainings in this process, one after another, writing nothing."""
    plan = sweep.plan_sweep(REPO / "configs/spiral.yaml", GRID, SEEDS, [f"train.epochs={epochs}"])
    started = time.perf_counter()
    for config in plan.configs:
        train(config)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2000)
    args = parser.parse_args()
    from distributed import LocalCluster

    best = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
            for _ in range(args.repeats):
                times = {"in-process, serial": in_process(args.epochs),
                         "local, 1 worker": timed_sweep(root, args.epochs, workers=1),
                         "local, 2 workers": timed_sweep(root, args.epochs, workers=2),
                         "dask LocalCluster, 2 workers": timed_sweep(root, args.epochs,
                                                                     scheduler=cluster.scheduler_address)}
                for key, value in times.items():
                    best[key] = min(best.get(key, value), value)
    n = 40
    print(f"40-run spiral sweep ({args.epochs} epochs per run), best of {args.repeats}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    for key, value in best.items():
        print(f"  {key:30s} {value:7.2f} s   {value / n * 1000:7.1f} ms per run")
    one, two, dask = best["local, 1 worker"], best["local, 2 workers"], best["dask LocalCluster, 2 workers"]
    print(f"scaling efficiency, 1 -> 2 local workers: {one / (2 * two):.0%} (speed-up {one / two:.2f}x)")
    print(f"local process overhead per run vs in-process: {(one - best['in-process, serial']) / n * 1000:+.1f} ms")
    print(f"Dask overhead per run vs local processes (2 workers each): {(dask - two) / n * 1000:+.1f} ms")


if __name__ == "__main__":
    main()
