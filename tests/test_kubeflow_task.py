"""The compiled pipeline, task by task, run here as the open-source KFP launcher runs it.

Each task of a fresh compile, in dependency order, with its executor input
built as the open-source driver writes it (kfp_launcher.OssLauncher), run in a
subprocess of this environment; tests/test_image.py runs the same tasks in the
built image. What stays unproven without a cluster: pods, the bucket, ML
Metadata, the driver and launcher themselves.
"""

from __future__ import annotations

import glob
import json
import os

import pytest
import tensorflow as tf
from conftest import tree_digest
from kfp_launcher import OssLauncher, dag_order

from pipeline.kubeflow import compiler, entrypoint

pytestmark = pytest.mark.e2e
RUN_PARAMETERS = {"train_steps": 150, "accuracy_threshold": 0.5}


@pytest.fixture(scope="module")
def spec():
    return compiler.compile_spec()


@pytest.fixture(scope="module")
def launched(spec, tmp_path_factory):
    """Every task of the compiled pipeline, in order, on the embedded digits."""
    workdir = str(tmp_path_factory.mktemp("kfp_run"))
    serving_dir = os.path.join(workdir, "serving")
    launcher = OssLauncher(spec, workdir, {**RUN_PARAMETERS, "serving_dir": serving_dir})
    for task in dag_order(spec):
        launcher.launch(task)
    launcher.serving_dir = serving_dir
    return launcher


def _count(pattern):
    return sum(
        1
        for path in glob.glob(pattern)
        for _ in tf.data.TFRecordDataset(path, compression_type="GZIP")
    )


def test_example_gen_task_writes_splits_and_reports_them(launched):
    examples = launched.outputs["ImageExampleGen"]["examples"]
    train = _count(os.path.join(examples["uri"], "Split-train", "*.gz"))
    evaluation = _count(os.path.join(examples["uri"], "Split-eval", "*.gz"))
    assert train + evaluation == 1797 and 0.15 < evaluation / 1797 < 0.25
    meta = examples["metadata"]
    assert json.loads(meta["split_names"]) == ["train", "eval"]
    assert (meta["train_examples"], meta["eval_examples"]) == (train, evaluation)


def test_downstream_tasks_read_untyped_inputs(launched):
    statistics = launched.outputs["StatisticsGen"]["statistics"]["uri"]
    for split in ("train", "eval"):
        assert os.path.getsize(os.path.join(statistics, f"Split-{split}", "FeatureStats.pb")) > 0
    model = launched.outputs["Trainer"]["model"]["uri"]
    assert tf.io.gfile.exists(os.path.join(model, "Format-Serving", "saved_model.pb"))


def _accuracy_lower_bounds(value, inside=False):
    """Every lower bound below a SparseCategoricalAccuracy metric in TFMA's JSON."""
    if isinstance(value, dict):
        inside = inside or value.get("className") == "SparseCategoricalAccuracy"
        for key, item in value.items():
            if inside and key == "lowerBound":
                yield item["value"] if isinstance(item, dict) else item
            else:
                yield from _accuracy_lower_bounds(item, inside)
    elif isinstance(value, list):
        for item in value:
            yield from _accuracy_lower_bounds(item, inside)


def test_run_parameters_reach_their_tasks(launched):
    from pipeline.config import PipelineConfig

    assert "'train_steps': 150" in launched.logs["Trainer"]
    evaluation = launched.outputs["Evaluator"]["evaluation"]["uri"]
    with open(os.path.join(evaluation, "eval_config.json")) as f:
        bounds = set(_accuracy_lower_bounds(json.load(f)))
    assert RUN_PARAMETERS["accuracy_threshold"] in bounds
    assert PipelineConfig().accuracy_threshold not in bounds


def _pushed_version(launched) -> str:
    """The one version folder the Pusher task wrote under serving_dir."""
    versions = (
        sorted(v for v in os.listdir(launched.serving_dir) if v.isdigit())
        if os.path.isdir(launched.serving_dir)
        else []
    )
    assert len(versions) == 1, f"pushed versions: {versions}"
    return versions[0]


def test_the_blessed_model_is_pushed(launched):
    """RUN_PARAMETERS bless (an accuracy bound of 0.5, far below what 150 steps
    reach), so the Pusher task must push: the Trainer's SavedModel, file for
    file, in one new version folder, recorded on the PushedModel artifact."""
    blessing = launched.outputs["Evaluator"]["blessing"]
    assert blessing["metadata"].get("blessed") == 1, blessing["metadata"]
    assert os.path.exists(os.path.join(blessing["uri"], "BLESSED"))
    pushed = launched.outputs["Pusher"]["pushed_model"]["metadata"]
    version = _pushed_version(launched)
    target = os.path.join(launched.serving_dir, version)
    assert pushed.get("pushed") == 1, pushed
    assert (str(pushed.get("pushed_version")), pushed.get("pushed_destination")) == (
        version,
        target,
    )
    trained = os.path.join(launched.outputs["Trainer"]["model"]["uri"], "Format-Serving")
    assert tree_digest(target) == tree_digest(trained)


def test_tfx_entry_point_alone_fails_on_untyped_input(launched, spec):
    """Why pipeline.kubeflow.entrypoint exists (fails once TFX handles this itself)."""
    executor_input = launched.executor_input("StatisticsGen")
    for value in executor_input["outputs"]["artifacts"].values():
        value["artifacts"][0]["uri"] += "-raw"
    executor_input["outputs"]["outputFile"] += ".raw"
    proc = launched.run(
        "StatisticsGen",
        command=["python", "-m", entrypoint.TFX_ENTRYPOINT],
        executor_input=executor_input,
    )
    assert proc.returncode != 0
    assert "UnboundLocalError" in proc.stderr and "title" in proc.stderr


def test_bad_data_ends_the_task_with_one_line_and_exit_2(launched):
    """What the task's log in the KFP UI shows for a bad `data` parameter."""
    executor_input = launched.executor_input("ImageExampleGen")
    executor_input["inputs"]["parameterValues"]["data"] = "/no/such/images"
    executor_input["outputs"]["outputFile"] += ".bad"
    proc = launched.run("ImageExampleGen", executor_input=executor_input)
    assert proc.returncode == 2
    assert "tiedflow: error: --data /no/such/images: no such file or directory" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.fixture(scope="module")
def idle_launcher(spec, tmp_path_factory):
    """A launcher that has run nothing yet: for tasks that need no upstream output."""
    workdir = str(tmp_path_factory.mktemp("kfp_bad_data"))
    return OssLauncher(
        spec, workdir, {**RUN_PARAMETERS, "serving_dir": os.path.join(workdir, "serving")}
    )


def test_a_bad_label_ends_the_example_gen_task_naming_file_and_record(idle_launcher, tmp_path):
    """The label check that needs the whole data set runs in the task too: exit 2,
    the log ending with one line naming the file and the record. (Beam logs the
    failed bundle, with its traceback, earlier in the task's log.)"""
    from ingestion import sources

    path = str(tmp_path / "labels.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for index, record in enumerate(sources.digits_records(8)):
            if index == 100:
                break
            writer.write(
                tf.train.Example(
                    features=tf.train.Features(
                        feature={
                            "pixels": tf.train.Feature(
                                int64_list=tf.train.Int64List(value=record.pixels.ravel().tolist())
                            ),
                            "label": tf.train.Feature(
                                int64_list=tf.train.Int64List(
                                    value=[42 if index == 33 else record.label]
                                )
                            ),
                        }
                    )
                ).SerializeToString()
            )
    executor_input = idle_launcher.executor_input("ImageExampleGen")
    executor_input["inputs"]["parameterValues"]["data"] = path
    proc = idle_launcher.run("ImageExampleGen", executor_input=executor_input)
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"tiedflow: error: {path}: record 33: label 42: class ids must be 0..K-1 with none missing"
    ), proc.stderr[-3000:]


def test_next_run_compares_against_the_pushed_model(launched):
    """A second run's baseline is the model the first run pushed (no Resolver)."""
    version = _pushed_version(launched)  # fails, not skips, when nothing was pushed
    launched.run_root = os.path.join(launched.workdir, "run2")
    launched.run_parameters["train_steps"] = 60  # a different candidate model
    for task in ("Trainer", "LatestPushedModel", "Evaluator"):
        launched.launch(task)
    baseline = launched.outputs["LatestPushedModel"]["model"]
    assert baseline["metadata"]["has_model"] == 1
    assert str(baseline["metadata"]["pushed_version"]) == version
    assert tf.io.gfile.exists(os.path.join(baseline["uri"], "Format-Serving", "saved_model.pb"))
    blessing = launched.outputs["Evaluator"]["blessing"]["metadata"]
    assert blessing.get("baseline_model"), blessing


def test_a_curated_schema_parameter_stops_the_validator_task_with_exit_2(launched, tmp_path):
    """The `schema` run parameter: the SchemaGen task loads the file, and the
    ExampleValidator task ends with exit 2 and the anomalies, one message."""
    import tensorflow_data_validation as tfdv

    inferred = launched.outputs["SchemaGen"]["schema"]
    schema = tfdv.load_schema_text(os.path.join(inferred["uri"], "schema.pbtxt"))
    label = tfdv.get_feature(schema, "label")
    label.int_domain.min, label.int_domain.max = 0, 8  # the digits have a 9
    curated = str(tmp_path / "curated.pbtxt")
    tfdv.write_schema_text(schema, curated)

    gen_input = launched.executor_input("SchemaGen")
    gen_input["inputs"]["parameterValues"]["schema_file"] = curated
    (out,) = gen_input["outputs"]["artifacts"]["schema"]["artifacts"]
    out["uri"] += "-curated"
    gen_input["outputs"]["outputFile"] += ".curated"
    proc = launched.run("SchemaGen", executor_input=gen_input)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert tfdv.load_schema_text(os.path.join(out["uri"], "schema.pbtxt")) == schema
    with open(gen_input["outputs"]["outputFile"]) as f:
        reported = json.load(f)["artifacts"]["schema"]["artifacts"][0].get("metadata", {})

    val_input = launched.executor_input("ExampleValidator")
    (given,) = val_input["inputs"]["artifacts"]["schema"]["artifacts"]
    given.update(uri=out["uri"], metadata=reported)
    for artifacts in val_input["outputs"]["artifacts"].values():
        artifacts["artifacts"][0]["uri"] += "-curated"
    val_input["outputs"]["outputFile"] += ".curated"
    proc = launched.run("ExampleValidator", executor_input=val_input)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "split 'train', feature 'label': Out-of-range values" in proc.stderr
    assert f"update the schema file {curated}" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
