"""The training settings, with their defaults (the config's defaults come from here).

In a pipeline run the Trainer receives them in `custom_config`, except the two
that are per-run knobs of the Trainer component (components.trainer):
`train_steps` arrives as `fn_args.train_steps`, `learning_rate` in the
custom_config the knob writes.
"""
from __future__ import annotations

import dataclasses

TIE_MODES = ("depth", "channel", "none")
OPTIMIZERS = ("adam", "sgd", "minibatch-sgd")


@dataclasses.dataclass(frozen=True)
class HParams:
    image_size: int = 8
    width: int = 32
    tied_layers: int = 3
    tie_mode: str = "depth"
    optimizer: str = "adam"
    train_steps: int = 200
    batch_size: int = 64
    learning_rate: float = 1e-2
    beta_1: float = 0.9
    beta_2: float = 0.999
    momentum: float = 0.0
    lr_decay: bool = True
    l2: float = 1e-4
    early_stopping_patience: int = 0
    warm_start: bool = False
    freeze_filters: bool = False
    seed: int = 42
    # Not used in training: exported with the model as its default abstention
    # threshold (`tiedflow predict` abstains below it).
    abstain_below: float = 0.5

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_custom_config(cls, custom_config: dict, **overrides) -> "HParams":
        """The settings in `custom_config` (other keys ignored), then `overrides`."""
        names = set(cls.names())
        return cls(**{**{k: v for k, v in custom_config.items() if k in names}, **overrides})

    @classmethod
    def from_config(cls, config) -> "HParams":
        """Picks the training settings out of a PipelineConfig (defaults for the rest)."""
        return cls(**{k: getattr(config, k) for k in cls.names() if hasattr(config, k)})

    def to_custom_config(self, without=()) -> dict:
        """The settings as a JSON-able dict, leaving out those named in `without`."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in without}

    def replace(self, **changes) -> "HParams":
        return dataclasses.replace(self, **changes)
