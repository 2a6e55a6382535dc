"""`bp sweep`: grid expansion, executors (local processes and a loopback Dask cluster), determinism
across them, resume after a killed sweep, failures and divergence, aggregation and figures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from backprop_cli import sweep
from backprop_cli.cli import app
from backprop_cli.errors import ConfigError
from backprop_cli.recorder import load_run
from backprop_cli.trainer import train

from conftest import REPO, tiny_config

runner = CliRunner()


@pytest.fixture
def base(write_config) -> Path:
    return write_config(tiny_config(), "base.yaml")


def new_sweep(base: Path, root: Path, grid=("train.optimizer.lr=0.2,0.5",), seeds=2, overrides=None) -> Path:
    return sweep.create_sweep(sweep.plan_sweep(base, list(grid), seeds, overrides), root)


def run_local(sweep_dir: Path, workers: int, **kwargs) -> dict:
    with sweep.open_executor(workers) as executors:
        return sweep.run_sweep(sweep_dir, executors, **kwargs)


def logs(sweep_dir: Path) -> list[dict]:
    index = sweep.load_index(sweep_dir)
    return [load_run(sweep_dir / p["run_dir"]).log for p in index["points"]]


# --- grids ------------------------------------------------------------------------------------

def test_values_ranges_log_ranges_and_yaml_lists():
    assert sweep.parse_values("0:4", "x") == [0, 1, 2, 3]
    assert sweep.parse_values("log:0.1:10:3", "x") == [0.1, 1.0, 10.0]
    assert sweep.parse_values("none, 0.5,1", "x") == ["none", 0.5, 1]
    assert sweep.parse_values("[2,8,1],[2,8,8,1]", "x") == [[2, 8, 1], [2, 8, 8, 1]]
    assert sweep.parse_grid("train.clip.threshold=log:0.5:8:5").values == [0.5, 1.0, 2.0, 4.0, 8.0]


@pytest.mark.parametrize("text, message", [
    ("seed=3:3", "no values"),
    ("lr", "expected KEY.PATH=V1,V2"),
    ("a..b=1", "expected KEY.PATH=V1,V2"),
    ("x=log:1:0.1:3", "0 < LO < HI"),
    ("x=log:1:10", "0 < LO < HI"),
    ("x=[1,", "not a valid YAML list"),
])
def test_bad_grid_text_is_one_line(text, message):
    with pytest.raises(ConfigError, match=message) as err:
        sweep.parse_grid(text)
    assert "\n" not in str(err.value)


def test_expansion_is_the_cartesian_product_with_seeds_fastest(base):
    plan = sweep.plan_sweep(base, ["model.activation=tanh,relu", "train.optimizer.lr=0.1,0.2,0.3"], seeds=2)
    assert len(plan.points) == 2 * 3 * 2
    assert plan.points[:3] == [{"model.activation": "tanh", "train.optimizer.lr": 0.1, "seed": 0},
                               {"model.activation": "tanh", "train.optimizer.lr": 0.1, "seed": 1},
                               {"model.activation": "tanh", "train.optimizer.lr": 0.2, "seed": 0}]
    config = plan.configs[-1]
    assert (config.model.activation, config.train.optimizer.lr, config.seed) == ("relu", 0.3, 1)
    assert config.data.n_samples == 40  # the base is kept


@pytest.mark.parametrize("grid, seeds, message", [
    (["model.activaton=tanh,relu"], None, "model.activaton: Extra inputs are not permitted"),
    (["train.optimizer.lr=0.1,-1"], None,
     "train.optimizer.lr=-1\\): train.optimizer.lr: Input should be greater than 0"),
    (["seed=0:2", "seed=0:3"], None, "grid key seed is given twice"),
    (["seed=0:2"], 3, "not both"),
    (["model.activation=tanh,tanh"], None, "repeats a value"),
    ([], None, "nothing to sweep"),
])
def test_bad_points_fail_before_anything_runs(base, tmp_path, grid, seeds, message):
    with pytest.raises(ConfigError, match=message):
        sweep.plan_sweep(base, grid, seeds)
    result = runner.invoke(app, ["sweep", str(base), *sum((["--grid", g] for g in grid), []),
                                 *(["--seeds", str(seeds)] if seeds else []), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2
    assert result.output.count("error: ") == 1 and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


def test_shipped_sweep_files_expand(tmp_path):
    clip = sweep.plan_sweep(REPO / "configs/sweeps/clip_thresholds.yaml")
    assert len(clip.points) == 5 * 10
    assert [c.train.clip.method for c in clip.configs[::10]] == ["none", "norm", "norm", "norm", "norm"]
    depth = sweep.plan_sweep(REPO / "configs/sweeps/depth_activation.yaml")
    assert len(depth.points) == 5 * 3 * 5
    assert {len(c.model.layer_sizes) - 2 for c in depth.configs} == {2, 3, 4, 5, 6}


def test_sweep_file_unknown_key_is_an_error(write_config):
    path = write_config({"base": tiny_config(), "grid": {"seed": "0:2"}, "seed": 3}, "s.yaml")
    with pytest.raises(ConfigError, match=r"s.yaml: seed: Extra inputs are not permitted"):
        sweep.plan_sweep(path)


# --- running ----------------------------------------------------------------------------------

def test_two_local_workers_write_every_run_and_the_index(base, tmp_path):
    sweep_dir = new_sweep(base, tmp_path)
    seen = []
    counts = run_local(sweep_dir, 2, progress=seen.append)
    assert counts == {"complete": 4}
    assert sorted(p.index for p in seen) == [0, 1, 2, 3] and seen[-1].done == 4
    index = json.loads((sweep_dir / "sweep.json").read_text())
    assert index["format_version"] == 1 and set(sweep.SWEEP_KEYS) <= set(index)
    for point in index["points"]:
        run = load_run(sweep_dir / point["run_dir"])
        assert run.summary["status"] == point["status"] == "complete"
        assert run.config["seed"] == point["values"]["seed"]
        assert run.config["train"]["optimizer"]["lr"] == point["values"]["train.optimizer.lr"]
        assert point["final_accuracy"] == run.summary["final_accuracy"]
    again = sweep.plan_sweep(sweep_dir / "sweep.yaml")  # the written sweep file repeats the sweep
    assert [c.model_dump() for c in again.configs] == [c.model_dump() for c in sweep.plan_sweep(
        base, ["train.optimizer.lr=0.2,0.5"], 2).configs]


def test_results_do_not_depend_on_the_executor(base, tmp_path):
    distributed = pytest.importorskip("distributed")
    dirs = {}
    for workers in (1, 2):
        dirs[workers] = new_sweep(base, tmp_path / f"local{workers}")
        assert run_local(dirs[workers], workers) == {"complete": 4}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                                  processes=True) as cluster:
        dirs["dask"] = new_sweep(base, tmp_path / "dask")
        with sweep.open_executor(scheduler=cluster.scheduler_address) as executors:
            assert sweep.run_sweep(dirs["dask"], executors) == {"complete": 4}
    reference = logs(dirs[1])
    assert len({float(log["loss"][-1]) for log in reference}) == 4  # the points really differ
    for other in (logs(dirs[2]), logs(dirs["dask"])):
        for ref, log in zip(reference, other):
            assert ref.keys() == log.keys()
            for key in ref:
                np.testing.assert_array_equal(ref[key], log[key], err_msg=key)


def test_a_diverging_point_is_recorded_and_the_others_finish(base, tmp_path):
    sweep_dir = new_sweep(base, tmp_path, grid=["train.optimizer.lr=0.5,100.0"], seeds=1, overrides=[
        "model.output_activation=identity", "train.loss=mse", "train.epochs=100"])  # lr 100 overflows by epoch 50
    assert run_local(sweep_dir, 2) == {"complete": 1, "diverged": 1}
    diverged = sweep.load_index(sweep_dir)["points"][1]
    assert diverged["status"] == "diverged" and "non-finite" in diverged["message"]
    assert load_run(sweep_dir / diverged["run_dir"]).summary["status"] == "diverged"
    assert sweep.points_to_run(sweep_dir, sweep.load_index(sweep_dir)) == []  # a rerun would diverge again


def die_on_seed_1(config):
    """Kills its worker process for seed 1, as an out-of-memory kill would."""
    if config.seed == 1:
        os._exit(3)
    return train(config)


def test_a_dead_worker_fails_only_its_point(base, tmp_path):
    sweep_dir = new_sweep(base, tmp_path, seeds=3)
    assert run_local(sweep_dir, 2, work=die_on_seed_1) == {"complete": 4, "failed": 2}
    for point in sweep.load_index(sweep_dir)["points"]:
        assert point["status"] == ("failed" if point["values"]["seed"] == 1 else "complete")
    failed = [p for p in sweep.load_index(sweep_dir)["points"] if p["status"] == "failed"]
    assert "worker running it died" in failed[0]["message"]
    assert (sweep_dir / failed[0]["run_dir"] / "config.yaml").is_file()  # kept, to reproduce it


def test_resume_runs_only_missing_and_failed_points(base, tmp_path):
    sweep_dir = new_sweep(base, tmp_path)
    run_local(sweep_dir, 2)
    index = sweep.load_index(sweep_dir)
    index["points"][1]["status"] = "failed"
    (sweep_dir / index["points"][2]["run_dir"] / "log.npz").unlink()
    sweep.write_index(sweep_dir, index)
    before = {p["index"]: p["run_dir"] for p in index["points"]}
    seen = []
    assert run_local(sweep_dir, 2, progress=seen.append) == {"complete": 4}
    assert sorted(p.index for p in seen) == [1, 2]
    after = sweep.load_index(sweep_dir)["points"]
    assert [p["run_dir"] for p in after] == [before[0], before[1] + "-2", before[2] + "-2", before[3]]
    assert [p["attempts"] for p in after] == [1, 2, 2, 1]


def test_resume_after_a_killed_sweep(base, tmp_path):
    root = tmp_path / "runs"
    command = [sys.executable, "-m", "backprop_cli", "sweep", str(base), "--grid", "seed=0:24", "--workers", "1",
               "--set", "train.epochs=400", "--runs-dir", str(root)]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            index_files = list(root.glob("*/sweep.json"))
            if index_files and json.loads(index_files[0].read_text()).get("counts", {}).get("complete", 0) >= 3:
                break
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    sweep_dir = index_files[0].parent
    killed = sweep.load_index(sweep_dir)
    done = {p["index"]: p["run_dir"] for p in killed["points"] if p["status"] == "complete"}
    todo = sweep.points_to_run(sweep_dir, killed)
    assert len(done) >= 3 and todo, "the sweep finished before it was killed: make its points slower"
    result = runner.invoke(app, ["sweep", "--resume", str(sweep_dir), "--workers", "2"])
    assert result.exit_code == 0, result.output
    resumed = sweep.load_index(sweep_dir)
    assert resumed["counts"] == {"complete": 24}
    assert {p["index"]: p["run_dir"] for p in resumed["points"] if p["index"] in done} == done
    assert all(p["attempts"] == 1 for p in resumed["points"])
    rerun = sweep.load_index(sweep_dir)
    assert sweep.points_to_run(sweep_dir, rerun) == []


def test_resume_refuses_a_config_too(base, tmp_path):
    result = runner.invoke(app, ["sweep", str(base), "--resume", str(tmp_path)])
    assert result.exit_code == 2 and result.output.startswith("error: --resume takes no CONFIG")
    result = runner.invoke(app, ["sweep", "--resume", str(tmp_path)])
    assert result.exit_code == 2 and "not a sweep directory" in result.output


# --- aggregation ------------------------------------------------------------------------------

def test_bands_skip_runs_that_stopped():
    curves = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, np.nan], [5.0, np.inf, np.nan]])
    median, low, high, count = sweep.bands(curves)
    np.testing.assert_allclose(median, [3.0, 3.0, 3.0])
    np.testing.assert_allclose(low, [np.percentile([1, 3, 5], 10), np.percentile([2, 4], 10), 3.0])
    np.testing.assert_allclose(high, [np.percentile([1, 3, 5], 90), np.percentile([2, 4], 90), 3.0])
    assert count.tolist() == [3, 2, 1]


def test_report_is_mean_and_sample_std_over_seeds(base, tmp_path):
    sweep_dir = new_sweep(base, tmp_path, seeds=3)
    run_local(sweep_dir, 2)
    rows, paths = sweep.write_report(sweep.load_sweep(sweep_dir))
    points = sweep.load_index(sweep_dir)["points"]
    for row, lr in zip(rows, (0.2, 0.5)):
        acc = [p["final_accuracy"] for p in points if p["values"]["train.optimizer.lr"] == lr]
        assert row["values"] == {"train.optimizer.lr": str(lr)} and row["runs"] == 3
        assert row["final_accuracy_mean"] == pytest.approx(np.mean(acc))
        assert row["final_accuracy_std"] == pytest.approx(np.std(acc, ddof=1))
    text = paths[0].read_text()
    assert f"| 0.2 | 3/0/0 | {rows[0]['final_accuracy_mean']:.1%} ± {rows[0]['final_accuracy_std']:.1%} |" in text
    assert json.loads(paths[1].read_text())["rows"][1]["final_loss_mean"] == pytest.approx(rows[1]["final_loss_mean"])


@pytest.mark.parametrize("grid", [["train.optimizer.lr=0.2,0.5"],
                                  ["train.optimizer.lr=0.2,0.5", "model.activation=tanh,relu"]])
def test_bp_plot_and_report_on_a_sweep(base, tmp_path, grid):
    pytest.importorskip("matplotlib").use("Agg")
    from matplotlib.image import imread

    sweep_dir = new_sweep(base, tmp_path, grid=grid)
    run_local(sweep_dir, 2)
    result = runner.invoke(app, ["plot", str(sweep_dir), "--out", str(tmp_path / "figs")])
    assert result.exit_code == 0, result.output
    paths = [Path(line) for line in result.output.split()]
    assert [p.name for p in paths] == ["base_sweep_curves.png", "base_sweep_final_accuracy.png"]
    for path in paths:
        assert path.stat().st_size > 10_000
        height, width = imread(path).shape[:2]
        assert width > 600 and height > 400
    result = runner.invoke(app, ["report", str(sweep_dir)])
    assert result.exit_code == 0 and "ok/div/fail" in result.output
    assert (sweep_dir / "report.md").is_file() and (sweep_dir / "report.json").is_file()


def test_readme_documents_every_sweep_key():
    readme = (REPO / "README.md").read_text()
    missing = [key for key in sweep.SWEEP_KEYS if f"`{key}`" not in readme]
    assert not missing, f"README's sweep.json section lacks {missing}"


def test_sweep_file_is_written_as_yaml_that_loads(base, tmp_path):
    sweep_dir = new_sweep(base, tmp_path)
    spec = yaml.safe_load((sweep_dir / "sweep.yaml").read_text())
    assert spec["grid"] == {"train.optimizer.lr": [0.2, 0.5], "seed": [0, 1]}
