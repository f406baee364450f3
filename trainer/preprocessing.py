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


def write_transform_graph(out_dir: str, image_size: int = 8) -> str:
    """Analyzes preprocessing_fn with TFT on Beam, outside TFX, into `out_dir`.

    Gives what the Transform component outputs (transform graph plus raw and
    transformed metadata), so export and prediction can be exercised without
    running the pipeline. Returns `out_dir`.
    """
    import os
    import tempfile

    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    spec = {RAW_IMAGE_KEY: tf.io.FixedLenFeature([image_size * image_size], tf.int64),
            LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    rows = [{RAW_IMAGE_KEY: [0] * (image_size * image_size), LABEL_KEY: 0}]
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(), force_tf_compat_v1=False):
        transform_fn = (rows, metadata) | tft_beam.AnalyzeDataset(preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    metadata_io.write_metadata(
        metadata, os.path.join(out_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    return out_dir
