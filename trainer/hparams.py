"""The training knobs the Trainer receives through `custom_config`."""
from __future__ import annotations

import dataclasses


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

    @classmethod
    def from_custom_config(cls, custom_config: dict) -> "HParams":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in custom_config.items() if k in names})

    @classmethod
    def from_config(cls, config) -> "HParams":
        """Picks the training knobs out of a PipelineConfig (defaults for the rest)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: getattr(config, k) for k in names if hasattr(config, k)})

    def to_custom_config(self) -> dict:
        return dataclasses.asdict(self)
