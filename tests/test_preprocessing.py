"""preprocessing_fn: one scaling for training, evaluation and serving."""
import numpy as np
import tensorflow as tf

from trainer.preprocessing import IMAGE_KEY, LABEL_KEY, preprocessing_fn


def test_scales_8bit_pixels_to_unit_range_and_keeps_label():
    pixels = tf.constant([[0, 128, 255] + [0] * 61], dtype=tf.int64)
    out = preprocessing_fn({"pixels": pixels, LABEL_KEY: tf.constant([[7]], tf.int64),
                            "ink_density": tf.constant([[b"light"]])})
    assert out[IMAGE_KEY].dtype == tf.float32
    np.testing.assert_allclose(out[IMAGE_KEY].numpy()[0, :3], [0.0, 128 / 255, 1.0], rtol=1e-6)
    assert out[LABEL_KEY].numpy().tolist() == [[7]]
    assert set(out) == {IMAGE_KEY, LABEL_KEY}
