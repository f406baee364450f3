"""What ingestion needs to know, as one picklable value that travels to Beam's workers."""
from __future__ import annotations

import dataclasses
import math
from typing import Optional

from ingestion.errors import DataError

PIXEL_ENCODINGS = ("int", "float", "bytes", "encoded")
DEFAULT_RANGES = {"int": (0.0, 255.0), "float": (0.0, 1.0)}
MAX_SEED = 2**32 - 1  # what NumPy's and TensorFlow's seeds take
MAX_PIXELS_LIMIT = 2**30  # a 1-gigapixel image: gigabytes once decoded


@dataclasses.dataclass(frozen=True)
class IngestSettings:
    data: str = "digits"
    image_size: int = 0  # 0: the data's own size
    channels: int = 0  # 0: the data's own (3 when most images are colour)
    classes: tuple = ()  # class ids or names in order; empty: from the data
    image_feature: str = "pixels"
    label_feature: str = "label"
    pixel_encoding: str = "int"
    pixel_range: str = ""  # "lo,hi"; empty: by encoding
    image_shape: str = ""  # "H,W" or "H,W,C"
    eval_percent: int = 20
    seed: int = 42
    max_pixels: int = 4096 * 4096  # a larger image is refused by name

    def __post_init__(self):
        if not 1 <= self.max_pixels <= MAX_PIXELS_LIMIT:
            raise DataError(f"setting 'max_pixels': must be between 1 and {MAX_PIXELS_LIMIT} "
                            f"(got {self.max_pixels!r})")
        if not 0 <= self.seed <= MAX_SEED:
            raise DataError(f"setting 'seed': must be between 0 and {MAX_SEED} "
                            f"(got {self.seed!r})")
        if self.pixel_encoding not in PIXEL_ENCODINGS:
            raise DataError(f"setting 'pixel_encoding': {self.pixel_encoding!r} is not one of "
                            f"{', '.join(PIXEL_ENCODINGS)}")
        self.value_range()
        self.shape()

    def value_range(self) -> tuple[float, float]:
        """(lo, hi) of numeric pixels in the TFRecords."""
        if not self.pixel_range:
            return DEFAULT_RANGES.get(self.pixel_encoding, (0.0, 255.0))
        try:
            lo, hi = (float(v) for v in self.pixel_range.split(","))
        except ValueError:
            raise DataError(f"setting 'pixel_range': {self.pixel_range!r} is not 'lo,hi' "
                            "(e.g. 0,1 or -0.5,0.5)") from None
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise DataError(f"setting 'pixel_range': {self.pixel_range!r}: lo and hi must be "
                            "finite numbers")
        if not lo < hi:
            raise DataError(f"setting 'pixel_range': {self.pixel_range!r}: lo must be below hi")
        return lo, hi

    def shape(self) -> Optional[tuple[int, int, int]]:
        """(H, W, C) of flat pixel lists, or None (square, one channel)."""
        if not self.image_shape:
            return None
        try:
            dims = [int(v) for v in self.image_shape.split(",")]
        except ValueError:
            dims = []
        if len(dims) not in (2, 3) or min(dims) <= 0 or (len(dims) == 3 and dims[2] not in (1, 3)):
            raise DataError(f"setting 'image_shape': {self.image_shape!r} is not 'H,W' or "
                            "'H,W,C' with C 1 or 3")
        return (dims[0], dims[1], dims[2] if len(dims) == 3 else 1)

    @classmethod
    def from_config(cls, config) -> "IngestSettings":
        """Picks the ingestion settings out of any object that has them (PipelineConfig)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: getattr(config, k) for k in names if hasattr(config, k)})
