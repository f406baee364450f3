"""One typed, validated object holding every knob of the pipeline.

The CLI, the runners and the compiled Kubeflow spec all derive from it; a bad
value is rejected with a message that names the knob.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Iterable

from ingestion.errors import DataError
from ingestion.schema_file import REMOTE_MARK, read_schema
from ingestion.settings import IngestSettings
from names import LABEL_KEY, RAW_IMAGE_KEY, SLICEABLE_FEATURES
from trainer.hparams import OPTIMIZERS, TIE_MODES, HParams, warm_start_source

_HP = HParams()  # the training defaults live with the trainer

ORCHESTRATORS = ("local", "beam")
DEFAULT_OUTPUT_DIR = "tiedflow_output"


class ConfigError(ValueError):
    """A knob has an unknown name or a bad value; the message names it."""


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Every knob with its default. Paths are derived from `output_dir`."""

    pipeline_name: str = "tiedflow"
    # Data: 'digits' (embedded), an image folder (DIR/<class>/*.png) or TFRecords.
    data: str = "digits"
    output_dir: str = DEFAULT_OUTPUT_DIR
    # 0: the data's own (8 for the digits, the most common size in a folder,
    # `image_shape` for TFRecords); else every image is resized to it.
    image_size: int = 0
    # 0: the data's own (3 when most images are colour, else 1); or 1 or 3.
    channels: int = 0
    # The classes in order (ids or names); empty: taken from the data.
    classes: tuple = ()
    # TFRecords of tf.Examples written elsewhere: which features hold the
    # image and the label, and how the pixels are stored.
    image_feature: str = RAW_IMAGE_KEY
    label_feature: str = LABEL_KEY
    pixel_encoding: str = "int"  # int | float | bytes (raw uint8) | encoded (PNG/JPEG)
    pixel_range: str = ""  # "lo,hi" of numeric pixels; empty: 0,255 (int) or 0,1 (float)
    image_shape: str = ""  # "H,W" or "H,W,C" of flat pixels; empty: square, one channel
    # A larger image (width x height, read from its header) is refused by name.
    max_pixels: int = IngestSettings.max_pixels
    eval_percent: int = 20
    # A curated TFDV schema (text format) the data must match, or empty: the
    # schema is inferred from the data's statistics (ingestion.schema_file).
    schema: str = ""
    seed: int = _HP.seed
    # Model (training defaults come from trainer.hparams.HParams).
    tie_mode: str = _HP.tie_mode
    width: int = _HP.width
    tied_layers: int = _HP.tied_layers
    # Training.
    optimizer: str = _HP.optimizer
    train_steps: int = _HP.train_steps
    batch_size: int = _HP.batch_size
    learning_rate: float = _HP.learning_rate
    beta_1: float = _HP.beta_1
    beta_2: float = _HP.beta_2
    momentum: float = _HP.momentum  # sgd and minibatch-sgd only
    lr_decay: bool = _HP.lr_decay
    l2: float = _HP.l2
    augment: bool = _HP.augment  # shifts, rotations, zoom, resampling blur (training only)
    early_stopping_patience: int = _HP.early_stopping_patience
    # "" or "false": off; "true": the newest model pushed in this output dir;
    # else a path: a SavedModel dir or a serving dir of version folders.
    warm_start: str = ""
    freeze_filters: bool = _HP.freeze_filters
    # Evaluation and blessing.
    accuracy_threshold: float = 0.9
    min_class_recall: float = 0.0
    regression_tolerance: float = 0.01
    slice_regression_tolerance: float = 0.05
    min_slice_accuracy: float = 0.0
    max_calibration_error: float = 1.0
    # Extra evaluation slices: "feature" or a cross "feature*feature".
    slice_features: tuple = ()
    # Extra flags for the Beam-powered components (`--beam-arg`), after the
    # defaults (pipeline.dag.DEFAULT_BEAM_ARGS), so they win.
    beam_args: tuple = ()
    # Exported with the model: `tiedflow predict` abstains below it.
    abstain_below: float = _HP.abstain_below

    def __post_init__(self):
        _check(self)

    # Derived locations (nothing here touches the file system).
    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.output_dir, "pipeline_root")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.output_dir, "metadata.sqlite")

    @property
    def serving_dir(self) -> str:
        return os.path.join(self.output_dir, "serving")

    @property
    def logs_dir(self) -> str:
        return os.path.join(self.output_dir, "logs")

    @property
    def reports_dir(self) -> str:
        return os.path.join(self.output_dir, "reports")

    def replace(self, **changes: Any) -> "PipelineConfig":
        return dataclasses.replace(self, **changes)

    def with_overrides(self, assignments: Iterable[str]) -> "PipelineConfig":
        """Applies `KEY=VALUE` strings (the CLI's --set), converting by type."""
        changes = {}
        for item in assignments:
            if "=" not in item:
                raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
            key, raw = item.split("=", 1)
            key = key.strip()
            changes[key] = parse_value(key, raw.strip())
        return self.replace(**changes)


_FIELDS = {f.name: f for f in dataclasses.fields(PipelineConfig)}
# Knobs set through their own CLI flags or by the runner, not through --set.
_NOT_SETTABLE = {"output_dir", "beam_args"}


def settable_keys() -> list[str]:
    return sorted(k for k in _FIELDS if k not in _NOT_SETTABLE)


def parse_value(key: str, raw: str) -> Any:
    """Converts the text `raw` to the type of knob `key`."""
    if key not in _FIELDS or key in _NOT_SETTABLE:
        raise ConfigError(
            f"unknown setting {key!r}; known settings: {', '.join(settable_keys())}")
    default = _FIELDS[key].default
    try:
        if isinstance(default, bool):
            lowered = raw.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError:
        kind = type(default).__name__
        raise ConfigError(f"setting {key!r}: {raw!r} is not a valid {kind}") from None
    return raw


def _check(cfg: PipelineConfig) -> None:
    for name, field in _FIELDS.items():
        value = getattr(cfg, name)
        default = field.default
        expected = type(default)
        ok = isinstance(value, expected) or (expected is float and isinstance(value, int)
                                             and not isinstance(value, bool))
        if expected is int and isinstance(value, bool):
            ok = False
        if not ok:
            raise ConfigError(f"setting {name!r}: expected {expected.__name__}, got {value!r}")
        if expected is float and not math.isfinite(value):
            raise ConfigError(f"setting {name!r}: must be a finite number (got {value!r})")

    def need(cond: bool, name: str, what: str) -> None:
        if not cond:
            raise ConfigError(f"setting {name!r}: {what} (got {getattr(cfg, name)!r})")

    need(bool(cfg.pipeline_name) and cfg.pipeline_name.replace("-", "").isalnum(),
         "pipeline_name", "letters, digits and dashes only")
    need(bool(cfg.data), "data", "must not be empty")
    need(bool(cfg.output_dir), "output_dir", "must not be empty")
    need(cfg.image_size == 0 or 4 <= cfg.image_size <= 256, "image_size",
         "must be 0 (the data's own) or between 4 and 256")
    need(cfg.channels in (0, 1, 3), "channels", "must be 0 (the data's own), 1 or 3")
    need(bool(cfg.image_feature), "image_feature", "must not be empty")
    need(bool(cfg.label_feature), "label_feature", "must not be empty")
    try:  # pixel_encoding, pixel_range, image_shape, max_pixels, seed: checked where
        # ingestion reads them
        IngestSettings.from_config(cfg)
    except DataError as err:
        raise ConfigError(str(err)) from None
    need(len(set(cfg.classes)) == len(cfg.classes), "classes", "must not repeat a class")
    if cfg.schema and REMOTE_MARK not in cfg.schema:  # a remote one is read by SchemaGen
        try:
            read_schema(cfg.schema)
        except DataError as err:
            raise ConfigError(f"setting 'schema': {err}") from None
    need(1 <= cfg.eval_percent <= 90, "eval_percent", "must be between 1 and 90")
    need(cfg.tie_mode in TIE_MODES, "tie_mode", f"must be one of {', '.join(TIE_MODES)}")
    need(1 <= cfg.width <= 512, "width", "must be between 1 and 512")
    need(1 <= cfg.tied_layers <= 16, "tied_layers", "must be between 1 and 16")
    need(cfg.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
    need(cfg.train_steps >= 0, "train_steps",
         "must be 0 (chosen from the image size and example count) or more")
    need(1 <= cfg.batch_size <= 65536, "batch_size", "must be between 1 and 65536")
    need(0 < cfg.learning_rate <= 10, "learning_rate", "must be in (0, 10]")
    need(0 <= cfg.beta_1 < 1, "beta_1", "must be in [0, 1)")
    need(0 <= cfg.beta_2 < 1, "beta_2", "must be in [0, 1)")
    need(0 <= cfg.momentum < 1, "momentum", "must be in [0, 1)")
    warm = warm_start_source(cfg.warm_start)
    need(warm is None or warm == "pushed" or "://" in warm or os.path.isdir(warm),
         "warm_start", "must be true, false, or a SavedModel or serving dir that exists")
    need(warm is not None or not cfg.freeze_filters, "freeze_filters",
         "needs warm_start=true (frozen random filters learn nothing)")
    need(cfg.l2 >= 0, "l2", "must be >= 0 (0 turns L2 off)")
    need(cfg.early_stopping_patience >= 0, "early_stopping_patience", "must be >= 0")
    need(0 <= cfg.accuracy_threshold <= 1, "accuracy_threshold", "must be in [0, 1]")
    need(0 <= cfg.min_class_recall <= 1, "min_class_recall", "must be in [0, 1]")
    need(0 <= cfg.regression_tolerance <= 1, "regression_tolerance", "must be in [0, 1]")
    need(0 <= cfg.slice_regression_tolerance <= 1, "slice_regression_tolerance",
         "must be in [0, 1]")
    need(0 <= cfg.min_slice_accuracy <= 1, "min_slice_accuracy", "must be in [0, 1]")
    need(0 < cfg.max_calibration_error <= 1, "max_calibration_error",
         "must be in (0, 1] (1 turns the bound off)")
    for item in cfg.slice_features:
        parts = [p.strip() for p in str(item).split("*")]
        need(all(p in SLICEABLE_FEATURES for p in parts) and len(set(parts)) == len(parts),
             "slice_features", f"{item!r}: each entry is a feature or a cross 'a*b' of "
             f"distinct features among {', '.join(SLICEABLE_FEATURES)}")
    need(0 <= cfg.abstain_below <= 1, "abstain_below", "must be in [0, 1]")

