"""tf.data input for training and evaluation, readable without TFX."""
from __future__ import annotations

from typing import Iterable

import tensorflow as tf

from names import IMAGE_KEY, LABEL_KEY
from trainer.preprocessing import preprocessing_fn


def expand(patterns: Iterable[str] | str) -> list[str]:
    if isinstance(patterns, str):
        patterns = [patterns]
    files = sorted(f for p in patterns for f in tf.io.gfile.glob(p))
    if not files:
        raise FileNotFoundError(f"no files match {list(patterns)}")
    return files


def make_dataset(file_patterns, raw_feature_spec: dict, batch_size: int,
                 shuffle: bool = False, seed: int = 0, repeat: bool = False) -> tf.data.Dataset:
    """(features, label) batches from gzipped raw tf.Examples, preprocessed here.

    Transform writes only its graph (no transformed examples: see pipeline.dag).
    `preprocessing_fn` has no analyzer, so calling it on the parsed examples
    computes what that graph computes (to within one float32 step; the export
    applies the graph itself, and a test checks the two agree), without loading
    the graph here (about 3 s).
    """
    files = expand(file_patterns)
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(256)
    ds = ds.map(lambda raw: preprocessing_fn(tf.io.parse_example(raw, raw_feature_spec)))
    ds = ds.map(lambda f: ({IMAGE_KEY: f[IMAGE_KEY]}, tf.reshape(f[LABEL_KEY], [-1])))
    return batched(ds.unbatch().cache(), batch_size, shuffle, seed, repeat)


def from_arrays(images, labels, batch_size: int, shuffle: bool = False, seed: int = 0,
                repeat: bool = False) -> tf.data.Dataset:
    """The same batches from in-memory arrays (scaled images, flat), without TFX."""
    ds = tf.data.Dataset.from_tensor_slices(({IMAGE_KEY: images}, labels))
    return batched(ds, batch_size, shuffle, seed, repeat)


def batched(ds: tf.data.Dataset, batch_size: int, shuffle: bool, seed: int,
            repeat: bool) -> tf.data.Dataset:
    if shuffle:
        ds = ds.shuffle(4096, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def count_examples(file_patterns) -> int:
    files = expand(file_patterns)
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))
