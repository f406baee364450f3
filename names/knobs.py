"""Every knob of the pipeline, declared once: name, type, default, range, help, where it goes.

The config's fields and checks (pipeline.config), `--set` parsing, the knobs
the components declare in their specs (components.knobs), the Kubeflow run
parameters (pipeline.kubeflow.parameters), `tiedflow submit --help` and the
docs' knob table (docs/knobs.md) are all derived from `KNOBS`. Adding a knob
means adding one `Knob(...)` here and the code that uses its value.

A knob's own range is checked here; rules that need another knob or the
file system (a schema file that must parse, a warm-start folder that must
exist) live in pipeline.config.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from names.component_ids import (
    EVALUATOR,
    IMAGE_EXAMPLE_GEN,
    LATEST_PUSHED_MODEL,
    PUSHER,
    SCHEMA_GEN,
    TRAINER,
    WARM_START_MODEL,
)


class ConfigError(ValueError):
    """A knob has an unknown name or a bad value, or is missing; the message names it."""


Check = Callable[[Any], bool]


@dataclasses.dataclass(frozen=True)
class Knob:
    """One knob. `kind` is bool, int, float, str or tuple (of strings, "a,b" on the
    command line); `check` is its own range, `rule` says it in words.

    `receivers`: the components that take it as an execution property of their
    own (so a Kubeflow run parameter can replace it); `run_parameter`: a
    parameter of the compiled Kubeflow pipeline; `settable`: `--set` may change
    it; `in_config`: a field of PipelineConfig (serving_dir is derived from
    the output dir locally and a run parameter on Kubeflow)."""

    name: str
    kind: type
    default: Any
    help: str
    check: Check | None = None
    rule: str = ""
    receivers: tuple[str, ...] = ()
    run_parameter: bool = False
    settable: bool = True
    in_config: bool = True

    @property
    def property_type(self) -> type:
        """The type of the knob as an execution property or run parameter (a tuple
        travels as comma-separated text)."""
        return str if self.kind is tuple else self.kind

    def parse(self, raw: str) -> Any:
        """The value of the text `raw` (the command line's --set, a run parameter)."""
        try:
            if self.kind is bool:
                lowered = raw.strip().lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError(raw)
            if self.kind is tuple:
                return tuple(part.strip() for part in raw.split(",") if part.strip())
            return self.kind(raw.strip() if self.kind is not str else raw)
        except ValueError:
            raise ConfigError(
                f"setting {self.name!r}: {raw!r} is not a valid {self.kind.__name__}"
            ) from None

    def validate(self, value: Any) -> Any:
        """`value` as the knob's type (an int for a float knob becomes a float), or
        ConfigError naming the knob: the wrong type, not finite, out of range."""
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.kind) or (self.kind is int and isinstance(value, bool)):
            raise ConfigError(
                f"setting {self.name!r}: expected {self.kind.__name__}, got {value!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"setting {self.name!r}: must be a finite number (got {value!r})")
        if self.check is not None and not self.check(value):
            raise ConfigError(f"setting {self.name!r}: {self.rule} (got {value!r})")
        return value


def between(lo: float, hi: float, *, open_low: bool = False, open_high: bool = False) -> Check:
    def check(value: Any) -> bool:
        return (lo < value if open_low else lo <= value) and (
            value < hi if open_high else value <= hi
        )

    return check


def one_of(*choices: Any) -> Check:
    return lambda value: value in choices


def non_empty(value: Any) -> bool:
    return bool(value)


TIE_MODES = ("depth", "channel", "none")
OPTIMIZERS = ("adam", "sgd", "minibatch-sgd")
PIXEL_ENCODINGS = ("int", "float", "bytes", "encoded")
MAX_SEED = 2**32 - 1  # what NumPy's and TensorFlow's seeds take
MAX_PIXELS_LIMIT = 2**30  # a 1-gigapixel image: gigabytes once decoded
_UNIT = "must be in [0, 1]"
_EXAMPLE_GEN = (IMAGE_EXAMPLE_GEN,)

KNOBS: tuple[Knob, ...] = (
    Knob(
        "pipeline_name",
        str,
        "tiedflow",
        "the TFX pipeline's name (ML Metadata context)",
        lambda v: bool(v) and v.replace("-", "").isalnum(),
        "letters, digits and dashes only",
    ),
    # Data, and how to read it: execution properties of ImageExampleGen, so the
    # same compiled spec serves any data set.
    Knob(
        "data",
        str,
        "digits",
        "'digits' (embedded), an image folder DIR/<label>/*.png, "
        "or TFRecord file(s)/glob (gs:// on Kubeflow)",
        non_empty,
        "must not be empty",
        _EXAMPLE_GEN,
        run_parameter=True,
    ),
    Knob(
        "output_dir",
        str,
        "tiedflow_output",
        "where a local run keeps everything (--output-dir)",
        non_empty,
        "must not be empty",
        settable=False,
    ),
    Knob(
        "serving_dir",
        str,
        "",
        "push destination, also where the baseline model is looked "
        "up (locally <output-dir>/serving)",
        receivers=(PUSHER, LATEST_PUSHED_MODEL, WARM_START_MODEL),
        run_parameter=True,
        settable=False,
        in_config=False,
    ),
    Knob(
        "image_size",
        int,
        0,
        "0: the data's own size; else every image is resized to it",
        lambda v: v == 0 or 4 <= v <= 256,
        "must be 0 (the data's own) or between 4 and 256",
        _EXAMPLE_GEN,
        run_parameter=True,
    ),
    Knob(
        "channels",
        int,
        0,
        "0: the data's own (3 when most images are colour); or 1 or 3",
        one_of(0, 1, 3),
        "must be 0 (the data's own), 1 or 3",
        _EXAMPLE_GEN,
        run_parameter=True,
    ),
    Knob(
        "classes",
        tuple,
        (),
        "the classes in id order, comma-separated; empty: from the data",
        lambda v: len(set(v)) == len(v),
        "must not repeat a class",
        _EXAMPLE_GEN,
        run_parameter=True,
    ),
    Knob(
        "image_feature",
        str,
        "pixels",
        "TFRecords: the feature that holds the image",
        non_empty,
        "must not be empty",
        _EXAMPLE_GEN,
        run_parameter=True,
    ),
    Knob(
        "label_feature",
        str,
        "label",
        "TFRecords: the feature that holds the label (id or name)",
        non_empty,
        "must not be empty",
        _EXAMPLE_GEN,
        run_parameter=True,
    ),
    Knob(
        "pixel_encoding",
        str,
        "int",
        "TFRecords: int, float, bytes (raw uint8) or encoded (PNG/JPEG)",
        one_of(*PIXEL_ENCODINGS),
        f"must be one of {', '.join(PIXEL_ENCODINGS)}",
        _EXAMPLE_GEN,
        run_parameter=True,
    ),
    Knob(
        "pixel_range",
        str,
        "",
        "TFRecords: lo,hi of numeric pixels; empty: 0,255 (int) or 0,1 (float)",
        receivers=_EXAMPLE_GEN,
        run_parameter=True,
    ),
    Knob(
        "image_shape",
        str,
        "",
        "TFRecords: H,W or H,W,C of flat pixels; empty: square, one channel",
        receivers=_EXAMPLE_GEN,
        run_parameter=True,
    ),
    Knob(
        "max_pixels",
        int,
        4096 * 4096,
        "a larger image (width x height, read from its header) is refused by name",
        between(1, MAX_PIXELS_LIMIT),
        f"must be between 1 and {MAX_PIXELS_LIMIT}",
        _EXAMPLE_GEN,
        run_parameter=True,
    ),
    Knob(
        "eval_percent",
        int,
        20,
        "percent of the examples held out for evaluation",
        between(1, 90),
        "must be between 1 and 90",
        _EXAMPLE_GEN,
    ),
    Knob(
        "schema",
        str,
        "",
        "a curated TFDV schema (text format) the data must match; empty: "
        "inferred from the data's statistics",
        receivers=(SCHEMA_GEN,),
        run_parameter=True,
    ),
    Knob(
        "seed",
        int,
        42,
        "the seed of the split, the initial weights and augmentation",
        between(0, MAX_SEED),
        f"must be between 0 and {MAX_SEED}",
        _EXAMPLE_GEN,
    ),
    # The model.
    Knob(
        "tie_mode",
        str,
        "depth",
        "depth: one filter bank shared across the tied layers; "
        "channel: one filter over every input channel; none: an untied twin",
        one_of(*TIE_MODES),
        f"must be one of {', '.join(TIE_MODES)}",
    ),
    Knob("width", int, 32, "filters per convolution", between(1, 512), "must be between 1 and 512"),
    Knob(
        "tied_layers",
        int,
        3,
        "convolutions that share one filter bank",
        between(1, 16),
        "must be between 1 and 16",
    ),
    # Training.
    Knob(
        "optimizer",
        str,
        "adam",
        "adam, sgd (full batch) or minibatch-sgd",
        one_of(*OPTIMIZERS),
        f"must be one of {', '.join(OPTIMIZERS)}",
    ),
    Knob(
        "train_steps",
        int,
        0,
        "training steps; 0: chosen from the image size and example count",
        lambda v: v >= 0,
        "must be 0 (chosen from the image size and example count) or more",
        (TRAINER,),
        run_parameter=True,
    ),
    Knob(
        "batch_size", int, 64, "examples per step", between(1, 65536), "must be between 1 and 65536"
    ),
    Knob(
        "learning_rate",
        float,
        1e-2,
        "the optimizer's learning rate",
        between(0, 10, open_low=True),
        "must be in (0, 10]",
        (TRAINER,),
        run_parameter=True,
    ),
    Knob("beta_1", float, 0.9, "Adam's beta_1", between(0, 1, open_high=True), "must be in [0, 1)"),
    Knob(
        "beta_2", float, 0.999, "Adam's beta_2", between(0, 1, open_high=True), "must be in [0, 1)"
    ),
    Knob(
        "momentum",
        float,
        0.0,
        "sgd and minibatch-sgd only",
        between(0, 1, open_high=True),
        "must be in [0, 1)",
    ),
    Knob(
        "clip_norm",
        float,
        0.0,
        "gradients are scaled down to this global norm before each "
        "update (every optimizer); 0: off",
        lambda v: v >= 0,
        "must be >= 0 (0 turns it off)",
    ),
    Knob("lr_decay", bool, True, "cosine decay of the learning rate over the steps"),
    Knob(
        "l2",
        float,
        5e-4,
        "L2 regularization of the weights; 0 turns it off",
        lambda v: v >= 0,
        "must be >= 0 (0 turns L2 off)",
    ),
    Knob("augment", bool, True, "shifts, rotations, zoom and resampling blur (training only)"),
    Knob(
        "early_stopping_patience",
        int,
        0,
        "epochs without a better eval loss before stopping; 0: off",
        lambda v: v >= 0,
        "must be >= 0",
    ),
    Knob(
        "warm_start",
        str,
        "",
        "''/false: off; true: the newest model pushed in this output "
        "dir; else a SavedModel dir or a serving dir of version folders",
    ),
    Knob("freeze_filters", bool, False, "with warm_start: keep the shared filters fixed"),
    # Evaluation and blessing.
    Knob(
        "accuracy_threshold",
        float,
        0.9,
        "lower bound on overall eval accuracy for blessing",
        between(0, 1),
        _UNIT,
        (EVALUATOR,),
        run_parameter=True,
    ),
    Knob(
        "min_class_recall", float, 0.0, "lower bound on every class's recall", between(0, 1), _UNIT
    ),
    Knob(
        "regression_tolerance",
        float,
        0.01,
        "how much overall accuracy may drop against the baseline",
        between(0, 1),
        _UNIT,
    ),
    Knob(
        "slice_regression_tolerance",
        float,
        0.05,
        "how much a slice's accuracy may drop against the baseline",
        between(0, 1),
        _UNIT,
    ),
    Knob(
        "min_slice_accuracy",
        float,
        0.0,
        "lower bound on every slice's accuracy",
        between(0, 1),
        _UNIT,
    ),
    Knob(
        "max_calibration_error",
        float,
        1.0,
        "upper bound on the expected calibration error; 1 turns the bound off",
        between(0, 1, open_low=True),
        "must be in (0, 1] (1 turns the bound off)",
    ),
    Knob("slice_features", tuple, (), "extra evaluation slices: a feature or a cross 'a*b'"),
    Knob(
        "beam_args",
        tuple,
        (),
        "extra flags for the Beam-powered components (--beam-arg)",
        settable=False,
    ),
    Knob(
        "abstain_below",
        float,
        0.5,
        "exported with the model: `tiedflow predict` abstains below this probability",
        between(0, 1),
        _UNIT,
    ),
)

BY_NAME: dict[str, Knob] = {knob.name: knob for knob in KNOBS}


def default(name: str) -> Any:
    """The declared default of knob `name` (the config, HParams and IngestSettings use it)."""
    return BY_NAME[name].default


def received_by(component_id: str) -> tuple[Knob, ...]:
    """The knobs component `component_id` takes as execution properties of its own."""
    return tuple(knob for knob in KNOBS if component_id in knob.receivers)


def run_parameters() -> tuple[Knob, ...]:
    """The knobs that are parameters of the compiled Kubeflow pipeline, in order."""
    return tuple(knob for knob in KNOBS if knob.run_parameter)
