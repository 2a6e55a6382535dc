"""Shared fixtures: small configs that train in well under a second."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


@pytest.fixture
def write_config(tmp_path):
    """Write a mapping (or raw text) as a YAML config in tmp_path; returns its path."""

    def write(content, name: str = "cfg.yaml") -> Path:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
        return path

    return write


def tiny_config(**sections) -> dict:
    """A spiral config that trains in a few milliseconds; sections override whole keys."""
    raw = {
        "seed": 1,
        "data": {"kind": "spiral", "n_samples": 40},
        "model": {"layer_sizes": [2, 6, 5, 1], "activation": "tanh"},
        "train": {"epochs": 12, "optimizer": {"name": "sgd", "lr": 0.5}},
        "log": {"snapshot_every": 5},
    }
    raw.update(sections)
    return raw
