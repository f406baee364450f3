"""One typed, validated object holding every knob of the pipeline.

The CLI, the runners and the compiled Kubeflow spec all derive from it; a bad
value is rejected with a message that names the knob. The knobs themselves
(type, default, range, help) are declared once, in names.knobs.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from typing import Any

from ingestion.errors import DataError
from ingestion.schema_file import REMOTE_MARK, read_schema
from ingestion.settings import IngestSettings
from names import SLICEABLE_FEATURES
from names.knobs import BY_NAME, KNOBS, ConfigError, default
from trainer.hparams import warm_start_source

ORCHESTRATORS = ("local", "beam")
DEFAULT_OUTPUT_DIR: str = default("output_dir")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Every knob of names.knobs with its declared default (the registry holds each
    knob"s help and range; a test keeps these fields and the registry equal).
    Paths are derived from `output_dir`."""

    pipeline_name: str = default("pipeline_name")
    data: str = default("data")
    output_dir: str = default("output_dir")
    image_size: int = default("image_size")
    channels: int = default("channels")
    classes: tuple[str, ...] = default("classes")
    image_feature: str = default("image_feature")
    label_feature: str = default("label_feature")
    pixel_encoding: str = default("pixel_encoding")
    pixel_range: str = default("pixel_range")
    image_shape: str = default("image_shape")
    max_pixels: int = default("max_pixels")
    eval_percent: int = default("eval_percent")
    schema: str = default("schema")
    seed: int = default("seed")
    tie_mode: str = default("tie_mode")
    width: int = default("width")
    tied_layers: int = default("tied_layers")
    optimizer: str = default("optimizer")
    train_steps: int = default("train_steps")
    batch_size: int = default("batch_size")
    learning_rate: float = default("learning_rate")
    beta_1: float = default("beta_1")
    beta_2: float = default("beta_2")
    momentum: float = default("momentum")
    clip_norm: float = default("clip_norm")
    lr_decay: bool = default("lr_decay")
    l2: float = default("l2")
    augment: bool = default("augment")
    early_stopping_patience: int = default("early_stopping_patience")
    warm_start: str = default("warm_start")
    freeze_filters: bool = default("freeze_filters")
    accuracy_threshold: float = default("accuracy_threshold")
    min_class_recall: float = default("min_class_recall")
    regression_tolerance: float = default("regression_tolerance")
    slice_regression_tolerance: float = default("slice_regression_tolerance")
    min_slice_accuracy: float = default("min_slice_accuracy")
    max_calibration_error: float = default("max_calibration_error")
    slice_features: tuple[str, ...] = default("slice_features")
    beam_args: tuple[str, ...] = default("beam_args")
    abstain_below: float = default("abstain_below")

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

    def replace(self, **changes: Any) -> PipelineConfig:
        return dataclasses.replace(self, **changes)

    def with_overrides(self, assignments: Iterable[str]) -> PipelineConfig:
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


def settable_keys() -> list[str]:
    return sorted(knob.name for knob in KNOBS if knob.settable and knob.in_config)


def parse_value(key: str, raw: str) -> Any:
    """Converts the text `raw` to the type of knob `key`."""
    knob = BY_NAME.get(key)
    if knob is None or not knob.settable or not knob.in_config:
        raise ConfigError(f"unknown setting {key!r}; known settings: {', '.join(settable_keys())}")
    return knob.parse(raw)


def _check(cfg: PipelineConfig) -> None:
    """Each knob's own type and range (names.knobs), then the rules across knobs."""
    for name in _FIELDS:
        object.__setattr__(cfg, name, BY_NAME[name].validate(getattr(cfg, name)))

    def need(cond: bool, name: str, what: str) -> None:
        if not cond:
            raise ConfigError(f"setting {name!r}: {what} (got {getattr(cfg, name)!r})")

    try:  # pixel_range and image_shape: parsed where ingestion reads them
        IngestSettings.from_config(cfg)
    except DataError as err:
        raise ConfigError(str(err)) from None
    if cfg.schema and REMOTE_MARK not in cfg.schema:  # a remote one is read by SchemaGen
        try:
            read_schema(cfg.schema)
        except DataError as err:
            raise ConfigError(f"setting 'schema': {err}") from None
    warm = warm_start_source(cfg.warm_start)
    need(
        warm is None or warm == "pushed" or "://" in warm or os.path.isdir(warm),
        "warm_start",
        "must be true, false, or a SavedModel or serving dir that exists",
    )
    need(
        warm is not None or not cfg.freeze_filters,
        "freeze_filters",
        "needs warm_start=true (frozen random filters learn nothing)",
    )
    for item in cfg.slice_features:
        parts = [p.strip() for p in str(item).split("*")]
        need(
            all(p in SLICEABLE_FEATURES for p in parts) and len(set(parts)) == len(parts),
            "slice_features",
            f"{item!r}: each entry is a feature or a cross 'a*b' of "
            f"distinct features among {', '.join(SLICEABLE_FEATURES)}",
        )


def knob_table() -> str:
    """The Markdown table of every knob `--set` takes (docs/knobs.md is this text)."""
    rows = [
        "| knob | type | default | range | Kubeflow run parameter | what it does |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for knob in KNOBS:
        if not knob.settable and not knob.run_parameter:
            continue
        shown = ",".join(knob.default) if knob.kind is tuple else knob.default
        rows.append(
            f"| `{knob.name}` | {knob.kind.__name__} | `{shown!s}` | "
            f"{knob.rule or 'any'} | {'yes' if knob.run_parameter else ''} | "
            f"{knob.help.replace('|', '/')} |"
        )
    return "\n".join(rows) + "\n"


def knob_page() -> str:
    """docs/knobs.md: written by `make docs-knobs`, checked by a test."""
    return (
        "# Knobs\n\nEvery knob, as `names/knobs.py` declares it (this page is generated "
        "from it by `make docs-knobs`; a test fails when the two differ). Locally: "
        "`tiedflow run --set KNOB=VALUE`; on Kubeflow the run parameters are set with "
        "`tiedflow submit --set KNOB=VALUE`, the others are fixed when compiling "
        "(`tiedflow compile --set KNOB=VALUE`).\n\n" + knob_table()
    )


if __name__ == "__main__":
    print(knob_page(), end="")
