"""Transform: per-channel standardization from full-pass analyzers over the training
split, one graph that training, evaluation and serving all read through."""

import ast
import functools
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from names import IMAGE_KEY, LABEL_KEY, RAW_IMAGE_KEY
from trainer.preprocessing import CHANNELS_KEY, preprocessing_fn

TRAINER = pathlib.Path(__file__).resolve().parent.parent / "trainer"


def _raw_type_specs(values: int) -> dict:
    return {
        RAW_IMAGE_KEY: tf.TensorSpec([None, values], tf.int64),
        LABEL_KEY: tf.TensorSpec([None], tf.int64),
    }


def test_preprocessing_fn_needs_a_full_pass_over_the_pixels():
    """With an analyzer TFX's Transform runs its Beam pass (without one it only
    writes the graph, and statistics of the data never reach it)."""
    import tensorflow_transform as tft

    fn = functools.partial(preprocessing_fn, custom_config={CHANNELS_KEY: 3})
    assert tft.get_analyze_input_columns(
        fn, _raw_type_specs(12 * 10 * 3), force_tf_compat_v1=False
    ) == [RAW_IMAGE_KEY]


def test_preprocessing_fn_without_the_channels_names_the_setting():
    with pytest.raises(ValueError, match=CHANNELS_KEY):
        preprocessing_fn({RAW_IMAGE_KEY: tf.zeros([1, 64], tf.int64)}, custom_config={})


def _pixels(records) -> np.ndarray:
    return np.stack(
        [r.pixels.reshape(-1, r.pixels.shape[-1] if r.pixels.ndim == 3 else 1) for r in records]
    ).astype(np.float64)  # (N, H*W, C)


def test_graph_standardizes_each_channel_with_the_training_split_statistics(transform_run_rgb):
    """The component's graph holds each channel's mean and variance over the
    training split only (the eval split, brighter, would move them)."""
    import tensorflow_transform as tft

    from trainer import data

    train = _pixels(transform_run_rgb.splits["train"])
    mean, std = train.mean(axis=(0, 1)), train.std(axis=(0, 1))
    assert np.ptp(mean) > 50  # the channels really differ
    output = tft.TFTransformOutput(transform_run_rgb.graph)
    for split in ("train", "eval"):
        ((features, labels),) = data.make_dataset(
            f"{transform_run_rgb.examples}/Split-{split}/*", output, 1000
        ).take(1)
        records = transform_run_rgb.splits[split]
        expected = (_pixels(records) - mean) / std
        np.testing.assert_allclose(
            features[IMAGE_KEY].numpy(), expected.reshape(len(records), -1), rtol=0, atol=1e-4
        )
        np.testing.assert_array_equal(labels.numpy(), [r.label for r in records])
    standardized = ((train - mean) / std).reshape(-1, 3)
    np.testing.assert_allclose(standardized.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(standardized.std(axis=0), 1, atol=1e-9)


def test_no_trainer_code_calls_preprocessing_fn():
    """Training reads through Transform's graph: only the module that defines
    preprocessing_fn names it."""
    callers = []
    for path in sorted(TRAINER.glob("*.py")):
        if path.name == "preprocessing.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            named = (
                getattr(node, "id", None),
                getattr(node, "attr", None),
                *(
                    alias.name
                    for alias in getattr(node, "names", []) or []
                    if isinstance(alias, ast.alias)
                ),
            )
            if "preprocessing_fn" in named:
                callers.append(path.name)
    assert callers == []


def test_a_cached_split_reads_back_as_the_files_give_it(transform_run, tmp_path):
    """The cache file the Trainer uses for many epochs holds the same batches as
    the raw files read through the graph, in a second pass as in the first."""
    import tensorflow_transform as tft

    from trainer import data

    output = tft.TFTransformOutput(transform_run.graph)
    files = f"{transform_run.examples}/Split-eval/*"
    streamed = list(data.make_dataset(files, output, 100))
    cached = data.make_dataset(files, output, 100, cache_file=str(tmp_path / "eval"))
    for _ in range(2):  # the first pass writes the cache, the second reads it
        got = list(cached)
        assert len(got) == len(streamed)
        for (features, labels), (want_features, want_labels) in zip(got, streamed):
            np.testing.assert_array_equal(features[IMAGE_KEY], want_features[IMAGE_KEY])
            np.testing.assert_array_equal(labels, want_labels)
    assert list(tmp_path.glob("eval*"))  # the cache was written


@pytest.mark.parametrize(
    "n_train, image_shape, cached",
    [
        (1_438, (8, 8, 1), True),  # the embedded digits: 8+ epochs
        (144_000, (28, 28, 1), True),  # 180k examples: 8 epochs
        (1_440_000, (28, 28, 1), False),  # 1.8M: the budget is less than one epoch
    ],
)
def test_the_trainer_caches_its_input_only_when_it_reads_a_split_many_times(
    n_train, image_shape, cached
):
    import math

    from trainer import task, training

    batch = 64
    steps = training.auto_steps(n_train, image_shape, batch)
    assert task.caches_input(steps, math.ceil(n_train / batch)) is cached
