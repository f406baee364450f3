"""Transform's preprocessing_fn: the one preprocessing shared by training and serving.

Raw `pixels` are 8-bit (0-255) as image files hold them; the model sees them
scaled to [0, 1]. The graph is exported with the model, so serving applies it.
"""
import tensorflow as tf

from names import IMAGE_KEY, LABEL_KEY, RAW_IMAGE_KEY


def preprocessing_fn(inputs, custom_config=None):
    """Scales pixels to [0, 1] and passes the label through.

    `custom_config` carries only the code fingerprint (TFX's cache key); the
    image size is carried by the fixed-length schema."""
    del custom_config
    pixels = tf.cast(inputs[RAW_IMAGE_KEY], tf.float32)
    return {
        IMAGE_KEY: pixels / 255.0,
        LABEL_KEY: inputs[LABEL_KEY],
    }
