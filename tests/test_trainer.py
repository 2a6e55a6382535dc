"""The training loop: learning on the shipped configs, statistics, determinism, divergence, Ctrl-C."""

from __future__ import annotations

import numpy as np
import pytest

from backprop_cli.config import load_config, validate_config
from backprop_cli.network import MLP
from backprop_cli.trainer import batch_slices, train

from conftest import CONFIGS, tiny_config


def shipped(name: str, *overrides: str):
    return load_config(CONFIGS / f"{name}.yaml", list(overrides))


def test_xor_is_learned():
    result = train(shipped("xor"))
    assert result.status == "complete"
    assert result.summary["final_accuracy"] == 1.0


def test_spiral_clip_reaches_95_percent():
    result = train(shipped("spiral_clip"))
    assert result.summary["final_accuracy"] >= 0.95
    assert result.log["clip_fraction"].max() == 1.0  # clipping did fire


def test_spiral_without_clip_explodes_where_clipping_does_not():
    unclipped, clipped = train(shipped("spiral")).log, train(shipped("spiral_clip")).log
    threshold = unclipped["exploding_threshold"]
    assert unclipped["grad_norm"].max() > threshold  # the global norm; no single layer passes 10
    assert np.all(np.isnan(unclipped["clip_threshold"]))
    assert clipped["grad_norm"].max() < unclipped["grad_norm"].max()


def test_deep_sigmoid_vanishes_and_relu_does_not():
    sigmoid, relu = train(shipped("deep")), train(shipped("deep_relu"))
    ratio = sigmoid.log["weight_grad_norm"][0, 0] / sigmoid.log["weight_grad_norm"][0, -1]
    relu_ratio = relu.log["weight_grad_norm"][0, 0] / relu.log["weight_grad_norm"][0, -1]
    assert ratio < 0.1  # the first layer gets at least 10x less gradient than the output layer
    assert relu_ratio > 10 * ratio
    majority = max(sigmoid.y.mean(), 1 - sigmoid.y.mean())
    assert sigmoid.summary["final_accuracy"] < majority + 0.1  # stuck near the class prior
    assert relu.summary["final_accuracy"] > 0.9
    assert relu.summary["final_accuracy"] - sigmoid.summary["final_accuracy"] > 0.2


def test_statistics_agree_with_the_snapshot_gradient():
    config = validate_config(tiny_config(), "tiny")
    result = train(config)
    log, mlp = result.log, MLP.from_config(config)
    E, L = config.train.epochs, config.model.n_layers
    assert log["weight_grad_norm"].shape == (E, L) and log["loss"].shape == (E,)
    assert list(log["snapshot_epoch"]) == [0, 5, 10, 11]
    first = log["snapshot_grad"][0]
    _, grad0 = mlp.loss_and_grad(result.initial_params, result.X, result.y)
    assert np.array_equal(first, grad0)  # epoch 0's gradient is taken before any update
    for layer, (dW, db) in enumerate(mlp.layout.views(first)):
        assert log["weight_grad_norm"][0, layer] == pytest.approx(np.linalg.norm(dW))
        assert log["bias_grad_norm"][0, layer] == pytest.approx(np.linalg.norm(db))
    assert log["grad_norm"][0] == pytest.approx(np.linalg.norm(first))
    assert log["grad_abs_max"][0] == pytest.approx(np.abs(first).max())
    assert log["grad_abs_mean"][0] == pytest.approx(np.abs(first).mean())
    assert log["loss"][0] == pytest.approx(mlp.loss_value(result.initial_params, result.X, result.y))


def test_update_norm_sums_to_the_parameter_change_for_one_epoch():
    config = validate_config(tiny_config(train={"epochs": 1, "optimizer": {"name": "sgd", "lr": 0.5}}), "tiny")
    result = train(config)
    change = MLP.from_config(config).layout.views(result.final_params - result.initial_params)
    for layer, (dW, db) in enumerate(change):
        expected = np.sqrt(np.sum(dW**2) + np.sum(db**2))
        assert result.log["update_norm"][0, layer] == pytest.approx(expected)


def test_dead_relu_units_are_counted():
    config = validate_config(tiny_config(
        model={"layer_sizes": [2, 6, 1], "activation": "relu", "init": "he"},
        train={"epochs": 1, "optimizer": {"name": "sgd", "lr": 0.1}}), "tiny")
    result = train(config)
    W1 = result.initial_params[:12].reshape(2, 6)
    Z = result.X @ W1  # biases start at zero
    expected_dead = np.mean(np.all(Z <= 0, axis=0))
    assert result.log["dead_fraction"][0, 0] == pytest.approx(expected_dead)


def test_vanishing_and_exploding_counts_follow_the_thresholds():
    config = validate_config(tiny_config(log={"vanishing_threshold": 1e-2, "exploding_threshold": 1e-1}), "tiny")
    log = train(config).log
    norms = log["weight_grad_norm"]
    assert np.array_equal(log["vanishing_steps"], (norms < 1e-2).astype(int))
    assert np.array_equal(log["exploding_steps"], (norms > 1e-1).astype(int))


def test_norm_clip_fires_when_the_norm_is_above_threshold():
    config = validate_config(tiny_config(train={"epochs": 6, "optimizer": {"name": "sgd", "lr": 0.5},
                                                "clip": {"method": "norm", "threshold": 0.05}}), "tiny")
    log = train(config).log
    assert np.array_equal(log["clip_fraction"], (log["grad_norm"] > 0.05).astype(float))
    assert log["clip_fraction"].sum() > 0


def test_mini_batches_average_over_steps():
    config = validate_config(tiny_config(train={"epochs": 3, "batch_size": 16, "optimizer": {"name": "adam"}}), "tiny")
    result = train(config)
    assert int(result.log["steps_per_epoch"]) == 3  # 40 samples in batches of 16, 16, 8
    assert np.all(result.log["accuracy"] <= 1.0) and np.all(result.log["loss"] > 0)
    assert np.all(result.log["clip_fraction"] == 0)


def test_batch_slices_cover_every_sample_once():
    slices = batch_slices(10, 4)
    assert [(s.start, s.stop) for s in slices] == [(0, 4), (4, 8), (8, 10)]
    assert batch_slices(10, None) == [slice(0, 10)] == batch_slices(10, 50)


@pytest.mark.parametrize("sections", [
    {},
    {"train": {"epochs": 7, "batch_size": 8, "optimizer": {"name": "adam", "lr": 0.01}}},
])
def test_same_config_same_bits(sections):
    config = validate_config(tiny_config(**sections), "tiny")
    first, second = train(config), train(config)
    assert first.log.keys() == second.log.keys()
    for key in first.log:
        assert np.array_equal(first.log[key], second.log[key], equal_nan=first.log[key].dtype.kind == "f"), key
    assert np.array_equal(first.final_params, second.final_params)


def test_different_seeds_differ():
    a = train(validate_config(tiny_config(seed=1), "tiny"))
    b = train(validate_config(tiny_config(seed=2), "tiny"))
    assert not np.array_equal(a.final_params, b.final_params)


def test_divergence_stops_and_keeps_the_log():
    config = validate_config(tiny_config(
        model={"layer_sizes": [2, 8, 8, 1], "activation": "relu", "init": "he", "output_activation": "identity"},
        train={"epochs": 200, "loss": "mse", "optimizer": {"name": "sgd", "lr": 50.0}}), "tiny")
    result = train(config)
    assert result.status == "diverged"
    E = result.summary["epochs_run"]
    assert 0 < E < 200
    assert "non-finite" in result.summary["message"]
    assert len(result.log["loss"]) == E and list(result.log["epoch"]) == list(range(E))
    assert not np.isfinite(result.log["grad_norm"][-1]) or not np.isfinite(result.log["loss"][-1])
    assert np.all(np.isfinite(result.final_params))
    assert result.log["snapshot_epoch"][-1] == E - 1


def test_ctrl_c_keeps_finished_epochs():
    config = validate_config(tiny_config(train={"epochs": 50, "optimizer": {"name": "sgd", "lr": 0.5}}), "tiny")

    def interrupt_at_seven(progress):
        if progress.epochs_done == 7:
            raise KeyboardInterrupt

    result = train(config, interrupt_at_seven, progress_every=1)
    assert result.status == "interrupted"
    assert result.summary["epochs_run"] == 7
    assert len(result.log["loss"]) == 7
    assert list(result.log["snapshot_epoch"]) == [0, 5, 6]  # the last finished epoch is kept too
    full = train(config)
    assert np.array_equal(result.log["loss"], full.log["loss"][:7])
    assert np.array_equal(result.log["snapshot_grad"][1], full.log["snapshot_grad"][1])


def test_logging_off_keeps_loss_and_accuracy_only():
    config = validate_config(tiny_config(log={"enabled": False}), "tiny")
    result = train(config)
    assert "weight_grad_norm" not in result.log and "snapshot_grad" not in result.log
    assert not bool(result.log["statistics_logged"])
    logged = train(validate_config(tiny_config(), "tiny"))
    assert np.array_equal(result.log["loss"], logged.log["loss"])  # logging never changes the training
