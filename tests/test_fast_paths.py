"""The trainer's speed-ups keep their meaning: gradients written in place, dead units counted
from δ itself when db cancels, and the log's buffers cut to the epochs run."""

from __future__ import annotations

import numpy as np

from backprop_cli.config import ClipConfig, LogConfig
from backprop_cli.layers import linear_backward_stacked, linear_forward
from backprop_cli.network import MLP, ParamLayout, Workspace
from backprop_cli.recorder import GradientRecorder


def test_stacked_linear_backward_writes_dW_and_db_in_one_block():
    rng = np.random.default_rng(0)
    X, W, b, dZ = rng.normal(size=(7, 3)), rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(7, 4))
    _, cache = linear_forward(X, W, b)
    dWb_out, dX_out = np.full((4, 4), np.nan), np.full((7, 3), np.nan)
    dX, dWb = linear_backward_stacked(dZ, cache, dWb_out, dX_out)
    assert dWb is dWb_out and dX is dX_out
    assert np.allclose(dWb[:-1], X.T @ dZ, rtol=1e-14) and np.allclose(dWb[-1], dZ.sum(axis=0), rtol=1e-14)
    assert np.allclose(dX, dZ @ W.T, rtol=1e-14)
    assert linear_backward_stacked(dZ, cache, input_grad=False)[0] is None


def test_a_reused_workspace_gives_the_bits_of_fresh_arrays():
    mlp = MLP([2, 5, 4, 1], "tanh")
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(9, 2)), (rng.random((9, 1)) > 0.5).astype(float)
    workspace = Workspace(mlp.layout, 9)
    arrays = workspace.inputs + workspace.Z + workspace.dA + [workspace.output]
    assert all(a.flags.f_contiguous and a.ctypes.data % 64 == 0 for a in arrays)
    assert all(np.all(X1[:, -1] == 1.0) for X1 in workspace.inputs)
    for params in (rng.normal(size=mlp.layout.size), rng.normal(size=mlp.layout.size)):
        fresh_grad, reused_grad = np.zeros_like(params), np.zeros_like(params)
        fresh_out, fresh_caches = mlp.forward(params, X)
        fresh_loss, fresh_deltas = mlp.backward(fresh_caches, Y, fresh_grad)
        out, caches = mlp.forward(params, X, workspace)
        loss, deltas = mlp.backward(caches, Y, reused_grad, workspace)
        assert np.shares_memory(caches[0].A, workspace.inputs[1]) and np.shares_memory(deltas[0], workspace.dA[0])
        assert loss == fresh_loss and np.array_equal(out, fresh_out) and np.array_equal(reused_grad, fresh_grad)
        assert all(np.array_equal(a, b) for a, b in zip(deltas, fresh_deltas))


def test_linear_forward_accepts_a_complex_bias_on_real_weights():
    X, W = np.ones((2, 3)), np.ones((3, 1))
    Z, _ = linear_forward(X, W, np.array([1j]))
    assert np.iscomplexobj(Z) and np.allclose(Z, 3 + 1j)


def recorder_for(layer_sizes, epochs=3):
    layout = ParamLayout.for_sizes(layer_sizes)
    return layout, GradientRecorder(layout, epochs, 1, LogConfig(), ClipConfig())


def test_dead_units_are_read_from_delta_when_the_bias_gradient_cancels():
    layout, recorder = recorder_for([2, 3, 1])
    grad = np.ones(layout.size)
    hidden_bias = slice(int(layout.offsets[1]), int(layout.offsets[2]))
    grad[hidden_bias] = 0.0  # db = 0 for all three hidden units
    delta = np.zeros((2, 3))
    delta[:, 1] = [1.0, -1.0]  # unit 1: δ ≠ 0 although Σ_rows δ = 0; units 0 and 2: δ = 0
    params = np.zeros(layout.size)
    recorder.start_epoch(params)
    recorder.record_step(0, 0, 0.5, 1, grad, [delta, np.ones((2, 1))])
    recorder.end_epoch(0, params, 2, 1)
    log = recorder.arrays("complete", 1)
    assert np.allclose(log["dead_fraction"][0], [2 / 3, 0.0])


def test_log_rows_and_snapshots_are_cut_to_the_epochs_run():
    layout, recorder = recorder_for([2, 4, 1], epochs=50)
    params, grad = np.zeros(layout.size), np.arange(layout.size, dtype=float)
    for epoch in range(12):
        recorder.start_epoch(params)
        recorder.record_step(epoch, 0, 1.0, 1, grad, [np.ones((3, 4)), np.ones((3, 1))])
        params = params - 0.1 * grad
        recorder.end_epoch(epoch, params, 3, 1)
    log = recorder.arrays("interrupted", 12)
    assert all(len(log[key]) == 12 for key in ("loss", "weight_grad_norm", "update_norm", "dead_fraction"))
    assert log["snapshot_epoch"].tolist() == [0, 10, 11]
    assert log["snapshot_grad"].shape == (3, layout.size)
    expected = np.sqrt(np.add.reduceat((0.1 * grad) ** 2, layout.layer_offsets[:-1]))
    assert np.allclose(log["update_norm"], expected)


def test_a_multi_step_epoch_logs_means_maxima_and_counts_over_its_steps():
    layout = ParamLayout.for_sizes([2, 3, 1])
    log_config = LogConfig(vanishing_threshold=0.5, exploding_threshold=2.0)
    recorder = GradientRecorder(layout, 2, 3, log_config, ClipConfig())
    params = np.zeros(layout.size)
    steps = [np.full(layout.size, scale) for scale in (0.01, 1.0, 3.0)]  # vanishing, neither, exploding
    recorder.start_epoch(params)
    for step, grad in enumerate(steps):
        recorder.record_step(0, step, 2.0, 1, grad, [np.ones((2, 3)), np.ones((2, 1))])
    recorder.end_epoch(0, params, 6, 3)
    log = recorder.arrays("complete", 1)
    weight_norms = [[np.linalg.norm(W) for W, _ in layout.views(grad)] for grad in steps]
    assert np.allclose(log["weight_grad_norm"][0], np.mean(weight_norms, axis=0), rtol=1e-14)
    assert np.allclose(log["grad_norm"][0], np.mean([np.linalg.norm(g) for g in steps]), rtol=1e-14)
    assert log["grad_abs_max"][0] == 3.0 and log["grad_abs_mean"][0] == np.mean([0.01, 1.0, 3.0])
    expected_vanishing = np.sum(np.array(weight_norms) < 0.5, axis=0)
    expected_exploding = np.sum(np.array(weight_norms) > 2.0, axis=0)
    assert log["vanishing_steps"][0].tolist() == expected_vanishing.tolist() and expected_vanishing.any()
    assert log["exploding_steps"][0].tolist() == expected_exploding.tolist() and expected_exploding.any()
    assert log["loss"][0] == 1.0 and log["accuracy"][0] == 0.5  # 3 × 2.0 over 6 samples; 3 of 6 right
