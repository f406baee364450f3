"""Shared fixtures. The end-to-end run is made once per session and shared.

Test modules import project packages only (never `tests.*`: a package of the
stack installs its own top-level `tests` into site-packages).
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import time

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any test module loads TensorFlow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIEDFLOW = os.path.join(os.path.dirname(sys.executable), "tiedflow")


@dataclasses.dataclass
class CliRun:
    """One `tiedflow` invocation: its exit code, output and output dir."""

    args: list
    returncode: int
    stdout: str
    stderr: str
    output_dir: str
    seconds: float

    @property
    def report_path(self) -> str:
        """The report this run printed it wrote (`report: PATH`)."""
        found = re.findall(r"^report: (.+\.html)$", self.stdout, re.M)
        assert len(found) == 1, self.stdout[-2000:]
        return found[0]


def run_tiedflow(
    *args: str, output_dir: str | None = None, env=None, timeout: float = 900
) -> CliRun:
    cmd = [TIEDFLOW, *args]
    if output_dir is not None:
        cmd += ["--output-dir", output_dir]
    start = time.time()
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    return CliRun(
        cmd, proc.returncode, proc.stdout, proc.stderr, output_dir or "", time.time() - start
    )


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory) -> CliRun:
    """`tiedflow run` on the embedded digits with the default config, once per session."""
    out = str(tmp_path_factory.mktemp("e2e") / "out")
    return run_tiedflow("run", output_dir=out)


@pytest.fixture(scope="session")
def pipeline_rerun(pipeline_run) -> CliRun:
    """A second run into the same output dir, orchestrated by BeamDagRunner, --verbose.

    Same ML Metadata store, so it reuses what the LocalDagRunner run cached.
    """
    assert pipeline_run.returncode == 0, pipeline_run.stderr[-3000:]
    return run_tiedflow(
        "run", "--orchestrator", "beam", "--verbose", output_dir=pipeline_run.output_dir
    )


def tree_digest(path: str) -> str:
    """sha256 over every file's relative path and bytes under `path`."""
    import hashlib

    digest = hashlib.sha256()
    for top, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(top, name)
            digest.update(os.path.relpath(full, path).encode() + b"\0")
            with open(full, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def pushed_before_failure(pipeline_rerun) -> dict:
    """{version: tree_digest} of the models pushed before `failed_rerun`, and the
    Trainer's outputs then (key "trainer_outputs")."""
    serving = os.path.join(pipeline_rerun.output_dir, "serving")
    trainer = os.path.join(pipeline_rerun.output_dir, "pipeline_root", "Trainer")
    return {
        "versions": {v: tree_digest(os.path.join(serving, v)) for v in os.listdir(serving)},
        "trainer_outputs": sorted(os.listdir(os.path.join(trainer, "model"))),
    }


@pytest.fixture(scope="session")
def failed_rerun(pipeline_rerun, pushed_before_failure, tmp_path_factory):
    """A third run into the same output dir that fails on a TFRecord file cut off
    inside its gzip stream (TensorFlow's reader would take the cut for its end).

    Returns the run and the pushed versions there before it."""
    from ingestion import synthetic

    made = tmp_path_factory.mktemp("bad")
    synthetic.generate(str(made / "whole"), 400, "tfrecord")
    (whole,) = os.listdir(made / "whole")
    with open(made / "whole" / whole, "rb") as f:
        data = f.read()
    bad = made / "bad.tfrecord"
    bad.write_bytes(data[: len(data) * 3 // 5])
    before = sorted(pushed_before_failure["versions"])
    return run_tiedflow("run", "--data", str(bad), output_dir=pipeline_rerun.output_dir), before


# A model trained this briefly and slowly reaches about 0.8 eval accuracy: clearly worse
# than the default, with a confusion matrix that has something in it.
WEAK = ("--set", "train_steps=40", "--set", "learning_rate=0.002")


# A bound on every class's recall that the weak model misses for some classes.
WEAK_MIN_CLASS_RECALL = 0.99


@pytest.fixture(scope="session")
def weak_run(tmp_path_factory) -> CliRun:
    """A first run (no baseline) whose accuracy bound cannot be met: not blessed.
    Its per-class recall bound fails the weakest classes too."""
    out = str(tmp_path_factory.mktemp("weak") / "out")
    return run_tiedflow(
        "run",
        *WEAK,
        "--set",
        "accuracy_threshold=0.999",
        "--set",
        f"min_class_recall={WEAK_MIN_CLASS_RECALL}",
        output_dir=out,
    )


def inferred_schema(run: CliRun) -> str:
    """The schema SchemaGen inferred in `run`, where the README says it is."""
    import glob

    (path,) = glob.glob(
        os.path.join(run.output_dir, "pipeline_root", "SchemaGen", "schema", "*", "schema.pbtxt")
    )[:1]
    return path


@pytest.fixture(scope="session")
def regressed_run(pipeline_run, tmp_path_factory) -> CliRun:
    """The weak model against `pipeline_run`'s pushed model as baseline.

    Its own output dir starts with a copy of pipeline_run's push destination
    (where LatestPushedModel looks), and its accuracy bound is low enough to
    pass: only the change thresholds can fail it. Its schema is a file: the
    one pipeline_run inferred (data that matches a curated schema trains).
    Broken version folders newer than the model are planted there too: the
    run must ignore them.
    """
    import shutil

    assert pipeline_run.returncode == 0, pipeline_run.stderr[-3000:]
    out = tmp_path_factory.mktemp("regressed") / "out"
    shutil.copytree(os.path.join(pipeline_run.output_dir, "serving"), out / "serving")
    schema = str(out.parent / "schema.pbtxt")
    shutil.copyfile(inferred_schema(pipeline_run), schema)
    plant_broken_versions(str(out / "serving"))
    return run_tiedflow(
        "run",
        *WEAK,
        "--set",
        "accuracy_threshold=0.3",
        "--set",
        f"schema={schema}",
        output_dir=str(out),
    )


# What interrupted copies and pushes leave in a push destination, newer than any
# model: graph without variables, an empty folder, a staging leftover.
BROKEN_VERSIONS = ("9999999990", "9999999991", ".staging-1-dead")


def plant_broken_versions(serving: str) -> None:
    """Adds BROKEN_VERSIONS beside the complete version folders in `serving`."""
    import shutil

    (good,) = [n for n in os.listdir(serving) if n.isdigit()][:1]
    os.makedirs(os.path.join(serving, BROKEN_VERSIONS[0]))
    shutil.copy(
        os.path.join(serving, good, "saved_model.pb"), os.path.join(serving, BROKEN_VERSIONS[0])
    )
    os.makedirs(os.path.join(serving, BROKEN_VERSIONS[1]))
    shutil.copytree(os.path.join(serving, good), os.path.join(serving, BROKEN_VERSIONS[2]))


@dataclasses.dataclass
class TransformRun:
    """The project's Transform executor run on records outside a pipeline."""

    graph: str  # the TransformGraph artifact's URI (TFTransformOutput reads it)
    examples: str  # the Examples artifact's URI: Split-train/, Split-eval/
    splits: dict  # split name -> the Records written there


@pytest.fixture(scope="session")
def transform_run(tmp_path_factory) -> TransformRun:
    """Transform's output for the embedded 8x8 digits, split as the pipeline
    splits them, made by the component's own executor (components.transform)
    with the pipeline's settings, so export, prediction and the Trainer's input
    are exercised against the graph a run writes, without running the pipeline."""
    from ingestion.split import digits_splits

    return run_transform(str(tmp_path_factory.mktemp("transform")), digits_splits(8), (8, 8, 1))


@pytest.fixture(scope="session")
def transform_dir(transform_run) -> str:
    return transform_run.graph


@pytest.fixture(scope="session")
def transform_run_rgb(tmp_path_factory) -> TransformRun:
    """The same for 12x10 RGB images whose channels differ in brightness, with
    an eval split brighter than the training split (the analyzers must not see it)."""
    import numpy as np

    from ingestion.examples import Record

    rng = np.random.default_rng(7)
    scale = np.array([60, 120, 200])  # per channel: red dark, blue bright

    def records(split, n, boost):
        return [
            Record(
                np.clip(rng.random((12, 10, 3)) * scale + boost, 0, 255).astype(np.uint8),
                i % 3,
                f"{split}-{i}",
            )
            for i in range(n)
        ]

    splits = {"train": records("train", 60, 0), "eval": records("eval", 20, 50)}
    return run_transform(str(tmp_path_factory.mktemp("transform_rgb")), splits, (12, 10, 3))


@pytest.fixture(scope="session")
def transform_dir_rgb(transform_run_rgb) -> str:
    return transform_run_rgb.graph


def run_transform(root: str, splits: dict, shape: tuple) -> TransformRun:
    """Writes `splits` as an Examples artifact (gzipped raw tf.Examples, the
    properties ImageExampleGen records) and runs the pipeline's Transform on it."""
    import json

    import numpy as np
    import tensorflow as tf
    from tensorflow_transform.tf_metadata import schema_utils
    from tfx.dsl.components.base import base_beam_executor
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.types import standard_component_specs as specs
    from tfx.utils import io_utils, proto_utils

    from components.transform import Executor
    from ingestion.examples import to_example
    from names import (
        CLASS_NAMES_PROPERTY,
        IMAGE_SHAPE_PROPERTY,
        INK_DENSITY_KEY,
        LABEL_KEY,
        RAW_IMAGE_KEY,
        SPLIT_EXAMPLES_PROPERTY,
    )
    from pipeline.config import PipelineConfig
    from pipeline.dag import DEFAULT_BEAM_ARGS, create_pipeline

    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(root, "examples")
    examples.split_names = artifact_utils.encode_split_names(list(splits))
    labels = sorted({r.label for records in splits.values() for r in records})
    examples.set_string_custom_property(
        CLASS_NAMES_PROPERTY, json.dumps([str(i) for i in range(max(labels) + 1)])
    )
    examples.set_string_custom_property(IMAGE_SHAPE_PROPERTY, ",".join(map(str, shape)))
    for name, records in splits.items():
        examples.set_int_custom_property(SPLIT_EXAMPLES_PROPERTY.format(split=name), len(records))
        folder = artifact_utils.get_split_uri([examples], name)
        os.makedirs(folder)
        with tf.io.TFRecordWriter(os.path.join(folder, "data.gz"), options="GZIP") as writer:
            for rec in records:
                writer.write(to_example(rec).SerializeToString())

    schema = standard_artifacts.Schema()
    schema.uri = os.path.join(root, "schema")
    io_utils.write_pbtxt_file(
        os.path.join(schema.uri, "schema.pbtxt"),
        schema_utils.schema_from_feature_spec(
            {
                RAW_IMAGE_KEY: tf.io.FixedLenFeature([int(np.prod(shape))], tf.int64),
                LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
                INK_DENSITY_KEY: tf.io.FixedLenFeature([], tf.string),
            }
        ),
    )
    graph = standard_artifacts.TransformGraph()
    graph.uri = os.path.join(root, "graph")

    (component,) = [c for c in create_pipeline(PipelineConfig()).components if c.id == "Transform"]
    exec_properties = {
        k: proto_utils.proto_to_json(v) if hasattr(v, "DESCRIPTOR") else v
        for k, v in component.exec_properties.items()
        if v is not None
    }
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=list(DEFAULT_BEAM_ARGS),
        tmp_dir=os.path.join(root, "tmp"),
        unique_id="transform",
    )
    Executor(context).Do(
        {specs.EXAMPLES_KEY: [examples], specs.SCHEMA_KEY: [schema]},
        {specs.TRANSFORM_GRAPH_KEY: [graph]},
        exec_properties,
    )
    return TransformRun(graph.uri, examples.uri, splits)
