"""`bp train` and `bp schema` through Typer's CliRunner, as a user types them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from backprop_cli.cli import app
from backprop_cli.recorder import LOG_KEYS, RUN_FILES, load_run

from conftest import CONFIGS, tiny_config

runner = CliRunner()


def bp(*args: str):
    return runner.invoke(app, list(args))


def only_run(runs_dir):
    runs = sorted(runs_dir.iterdir())
    assert len(runs) == 1
    return runs[0]


def test_train_xor_writes_every_file(tmp_path):
    result = bp("train", str(CONFIGS / "xor.yaml"), "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    run_dir = only_run(tmp_path / "runs")
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(RUN_FILES)
    run = load_run(run_dir)
    assert set(run.log) == set(LOG_KEYS)
    assert run.summary["status"] == "complete" and run.summary["final_accuracy"] == 1.0
    assert "final gradient norms per layer" in result.output
    assert f"bp plot {run_dir}" in result.output


def test_quiet_prints_the_run_directory_only(tmp_path, write_config):
    result = bp("train", str(write_config(tiny_config())), "--runs-dir", str(tmp_path / "runs"), "-q")
    assert result.exit_code == 0
    assert result.output.strip() == str(only_run(tmp_path / "runs"))


def test_overrides_reach_the_resolved_config(tmp_path, write_config):
    path = write_config(tiny_config())
    result = bp("train", str(path), "--runs-dir", str(tmp_path / "runs"), "-q",
                "--set", "train.optimizer.lr=0.05", "--set", "seed=3", "--set", "train.epochs=4")
    assert result.exit_code == 0, result.output
    run = load_run(only_run(tmp_path / "runs"))
    assert run.config["train"]["optimizer"]["lr"] == 0.05 and run.config["seed"] == 3
    assert len(run.log["loss"]) == 4


def test_resolved_config_repeats_the_run(tmp_path, write_config):
    assert bp("train", str(write_config(tiny_config())), "--runs-dir", str(tmp_path / "a"), "-q").exit_code == 0
    first = only_run(tmp_path / "a")
    assert bp("train", str(first / "config.yaml"), "--runs-dir", str(tmp_path / "b"), "-q").exit_code == 0
    second = only_run(tmp_path / "b")
    assert (first / "log.npz").read_bytes() == (second / "log.npz").read_bytes()
    assert (first / "params.npz").read_bytes() == (second / "params.npz").read_bytes()


BAD_INPUT = {
    "malformed yaml": ("train: [1, 2\n", [], "invalid YAML"),
    "empty file": ("", [], "the config is empty"),
    "not a mapping": ("[1, 2]\n", [], "not a mapping"),
    "unknown key": ({"trian": {}}, [], "trian: Extra inputs are not permitted"),
    "wrong type": ({"seed": "abc"}, [], "seed: Input should be a valid integer"),
    "lr <= 0": ({"train": {"optimizer": {"lr": 0}}}, [], "train.optimizer.lr: Input should be greater than 0"),
    "epochs 0": ({"train": {"epochs": 0}}, [], "train.epochs: Input should be greater than 0"),
    "one size": ({"model": {"layer_sizes": [2]}}, [], "model.layer_sizes: List should have at least 2 items"),
    "input dim": ({"model": {"layer_sizes": [5, 1]}}, [], "model.layer_sizes: first size 5 must equal"),
    "dataset": ({"data": {"kind": "mnist"}}, [], "data.kind: Input should be"),
    "activation": ({"model": {"activation": "swish"}}, [], "model.activation: Input should be"),
    "optimizer": ({"train": {"optimizer": {"name": "sgdd"}}}, [], "train.optimizer: name must be one of"),
    "clip": ({"train": {"clip": {"method": "norm", "threshold": -1}}}, [], "train.clip.threshold: Input should be"),
    "python tag": ("seed: !!python/object/apply:os.system ['true']\n", [], "invalid YAML"),
    "bad --set path": ({}, ["train.optimizer.lrr=1"], "train.optimizer.lrr: Extra inputs are not permitted"),
    "bad --set value": ({}, ["train.epochs=-3"], "train.epochs: Input should be greater than 0"),
    "bad --set form": ({}, ["epochs"], "--set epochs: expected KEY.PATH=VALUE"),
}


@pytest.mark.parametrize("content, overrides, expected", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_one_line_exit_2_and_no_run(tmp_path, write_config, content, overrides, expected):
    path = write_config(content)
    args = ["train", str(path), "--runs-dir", str(tmp_path / "runs")]
    for override in overrides:
        args += ["--set", override]
    result = bp(*args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {path}: ") and expected in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


def test_missing_file_and_directory(tmp_path):
    missing = bp("train", str(tmp_path / "none.yaml"), "--runs-dir", str(tmp_path / "runs"))
    assert missing.exit_code == 2 and "no such config file" in missing.output
    directory = bp("train", str(tmp_path), "--runs-dir", str(tmp_path / "runs"))
    assert directory.exit_code == 2 and "is a directory, not a config file" in directory.output


def test_diverged_run_exits_1_and_keeps_its_files(tmp_path, write_config):
    path = write_config(tiny_config(
        model={"layer_sizes": [2, 8, 8, 1], "activation": "relu", "init": "he", "output_activation": "identity"},
        train={"epochs": 200, "loss": "mse", "optimizer": {"name": "sgd", "lr": 50.0}}))
    result = bp("train", str(path), "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 1
    assert "diverged: non-finite" in result.output and "Traceback" not in result.output
    run = load_run(only_run(tmp_path / "runs"))
    assert run.summary["status"] == "diverged" and str(run.log["status"]) == "diverged"
    assert len(run.log["loss"]) == run.summary["epochs_run"] > 0
    assert np.all(np.isfinite(run.params["final"]))
    text = (only_run(tmp_path / "runs") / "summary.json").read_text()
    assert "Infinity" not in text and "NaN" not in text  # strict JSON


def test_schema_is_json_schema():
    result = bp("schema")
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["title"] == "RunConfig" and "train" in schema["properties"]


def test_a_real_ctrl_c_saves_the_finished_epochs(tmp_path, write_config):
    """SIGINT to a running `bp train` process: exit 130, status interrupted, the log kept."""
    import signal
    import subprocess
    import sys
    import time

    path = write_config(tiny_config(data={"kind": "spiral", "n_samples": 400},
                                    train={"epochs": 10_000_000, "optimizer": {"name": "sgd", "lr": 0.1}}))
    runs = tmp_path / "runs"
    process = subprocess.Popen([sys.executable, "-m", "backprop_cli", "train", str(path), "--runs-dir", str(runs)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(runs.glob("*/config.yaml")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # let it train for a while
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted after" in stderr and "Traceback" not in stderr
    run = load_run(only_run(runs))
    assert run.summary["status"] == "interrupted" and str(run.log["status"]) == "interrupted"
    assert run.summary["epochs_run"] == len(run.log["loss"]) > 0
    assert run.log["snapshot_epoch"][-1] == run.summary["epochs_run"] - 1
