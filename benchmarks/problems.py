"""The benchmark's problems, shared by the bp and the torch side: network, data, init, optimizer.

Both sides train from the same X, Y and initial parameters, drawn here exactly as `bp train`
draws them (one Generator from the seed: data first, then weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backprop_cli.config import RunConfig
from backprop_cli.gradcheck import gradcheck_problem

LEARNING_RATE = 0.5
CLIP_THRESHOLD = 1.0
# The agreement check does not clip: torch's clip_grad_norm_ scales by threshold / (norm + 1e-6),
# bp by threshold / norm (so that the clipped norm is the threshold exactly), a 1e-6 relative
# difference in every clipped step that would hide any other.
CHECK_CLIP_THRESHOLD = 1e9
SNAPSHOT_EVERY = 10


@dataclass(frozen=True)
class Problem:
    """One training benchmark; `epochs` is the length of one timed call of either side."""

    name: str
    kind: str
    n_samples: int | None
    layer_sizes: tuple[int, ...]
    activation: str
    init: str
    epochs: int

    def config(self, log: bool, epochs: int | None = None, clip_threshold: float = CLIP_THRESHOLD) -> RunConfig:
        """The bp config: float64, full batch, SGD, global-norm clipping, bce on a sigmoid output."""
        return RunConfig.model_validate({
            "name": f"bench-{self.name}", "seed": 0,
            "data": {"kind": self.kind, "n_samples": self.n_samples},
            "model": {"layer_sizes": list(self.layer_sizes), "activation": self.activation, "init": self.init},
            "train": {"epochs": epochs or self.epochs, "loss": "bce",
                      "optimizer": {"name": "sgd", "lr": LEARNING_RATE},
                      "clip": {"method": "norm", "threshold": clip_threshold}},
            "log": {"enabled": log, "snapshot_every": SNAPSHOT_EVERY},
        })

    def flops_per_epoch(self) -> float:
        """2·n·d_in·d_out per layer forward and twice that backward."""
        n = len(self.data()[0])
        return 6.0 * n * sum(a * b for a, b in zip(self.layer_sizes[:-1], self.layer_sizes[1:]))

    def data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X (n, 2), Y (n, 1), initial flat parameters (P,)), as `bp train` draws them."""
        _, params, X, Y = gradcheck_problem(self.config(log=True))
        return X, Y, params


PROBLEMS = {
    "xor": Problem("xor", "xor", None, (2, 8, 8, 1), "tanh", "xavier", 2000),
    "spiral": Problem("spiral", "spiral", 1000, (2, 16, 16, 1), "tanh", "xavier", 600),
    "deep": Problem("deep", "deep", 1000, (2, 10, 10, 10, 1), "sigmoid", "xavier", 600),
    "large": Problem("large", "spiral", 8192, (2, 256, 256, 256, 1), "relu", "he", 8),
}

# The gradient-check benchmark: the spiral network of `bp gradcheck` (337 parameters, 200 points).
GRADCHECK = Problem("gradcheck", "spiral", 200, (2, 16, 16, 1), "tanh", "xavier", 1)
GRADCHECK_REPEATS = 10  # one timing call runs the check this many times: a single one takes ~1 ms
