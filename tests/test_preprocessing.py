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


def test_training_input_equals_what_the_exported_transform_graph_computes(transform_dir, tmp_path):
    """The Trainer applies preprocessing_fn itself (Transform writes only its
    graph); serving applies the graph. Both must give the same features."""
    import tensorflow_transform as tft

    from ingestion.examples import to_example
    from ingestion.sources import digits_records
    from trainer.data import make_dataset

    records = list(digits_records(8))[:40]
    path = str(tmp_path / "raw.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for rec in records:
            writer.write(to_example(rec).SerializeToString())
    output = tft.TFTransformOutput(transform_dir)
    (features, labels), = make_dataset(path, output.raw_feature_spec(), batch_size=40).take(1)
    raw = tf.io.parse_example([to_example(r).SerializeToString() for r in records],
                              output.raw_feature_spec())
    graph = output.transform_features_layer()(raw)
    # Equal to within one float32 step (the saved graph may divide as x * (1/255)).
    np.testing.assert_allclose(features[IMAGE_KEY].numpy(), graph[IMAGE_KEY].numpy(),
                               rtol=0, atol=6e-8)
    np.testing.assert_array_equal(labels.numpy(), [r.label for r in records])
