"""Save and load keep the sharing (still one variable) and the predictions."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from trainer import model as model_lib


def trained(tie_mode):
    """A model with non-initial weights and batch-norm statistics."""
    keras.utils.set_random_seed(2)
    model = model_lib.build_model(8, 8, 3, tie_mode, 1e-3, num_classes=10)
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    rng = np.random.default_rng(0)
    x = rng.random((64, 64), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model, x


@pytest.mark.parametrize("tie_mode", ["depth", "channel", "none"])
def test_keras_format_round_trip(tie_mode, tmp_path):
    model, x = trained(tie_mode)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)

    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.count_params() == model.count_params()
    assert len(loaded.losses) == len(model.losses)
    banks = model_lib.shared_variables(loaded)
    assert len(banks) == len(model_lib.shared_variables(model))
    if tie_mode == "depth":
        tied = [l for l in loaded.layers if isinstance(l, model_lib.TiedConv2D)]
        assert all(layer.kernel is banks[0] for layer in tied)
        assert sum(v is banks[0] for v in loaded.trainable_variables) == 1
        # still shared: a step on the loaded model moves every use together
        loaded.compile(
            optimizer=keras.optimizers.SGD(0.5),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        loaded.train_on_batch(x[:8], np.zeros(8, np.int64))
        assert all(np.array_equal(layer.kernel.numpy(), banks[0].numpy()) for layer in tied)
        assert not np.array_equal(banks[0].numpy(), model_lib.shared_variables(model)[0].numpy())


def test_savedmodel_round_trip_keeps_one_shared_variable(tmp_path):
    fitted, x = trained("depth")
    model = model_lib.build_model(8, 8, 3, "depth", 1e-3, num_classes=10)  # no optimizer to save
    model.set_weights(fitted.get_weights())
    module = tf.Module()
    module.model = model
    module.serve = tf.function(
        lambda images: model(images, training=False),
        input_signature=[tf.TensorSpec([None, 64], tf.float32)],
    )
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serve})

    loaded = tf.saved_model.load(str(tmp_path))
    out = loaded.signatures["serving_default"](images=tf.constant(x))
    np.testing.assert_allclose(
        list(out.values())[0].numpy(), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    bank_shape = tuple(model_lib.shared_variables(model)[0].shape)
    fn_vars = loaded.signatures["serving_default"].variables
    assert [tuple(v.shape) for v in fn_vars].count(bank_shape) == 1
    # the checkpoint holds the bank once as well
    reader = tf.train.load_checkpoint(str(tmp_path / "variables" / "variables"))
    shapes = [tuple(shape) for shape in reader.get_variable_to_shape_map().values()]
    assert shapes.count(bank_shape) == 1
