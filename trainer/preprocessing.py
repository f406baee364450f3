"""Transform's preprocessing_fn: the one preprocessing shared by training and serving.

Raw `pixels` are 8-bit (0-255) as image files hold them; the model sees them
scaled to [0, 1]. The graph is exported with the model, so serving applies it.
"""
import tensorflow as tf

RAW_IMAGE_KEY = "pixels"
LABEL_KEY = "label"
IMAGE_KEY = "image_xf"


def preprocessing_fn(inputs, custom_config=None):
    """Scales pixels to [0, 1] and passes the label through."""
    del custom_config  # image size is carried by the fixed-length schema.
    pixels = tf.cast(inputs[RAW_IMAGE_KEY], tf.float32)
    return {
        IMAGE_KEY: pixels / 255.0,
        LABEL_KEY: inputs[LABEL_KEY],
    }
