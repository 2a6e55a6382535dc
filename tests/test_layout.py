"""Module boundaries and documentation that must not drift from the code."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

from pydantic import BaseModel

import backprop_cli
import backprop_cli.plotting
from backprop_cli.config import RunConfig
from backprop_cli.recorder import DATA_KEYS, LOG_KEYS, PARAMS_KEYS, SUMMARY_KEYS

from conftest import REPO

CORE = sorted(m.name for m in pkgutil.iter_modules(backprop_cli.__path__)
              if m.name not in {"cli", "__main__", "plotting"})


def modules_loaded_by(statement: str, packages_only: bool = True) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names = json.loads(out.stdout)
    return {name.split(".")[0] for name in names} if packages_only else set(names)


def test_core_never_imports_the_cli_or_matplotlib():
    assert {"config", "network", "trainer", "recorder"} <= set(CORE)
    loaded = modules_loaded_by("; ".join(f"import backprop_cli.{name}" for name in CORE))
    assert not loaded & {"matplotlib", "typer", "rich"}


def test_plotting_never_loads_the_trainer():
    plotting = sorted(m.name for m in pkgutil.iter_modules(backprop_cli.plotting.__path__))
    assert {"dashboard", "sweep"} <= set(plotting)
    loaded = modules_loaded_by("; ".join(f"import backprop_cli.plotting.{name}" for name in plotting),
                               packages_only=False)
    assert "backprop_cli.trainer" not in loaded  # a figure comes from a run's files, never from training


def test_cli_loads_matplotlib_only_when_drawing():
    assert "matplotlib" not in modules_loaded_by("import backprop_cli.cli")


def config_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            paths += config_paths(field.annotation, f"{prefix}{name}.")
        elif name != "optimizer":
            paths.append(prefix + name)
    return paths


def test_readme_documents_every_config_field_and_file_key():
    readme = (REPO / "README.md").read_text()
    fields = config_paths(RunConfig) + ["train.optimizer.lr", "train.optimizer.beta1", "train.optimizer.eps"]
    missing = [path for path in fields if f"`{path}`" not in readme]
    assert not missing, f"README's config reference lacks {missing}"
    for keys in (LOG_KEYS, PARAMS_KEYS, DATA_KEYS, SUMMARY_KEYS):
        absent = [key for key in keys if f"`{key}`" not in readme]
        assert not absent, f"README's format section lacks {absent}"


def test_schema_command_matches_the_model():
    assert json.loads(json.dumps(RunConfig.model_json_schema()))["additionalProperties"] is False
