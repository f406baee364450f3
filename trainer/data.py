"""tf.data input for training and evaluation: raw tf.Examples read through Transform's graph.

The Trainer reads the raw examples ImageExampleGen wrote and applies the graph
Transform wrote (`TFTransformOutput.transform_features_layer()`, the layer the
exported signatures apply), so training, evaluation and serving compute the
features one way. Nothing holds a split in memory: the first pass streams the
files, later ones read a cache file if given one (the Trainer gives one when
it reads a split many times; docs/model.md: measured against re-reading the
files and against examples materialized by Transform).
"""

from __future__ import annotations

from collections.abc import Iterable

import tensorflow as tf
import tensorflow_transform as tft

from names import IMAGE_KEY, LABEL_KEY, RAW_IMAGE_KEY

READ_BATCH = 256  # records parsed and transformed per call (one graph call per batch)


def expand(patterns: Iterable[str] | str) -> list[str]:
    if isinstance(patterns, str):
        patterns = [patterns]
    files = sorted(f for p in patterns for f in tf.io.gfile.glob(p))
    if not files:
        raise FileNotFoundError(f"no files match {list(patterns)}")
    return files


def make_dataset(
    file_patterns,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    repeat: bool = False,
    cache_file: str | None = None,
) -> tf.data.Dataset:
    """(features, label) batches from gzipped raw tf.Examples, through the Transform graph.

    `cache_file`: keep the transformed split in that file after the first pass
    (tf.data's file cache) instead of reading and transforming it again."""
    raw_spec = tf_transform_output.raw_feature_spec()
    wanted = {key: raw_spec[key] for key in (RAW_IMAGE_KEY, LABEL_KEY)}
    transform = tf_transform_output.transform_features_layer()

    # Not converted by autograph: nothing here branches on tensors, and
    # converting TFT's layer code cost 3.5 s per Trainer run.
    @tf.autograph.experimental.do_not_convert
    def features_and_label(serialized):
        transformed = transform(tf.io.parse_example(serialized, wanted))
        return {IMAGE_KEY: transformed[IMAGE_KEY]}, tf.reshape(transformed[LABEL_KEY], [-1])

    ds = tf.data.TFRecordDataset(expand(file_patterns), compression_type="GZIP")
    ds = ds.batch(READ_BATCH).map(features_and_label, num_parallel_calls=tf.data.AUTOTUNE)
    if cache_file:
        ds = ds.cache(cache_file)
    return batched(ds.unbatch(), batch_size, shuffle, seed, repeat)


def from_arrays(
    images, labels, batch_size: int, shuffle: bool = False, seed: int = 0, repeat: bool = False
) -> tf.data.Dataset:
    """The same batches from in-memory arrays (flat images), without TFX."""
    ds = tf.data.Dataset.from_tensor_slices(({IMAGE_KEY: images}, labels))
    return batched(ds, batch_size, shuffle, seed, repeat)


def batched(
    ds: tf.data.Dataset, batch_size: int, shuffle: bool, seed: int, repeat: bool
) -> tf.data.Dataset:
    if shuffle:
        ds = ds.shuffle(4096, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
