"""Warm start starts from the base model's weights; frozen filters stay put."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ingestion.examples import to_arrays
from ingestion.split import digits_splits
from pipeline.config import ConfigError, PipelineConfig
from trainer import data, training, warm_start
from trainer import model as model_lib
from trainer.hparams import HParams
from trainer.task import prepare_model

WIDTH = 8
DIGITS = tuple(str(i) for i in range(10))
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.fixture(scope="module")
def digits():
    splits = digits_splits()
    return to_arrays(splits["train"]), to_arrays(splits["eval"])


def train(model, hp, digits, steps):
    (tx, ty), (ex, ey) = digits
    training.fit(
        model,
        data.from_arrays(tx, ty, 64, shuffle=True, seed=1, repeat=True),
        data.from_arrays(ex, ey, 256),
        hp,
        steps,
        23,
        verbose=0,
    )


@pytest.fixture(scope="module")
def base_dir(digits, tmp_path_factory):
    """A trained model saved the way the exporter saves it beside a SavedModel."""
    hp = HParams(class_names=DIGITS, width=WIDTH, train_steps=150)
    training.set_seeds(0)
    model = model_lib.build_model(8, WIDTH, 3, "depth", hp.l2, num_classes=10)
    train(model, hp, digits, hp.train_steps)
    out = str(tmp_path_factory.mktemp("pushed") / "1700000000")
    warm_start.save_keras_copy(model, out)
    return out


def first_batch_loss(model, digits):
    (tx, ty), _ = digits
    return float(LOSS(ty[:64], model(tx[:64], training=False)))


def test_warm_start_begins_where_the_base_model_ended(base_dir, digits):
    training.set_seeds(5)
    warm = prepare_model(HParams(class_names=DIGITS, width=WIDTH, warm_start=True), base_dir)
    training.set_seeds(5)
    cold = prepare_model(HParams(class_names=DIGITS, width=WIDTH, warm_start=False), base_dir)
    warm_loss, cold_loss = first_batch_loss(warm, digits), first_batch_loss(cold, digits)
    assert warm_loss < 0.3 * cold_loss, (warm_loss, cold_loss)
    base = keras.saving.load_model(warm_start.keras_model_path(base_dir))
    np.testing.assert_array_equal(
        model_lib.shared_variables(warm)[0].numpy(), model_lib.shared_variables(base)[0].numpy()
    )


def test_frozen_filters_do_not_change_while_the_head_trains(base_dir, digits):
    hp = HParams(
        class_names=DIGITS, width=WIDTH, warm_start=True, freeze_filters=True, train_steps=30
    )
    model = prepare_model(hp, base_dir)
    frozen = {l.name: [w.copy() for w in l.get_weights()] for l in model_lib.feature_layers(model)}
    bank_before = model_lib.shared_variables(model)[0].numpy().copy()
    head_before = model.get_layer(model_lib.HEAD_LAYER).get_weights()[0].copy()
    assert [v.path for v in model.trainable_variables] == ["logits/kernel", "logits/bias"]

    train(model, hp, digits, hp.train_steps)

    np.testing.assert_array_equal(model_lib.shared_variables(model)[0].numpy(), bank_before)
    for layer in model_lib.feature_layers(model):  # filters, biases and BN statistics
        for before, after in zip(frozen[layer.name], layer.get_weights()):
            np.testing.assert_array_equal(before, after)
    assert not np.array_equal(model.get_layer(model_lib.HEAD_LAYER).get_weights()[0], head_before)


def test_first_run_without_base_model_trains_from_scratch(tmp_path):
    hp = HParams(class_names=DIGITS, width=WIDTH, warm_start=True, freeze_filters=True)
    model = prepare_model(hp, str(tmp_path / "Format-Serving"))  # what a first run passes
    assert len(model.trainable_variables) == len(
        model_lib.build_model(8, WIDTH, 3, "depth", num_classes=10).trainable_variables
    )


def test_base_model_of_another_shape_is_an_error_naming_the_knobs(base_dir):
    with pytest.raises(ValueError, match="width"):
        prepare_model(HParams(class_names=DIGITS, width=WIDTH * 2, warm_start=True), base_dir)


def test_freeze_filters_needs_warm_start():
    with pytest.raises(ConfigError, match="freeze_filters"):
        PipelineConfig(freeze_filters=True)
    assert PipelineConfig(warm_start="true", freeze_filters=True).freeze_filters


def _exported_with_names(base_dir, tmp_path, names):
    """A copy of the base model's dir with prediction.json naming its classes."""
    import shutil

    from trainer.export import write_prediction_settings

    out = str(tmp_path / "base")
    shutil.copytree(base_dir, out)
    write_prediction_settings(out, {"class_names": list(names)})
    return out


def test_transfer_to_other_classes_and_size_keeps_the_filters_and_builds_a_new_head(
    base_dir, caplog
):
    import logging

    hp = HParams(
        image_height=28,
        image_width=28,
        class_names=("cat", "dog", "fox"),
        width=WIDTH,
        warm_start=True,
    )
    with caplog.at_level(logging.INFO):
        model = prepare_model(hp, base_dir)
    base = warm_start.load_keras_model(warm_start.keras_model_path(base_dir))
    np.testing.assert_array_equal(
        model_lib.shared_variables(model)[0].numpy(), model_lib.shared_variables(base)[0].numpy()
    )
    np.testing.assert_array_equal(
        model.get_layer("stem_conv").get_weights()[0], base.get_layer("stem_conv").get_weights()[0]
    )
    assert model.get_layer(model_lib.HEAD_LAYER).get_weights()[0].shape == (WIDTH, 3)
    assert any(
        "tiedflow: warm start from" in r.getMessage() and "head: other classes" in r.getMessage()
        for r in caplog.records
    )


def test_transfer_to_colour_keeps_the_shared_bank_not_the_stem(base_dir):
    base = warm_start.load_keras_model(warm_start.keras_model_path(base_dir))
    model = model_lib.build_model((8, 8, 3), WIDTH, 3, "depth", num_classes=10)
    transfer = warm_start.transfer_weights(model, base)
    assert "tied_conv_0" in transfer.kept and "logits" in transfer.kept
    assert {"stem_conv", "stem_bn"} <= set(transfer.new)
    assert "stem: other input channels" in transfer.describe()


def test_same_count_other_names_gets_a_new_head(base_dir, tmp_path):
    named = _exported_with_names(base_dir, tmp_path, [str(i) for i in range(10)])
    letters = tuple("abcdefghij")
    same = prepare_model(HParams(class_names=DIGITS, width=WIDTH, warm_start=True), named)
    other = prepare_model(HParams(class_names=letters, width=WIDTH, warm_start=True), named)
    base = warm_start.load_keras_model(warm_start.keras_model_path(named))
    head = base.get_layer(model_lib.HEAD_LAYER).get_weights()[0]
    np.testing.assert_array_equal(same.get_layer(model_lib.HEAD_LAYER).get_weights()[0], head)
    assert not np.array_equal(other.get_layer(model_lib.HEAD_LAYER).get_weights()[0], head)


def test_frozen_transfer_trains_only_the_new_head(base_dir):
    hp = HParams(
        image_height=16,
        image_width=16,
        image_channels=3,
        class_names=("a", "b"),
        width=WIDTH,
        warm_start=True,
        freeze_filters=True,
    )
    model = prepare_model(hp, base_dir)
    assert [v.path for v in model.trainable_variables] == ["logits/kernel", "logits/bias"]


def test_only_the_projects_own_model_class_is_loaded(tmp_path):
    """A .keras file naming another class is refused before Keras reads it
    (Keras would import whatever module its config names)."""
    path = str(tmp_path / "other.keras")
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(path)
    with pytest.raises(ValueError, match="only tiedflow's own"):
        warm_start.load_keras_model(path)
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a Keras model file"):
        warm_start.load_keras_model(str(tmp_path / "junk.keras"))


def test_a_model_with_a_lambda_layer_is_refused_naming_the_layer(tmp_path):
    """Also when the file claims to be a TiedCNN: a Lambda layer holds Python
    bytecode, which Keras would run; the file is refused before Keras reads it."""
    import json
    import zipfile

    path = str(tmp_path / "lambda.keras")
    keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Lambda(lambda x: x * 2, name="double"),
            keras.layers.Dense(2),
        ]
    ).save(path)
    with pytest.raises(ValueError, match="only tiedflow's own"):
        warm_start.load_keras_model(path)
    forged = str(tmp_path / "forged.keras")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(forged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                config["registered_name"] = warm_start.ACCEPTED_CLASS
                data = json.dumps(config).encode()
            target.writestr(item, data)
    with pytest.raises(ValueError, match=r"layer 'double' carries Python code .*refused"):
        warm_start.load_keras_model(forged)
