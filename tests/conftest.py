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


def run_tiedflow(*args: str, output_dir: str | None = None, env=None,
                 timeout: float = 900) -> CliRun:
    cmd = [TIEDFLOW, *args]
    if output_dir is not None:
        cmd += ["--output-dir", output_dir]
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env={**os.environ, **(env or {})})
    return CliRun(cmd, proc.returncode, proc.stdout, proc.stderr, output_dir or "",
                  time.time() - start)


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
    return run_tiedflow("run", "--orchestrator", "beam", "--verbose",
                        output_dir=pipeline_run.output_dir)


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
    return {"versions": {v: tree_digest(os.path.join(serving, v)) for v in os.listdir(serving)},
            "trainer_outputs": sorted(os.listdir(os.path.join(trainer, "model")))}


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
    return run_tiedflow("run", *WEAK, "--set", "accuracy_threshold=0.999",
                        "--set", f"min_class_recall={WEAK_MIN_CLASS_RECALL}", output_dir=out)


def inferred_schema(run: CliRun) -> str:
    """The schema SchemaGen inferred in `run`, where the README says it is."""
    import glob

    (path,) = glob.glob(os.path.join(run.output_dir, "pipeline_root", "SchemaGen", "schema",
                                     "*", "schema.pbtxt"))[:1]
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
    return run_tiedflow("run", *WEAK, "--set", "accuracy_threshold=0.3",
                        "--set", f"schema={schema}", output_dir=str(out))


# What interrupted copies and pushes leave in a push destination, newer than any
# model: graph without variables, an empty folder, a staging leftover.
BROKEN_VERSIONS = ("9999999990", "9999999991", ".staging-1-dead")


def plant_broken_versions(serving: str) -> None:
    """Adds BROKEN_VERSIONS beside the complete version folders in `serving`."""
    import shutil

    (good,) = [n for n in os.listdir(serving) if n.isdigit()][:1]
    os.makedirs(os.path.join(serving, BROKEN_VERSIONS[0]))
    shutil.copy(os.path.join(serving, good, "saved_model.pb"),
                os.path.join(serving, BROKEN_VERSIONS[0]))
    os.makedirs(os.path.join(serving, BROKEN_VERSIONS[1]))
    shutil.copytree(os.path.join(serving, good), os.path.join(serving, BROKEN_VERSIONS[2]))


@pytest.fixture(scope="session")
def transform_dir(tmp_path_factory) -> str:
    """What the Transform component outputs for 8x8 grayscale images (transform
    graph plus raw and transformed metadata), made with TFT on Beam outside TFX,
    so export and prediction can be exercised without running the pipeline."""
    return make_transform_dir(str(tmp_path_factory.mktemp("transform") / "graph"), 64)


@pytest.fixture(scope="session")
def transform_dir_rgb(tmp_path_factory) -> str:
    """The same for 12x10 RGB images (360 raw pixel values)."""
    return make_transform_dir(str(tmp_path_factory.mktemp("transform_rgb") / "graph"),
                              12 * 10 * 3)


def make_transform_dir(out_dir: str, pixel_count: int) -> str:
    import tempfile

    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    from names import LABEL_KEY, RAW_IMAGE_KEY
    from trainer.preprocessing import preprocessing_fn

    spec = {RAW_IMAGE_KEY: tf.io.FixedLenFeature([pixel_count], tf.int64),
            LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    rows = [{RAW_IMAGE_KEY: [0] * pixel_count, LABEL_KEY: 0}]
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(), force_tf_compat_v1=False):
        transform_fn = (rows, metadata) | tft_beam.AnalyzeDataset(preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    metadata_io.write_metadata(
        metadata, os.path.join(out_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    return out_dir
