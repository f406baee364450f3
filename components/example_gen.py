"""ImageExampleGen: the embedded digits, an image folder or TFRecords to Examples, on Beam.

Its executor is one of TFX's ExampleGen executors (BaseExampleGenExecutor), so
the pipeline's `beam_pipeline_args` apply: the reading, decoding, splitting and
writing (ingestion.transforms) run on whatever Beam runner is configured. The
output is the standard layout: gzipped, sharded TFRecords of tf.Examples under
`Split-train/` and `Split-eval/`, shuffled as TFX's WriteSplit shuffles them
but through files (ingestion.shuffled_write), so that DirectRunner does not
hold a whole split in memory. What the data taught (class names, image
shape; names/) is recorded on the artifact for the executors downstream, and
the whole summary is kept beside the splits in `ingestion.json`.

The driver keys TFX's cache on the data itself (names, sizes and modification
times of its files), not only on the `data` path: new files in the same folder
are ingested again.
"""

from __future__ import annotations

import hashlib
import json
import os

import apache_beam as beam
from tfx import types
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_component, base_driver, executor_spec
from tfx.proto import example_gen_pb2
from tfx.proto.orchestration import driver_output_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components import tfx_internals
from ingestion.settings import IngestSettings
from ingestion.shuffled_write import WriteShuffled
from ingestion.transforms import SPLITS, ImagesToExamples, ReadImages, read_summary, write_summary
from names import (
    CLASS_NAMES_PROPERTY,
    DATA_FINGERPRINT_PROPERTY,
    DATA_PROPERTY,
    IMAGE_SHAPE_PROPERTY,
    SKIPPED_FILES_PROPERTY,
    SPLIT_EXAMPLES_PROPERTY,
)
from names.component_ids import IMAGE_EXAMPLE_GEN
from names.knobs import received_by

EXAMPLES_KEY = "examples"
TEMP_DIR = ".shuffle-buckets"  # beside the splits while the executor runs
FINGERPRINT_KEY = DATA_FINGERPRINT_PROPERTY
# Settings that are execution properties (Kubeflow run parameters can replace them).
SETTINGS = {knob.name: knob.property_type for knob in received_by(IMAGE_EXAMPLE_GEN)}


def settings_from(exec_properties: dict) -> IngestSettings:
    values = {name: exec_properties[name] for name in SETTINGS if name in exec_properties}
    classes = values.pop("classes", "") or ""
    return IngestSettings(
        classes=tuple(c.strip() for c in classes.split(",") if c.strip()), **values
    )


def data_fingerprint(data: str) -> str:
    """sha256 over the names, sizes and modification times of the data's files."""
    import tensorflow as tf

    if data == "digits":
        return "digits"
    digest = hashlib.sha256()
    if tf.io.gfile.isdir(data):
        paths = [
            os.path.join(top, name) for top, _, files in tf.io.gfile.walk(data) for name in files
        ]
    else:
        paths = tf.io.gfile.glob(data)
    for path in sorted(paths):
        stat = tf.io.gfile.stat(path)
        digest.update(f"{path}\0{stat.length}\0{stat.mtime_nsec}\n".encode())
    return digest.hexdigest()[:16]


class ImageExampleGenSpec(ComponentSpec):
    PARAMETERS = {
        **{name: ExecutionParameter(type=kind) for name, kind in SETTINGS.items()},
        FINGERPRINT_KEY: ExecutionParameter(type=str, optional=True),
        "code_version": ExecutionParameter(type=str, optional=True),  # TFX's cache key
    }
    INPUTS: dict = {}
    OUTPUTS = {EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Runs ingestion.transforms on Beam and writes the splits shuffled."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        settings = settings_from(exec_properties)
        examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        examples.split_names = artifact_utils.encode_split_names(list(SPLITS))
        import tensorflow as tf

        temp_dir = os.path.join(examples.uri, TEMP_DIR)
        tf.io.gfile.makedirs(temp_dir)
        with tfx_internals.make_beam_pipeline(self) as pipeline:
            raw, skipped = pipeline | "Read" >> ReadImages(settings)

            # Later passes read the data again (ingestion.transforms): no image is
            # held between Beam stages.
            def reread(label):
                return (pipeline | label >> ReadImages(settings))[0]

            splits, summary = raw | "ToExamples" >> ImagesToExamples(
                settings, skipped, reread=reread
            )
            for name in SPLITS:
                tf.io.gfile.makedirs(artifact_utils.get_split_uri([examples], name))
                count = beam.pvalue.AsSingleton(
                    summary | f"Count[{name}]" >> beam.Map(lambda s, n: sum(s.counts[n]), name)
                )
                _ = splits[name] | f"Write[{name}]" >> WriteShuffled(
                    artifact_utils.get_split_uri([examples], name), temp_dir, count, settings.seed
                )
            _ = summary | "WriteSummary" >> beam.Map(write_summary, examples.uri)
        tf.io.gfile.rmtree(temp_dir)
        done = read_summary(examples.uri)
        examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
        examples.set_string_custom_property(CLASS_NAMES_PROPERTY, json.dumps(done.class_names))
        examples.set_string_custom_property(
            IMAGE_SHAPE_PROPERTY, ",".join(map(str, done.image_shape))
        )
        examples.set_int_custom_property(SKIPPED_FILES_PROPERTY, done.skipped_files)
        for name in SPLITS:
            examples.set_int_custom_property(
                SPLIT_EXAMPLES_PROPERTY.format(split=name), sum(done.counts[name])
            )
        # Where the examples came from, on the artifact the report and the lineage read.
        examples.set_string_custom_property(DATA_PROPERTY, settings.data)
        if exec_properties.get(FINGERPRINT_KEY):  # the driver's; none on Kubeflow
            examples.set_string_custom_property(
                DATA_FINGERPRINT_PROPERTY, exec_properties[FINGERPRINT_KEY]
            )

    GetInputSourceToExamplePTransform = None  # Do reads the source itself


class Driver(base_driver.BaseDriver):
    """Adds the data's fingerprint to the execution properties (TFX's cache key).

    Subclasses the legacy BaseDriver (what components declare) and implements
    `run`, the entry point of the portable launcher."""

    def run(self, execution_info) -> driver_output_pb2.DriverOutput:
        result = driver_output_pb2.DriverOutput()
        for key, artifacts in execution_info.output_dict.items():
            for artifact in artifacts:
                result.output_artifacts[key].artifacts.add().CopyFrom(artifact.mlmd_artifact)
        data = execution_info.exec_properties.get("data", "digits")
        result.exec_properties[FINGERPRINT_KEY].string_value = data_fingerprint(data)
        return result


class ImageExampleGen(base_component.BaseComponent):
    """Examples from `data` (see ingestion.settings.IngestSettings for the settings)."""

    SPEC_CLASS = ImageExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
    DRIVER_CLASS = Driver

    def __init__(self, *, code_version: str | None = None, **settings):
        super().__init__(
            spec=ImageExampleGenSpec(
                code_version=code_version,
                examples=types.Channel(type=standard_artifacts.Examples),
                **settings,
            )
        )
