"""The three 2-D binary problems. Each returns X: (n, 2) float64 and y: (n, 1) float64 in {0, 1}.

Inputs lie roughly in [-1, 1] so that no init or learning rate has to fight the data's scale.
"""

from __future__ import annotations

import numpy as np

XOR_CORNERS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_LABELS = np.array([[0.0], [1.0], [1.0], [0.0]])
DEFAULT_N_SAMPLES = 400


def xor(rng: np.random.Generator, n_samples: int | None = None, noise: float = 0.0):
    """XOR. n_samples None: the 4 classic points {0,1}²; else a cloud of n points
    drawn around the 4 corners, with Gaussian noise of std `noise` on the inputs."""
    if n_samples is None:
        X, y = XOR_CORNERS.copy(), XOR_LABELS.copy()
    else:
        corner = rng.integers(0, 4, size=n_samples)
        X, y = XOR_CORNERS[corner], XOR_LABELS[corner]
    return X + noise * rng.standard_normal(X.shape), y


def spiral(rng: np.random.Generator, n_samples: int | None = None, noise: float = 0.0,
           turns: float = 1.5):
    """Two interleaved spiral arms, class 0 and class 1 (the second arm is the first rotated by π).

    Each arm's radius grows linearly from 0 to 1 over `turns` turns; `noise` is added to X.
    """
    n = n_samples or DEFAULT_N_SAMPLES
    label = np.arange(n) % 2
    t = rng.uniform(0.0, 1.0, size=n) ** 0.5  # sqrt: even density along the arm
    angle = 2.0 * np.pi * turns * t + np.pi * label
    X = np.column_stack([t * np.cos(angle), t * np.sin(angle)])
    return X + noise * rng.standard_normal(X.shape), label[:, None].astype(np.float64)


def deep(rng: np.random.Generator, n_samples: int | None = None, noise: float = 0.0,
         rings: int = 4):
    """Concentric rings with alternating labels: radius in [0, 1] cut into `rings` bands of
    equal width, band k labelled k mod 2. Each extra ring is one more fold of the input space,
    so the problem needs depth; a deep sigmoid net starves its first layers of gradient.
    """
    n = n_samples or DEFAULT_N_SAMPLES
    radius = np.sqrt(rng.uniform(0.0, 1.0, size=n))  # sqrt: uniform density over the disc
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    band = np.minimum((radius * rings).astype(np.int64), rings - 1)
    y = (band % 2)[:, None].astype(np.float64)
    return X + noise * rng.standard_normal(X.shape), y


def make_dataset(data_config, rng: np.random.Generator):
    """Dispatch on `data_config.kind` (a config.DataConfig); returns (X, y)."""
    kind = data_config.kind
    if kind == "xor":
        return xor(rng, data_config.n_samples, data_config.noise)
    if kind == "spiral":
        return spiral(rng, data_config.n_samples, data_config.noise, data_config.turns)
    return deep(rng, data_config.n_samples, data_config.noise, data_config.rings)
