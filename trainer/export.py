"""Export: a SavedModel whose signatures apply the Transform graph themselves.

- `serving_default`: serialized raw tf.Examples -> class_ids, classes (the
  class names, so TF Serving clients need no other file), probabilities, logits.
- `serving_images`: a batch of raw 8-bit images (N, H, W, C), of the data's
  shape and channels -> the same outputs.
Beside it, in `assets.extra/` (a folder the SavedModel loader and TF Serving
ignore): `model.keras`, the Keras model for warm starts, and
`prediction.json`, the settings that travel with the model (its default
abstention threshold and its class names).
TFMA evaluates the model through `serving_default`, so evaluation and serving
share one input path.
"""

from __future__ import annotations

import contextlib
import json
import os

import keras
import tensorflow as tf
import tensorflow_transform as tft

from names import (
    ABSTAIN_BELOW_KEY,
    CLASS_IDS_KEY,
    CLASS_NAMES_KEY,
    CLASSES_KEY,
    EXAMPLES_SIGNATURE,
    IMAGES_SIGNATURE,
    LABEL_KEY,
    LOGITS_KEY,
    PREDICTION_SETTINGS_FILE,
    PROBABILITIES_KEY,
    RAW_IMAGE_KEY,
)
from trainer.hparams import HParams
from trainer.warm_start import save_keras_copy


@contextlib.contextmanager
def _without_tf_keras_traces():
    """Skips tf_keras' re-tracing of the Transform layer for its Keras metadata.

    TFT's layer is a tf_keras layer; saving it traces its call once more with
    autograph (about 8 s here) for a `keras_api` nobody loads: the signatures
    carry the graph, and its assets and variables are still tracked.
    """
    try:
        from tf_keras.src.saving.legacy.saved_model.utils import keras_option_scope
    except ImportError:  # another tf_keras layout: keep its default (slower)
        yield
        return
    with keras_option_scope(save_traces=False):
        yield


class ServingModule(tf.Module):
    """Holds the Keras model and the Transform layer so both are saved.

    The signatures are traced without autograph: nothing in them branches on
    tensors, and converting Keras' and TFT's Python code took most of the
    export time (about 8 of 9 s).
    """

    def __init__(
        self,
        model: keras.Model,
        tf_transform_output: tft.TFTransformOutput,
        image_shape,
        class_names,
    ):
        super().__init__()
        self.model = model
        self.tft_layer = tf_transform_output.transform_features_layer()
        self.image_shape = tuple(int(d) for d in image_shape)
        self.class_names = tf.constant([str(n) for n in class_names])
        height, width, channels = self.image_shape
        raw_spec = dict(tf_transform_output.raw_feature_spec())
        raw_spec.pop(LABEL_KEY, None)
        self._raw_spec = raw_spec

        @tf.function(
            input_signature=[tf.TensorSpec([None], tf.string, name="examples")], autograph=False
        )
        def serve_examples(examples):
            features = tf.io.parse_example(examples, self._raw_spec)
            return self._predict(features)

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, height, width, channels], tf.uint8, name="images")
            ],
            autograph=False,
        )
        def serve_images(images):
            pixels = tf.reshape(tf.cast(images, tf.int64), [-1, height * width * channels])
            return self._predict({RAW_IMAGE_KEY: pixels})

        self.serve_examples = serve_examples
        self.serve_images = serve_images

    def _predict(self, raw_features):
        transformed = self.tft_layer(raw_features)
        transformed.pop(LABEL_KEY, None)
        logits = self.model(transformed, training=False)
        probabilities = tf.nn.softmax(logits)
        class_ids = tf.argmax(probabilities, axis=-1)
        return {
            CLASS_IDS_KEY: class_ids,
            CLASSES_KEY: tf.gather(self.class_names, class_ids),
            PROBABILITIES_KEY: probabilities,
            LOGITS_KEY: logits,
        }


def export_serving_model(
    model: keras.Model, tf_transform_output: tft.TFTransformOutput, hp: HParams, export_dir: str
) -> None:
    """Saves the SavedModel with both signatures, the Keras copy and the settings."""
    module = ServingModule(model, tf_transform_output, hp.input_shape, hp.class_names)
    with _without_tf_keras_traces():
        tf.saved_model.save(
            module,
            export_dir,
            signatures={
                EXAMPLES_SIGNATURE: module.serve_examples,
                IMAGES_SIGNATURE: module.serve_images,
            },
        )
    save_keras_copy(model, export_dir)
    write_prediction_settings(
        export_dir, {ABSTAIN_BELOW_KEY: hp.abstain_below, CLASS_NAMES_KEY: list(hp.class_names)}
    )


def write_prediction_settings(export_dir: str, settings: dict) -> str:
    path = os.path.join(export_dir, PREDICTION_SETTINGS_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(settings, f, sort_keys=True)
    return path
