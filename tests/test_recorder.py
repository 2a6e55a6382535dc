"""The run directory and its files are a public format: every documented key, read back."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime

import numpy as np
import pytest

from backprop_cli.config import validate_config
from backprop_cli.errors import RunDirError
from backprop_cli.recorder import (
    DATA_KEYS, FORMAT_VERSION, LOG_KEYS, PARAMS_KEYS, SUMMARY_KEYS, create_run_dir, load_run, read_npz,
    write_npz_atomic,
)
from backprop_cli.trainer import train_to_dir

from conftest import tiny_config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    config = validate_config(tiny_config(name="tiny"), "tiny")
    run_dir, result = train_to_dir(config, tmp_path_factory.mktemp("runs"))
    return run_dir, result, config


def test_every_documented_key_is_written_and_nothing_else(run):
    run_dir, _, _ = run
    loaded = load_run(run_dir)
    assert set(loaded.log) == set(LOG_KEYS)
    assert set(loaded.params) == set(PARAMS_KEYS)
    assert set(loaded.data) == set(DATA_KEYS)
    assert set(loaded.summary) == set(SUMMARY_KEYS)
    assert int(loaded.log["format_version"]) == FORMAT_VERSION


def test_documented_shapes(run):
    run_dir, _, config = run
    log = load_run(run_dir).log
    E, L = config.train.epochs, config.model.n_layers
    P = int(log["param_offsets"][-1])
    sizes = {"E": E, "L": L, "P": P, "S": len(log["snapshot_epoch"]), "n": config.data.n_samples}
    for key, (shape, _) in LOG_KEYS.items():
        expected = eval(shape.replace("2L", "2*L"), {}, sizes)  # "(E, L)" -> (12, 3); "()" -> ()
        expected = expected if isinstance(expected, tuple) else (expected,)
        assert log[key].shape == expected, key


def test_files_read_back_equal_the_result(run):
    run_dir, result, config = run
    loaded = load_run(run_dir)
    assert np.array_equal(loaded.params["initial"], result.initial_params)
    assert np.array_equal(loaded.params["final"], result.final_params)
    assert np.array_equal(loaded.data["X"], result.X) and np.array_equal(loaded.data["y"], result.y)
    assert validate_config(loaded.config, "x") == config
    assert loaded.summary["status"] == "complete" and loaded.summary["run_id"] == run_dir.name
    assert str(loaded.log["status"]) == "complete"
    assert not any(p.name.endswith(".tmp") for p in run_dir.iterdir())  # no temp files left behind


def test_npz_bytes_are_deterministic(tmp_path):
    arrays = {"format_version": np.array(1), "a": np.arange(5.0), "s": np.array("norm")}
    write_npz_atomic(tmp_path / "one.npz", arrays)
    write_npz_atomic(tmp_path / "two.npz", arrays)
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    back = read_npz(tmp_path / "one.npz", ("a",))
    assert str(back["s"]) == "norm" and np.array_equal(back["a"], arrays["a"])


def test_pickled_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "evil.npz", format_version=np.array(1), obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(RunDirError, match="corrupt"):
        read_npz(tmp_path / "evil.npz", ())


def test_truncated_and_newer_files_are_clear_errors(tmp_path, run):
    run_dir = run[0]
    payload = (run_dir / "log.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(payload[: len(payload) // 2])
    with pytest.raises(RunDirError, match="corrupt or truncated"):
        read_npz(tmp_path / "cut.npz", ())
    write_npz_atomic(tmp_path / "new.npz", {"format_version": np.array(FORMAT_VERSION + 1)})
    with pytest.raises(RunDirError, match="newer than this bp reads"):
        read_npz(tmp_path / "new.npz", ())
    with pytest.raises(RunDirError, match="missing keys loss"):
        write_npz_atomic(tmp_path / "few.npz", {"format_version": np.array(1)})
        read_npz(tmp_path / "few.npz", ("loss",))
    with pytest.raises(RunDirError, match="not a run directory"):
        load_run(tmp_path)


def test_run_ids_never_collide_and_sort_by_time(tmp_path):
    now = datetime(2026, 1, 2, 3, 4, 5)
    first = create_run_dir(tmp_path, "xor", now)
    second = create_run_dir(tmp_path, "xor", now)
    later = create_run_dir(tmp_path, "xor", datetime(2026, 1, 2, 3, 4, 6))
    assert first.name == "20260102-030405-xor" and second.name == "20260102-030405-xor-2"
    assert sorted([later.name, second.name, first.name]) == [first.name, second.name, later.name]


def test_same_config_gives_identical_files(tmp_path):
    config = validate_config(tiny_config(name="same"), "tiny")
    a, _ = train_to_dir(config, tmp_path / "a")
    b, _ = train_to_dir(config, tmp_path / "b")
    for name in ("config.yaml", "data.npz", "params.npz", "log.npz"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    summary = json.loads((a / "summary.json").read_text())
    assert summary["wall_time_s"] > 0
    with zipfile.ZipFile(a / "log.npz") as archive:
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())
