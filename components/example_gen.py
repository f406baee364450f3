"""ImageExampleGen: images from the embedded digits, a folder or TFRecords to Examples.

Writes the raw schema (see `names`, made by `ingestion`) as gzipped TFRecords
in the standard `Split-train` / `Split-eval` layout, so every downstream TFX
component reads it like any ExampleGen output. No Beam: a few thousand small
images are written faster in-process than a Beam pipeline starts.
"""
import os

import tensorflow as tf
from tfx import v1 as tfx
from tfx.types import artifact_utils

from ingestion.examples import to_example
from ingestion.sources import read_records
from ingestion.split import split_records

SPLITS = ("train", "eval")


@tfx.dsl.components.component
def ImageExampleGen(
    examples: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Examples],
    data: tfx.dsl.components.Parameter[str],
    image_size: tfx.dsl.components.Parameter[int],
    eval_percent: tfx.dsl.components.Parameter[int],
    seed: tfx.dsl.components.Parameter[int],
    code_version: tfx.dsl.components.Parameter[str] = "",
) -> None:
    """Reads `data`, splits it deterministically by label and writes tf.Examples.

    `code_version` is not read: it keys TFX's cache on the ingestion code."""
    records = list(read_records(data, image_size))
    splits = split_records(records, eval_percent, seed)
    for name in SPLITS:
        split_dir = os.path.join(examples.uri, f"Split-{name}")
        tf.io.gfile.makedirs(split_dir)
        path = os.path.join(split_dir, "data_tfrecord-00000-of-00001.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for rec in splits[name]:
                writer.write(to_example(rec).SerializeToString())
    examples.split_names = artifact_utils.encode_split_names(list(SPLITS))
    examples.set_int_custom_property("train_examples", len(splits["train"]))
    examples.set_int_custom_property("eval_examples", len(splits["eval"]))
