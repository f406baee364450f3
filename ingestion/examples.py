"""One record in the pipeline's raw schema (see `names`): pixels, label and a slice feature."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from names import INK_DENSITY_KEY, LABEL_KEY, RAW_IMAGE_KEY

INK_BUCKETS = ("light", "medium", "heavy")
# Mean ink (0-1) separating the buckets; chosen on the digits so that each
# bucket holds roughly a third of the examples.
INK_EDGES = (0.27, 0.33)


class Record(NamedTuple):
    pixels: np.ndarray  # uint8, shape (size, size)
    label: int
    key: str  # stable identifier, used for the deterministic split


def ink_density(pixels: np.ndarray) -> str:
    """Buckets an image by its mean ink: a slice feature for the evaluation."""
    mean = float(np.asarray(pixels, dtype=np.float64).mean()) / 255.0
    if mean < INK_EDGES[0]:
        return INK_BUCKETS[0]
    if mean < INK_EDGES[1]:
        return INK_BUCKETS[1]
    return INK_BUCKETS[2]


def to_example(rec: Record):
    """Serializes one record in the pipeline's raw schema."""
    import tensorflow as tf

    flat = rec.pixels.reshape(-1).astype(np.int64)
    feature = {
        RAW_IMAGE_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=flat)),
        LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[rec.label])),
        INK_DENSITY_KEY: tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[ink_density(rec.pixels).encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


def to_arrays(records) -> tuple[np.ndarray, np.ndarray]:
    """(flat images scaled to [0, 1], labels): what the model reads, without TFX."""
    records = list(records)
    return (np.stack([r.pixels.reshape(-1) for r in records]).astype(np.float32) / 255.0,
            np.array([r.label for r in records], dtype=np.int64))
