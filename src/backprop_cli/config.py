"""The run configuration: a Pydantic schema, YAML loading and `--set` overrides.

Every field here is a YAML key and a `--set` path (`train.optimizer.lr=0.05`); the README's
config reference is this file's fields, defaults and bounds.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator,
)
from pydantic_core import PydanticCustomError

from backprop_cli.errors import ConfigError

INPUT_DIM = 2  # every shipped dataset is a 2-D binary classification problem
OUTPUT_DIM = 1
MAX_SNAPSHOT_GIB = 4  # the gradient snapshots are reserved up front; more than this is a mistake

Probability = Annotated[float, Field(ge=0.0, lt=1.0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]


class Strict(BaseModel):
    """Base for every section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(Strict):
    kind: Literal["xor", "spiral", "deep"] = Field(
        "xor", description="xor: 4 corners (or a noisy cloud); spiral: two interleaved arms; "
        "deep: concentric rings with alternating labels, which needs depth."
    )
    n_samples: int | None = Field(
        None, ge=4, le=1_000_000,
        description="Number of points. None: xor's 4 classic points, 400 for spiral and deep.",
    )
    noise: float = Field(0.0, ge=0.0, le=1.0, description="Std of Gaussian noise added to inputs.")
    turns: float = Field(1.5, gt=0.0, le=10.0, description="spiral only: turns of each arm.")
    rings: int = Field(4, ge=2, le=20, description="deep only: number of rings (labels alternate).")


class ModelConfig(Strict):
    layer_sizes: list[Annotated[int, Field(gt=0, le=4096)]] = Field(
        [2, 8, 8, 1], min_length=2,
        description="Units per layer, input first; first must be 2 (the data), last must be 1.",
    )
    activation: Literal["sigmoid", "tanh", "relu", "leaky_relu"] = Field(
        "tanh", description="Hidden-layer activation."
    )
    leaky_slope: float = Field(0.01, gt=0.0, lt=1.0, description="leaky_relu's slope for z < 0.")
    output_activation: Literal["sigmoid", "identity"] = Field(
        "sigmoid", description="Output activation: sigmoid gives P(class 1); identity a raw score."
    )
    init: Literal["xavier", "he", "normal"] = Field(
        "xavier", description="xavier: N(0, 2/(in+out)); he: N(0, 2/in); normal: N(0, init_std²)."
    )
    init_std: PositiveFloat = Field(0.1, description="normal init only: the weights' std.")

    @field_validator("layer_sizes")
    @classmethod
    def _ends_match_the_data(cls, sizes: list[int]) -> list[int]:
        if sizes[0] != INPUT_DIM:
            raise PydanticCustomError(
                "input_dim", "first size {got} must equal the data's input dimension {want}",
                {"got": sizes[0], "want": INPUT_DIM},
            )
        if sizes[-1] != OUTPUT_DIM:
            raise PydanticCustomError(
                "output_dim", "last size {got} must be {want} (one output: P(class 1))",
                {"got": sizes[-1], "want": OUTPUT_DIM},
            )
        return sizes

    @property
    def n_layers(self) -> int:
        """Number of weight layers (L)."""
        return len(self.layer_sizes) - 1


class SGD(Strict):
    name: Literal["sgd"] = "sgd"
    lr: PositiveFloat = 0.1


class Momentum(Strict):
    name: Literal["momentum"] = "momentum"
    lr: PositiveFloat = 0.1
    beta: Probability = Field(0.9, description="Velocity decay: v = beta v + g; w -= lr v.")


class RMSProp(Strict):
    name: Literal["rmsprop"] = "rmsprop"
    lr: PositiveFloat = 0.01
    beta: Probability = Field(0.9, description="Decay of the squared-gradient average.")
    eps: PositiveFloat = 1e-8


class Adam(Strict):
    name: Literal["adam"] = "adam"
    lr: PositiveFloat = 0.01
    beta1: Probability = 0.9
    beta2: Probability = 0.999
    eps: PositiveFloat = 1e-8


def _optimizer_name(value: Any) -> Any:
    """The union's tag: the `name` key, sgd when left out."""
    return value.get("name", "sgd") if isinstance(value, dict) else getattr(value, "name", None)


OptimizerConfig = Annotated[
    Union[Annotated[SGD, Tag("sgd")], Annotated[Momentum, Tag("momentum")],
          Annotated[RMSProp, Tag("rmsprop")], Annotated[Adam, Tag("adam")]],
    Discriminator(_optimizer_name, custom_error_type="optimizer_name",
                  custom_error_message="name must be one of sgd, momentum, rmsprop, adam"),
]
OPTIMIZER_NAMES = ("sgd", "momentum", "rmsprop", "adam")


class ClipConfig(Strict):
    method: Literal["none", "norm", "value"] = Field(
        "none", description="norm: rescale when the global L2 norm exceeds threshold "
        "(clip_grad_norm_); value: clamp each entry to ±threshold (clip_grad_value_)."
    )
    threshold: PositiveFloat = 1.0


class TrainConfig(Strict):
    epochs: int = Field(1000, gt=0, le=10_000_000)
    batch_size: int | None = Field(None, gt=0, description="None: full batch.")
    loss: Literal["mse", "bce"] = Field(
        "bce", description="mse: mean of ½(y−a)²; bce: mean binary cross-entropy (stable)."
    )
    optimizer: OptimizerConfig = Field(default_factory=SGD)
    clip: ClipConfig = Field(default_factory=ClipConfig)


class LogConfig(Strict):
    enabled: bool = Field(True, description="false: log loss and accuracy only (for timing).")
    snapshot_every: int = Field(10, gt=0, description="Full gradient every k epochs (+ first, last).")
    vanishing_threshold: PositiveFloat = Field(1e-6, description="A layer's grad norm below: vanishing.")
    exploding_threshold: PositiveFloat = Field(10.0, description="A layer's grad norm above: exploding.")

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> LogConfig:
        if self.vanishing_threshold >= self.exploding_threshold:
            raise PydanticCustomError(
                "threshold_order", "vanishing_threshold must be below exploding_threshold"
            )
        return self


class GradcheckConfig(Strict):
    """`bp gradcheck`: steps, tolerances and the ε-sweep grid."""

    eps: float = Field(1e-5, gt=0.0, lt=1.0, description="Central-difference step ε.")
    complex_step: float = Field(1e-20, gt=0.0, le=1e-3, description="--method complex: the step h of Im f(x + ih) / h.")
    elementwise_tolerance: PositiveFloat = Field(
        1e-5, description="Central: pass when max |a−n| / (|a|+|n|) is at most this.")
    normwise_tolerance: PositiveFloat = Field(
        1e-8, description="Central: pass when ‖a−n‖ / (‖a‖+‖n‖) is at most this.")
    complex_elementwise_tolerance: PositiveFloat = Field(
        1e-10, description="--method complex: the element-wise tolerance.")
    complex_normwise_tolerance: PositiveFloat = Field(
        1e-13, description="--method complex: the norm-wise tolerance.")
    directions: int = Field(4, gt=0, le=1000, description="--fast: random unit directions checked.")
    sweep_max: float = Field(1e-1, gt=0.0, lt=1.0, description="--eps-sweep: largest ε of the log grid.")
    sweep_min: float = Field(1e-12, gt=0.0, lt=1.0, description="--eps-sweep: smallest ε.")
    sweep_points: int = Field(23, ge=2, le=200, description="--eps-sweep: grid points, log-spaced.")

    @model_validator(mode="after")
    def _sweep_ordered(self) -> GradcheckConfig:
        if self.sweep_min >= self.sweep_max:
            raise PydanticCustomError("sweep_order", "sweep_min must be below sweep_max")
        return self

    def tolerance_table(self) -> dict[str, tuple[float, float]]:
        """{method: (element-wise, norm-wise) tolerance} for central and complex."""
        return {"central": (self.elementwise_tolerance, self.normwise_tolerance),
                "complex": (self.complex_elementwise_tolerance, self.complex_normwise_tolerance)}


class RunConfig(Strict):
    """A whole run. Training is a function of this object alone."""

    name: str = Field("run", pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                      description="Used in the run id; defaults to the config file's stem.")
    seed: int = Field(0, ge=0, le=2**32 - 1)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    gradcheck: GradcheckConfig = Field(default_factory=GradcheckConfig)

    @model_validator(mode="after")
    def _bce_needs_probabilities(self) -> RunConfig:
        if self.train.loss == "bce" and self.model.output_activation != "sigmoid":
            raise PydanticCustomError(
                "bce_output", "train.loss bce needs model.output_activation sigmoid"
            )
        return self

    @model_validator(mode="after")
    def _snapshots_fit_in_memory(self) -> RunConfig:
        sizes = self.model.layer_sizes
        n_params = sum((d_in + 1) * d_out for d_in, d_out in zip(sizes[:-1], sizes[1:]))
        n_snapshots = self.train.epochs // self.log.snapshot_every + 2
        gib = n_params * n_snapshots * 8 / 2**30
        if self.log.enabled and gib > MAX_SNAPSHOT_GIB:
            raise PydanticCustomError(
                "snapshot_size", "log.snapshot_every: {n} snapshots of {p} parameters would take "
                "{gib} GiB (limit {limit} GiB); raise log.snapshot_every",
                {"n": n_snapshots, "p": n_params, "gib": f"{gib:.0f}", "limit": MAX_SNAPSHOT_GIB},
            )
        return self


def field_path(loc: tuple[Any, ...]) -> str:
    """Pydantic's error location as a dotted YAML path, without discriminator tags."""
    parts = [str(part) for i, part in enumerate(loc)
             if not (part in OPTIMIZER_NAMES and i > 0 and loc[i - 1] == "optimizer")]
    return ".".join(parts)


def format_validation_error(source: str, err: ValidationError) -> str:
    """One line per problem: `source: field.path: message`."""
    lines = []
    for problem in err.errors(include_url=False):
        path = field_path(problem["loc"])
        lines.append(f"{source}: {path}: {problem['msg']}" if path else f"{source}: {problem['msg']}")
    return "\n".join(lines)


def validate_config(raw: Any, source: str) -> RunConfig:
    """Validate a parsed mapping; raise ConfigError naming `source` and each bad field."""
    if not isinstance(raw, dict):
        kind = "empty" if raw is None else f"a {type(raw).__name__}, not a mapping of keys"
        raise ConfigError(f"{source}: the config is {kind}")
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(format_validation_error(source, err)) from err


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file with safe_load; a missing file or bad YAML is a ConfigError."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a config file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: no such config file") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot be read ({err})") from err
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f"line {where.line + 1}: " if where else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML: {line}{problem}") from err


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.optimizer.lr=0.05` -> (['train', 'optimizer', 'lr'], 0.05); the value is YAML."""
    key, sep, value = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise ConfigError(f"--set {text}: expected KEY.PATH=VALUE, e.g. train.optimizer.lr=0.05")
    try:
        return parts, yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {text}: the value is not valid YAML") from err


def set_path(raw: dict, parts: list[str], value: Any, where: str) -> None:
    """raw[parts[0]]...[parts[-1]] = value, in place, creating sections on the way; a value
    standing where a section should be is a ConfigError starting with `where`."""
    node = raw
    for depth, part in enumerate(parts[:-1]):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{where}: {'.'.join(parts[: depth + 1])} is a value, not a section")
    node[parts[-1]] = value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Return a copy of `raw` with each `KEY.PATH=VALUE` set; sections are created as needed."""
    result = copy.deepcopy(raw)
    for text in overrides:
        parts, value = parse_override(text)
        set_path(result, parts, value, f"--set {text}")
    return result


def default_name(path: str | Path) -> str:
    """A run name from a file's stem: the characters a run id allows, at most 64."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem)[:64] or "run"


def resolve_config(raw: Any, source: str, overrides: list[str] | None = None,
                   name: str | None = None) -> RunConfig:
    """Validate a parsed config after its `--set` overrides; `name` fills a missing name.
    Every problem is a one-line ConfigError starting with `source`."""
    if not isinstance(raw, dict):
        validate_config(raw, source)
    try:
        raw = apply_overrides(raw, overrides or [])
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from err
    if name:
        raw.setdefault("name", name)
    return validate_config(raw, source)


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read, override and validate a YAML config; every problem is a one-line ConfigError.
    A config without `name` is named after its file."""
    return resolve_config(read_yaml(path), str(path), overrides, default_name(path))


def config_to_yaml(config: RunConfig) -> str:
    """The resolved config (defaults filled in) as YAML that loads back to the same config."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def config_schema() -> dict:
    """JSON Schema of a run config, for editors that complete and check YAML."""
    return RunConfig.model_json_schema()
