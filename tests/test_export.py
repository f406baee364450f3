"""The exported SavedModel: two signatures that apply the Transform graph, one
shared variable after loading, and a Keras copy for warm starts."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from ingestion import examples, sources
from trainer import data, export, training, warm_start
from trainer import model as model_lib
from trainer.hparams import HParams

SIZE = 8
DIGITS = tuple(str(i) for i in range(10))  # the embedded digits' class names


def standardized(pixels: np.ndarray, train_records) -> np.ndarray:
    """What Transform's graph should compute: each channel less its mean over
    the training split, over its standard deviation there (flat images)."""
    channels = pixels.shape[-1] if pixels.ndim == 4 else 1
    train = np.stack([r.pixels for r in train_records]).astype(np.float64)
    train = train.reshape(-1, channels)
    by_channel = pixels.astype(np.float64).reshape(len(pixels), -1, channels)
    return (
        ((by_channel - train.mean(axis=0)) / train.std(axis=0))
        .reshape(len(pixels), -1)
        .astype(np.float32)
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory, transform_dir):
    import tensorflow_transform as tft

    root = tmp_path_factory.mktemp("export")
    keras.utils.set_random_seed(4)
    model = model_lib.build_model(SIZE, 8, 3, "depth", 1e-4, num_classes=10)
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    x = np.random.default_rng(0).random((64, SIZE * SIZE), dtype=np.float32)
    model.fit(x, np.arange(64) % 10, epochs=2, verbose=0)  # non-initial BN statistics
    out = str(root / "serving")
    export.export_serving_model(
        model,
        tft.TFTransformOutput(transform_dir),
        HParams(image_height=SIZE, image_width=SIZE, class_names=DIGITS),
        out,
    )
    return model, out


@pytest.fixture(scope="module")
def images():
    records = list(sources.digits_records(SIZE))[:12]
    return np.stack([r.pixels for r in records]), records


def test_both_signatures_apply_the_transform_and_agree(exported, images, transform_run):
    model, out = exported
    pixels, records = images
    loaded = tf.saved_model.load(out)  # plain TF: no Keras, no TFT import needed
    assert set(loaded.signatures) == {"serving_default", "serving_images"}

    expected = model.predict(standardized(pixels, transform_run.splits["train"]), verbose=0)
    serialized = tf.constant([examples.to_example(r).SerializeToString() for r in records])
    by_example = loaded.signatures["serving_default"](examples=serialized)
    by_image = loaded.signatures["serving_images"](images=tf.constant(pixels))
    for out_ in (by_example, by_image):
        assert set(out_) == {"class_ids", "classes", "probabilities", "logits"}
        np.testing.assert_array_equal(
            out_["classes"].numpy(), [DIGITS[i].encode() for i in expected.argmax(axis=1)]
        )
        np.testing.assert_allclose(out_["logits"].numpy(), expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out_["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(out_["class_ids"].numpy(), expected.argmax(axis=1))


def test_loaded_savedmodel_holds_the_shared_bank_once(exported):
    model, out = exported
    loaded = tf.saved_model.load(out)
    bank = model_lib.shared_variables(model)[0]
    for name in ("serving_default", "serving_images"):
        values = [v for v in loaded.signatures[name].variables if v.shape == bank.shape]
        assert len(values) == 1
        np.testing.assert_array_equal(values[0].numpy(), bank.numpy())


def test_keras_copy_beside_the_savedmodel_keeps_sharing(exported, images):
    model, out = exported
    path = warm_start.keras_model_path(out)
    assert os.path.isfile(path)
    copy = keras.saving.load_model(path)
    pixels, _ = images
    x = pixels.reshape(len(pixels), -1).astype(np.float32) / 255.0
    np.testing.assert_array_equal(copy.predict(x, verbose=0), model.predict(x, verbose=0))
    assert len(model_lib.shared_variables(copy)) == 1


def test_colour_non_square_export_serves_its_shape_and_names(tmp_path, transform_run_rgb):
    """serving_images takes (N, H, W, C) uint8 of the data's shape; both
    signatures return the class names; prediction.json lists them."""
    import json

    import tensorflow_transform as tft

    names = ("cat", "dog", "<fox & co>")
    hp = HParams(image_height=12, image_width=10, image_channels=3, class_names=names)
    keras.utils.set_random_seed(0)
    model = model_lib.from_hparams(hp)
    out = str(tmp_path / "serving")
    export.export_serving_model(model, tft.TFTransformOutput(transform_run_rgb.graph), hp, out)
    loaded = tf.saved_model.load(out)
    fn = loaded.signatures["serving_images"]
    assert fn.structured_input_signature[1]["images"].shape.as_list() == [None, 12, 10, 3]
    images = np.random.default_rng(0).integers(0, 256, (5, 12, 10, 3), dtype=np.uint8)
    result = fn(images=tf.constant(images))
    expected = model.predict(standardized(images, transform_run_rgb.splits["train"]), verbose=0)
    np.testing.assert_allclose(result["logits"].numpy(), expected, rtol=1e-5, atol=1e-5)
    assert [c.decode() for c in result["classes"].numpy()] == [
        names[i] for i in expected.argmax(axis=1)
    ]
    with open(os.path.join(out, "assets.extra", "prediction.json")) as f:
        settings = json.load(f)
    assert settings == {"abstain_below": 0.5, "class_names": list(names)}


def test_served_probabilities_equal_the_trainers_input_path(transform_run, tmp_path):
    """`serving_default`, given the raw serialized tf.Examples of the eval split,
    returns the probabilities the model gives on the Trainer's own batches of
    them (trainer.data, the input fit and its evaluation read): one path."""
    import tensorflow_transform as tft

    output = tft.TFTransformOutput(transform_run.graph)
    train_files = f"{transform_run.examples}/Split-train/*"
    eval_files = f"{transform_run.examples}/Split-eval/*"
    hp = HParams(
        image_height=SIZE,
        image_width=SIZE,
        class_names=DIGITS,
        train_examples=len(transform_run.splits["train"]),
        width=8,
    )
    training.set_seeds(3)
    model = model_lib.from_hparams(hp)
    training.fit(
        model,
        data.make_dataset(train_files, output, 64, shuffle=True, repeat=True),
        None,
        hp,
        60,
        23,
    )
    trainer_batches = data.make_dataset(eval_files, output, 256)
    through_trainer = tf.nn.softmax(model.predict(trainer_batches, verbose=0)).numpy()
    labels = np.concatenate([y.numpy() for _, y in trainer_batches])
    assert np.mean(through_trainer.argmax(axis=1) == labels) > 0.5  # a model, not noise

    out = str(tmp_path / "serving")
    export.export_serving_model(model, output, hp, out)
    serialized = [
        r.numpy() for r in tf.data.TFRecordDataset(data.expand(eval_files), compression_type="GZIP")
    ]
    served = (
        tf.saved_model.load(out)
        .signatures["serving_default"](examples=tf.constant(serialized))["probabilities"]
        .numpy()
    )
    assert served.shape == through_trainer.shape == (len(transform_run.splits["eval"]), 10)
    np.testing.assert_allclose(served, through_trainer, rtol=0, atol=1e-6)
