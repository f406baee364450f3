"""What ingestion needs to know, as one picklable value that travels to Beam's workers."""

from __future__ import annotations

import dataclasses
import math

from ingestion.errors import DataError
from names.knobs import BY_NAME, ConfigError, default

DEFAULT_RANGES = {"int": (0.0, 255.0), "float": (0.0, 1.0)}


@dataclasses.dataclass(frozen=True)
class IngestSettings:
    data: str = default("data")
    image_size: int = default("image_size")
    channels: int = default("channels")
    classes: tuple[str, ...] = ()  # class ids or names in order; empty: from the data
    image_feature: str = default("image_feature")
    label_feature: str = default("label_feature")
    pixel_encoding: str = default("pixel_encoding")
    pixel_range: str = default("pixel_range")
    image_shape: str = default("image_shape")
    eval_percent: int = default("eval_percent")
    seed: int = default("seed")
    max_pixels: int = default("max_pixels")

    def __post_init__(self):
        # Each setting's own range, as names.knobs declares it (on Kubeflow the
        # values come from run parameters that no PipelineConfig has checked).
        for field in dataclasses.fields(self):
            try:
                BY_NAME[field.name].validate(getattr(self, field.name))
            except ConfigError as err:
                raise DataError(str(err)) from None
        self.value_range()
        self.shape()

    def value_range(self) -> tuple[float, float]:
        """(lo, hi) of numeric pixels in the TFRecords."""
        if not self.pixel_range:
            return DEFAULT_RANGES.get(self.pixel_encoding, (0.0, 255.0))
        try:
            lo, hi = (float(v) for v in self.pixel_range.split(","))
        except ValueError:
            raise DataError(
                f"setting 'pixel_range': {self.pixel_range!r} is not 'lo,hi' (e.g. 0,1 or -0.5,0.5)"
            ) from None
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise DataError(
                f"setting 'pixel_range': {self.pixel_range!r}: lo and hi must be finite numbers"
            )
        if not lo < hi:
            raise DataError(f"setting 'pixel_range': {self.pixel_range!r}: lo must be below hi")
        return lo, hi

    def shape(self) -> tuple[int, int, int] | None:
        """(H, W, C) of flat pixel lists, or None (square, one channel)."""
        if not self.image_shape:
            return None
        try:
            dims = [int(v) for v in self.image_shape.split(",")]
        except ValueError:
            dims = []
        if len(dims) not in (2, 3) or min(dims) <= 0 or (len(dims) == 3 and dims[2] not in (1, 3)):
            raise DataError(
                f"setting 'image_shape': {self.image_shape!r} is not 'H,W' or 'H,W,C' with C 1 or 3"
            )
        return (dims[0], dims[1], dims[2] if len(dims) == 3 else 1)

    @classmethod
    def from_config(cls, config) -> IngestSettings:
        """Picks the ingestion settings out of any object that has them (PipelineConfig)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: getattr(config, k) for k in names if hasattr(config, k)})
