"""The model follows the data: any height, width, channels and class count;
pooling by image size; augmentation only in training; channel tying on colour."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from trainer import augmentation, training
from trainer import model as model_lib
from trainer.hparams import HParams


@pytest.mark.parametrize(
    "shape, classes", [((8, 8, 1), 10), ((28, 28, 1), 3), ((12, 10, 3), 11), ((32, 32, 3), 2)]
)
@pytest.mark.parametrize("tie_mode", ["depth", "channel", "none"])
def test_any_shape_and_class_count(shape, classes, tie_mode):
    model = model_lib.build_model(shape, 8, 3, tie_mode, num_classes=classes)
    x = np.random.default_rng(0).random((4, int(np.prod(shape))), dtype=np.float32)
    assert model(x, training=False).shape == (4, classes)
    assert model.image_shape == shape and model.num_classes == classes


def test_from_hparams_uses_the_data_settings():
    hp = HParams(image_height=28, image_width=20, image_channels=3, class_names=("a", "b", "c"))
    model = model_lib.from_hparams(hp)
    assert model.image_shape == (28, 20, 3) and model.num_classes == 3
    assert model.input_shape == (None, 28 * 20 * 3)


@pytest.mark.parametrize(
    "side, plan",
    [
        (8, (0, True)),
        (4, (0, False)),
        (16, (1, True)),
        (28, (1, True)),
        (32, (2, True)),
        (64, (3, True)),
    ],
)
def test_pooling_follows_the_image_size(side, plan):
    assert model_lib.pool_plan((side, side, 1)) == plan
    model = model_lib.build_model(side, 8, 3, "depth", num_classes=2)
    # the last conv layers see 4-7 pixels a side whatever the input size
    bn = model.get_layer("bn_2")
    assert 2 <= bn.output.shape[1] <= 8


def test_channel_tying_applies_one_2d_filter_to_every_input_channel_in_the_stem():
    model = model_lib.build_model((8, 8, 3), 8, 3, "channel", num_classes=10)
    stem = model.get_layer("stem_conv")
    assert isinstance(stem, model_lib.ChannelTiedConv2D)
    assert tuple(stem.kernel.shape) == (3, 3, 1, 8)  # one 3x3 filter per output channel
    # the same image in every channel equals three times one channel through the same filter
    gray = np.random.default_rng(1).random((2, 8, 8, 1), dtype=np.float32)
    colour = np.repeat(gray, 3, axis=-1)
    np.testing.assert_allclose(stem(colour).numpy(), 3 * stem(gray).numpy(), rtol=1e-5, atol=1e-5)
    # and permuting the channels changes nothing: the filter is shared across them
    rgb = np.random.default_rng(2).random((2, 8, 8, 3), dtype=np.float32)
    np.testing.assert_allclose(
        stem(rgb).numpy(), stem(rgb[..., ::-1]).numpy(), rtol=1e-5, atol=1e-5
    )
    # grayscale keeps the plain stem (and the parameter counts of tests/test_tying.py)
    plain = model_lib.build_model((8, 8, 1), 8, 3, "channel", num_classes=10)
    assert type(plain.get_layer("stem_conv")) is keras.layers.Conv2D
    assert model_lib.conv_parameter_count(model) == model_lib.conv_parameter_count(plain)


def test_augmentation_runs_only_in_training():
    model = model_lib.build_model(16, 8, 3, "depth", num_classes=3, augment=True)
    x = np.random.default_rng(0).random((8, 256), dtype=np.float32)
    np.testing.assert_array_equal(
        model(x, training=False).numpy(), model(x, training=False).numpy()
    )
    layer = model.get_layer("augment")
    images = x.reshape(8, 16, 16, 1)
    np.testing.assert_array_equal(layer(images, training=False), images)
    moved = np.asarray(layer(images, training=True))
    assert moved.shape == images.shape and not np.allclose(moved, images)
    # without augmentation the model has no such layer
    assert "augment" not in [l.name for l in model_lib.build_model(16, 8, 3, num_classes=3).layers]


def test_augmentation_moves_a_digit_a_little_and_keeps_its_ink():
    image = np.zeros((64, 28, 28, 1), np.float32)
    image[:, 8:20, 12:16, 0] = 1.0  # a bar in the middle
    import keras as k

    seed = k.random.SeedGenerator(3)
    moved = np.asarray(augmentation.affine(image, seed))
    ink_before, ink_after = image.sum(axis=(1, 2, 3)), moved.sum(axis=(1, 2, 3))
    assert np.all(np.abs(ink_after / ink_before - 1) < 0.35)  # zoom within +-10% a side
    blurred = np.asarray(augmentation.resample_blur(image, seed))
    changed = [not np.allclose(b, a) for a, b in zip(image, blurred)]
    assert 0 < sum(changed) < len(changed)  # a share of the batch only


@pytest.mark.parametrize(
    "n_train, shape, expected_epochs",
    [(1437, (8, 8, 1), (8, 12)), (800, (28, 28, 1), (70, 80)), (100000, (8, 8, 1), (8, 8))],
)
def test_automatic_budget_follows_size_and_example_count(n_train, shape, expected_epochs):
    epochs = training.auto_epochs(n_train, shape)
    assert expected_epochs[0] <= epochs <= expected_epochs[1]
    steps = training.auto_steps(n_train, shape, 64)
    assert steps == min(training.AUTO_MAX_STEPS, epochs * int(np.ceil(n_train / 64)))


def test_a_model_saved_before_image_shape_loads():
    """Pushed models from before colour carry `image_size` in their config."""
    old = model_lib.TiedCNN.from_config(
        {
            "name": "old",
            "image_size": 8,
            "width": 8,
            "tied_layers": 3,
            "tie_mode": "depth",
            "l2": 1e-4,
            "num_classes": 10,
        }
    )
    assert old.image_shape == (8, 8, 1)


def test_small_images_get_milder_moves():
    assert augmentation.strength_for((8, 8, 1)) == 0.5
    assert augmentation.strength_for((28, 28, 3)) == 1.0
    model = model_lib.build_model(8, 8, 3, "depth", num_classes=3, augment=True)
    assert model.get_layer("augment").strength == 0.5
