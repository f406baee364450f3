"""The compiled pipeline, task by task, run here as the open-source KFP launcher runs it.

For each task of a fresh compile, in dependency order, the test builds the
executor input the way the open-source driver does (parameter values from the
spec and the run's parameters; input artifacts rebuilt from ML Metadata with
name, uri and metadata but no type; output artifacts typed from the spec),
puts it in place of `{{$}}` in the task's own container command and args, and
runs that in a subprocess. What stays unproven without a cluster: pods and
the image, the bucket, ML Metadata, the driver and launcher themselves.
"""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from pipeline import kfp_entrypoint, kubeflow_runner

pytestmark = pytest.mark.e2e
TASK_TIMEOUT_S = 900
RUN_PARAMETERS = {"train_steps": 150, "accuracy_threshold": 0.5}


def _executors(spec):
    config = json_format.ParseDict(json_format.MessageToDict(spec.deployment_spec),
                                   pipeline_spec_pb2.PipelineDeploymentConfig())
    return {task: config.executors[spec.components[task].executor_label].container
            for task in spec.root.dag.tasks}


def _order(spec) -> list:
    done, order = set(), []
    tasks = spec.root.dag.tasks
    while len(order) < len(tasks):
        ready = sorted(t for t in tasks if t not in done
                       and set(tasks[t].dependent_tasks) <= done)
        assert ready, "the DAG has a cycle"
        order.append(ready[0])
        done.add(ready[0])
    return order


class OssLauncher:
    """Runs compiled tasks with executor inputs shaped as the open-source driver writes them."""

    def __init__(self, spec, workdir, run_parameters):
        self.spec = spec
        self.workdir = workdir
        self.containers = _executors(spec)
        root = spec.root.input_definitions.parameters
        self.run_parameters = {name: json_format.MessageToDict(p.default_value)
                               for name, p in root.items() if p.HasField("default_value")}
        self.run_parameters.update(run_parameters)
        self.outputs = {}  # task -> {key: runtime artifact as recorded}
        self.logs = {}
        self.run_root = os.path.join(workdir, "run1")
        self.next_id = 100

    def executor_input(self, task) -> dict:
        spec_task = self.spec.root.dag.tasks[task]
        parameters = {}
        for key, value in spec_task.inputs.parameters.items():
            if value.component_input_parameter:
                parameters[key] = self.run_parameters[value.component_input_parameter]
            else:
                parameters[key] = json_format.MessageToDict(value.runtime_value.constant)
        artifacts = {}
        for key, value in spec_task.inputs.artifacts.items():
            source = value.task_output_artifact
            recorded = self.outputs[source.producer_task][source.output_artifact_key]
            self.next_id += 1
            artifacts[key] = {"artifacts": [{"name": str(self.next_id), "uri": recorded["uri"],
                                             "metadata": recorded.get("metadata", {})}]}
        outputs = self.spec.components[task].output_definitions.artifacts
        return {
            "inputs": {"parameterValues": parameters, "artifacts": artifacts},
            "outputs": {
                "artifacts": {key: {"artifacts": [{
                    "name": f"{task}-{key}",
                    "type": json_format.MessageToDict(out.artifact_type),
                    "uri": os.path.join(self.run_root, task, key),
                    "metadata": {}}]} for key, out in outputs.items()},
                "outputFile": os.path.join(self.run_root, "kfp_outputs", task,
                                           "output_metadata.json"),
            },
        }

    def run(self, task, command=None, executor_input=None):
        container = self.containers[task]
        executor_input = executor_input or self.executor_input(task)
        cmd = list(command or container.command)
        assert cmd[0] == "python"
        cmd[0] = sys.executable
        args = [json.dumps(executor_input) if a == "{{$}}" else a for a in container.args]
        return subprocess.run(cmd + args, capture_output=True, text=True,
                              timeout=TASK_TIMEOUT_S, cwd=self.workdir,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})

    def launch(self, task):
        executor_input = self.executor_input(task)
        proc = self.run(task, executor_input=executor_input)
        self.logs[task] = proc.stderr
        assert proc.returncode == 0, f"task {task} failed:\n{proc.stderr[-5000:]}"
        self.record(task, executor_input)

    def record(self, task, executor_input):
        """What the launcher keeps of a task's outputs: uri plus the metadata it reported."""
        with open(executor_input["outputs"]["outputFile"]) as f:
            reported = json.load(f).get("artifacts", {})
        recorded = {}
        for key, value in executor_input["outputs"]["artifacts"].items():
            artifact = dict(value["artifacts"][0])
            if key in reported:
                artifact["metadata"] = reported[key]["artifacts"][0].get("metadata", {})
            recorded[key] = artifact
        self.outputs[task] = recorded


@pytest.fixture(scope="module")
def spec():
    return kubeflow_runner.compile_spec()


@pytest.fixture(scope="module")
def launched(spec, tmp_path_factory):
    """Every task of the compiled pipeline, in order, on the embedded digits."""
    workdir = str(tmp_path_factory.mktemp("kfp_run"))
    serving_dir = os.path.join(workdir, "serving")
    launcher = OssLauncher(spec, workdir, {**RUN_PARAMETERS, "serving_dir": serving_dir})
    for task in _order(spec):
        launcher.launch(task)
    launcher.serving_dir = serving_dir
    return launcher


def _count(pattern):
    return sum(1 for path in glob.glob(pattern)
               for _ in tf.data.TFRecordDataset(path, compression_type="GZIP"))


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


def test_pusher_pushes_exactly_when_the_evaluator_blessed(launched):
    blessing = launched.outputs["Evaluator"]["blessing"]
    blessed = bool(blessing["metadata"].get("blessed"))
    assert os.path.exists(os.path.join(blessing["uri"],
                                       "BLESSED" if blessed else "NOT_BLESSED"))
    pushed = glob.glob(os.path.join(launched.serving_dir, "*", "saved_model.pb"))
    assert bool(pushed) == blessed
    assert bool(launched.outputs["Pusher"]["pushed_model"]["metadata"].get("pushed")) == blessed


def test_tfx_entry_point_alone_fails_on_untyped_input(launched, spec):
    """Why pipeline.kfp_entrypoint exists (fails once TFX handles this itself)."""
    executor_input = launched.executor_input("StatisticsGen")
    for key, value in executor_input["outputs"]["artifacts"].items():
        value["artifacts"][0]["uri"] += "-raw"
    executor_input["outputs"]["outputFile"] += ".raw"
    proc = launched.run("StatisticsGen", command=["python", "-m", kfp_entrypoint.TFX_ENTRYPOINT],
                        executor_input=executor_input)
    assert proc.returncode != 0
    assert "UnboundLocalError" in proc.stderr and "title" in proc.stderr


def test_next_run_compares_against_the_pushed_model(launched):
    """A second run's baseline is the model the first run pushed (no Resolver)."""
    pushed = glob.glob(os.path.join(launched.serving_dir, "*", "saved_model.pb"))
    if not pushed:
        pytest.skip("the first run pushed nothing")
    version = os.path.basename(os.path.dirname(pushed[0]))
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
