"""Config validation: every bad input is a one-line ConfigError naming the file and the field."""

from __future__ import annotations

import json

import pytest

from backprop_cli.config import RunConfig, config_schema, config_to_yaml, load_config, parse_override
from backprop_cli.errors import ConfigError

from conftest import CONFIGS, tiny_config


def error_of(path, overrides=None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return str(info.value)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_validate_and_round_trip(path, tmp_path):
    config = load_config(path)
    resolved = tmp_path / "resolved.yaml"
    resolved.write_text(config_to_yaml(config))
    assert load_config(resolved) == config


def test_defaults_fill_every_section(write_config):
    config = load_config(write_config({"data": {"kind": "xor"}}, "plain.yaml"))
    assert config.name == "plain"  # named after the file when the config has no name
    assert config.train.optimizer.name == "sgd"
    assert config.train.clip.method == "none"
    assert config.log.vanishing_threshold == 1e-6 and config.log.exploding_threshold == 10.0


BAD_CONFIGS = {
    "unknown key": ({"train": {"epochs": 5, "epoch": 3}}, "train.epoch: Extra inputs are not permitted"),
    "wrong type": ({"train": {"epochs": "many"}}, "train.epochs: Input should be a valid integer"),
    "lr zero": ({"train": {"optimizer": {"name": "adam", "lr": 0}}}, "train.optimizer.lr: Input should be greater than 0"),
    "lr negative": ({"train": {"optimizer": {"lr": -1}}}, "train.optimizer.lr: Input should be greater than 0"),
    "epochs zero": ({"train": {"epochs": 0}}, "train.epochs: Input should be greater than 0"),
    "one layer size": ({"model": {"layer_sizes": [2]}}, "model.layer_sizes: List should have at least 2 items"),
    "first size": ({"model": {"layer_sizes": [3, 4, 1]}},
                   "model.layer_sizes: first size 3 must equal the data's input dimension 2"),
    "last size": ({"model": {"layer_sizes": [2, 4, 2]}}, "model.layer_sizes: last size 2 must be 1"),
    "zero width": ({"model": {"layer_sizes": [2, 0, 1]}}, "model.layer_sizes.1: Input should be greater than 0"),
    "unknown dataset": ({"data": {"kind": "moons"}}, "data.kind: Input should be 'xor', 'spiral' or 'deep'"),
    "unknown activation": ({"model": {"activation": "gelu"}}, "model.activation: Input should be"),
    "unknown optimizer": ({"train": {"optimizer": {"name": "lbfgs"}}}, "train.optimizer: name must be one of sgd, momentum, rmsprop, adam"),
    "foreign hyper-parameter": ({"train": {"optimizer": {"name": "sgd", "beta1": 0.9}}},
                                "train.optimizer.beta1: Extra inputs are not permitted"),
    "beta one": ({"train": {"optimizer": {"name": "momentum", "beta": 1.0}}},
                 "train.optimizer.beta: Input should be less than 1"),
    "clip threshold": ({"train": {"clip": {"method": "norm", "threshold": 0}}},
                       "train.clip.threshold: Input should be greater than 0"),
    "unknown clip": ({"train": {"clip": {"method": "global"}}}, "train.clip.method: Input should be"),
    "bce needs sigmoid": ({"model": {"output_activation": "identity"}, "train": {"loss": "bce"}},
                          "bce needs model.output_activation sigmoid"),
    "thresholds order": ({"log": {"vanishing_threshold": 20.0}}, "vanishing_threshold must be below"),
    "snapshots too big": ({"model": {"layer_sizes": [2, 1024, 1024, 1]}, "train": {"epochs": 1_000_000}},
                          "log.snapshot_every: 100002 snapshots of 1053697 parameters would take 785 GiB"),
}


@pytest.mark.parametrize("raw, expected", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_bad_config_names_file_and_field(write_config, raw, expected):
    path = write_config(raw)
    message = error_of(path)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message  # one problem, one line


@pytest.mark.parametrize("text, expected", [
    ("train: [1, 2\n", "invalid YAML: line 2"),
    ("", "the config is empty"),
    ("- 1\n- 2\n", "the config is a list, not a mapping"),
    ("just words\n", "the config is a str, not a mapping"),
    ("seed: !!python/object/apply:os.system ['echo hacked']\n", "invalid YAML"),
])
def test_unreadable_yaml(write_config, text, expected):
    path = write_config(text)
    assert expected in error_of(path)


def test_missing_file_and_directory(tmp_path):
    assert error_of(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: no such config file"
    assert error_of(tmp_path) == f"{tmp_path}: is a directory, not a config file"


def test_overrides_are_validated_like_the_file(write_config):
    path = write_config(tiny_config())
    config = load_config(path, ["train.optimizer.lr=0.05", "seed=3", "model.layer_sizes=[2, 9, 1]",
                                "train.batch_size=null"])
    assert (config.train.optimizer.lr, config.seed, config.model.layer_sizes) == (0.05, 3, [2, 9, 1])
    assert config.train.batch_size is None
    assert load_config(path, ["train.optimizer.lr=1e-3"]).train.optimizer.lr == 1e-3  # YAML reads 1e-3 as text
    assert "train.optimizer.lr: Input should be greater than 0" in error_of(path, ["train.optimizer.lr=-2"])
    assert "train.optimizr: Extra inputs are not permitted" in error_of(path, ["train.optimizr.lr=1"])
    assert f"{path}: --set seed.x=1: seed is a value, not a section" in error_of(path, ["seed.x=1"])
    assert "--set lr: expected KEY.PATH=VALUE" in error_of(path, ["lr"])
    assert "--set train..lr=1: expected KEY.PATH=VALUE" in error_of(path, ["train..lr=1"])


def test_parse_override_reads_values_as_yaml():
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    assert parse_override("x=true") == (["x"], True)
    assert parse_override("x=null") == (["x"], None)


def test_schema_lists_every_section():
    schema = config_schema()
    assert set(schema["properties"]) >= {"seed", "data", "model", "train", "log"}
    json.dumps(schema)  # serialisable as JSON
    assert RunConfig.model_validate({}).model.layer_sizes == [2, 8, 8, 1]
