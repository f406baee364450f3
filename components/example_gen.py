"""ImageExampleGen: images from the embedded digits, a folder or TFRecords to Examples.

Writes the raw schema of `components.image_data` as gzipped TFRecords in the
standard `Split-train` / `Split-eval` layout, so every downstream TFX component
reads it like any ExampleGen output. No Beam: a few thousand small images are
written faster in-process than a Beam pipeline starts.
"""
import os

import tensorflow as tf
from tfx import v1 as tfx
from tfx.types import artifact_utils

from components import image_data

SPLITS = ("train", "eval")


@tfx.dsl.components.component
def ImageExampleGen(
    examples: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Examples],
    data: tfx.dsl.components.Parameter[str],
    image_size: tfx.dsl.components.Parameter[int],
    eval_percent: tfx.dsl.components.Parameter[int],
    seed: tfx.dsl.components.Parameter[int],
) -> None:
    """Reads `data`, splits it deterministically by label and writes tf.Examples."""
    records = list(image_data.read_records(data, image_size))
    splits = image_data.split_records(records, eval_percent, seed)
    for name in SPLITS:
        split_dir = os.path.join(examples.uri, f"Split-{name}")
        tf.io.gfile.makedirs(split_dir)
        path = os.path.join(split_dir, "data_tfrecord-00000-of-00001.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for rec in splits[name]:
                writer.write(image_data.to_example(rec).SerializeToString())
    examples.split_names = artifact_utils.encode_split_names(list(SPLITS))
    examples.set_int_custom_property("train_examples", len(splits["train"]))
    examples.set_int_custom_property("eval_examples", len(splits["eval"]))
