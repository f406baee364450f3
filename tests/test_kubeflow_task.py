"""Compiled tasks run here as the open-source KFP launcher would run them.

Each test takes a task's container command and args from a fresh compile,
builds the executor input the way the open-source driver does (parameter
values from the spec; input artifacts rebuilt from ML Metadata: name, uri and
metadata, no type), replaces `{{$}}` with it and runs the command in a
subprocess, then checks the artifacts and the executor output it wrote.
What stays unproven without a cluster: the pod, the bucket, ML Metadata.
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
TIMEOUT_S = 600


@pytest.fixture(scope="module")
def spec():
    return kubeflow_runner.compile_spec()


def _container(spec, task):
    label = spec.components[task].executor_label
    config = json_format.ParseDict(json_format.MessageToDict(spec.deployment_spec),
                                   pipeline_spec_pb2.PipelineDeploymentConfig())
    return config.executors[label].container


def _parameter_values(spec, task) -> dict:
    """What the driver resolves: constants from the task, run parameters from the root."""
    root = spec.root.input_definitions.parameters
    values = {}
    for key, value in spec.root.dag.tasks[task].inputs.parameters.items():
        if value.component_input_parameter:
            values[key] = json_format.MessageToDict(root[value.component_input_parameter]
                                                    .default_value)
        else:
            values[key] = json_format.MessageToDict(value.runtime_value.constant)
    return values


def _executor_input(spec, task, workdir, inputs=None) -> dict:
    outputs = spec.components[task].output_definitions.artifacts
    return {
        "inputs": {"parameterValues": _parameter_values(spec, task),
                   "artifacts": inputs or {}},
        "outputs": {
            "artifacts": {
                name: {"artifacts": [{
                    "name": f"{task}-{name}",
                    "type": json_format.MessageToDict(out.artifact_type),
                    "uri": os.path.join(workdir, task, name),
                    "metadata": {}}]}
                for name, out in outputs.items()},
            "outputFile": os.path.join(workdir, task, "output_metadata.json"),
        },
    }


def _run(spec, task, executor_input, command=None):
    container = _container(spec, task)
    cmd = list(command or container.command)
    assert cmd[0] == "python"
    cmd[0] = sys.executable
    args = [json.dumps(executor_input) if a == "{{$}}" else a for a in container.args]
    return subprocess.run(cmd + args, capture_output=True, text=True, timeout=TIMEOUT_S,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def _count(pattern):
    return sum(1 for path in glob.glob(pattern)
               for _ in tf.data.TFRecordDataset(path, compression_type="GZIP"))


@pytest.fixture(scope="module")
def example_gen(spec, tmp_path_factory):
    """The ImageExampleGen task on the embedded digits."""
    workdir = str(tmp_path_factory.mktemp("kfp_task"))
    executor_input = _executor_input(spec, "ImageExampleGen", workdir)
    proc = _run(spec, "ImageExampleGen", executor_input)
    assert proc.returncode == 0, proc.stderr[-4000:]
    with open(executor_input["outputs"]["outputFile"]) as f:
        output = json.load(f)
    return workdir, executor_input, output


def test_example_gen_task_writes_splits_and_reports_them(example_gen):
    workdir, executor_input, output = example_gen
    uri = executor_input["outputs"]["artifacts"]["examples"]["artifacts"][0]["uri"]
    train = _count(os.path.join(uri, "Split-train", "*.gz"))
    evaluation = _count(os.path.join(uri, "Split-eval", "*.gz"))
    assert train + evaluation == 1797 and 0.15 < evaluation / 1797 < 0.25
    [artifact] = output["artifacts"]["examples"]["artifacts"]
    assert artifact["uri"] == uri
    meta = artifact["metadata"]
    assert json.loads(meta["split_names"]) == ["train", "eval"]
    assert (meta["train_examples"], meta["eval_examples"]) == (train, evaluation)


def _as_oss_input(executor_output: dict, key: str) -> dict:
    """An upstream output as the open-source driver passes it on: no type."""
    [artifact] = executor_output["artifacts"][key]["artifacts"]
    return {"artifacts": [{"name": "101", "uri": artifact["uri"],
                           "metadata": artifact["metadata"]}]}


def test_downstream_task_runs_on_untyped_input(spec, example_gen):
    """StatisticsGen reads ExampleGen's output handed over without a type."""
    workdir, _, output = example_gen
    executor_input = _executor_input(spec, "StatisticsGen", workdir,
                                     {"examples": _as_oss_input(output, "examples")})
    proc = _run(spec, "StatisticsGen", executor_input)
    assert proc.returncode == 0, proc.stderr[-4000:]
    uri = executor_input["outputs"]["artifacts"]["statistics"]["artifacts"][0]["uri"]
    for split in ("train", "eval"):
        assert os.path.getsize(os.path.join(uri, f"Split-{split}", "FeatureStats.pb")) > 0


def test_tfx_entry_point_alone_fails_on_untyped_input(spec, example_gen):
    """Why pipeline.kfp_entrypoint exists (fails once TFX handles this itself)."""
    workdir, _, output = example_gen
    executor_input = _executor_input(spec, "StatisticsGen", os.path.join(workdir, "raw"),
                                     {"examples": _as_oss_input(output, "examples")})
    tfx_command = ["python", "-m", kfp_entrypoint.TFX_ENTRYPOINT]
    proc = _run(spec, "StatisticsGen", executor_input, command=tfx_command)
    assert proc.returncode != 0
    assert "UnboundLocalError" in proc.stderr and "title" in proc.stderr


def test_complete_executor_input_fills_only_missing_types():
    spec = pipeline_spec_pb2.ComponentInputsSpec()
    spec.artifacts["examples"].artifact_type.instance_schema = "title: tfx.Examples\n"
    executor_input = {"inputs": {"artifacts": {
        "examples": {"artifacts": [{"name": "1", "uri": "gs://b/e"},
                                   {"name": "2", "uri": "gs://b/f",
                                    "type": {"schemaTitle": "tfx.Examples"}}]},
        "other": {"artifacts": [{"name": "3", "uri": "gs://b/o"}]}}}}
    done = json.loads(kfp_entrypoint.complete_executor_input(
        json.dumps(executor_input), json_format.MessageToJson(spec)))
    first, second = done["inputs"]["artifacts"]["examples"]["artifacts"]
    assert first["type"] == {"instanceSchema": "title: tfx.Examples\n"}
    assert second["type"] == {"schemaTitle": "tfx.Examples"}
    assert "type" not in done["inputs"]["artifacts"]["other"]["artifacts"][0]
