"""Runs compiled tasks of pipeline.yaml as the open-source KFP launcher runs them.

One source for both places a task runs here: a subprocess of this venv
(tests/test_kubeflow_task.py) and the project's image under a container engine
(tests/test_image.py). For each task the executor input is built the way the
open-source driver writes it (parameter values from the spec and the run's
parameters; input artifacts rebuilt from what the launcher recorded, with
name, uri and metadata but no type; output artifacts typed from the spec) and
put in place of `{{$}}` in the task's own container command and args.

Imported as `import kfp_launcher` (pytest puts tests/ on sys.path); never as
`tests.kfp_launcher`: a package of the stack installs a top-level `tests`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

TASK_TIMEOUT_S = 900


def executors(spec) -> dict:
    """Task name -> its container spec (command, args, image)."""
    config = json_format.ParseDict(
        json_format.MessageToDict(spec.deployment_spec),
        pipeline_spec_pb2.PipelineDeploymentConfig(),
    )
    return {
        task: config.executors[spec.components[task].executor_label].container
        for task in spec.root.dag.tasks
    }


def dag_order(spec) -> list:
    """The tasks in an order that respects every dependency (ties by name)."""
    done, order = set(), []
    tasks = spec.root.dag.tasks
    while len(order) < len(tasks):
        ready = sorted(t for t in tasks if t not in done and set(tasks[t].dependent_tasks) <= done)
        assert ready, "the DAG has a cycle"
        order.append(ready[0])
        done.add(ready[0])
    return order


def host_runner(cmd: list, cwd: str) -> subprocess.CompletedProcess:
    """A task's command line as a subprocess of this interpreter's environment."""
    assert cmd[0] == "python", cmd
    return subprocess.run(
        [sys.executable, *cmd[1:]],
        capture_output=True,
        text=True,
        timeout=TASK_TIMEOUT_S,
        cwd=cwd,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )


class ContainerRunner:
    """A task's command line in the image, as a pod runs it: non-root, no network,
    the pipeline root bind-mounted at the same path (so artifact URIs agree)."""

    def __init__(self, engine: list, image: str, root: str, user: str = "1000:1000"):
        self.engine, self.image, self.root, self.user = engine, image, root, user

    def __call__(self, cmd: list, cwd: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                *self.engine[:1],
                "run",
                "--rm",
                *self.engine[1:],
                "--network=none",
                "--user",
                self.user,
                "-v",
                f"{self.root}:{self.root}",
                self.image,
                *cmd,
            ],
            capture_output=True,
            text=True,
            timeout=TASK_TIMEOUT_S,
            cwd=cwd,
        )


class OssLauncher:
    """Runs compiled tasks with executor inputs shaped as the open-source driver writes them."""

    def __init__(self, spec, workdir, run_parameters, runner=host_runner):
        self.spec = spec
        self.workdir = workdir
        self.runner = runner
        self.containers = executors(spec)
        root = spec.root.input_definitions.parameters
        self.run_parameters = {
            name: json_format.MessageToDict(p.default_value)
            for name, p in root.items()
            if p.HasField("default_value")
        }
        self.run_parameters.update(run_parameters)
        self.outputs = {}  # task -> {key: runtime artifact as recorded}
        self.logs = {}  # task -> the task's output (stdout and stderr)
        self.seconds = {}  # task -> wall time of its last launch
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
            artifacts[key] = {
                "artifacts": [
                    {
                        "name": str(self.next_id),
                        "uri": recorded["uri"],
                        "metadata": recorded.get("metadata", {}),
                    }
                ]
            }
        outputs = self.spec.components[task].output_definitions.artifacts
        return {
            "inputs": {"parameterValues": parameters, "artifacts": artifacts},
            "outputs": {
                "artifacts": {
                    key: {
                        "artifacts": [
                            {
                                "name": f"{task}-{key}",
                                "type": json_format.MessageToDict(out.artifact_type),
                                "uri": os.path.join(self.run_root, task, key),
                                "metadata": {},
                            }
                        ]
                    }
                    for key, out in outputs.items()
                },
                "outputFile": os.path.join(
                    self.run_root, "kfp_outputs", task, "output_metadata.json"
                ),
            },
        }

    def run(self, task, command=None, executor_input=None) -> subprocess.CompletedProcess:
        """Runs a task once (its own command unless `command`); returns the process."""
        container = self.containers[task]
        executor_input = executor_input or self.executor_input(task)
        args = [json.dumps(executor_input) if a == "{{$}}" else a for a in container.args]
        start = time.monotonic()
        proc = self.runner(list(command or container.command) + args, self.workdir)
        self.seconds[task] = time.monotonic() - start
        self.logs[task] = proc.stdout + proc.stderr
        return proc

    def launch(self, task):
        """Runs a task that must succeed and records its outputs, as the launcher does."""
        executor_input = self.executor_input(task)
        proc = self.run(task, executor_input=executor_input)
        assert proc.returncode == 0, f"task {task} failed:\n{self.logs[task][-5000:]}"
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
