"""ImageExampleGen: images from the embedded digits, a folder or TFRecords to Examples.

Writes the raw schema (see `names`, made by `ingestion`) as gzipped TFRecords
in the standard `Split-train` / `Split-eval` layout, so every downstream TFX
component reads it like any ExampleGen output. No Beam: a few thousand small
images are written faster in-process than a Beam pipeline starts.
"""
import json
import os

import tensorflow as tf
from tfx.components.util import examples_utils
from tfx.dsl.component.experimental.annotations import OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts

from ingestion.examples import to_example
from ingestion.sources import read_records
from ingestion.split import split_records
from names import CLASS_NAMES_PROPERTY, IMAGE_SHAPE_PROPERTY

SPLITS = ("train", "eval")


@component
def ImageExampleGen(
    examples: OutputArtifact[standard_artifacts.Examples],
    data: Parameter[str],
    image_size: Parameter[int],
    eval_percent: Parameter[int],
    seed: Parameter[int],
    code_version: Parameter[str] = "",
) -> None:
    """Reads `data`, splits it deterministically by label and writes tf.Examples.

    `code_version` is not read: it keys TFX's cache on the ingestion code."""
    image_size = image_size or 8  # interim: the data's own size comes with the Beam reader
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
    examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
    examples.set_int_custom_property("train_examples", len(splits["train"]))
    examples.set_int_custom_property("eval_examples", len(splits["eval"]))
    labels = sorted({r.label for r in records})
    examples.set_string_custom_property(CLASS_NAMES_PROPERTY,
                                        json.dumps([str(i) for i in range(labels[-1] + 1)]))
    examples.set_string_custom_property(IMAGE_SHAPE_PROPERTY, f"{image_size},{image_size},1")
