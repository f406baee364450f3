"""The training settings as the Trainer receives them (defaults: names.knobs).

In a pipeline run the Trainer receives them in `custom_config`, except the two
that are per-run knobs of the Trainer component (components.trainer):
`train_steps` arrives as `fn_args.train_steps`, `learning_rate` in the
custom_config the knob writes. What comes from the data (DATA_SETTINGS: image
shape, class names, number of training examples) is not configured: the
Trainer's executor reads it from the Examples artifact at run time and adds it
to custom_config.
"""

from __future__ import annotations

import dataclasses

from names.knobs import OPTIMIZERS, TIE_MODES, default

__all__ = ["OPTIMIZERS", "TIE_MODES", "HParams", "warm_start_source"]


# Filled in from the Examples artifact by the Trainer's executor, never by the config.
DATA_SETTINGS = ("image_height", "image_width", "image_channels", "class_names", "train_examples")
# `warm_start` values that mean off and "the newest model pushed in this output dir".
WARM_START_OFF = ("", "false", "no", "off", "0")
WARM_START_PUSHED = ("true", "yes", "on", "1")


def warm_start_source(value) -> str | None:
    """None (off), "pushed" (the newest model pushed in this output dir) or a path."""
    if isinstance(value, bool):
        return "pushed" if value else None
    text = str(value).strip()
    if text.lower() in WARM_START_OFF:
        return None
    if text.lower() in WARM_START_PUSHED:
        return "pushed"
    return text


@dataclasses.dataclass(frozen=True)
class HParams:
    # From the data (DATA_SETTINGS): the raw image's shape, the class names and
    # the size of the training split.
    image_height: int = 8
    image_width: int = 8
    image_channels: int = 1
    class_names: tuple = ()
    train_examples: int = 0  # in the training split, as ImageExampleGen counted them
    width: int = default("width")
    tied_layers: int = default("tied_layers")
    tie_mode: str = default("tie_mode")
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
    warm_start: bool = False
    freeze_filters: bool = default("freeze_filters")
    seed: int = default("seed")
    # Not used in training: exported with the model as its default abstention
    # threshold (`tiedflow predict` abstains below it).
    abstain_below: float = default("abstain_below")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.image_height, self.image_width, self.image_channels)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_custom_config(cls, custom_config: dict, **overrides) -> HParams:
        """The settings in `custom_config` (other keys ignored), then `overrides`."""
        names = set(cls.names())
        values = {**{k: v for k, v in custom_config.items() if k in names}, **overrides}
        if "class_names" in values:  # a JSON list
            values["class_names"] = tuple(str(n) for n in values["class_names"])
        if "warm_start" in values:
            values["warm_start"] = warm_start_source(values["warm_start"]) is not None
        return cls(**values)

    @classmethod
    def from_config(cls, config) -> HParams:
        """Picks the training settings out of a PipelineConfig (defaults for the rest)."""
        values = {
            k: getattr(config, k)
            for k in cls.names()
            if hasattr(config, k) and k not in DATA_SETTINGS
        }
        if "warm_start" in values:
            values["warm_start"] = warm_start_source(values["warm_start"]) is not None
        return cls(**values)

    def to_custom_config(self, without=()) -> dict:
        """The settings as a JSON-able dict, leaving out those named in `without`."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in without}

    def replace(self, **changes) -> HParams:
        return dataclasses.replace(self, **changes)
