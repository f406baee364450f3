"""One example in the pipeline's raw schema (see `names`): pixels, label and a slice feature."""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from names import INK_DENSITY_KEY, LABEL_KEY, RAW_IMAGE_KEY

INK_BUCKETS = ("light", "medium", "heavy")
# The embedded digits' tertiles of mean ink (0-1): the edges for data whose
# training split gives none (tests that make single examples).
DIGITS_INK_EDGES = (0.27, 0.33)


class Record(NamedTuple):
    pixels: np.ndarray  # uint8, (H, W) or (H, W, C)
    label: int
    key: str  # stable identifier, used for the deterministic split


def mean_ink(pixels: np.ndarray) -> float:
    """Mean pixel value on 0-1: how much of the image is ink (white on black)."""
    return float(np.asarray(pixels, dtype=np.float64).mean()) / 255.0


def ink_density(pixels: np.ndarray, edges: Sequence[float] = DIGITS_INK_EDGES) -> str:
    """Buckets an image by its mean ink: a slice feature for the evaluation.

    `edges` are the training split's tertiles (ingestion.transforms), so the
    three buckets hold about a third of the examples each on any data set."""
    mean = mean_ink(pixels)
    if mean < edges[0]:
        return INK_BUCKETS[0]
    if mean < edges[1]:
        return INK_BUCKETS[1]
    return INK_BUCKETS[2]


def to_example(rec: Record, edges: Sequence[float] = DIGITS_INK_EDGES):
    """Serializes one record in the pipeline's raw schema."""
    import tensorflow as tf

    flat = np.asarray(rec.pixels).reshape(-1).astype(np.int64)
    feature = {
        RAW_IMAGE_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=flat)),
        LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[rec.label])),
        INK_DENSITY_KEY: tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[ink_density(rec.pixels, edges).encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


def to_arrays(records) -> tuple[np.ndarray, np.ndarray]:
    """(flat images scaled to [0, 1], labels): what the model reads, without TFX."""
    records = list(records)
    return (np.stack([r.pixels.reshape(-1) for r in records]).astype(np.float32) / 255.0,
            np.array([r.label for r in records], dtype=np.int64))
