"""Transform's preprocessing_fn: the one preprocessing shared by training, evaluation and serving.

Each channel of the raw 8-bit `pixels` is standardized with the mean and
variance of that channel over the whole training split (`tft.scale_to_z_score`,
a full-pass analyzer). TFX's Transform computes them on Beam and writes them
into its graph as constants; the Trainer reads its batches through that graph
(trainer.data) and the exported signatures apply it (trainer.export), so no
code path computes the features any other way.
"""

import tensorflow as tf
import tensorflow_transform as tft

from names import IMAGE_KEY, LABEL_KEY, RAW_IMAGE_KEY

# custom_config key: the raw image's channels (components.transform adds it
# from the Examples artifact at run time; the pipeline is built without it).
CHANNELS_KEY = "image_channels"


def preprocessing_fn(inputs, custom_config=None):
    """Standardizes pixels per channel and passes the label through."""
    channels = int((custom_config or {}).get(CHANNELS_KEY) or 0)
    if channels < 1:
        raise ValueError(
            f"preprocessing_fn needs {CHANNELS_KEY!r} in custom_config "
            "(components.transform adds it from the Examples artifact)"
        )
    pixels = tf.cast(inputs[RAW_IMAGE_KEY], tf.float32)  # (N, H*W*C), row-major, 0-255
    values = pixels.shape[-1]
    # One row per pixel, one column per channel: the analyzer reduces over rows.
    per_channel = tf.reshape(pixels, [-1, channels])
    standardized = tft.scale_to_z_score(per_channel, elementwise=True)
    return {
        IMAGE_KEY: tf.reshape(standardized, [-1, values]),
        LABEL_KEY: inputs[LABEL_KEY],
    }
