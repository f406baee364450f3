"""The committed pipeline.yaml: fresh, and runnable by open-source Kubeflow Pipelines v2.

Everything is derived from a fresh compile and from `create_pipeline`, so the
tests follow the pipeline as it changes; only the knob-to-task wiring, which
is the contract of the Kubeflow path, is spelled out.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from pipeline.config import PipelineConfig
from pipeline.dag import create_pipeline
from pipeline.kubeflow import compiler

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMITTED = os.path.join(REPO, "pipeline.yaml")
ARGO_TASK_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")
TEST_IMAGE = "registry.example.com/team/tiedflow:test-1"
SDK_VERSION_LINE = re.compile(r"^sdkVersion: .*$", re.M)
ParameterType = pipeline_spec_pb2.ParameterType


def _parse(text: str) -> pipeline_spec_pb2.PipelineSpec:
    return json_format.ParseDict(yaml.safe_load(text), pipeline_spec_pb2.PipelineSpec())


def _executors(spec) -> dict:
    config = json_format.ParseDict(
        json_format.MessageToDict(spec.deployment_spec),
        pipeline_spec_pb2.PipelineDeploymentConfig(),
    )
    return dict(config.executors)


def _images(spec) -> set:
    return {e.container.image for e in _executors(spec).values() if e.HasField("container")}


@pytest.fixture(scope="module")
def committed_text() -> str:
    assert os.path.exists(COMMITTED), "pipeline.yaml is missing: run `make compile`"
    with open(COMMITTED) as f:
        return f.read()


@pytest.fixture(scope="module")
def committed(committed_text) -> pipeline_spec_pb2.PipelineSpec:
    return _parse(committed_text)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> pipeline_spec_pb2.PipelineSpec:
    """A fresh compile with a distinctive image, read back from the file written."""
    path = str(tmp_path_factory.mktemp("kfp") / "pipeline.yaml")
    compiler.compile_pipeline(path, image=TEST_IMAGE)
    with open(path) as f:
        return _parse(f.read())


@pytest.fixture(scope="module")
def local_pipeline():
    return create_pipeline(PipelineConfig())


def test_committed_pipeline_yaml_is_fresh(committed, committed_text, tmp_path):
    """Recompiling gives the committed file, byte for byte but the SDK version."""
    images = _images(committed)
    assert len(images) == 1, f"pipeline.yaml names several images: {images}"
    fresh_path = str(tmp_path / "pipeline.yaml")
    compiler.compile_pipeline(fresh_path, image=images.pop())
    with open(fresh_path) as f:
        fresh = SDK_VERSION_LINE.sub("", f.read())
    old = SDK_VERSION_LINE.sub("", committed_text)
    diff = "".join(
        difflib.unified_diff(
            old.splitlines(True),
            fresh.splitlines(True),
            "pipeline.yaml (committed)",
            "fresh compile",
            n=2,
        )
    )
    assert fresh == old, "pipeline.yaml is stale; run `make compile`:\n" + diff[:4000]


@pytest.mark.parametrize("which", ["committed", "compiled"])
def test_schema_2_1(which, request):
    assert request.getfixturevalue(which).schema_version == "2.1.0"


@pytest.mark.parametrize("which", ["committed", "compiled"])
def test_only_container_and_importer_executors(which, request):
    spec = request.getfixturevalue(which)
    kinds = {label: e.WhichOneof("spec") for label, e in _executors(spec).items()}
    assert kinds and set(kinds.values()) <= {"container", "importer"}, kinds
    assert not any("resolver" in name for name in spec.root.dag.tasks)


@pytest.mark.parametrize("which", ["committed", "compiled"])
def test_task_and_component_names_are_argo_names(which, request):
    spec = request.getfixturevalue(which)
    names = list(spec.root.dag.tasks) + list(spec.components)
    bad = [n for n in names if not ARGO_TASK_NAME.fullmatch(n)]
    assert not bad, f"not valid Argo task names: {bad}"


def test_every_container_runs_the_image_and_tfx_executor(compiled):
    containers = {
        label: e.container for label, e in _executors(compiled).items() if e.HasField("container")
    }
    assert len(containers) == len(compiled.root.dag.tasks)
    for label, container in containers.items():
        assert container.image == TEST_IMAGE, label
        assert list(container.command) == list(compiler.ENTRYPOINT), label
        args = list(container.args)
        assert args[args.index("--json_serialized_invocation_args") + 1] == "{{$}}", label
        assert "--json_serialized_inputs_spec_args" in args, label
        # The executor class the container will import exists and is a TFX executor.
        module, _, name = args[args.index("--executor_class_path") + 1].rpartition(".")
        executor = getattr(importlib.import_module(module), name)
        assert hasattr(executor, "Do"), label
    # The entry point hands over to TFX's Kubeflow V2 executor runner.
    entry = importlib.import_module(compiler.ENTRYPOINT[-1])
    assert (
        entry.TFX_ENTRYPOINT == "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
    )


def test_dag_has_the_local_pipelines_components_and_edges(compiled, local_pipeline):
    tasks = compiled.root.dag.tasks
    assert set(tasks) == {c.id for c in local_pipeline.components}
    for component in local_pipeline.components:
        task = tasks[component.id]
        assert task.component_ref.name == component.id
        assert set(task.dependent_tasks) == {n.id for n in component.upstream_nodes}, component.id
        wired = {
            key: (a.task_output_artifact.producer_task, a.task_output_artifact.output_artifact_key)
            for key, a in task.inputs.artifacts.items()
        }
        expected = {
            key: (ch.producer_component_id, ch.output_key) for key, ch in component.inputs.items()
        }
        assert wired == expected, component.id
        outputs = set(compiled.components[component.id].output_definitions.artifacts)
        assert outputs == set(component.outputs), component.id


# The contract of the Kubeflow path: which task reads which run parameter.
CONSUMERS = {
    "data": {"ImageExampleGen"},
    "serving_dir": {"LatestPushedModel", "Pusher"},
    "train_steps": {"Trainer"},
    "learning_rate": {"Trainer"},
    "accuracy_threshold": {"Evaluator"},
    "schema": {"SchemaGen"},
    **{
        name: {"ImageExampleGen"}
        for name in (
            "image_size",
            "channels",
            "classes",
            "image_feature",
            "label_feature",
            "pixel_encoding",
            "pixel_range",
            "image_shape",
            "max_pixels",
        )
    },
}
TYPES = {
    "data": ParameterType.STRING,
    "serving_dir": ParameterType.STRING,
    "train_steps": ParameterType.NUMBER_INTEGER,
    "learning_rate": ParameterType.NUMBER_DOUBLE,
    "accuracy_threshold": ParameterType.NUMBER_DOUBLE,
    "schema": ParameterType.STRING,
    "image_size": ParameterType.NUMBER_INTEGER,
    "channels": ParameterType.NUMBER_INTEGER,
    "max_pixels": ParameterType.NUMBER_INTEGER,
    **{
        name: ParameterType.STRING
        for name in (
            "classes",
            "image_feature",
            "label_feature",
            "pixel_encoding",
            "pixel_range",
            "image_shape",
        )
    },
}
# A run parameter whose task property has another name (SchemaGen's output is
# already called `schema`).
PROPERTY_OF = {"schema": "schema_file"}


def test_run_parameters_exist_with_types_and_reach_their_tasks(compiled):
    params = compiled.root.input_definitions.parameters
    assert set(params) == set(TYPES)
    for name, kind in TYPES.items():
        assert params[name].parameter_type == kind, name
    readers = {}
    for task_name, task in compiled.root.dag.tasks.items():
        for key, value in task.inputs.parameters.items():
            if value.component_input_parameter:
                param = value.component_input_parameter
                assert key == PROPERTY_OF.get(param, param), task_name
                key = param
                readers.setdefault(key, set()).add(task_name)
                declared = compiled.components[task_name].input_definitions.parameters[
                    PROPERTY_OF.get(key, key)
                ]
                assert declared.parameter_type == TYPES[key], (task_name, key)
    assert readers == CONSUMERS


def test_parameter_defaults_are_the_config_defaults(compiled):
    params = compiled.root.input_definitions.parameters
    defaults = PipelineConfig()
    for name in TYPES:
        if name in compiler.REQUIRED_PARAMETERS:
            assert not params[name].HasField("default_value") and not params[name].is_optional
        else:
            value = json_format.MessageToDict(params[name].default_value)
            default = getattr(defaults, name)
            if isinstance(default, tuple):  # a list setting travels as "a,b,c"
                default = ",".join(default)
            assert value == default and params[name].is_optional, name


@pytest.mark.parametrize("which", ["committed", "compiled"])
def test_no_task_whose_cache_key_needs_a_tfx_driver_is_served_from_kfp_cache(which, request):
    """The open-source backend runs no TFX driver and keys its cache on a task's
    parameters and input artifacts: ImageExampleGen (keyed locally on the data's
    fingerprint), SchemaGen (on the schema file's digest) and the baseline lookup
    (on the serving folder's newest model) would be served stale there. Every
    other task keeps KFP's cache."""
    spec = request.getfixturevalue(which)
    caching = {name: t.caching_options.enable_cache for name, t in spec.root.dag.tasks.items()}
    uncached = sorted(name for name, on in caching.items() if not on)
    assert {"ImageExampleGen", "SchemaGen", "LatestPushedModel"} <= set(uncached)
    pipeline = compiler.build(PipelineConfig())
    assert uncached == sorted(c.id for c in pipeline.components if compiler.keyed_by_driver(c))
    assert not any(
        compiler.keyed_by_driver(c)
        for c in pipeline.components
        if c.id in ("StatisticsGen", "Transform", "Trainer", "Evaluator")
    )


def test_compile_writes_no_local_paths(compiled):
    """Nothing of the machine that compiled leaks into the spec."""
    text = json_format.MessageToJson(compiled)
    assert REPO not in text and "tiedflow_output" not in text
    assert compiler.COMPILE_ROOT not in text


def test_each_task_running_project_code_carries_its_code_fingerprint(committed):
    """Kubeflow's cache keys on a task's inputs: the fingerprint of the code it
    runs must be one, or a code change under the same image tag is served stale."""
    from pipeline.fingerprints import code_versions

    expected = code_versions()
    found = {}
    for name, task in committed.root.dag.tasks.items():
        params = task.inputs.parameters
        if "code_version" in params:
            found[name] = params["code_version"].runtime_value.constant.string_value
        elif "custom_config" in params and name == "Transform":
            import json

            custom = json.loads(params["custom_config"].runtime_value.constant.string_value)
            found[name] = custom["code_version"]
    assert found == {name: expected[name] for name in committed.root.dag.tasks if name in expected}
    assert set(found) == set(committed.root.dag.tasks) - {"StatisticsGen"}


def test_report_is_an_html_artifact_the_kfp_ui_renders(committed):
    """The KFP UI shows an output typed `system.HTML` (the MLMD type the launcher
    records is the schema's title) by reading the one object at its URI."""
    from tfx.types import value_artifact

    from components.report import HtmlReport

    outputs = {}
    for task in committed.root.dag.tasks.values():
        component = committed.components[task.component_ref.name]
        for key, out in component.output_definitions.artifacts.items():
            schema = (
                out.artifact_type.schema_title
                or yaml.safe_load(out.artifact_type.instance_schema)["title"]
            )
            outputs[(task.task_info.name, key)] = schema
    html = [where for where, title in outputs.items() if title == "system.HTML"]
    assert html == [("EvaluationReport", "report")]
    # A file at the URI, not TFX's usual directory: a value artifact.
    assert issubclass(HtmlReport, value_artifact.ValueArtifact)


def test_a_schema_file_changes_no_task_only_the_parameters_default(compiled, tmp_path):
    """SchemaGen infers or loads in one task: the graph, the tasks and their
    inputs are the same with `schema` set; only that parameter's default moves."""
    path = tmp_path / "schema.pbtxt"
    path.write_text('feature { name: "pixels" type: INT shape { dim { size: 64 } } }\n')
    with_file = compiler.compile_spec(PipelineConfig(schema=str(path)), image=TEST_IMAGE)
    assert with_file.root.input_definitions.parameters["schema"].default_value.string_value == (
        str(path)
    )
    for spec in (with_file, compiled):
        spec.root.input_definitions.parameters["schema"].ClearField("default_value")
    assert with_file == compiled
