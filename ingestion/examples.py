"""One example in the pipeline's raw schema (see `names`): pixels, label and a slice feature."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

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
    """Mean pixel value on 0-1: how much of the image is ink (white on black).

    8-bit images are summed as integers: exact, so the same value as a float
    mean, and several times faster (it runs once per example)."""
    pixels = np.asarray(pixels)
    if pixels.dtype == np.uint8 and pixels.size:
        return int(pixels.sum(dtype=np.uint64)) / pixels.size / 255.0
    return float(np.asarray(pixels, dtype=np.float64).mean()) / 255.0


def ink_bucket(ink: float, edges: Sequence[float] = DIGITS_INK_EDGES) -> str:
    """The bucket of a mean ink (see ink_density)."""
    if ink < edges[0]:
        return INK_BUCKETS[0]
    if ink < edges[1]:
        return INK_BUCKETS[1]
    return INK_BUCKETS[2]


def ink_density(pixels: np.ndarray, edges: Sequence[float] = DIGITS_INK_EDGES) -> str:
    """Buckets an image by its mean ink: a slice feature for the evaluation.

    `edges` are the training split's tertiles (ingestion.transforms), so the
    three buckets hold about a third of the examples each on any data set."""
    return ink_bucket(mean_ink(pixels), edges)


def to_example(rec: Record, edges: Sequence[float] = DIGITS_INK_EDGES):
    """Serializes one record in the pipeline's raw schema (filled in place, the
    pixels as one list: it runs once per example)."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    feature = example.features.feature
    feature[RAW_IMAGE_KEY].int64_list.value.extend(np.asarray(rec.pixels).ravel().tolist())
    feature[LABEL_KEY].int64_list.value.append(int(rec.label))
    feature[INK_DENSITY_KEY].bytes_list.value.append(ink_density(rec.pixels, edges).encode())
    return example


def serialized_examples(
    pixels: np.ndarray, labels: Sequence[int], edges: Sequence[float] = DIGITS_INK_EDGES
) -> list[bytes]:
    """A batch of images of one shape (N x H x W [x C] uint8) as serialized tf.Examples,
    the same as to_example's, encoded by tfx_bsl (C++, what TFX's own components use):
    about a tenth of the cost of filling and serializing each proto in Python."""
    import pyarrow as pa
    from tfx_bsl.coders import example_coder

    count = len(pixels)
    flat = pixels.reshape(count, -1)
    sums = flat.sum(axis=1, dtype=np.uint64).astype(np.int64)
    ink = sums / flat.shape[1] / 255.0  # mean_ink, elementwise: the same values
    bucket = np.where(ink < edges[0], 0, np.where(ink < edges[1], 1, 2))
    names = np.array([b.encode() for b in INK_BUCKETS], dtype=object)[bucket]

    def lists(values: pa.Array, size: int) -> pa.Array:
        return pa.LargeListArray.from_arrays(
            pa.array(np.arange(0, count * size + 1, size), pa.int64()), values
        )

    batch = pa.RecordBatch.from_arrays(
        [
            lists(pa.array(flat.reshape(-1).astype(np.int64)), flat.shape[1]),
            lists(pa.array(np.asarray(labels, dtype=np.int64)), 1),
            lists(pa.array(names.tolist(), pa.large_binary()), 1),
        ],
        [RAW_IMAGE_KEY, LABEL_KEY, INK_DENSITY_KEY],
    )
    return example_coder.RecordBatchToExamplesEncoder().encode(batch)


def to_arrays(records) -> tuple[np.ndarray, np.ndarray]:
    """(flat images scaled to [0, 1], labels): what the model reads, without TFX."""
    records = list(records)
    return (
        np.stack([r.pixels.reshape(-1) for r in records]).astype(np.float32) / 255.0,
        np.array([r.label for r in records], dtype=np.int64),
    )
