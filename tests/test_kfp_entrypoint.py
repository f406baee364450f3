"""pipeline.kubeflow.entrypoint: what it adds to TFX's entry point for the open-source launcher."""

from __future__ import annotations

import json

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration.kubeflow.v2 import compiler_utils
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils

from pipeline.kubeflow import entrypoint


def test_complete_executor_input_fills_only_missing_types():
    inputs_spec = pipeline_spec_pb2.ComponentInputsSpec()
    inputs_spec.artifacts["examples"].artifact_type.instance_schema = "title: tfx.Examples\n"
    executor_input = {
        "inputs": {
            "artifacts": {
                "examples": {
                    "artifacts": [
                        {"name": "1", "uri": "gs://b/e"},
                        {"name": "2", "uri": "gs://b/f", "type": {"schemaTitle": "tfx.Examples"}},
                    ]
                },
                "other": {"artifacts": [{"name": "3", "uri": "gs://b/o"}]},
            }
        }
    }
    done = json.loads(
        entrypoint.complete_executor_input(
            json.dumps(executor_input), json_format.MessageToJson(inputs_spec)
        )
    )
    first, second = done["inputs"]["artifacts"]["examples"]["artifacts"]
    assert first["type"] == {"instanceSchema": "title: tfx.Examples\n"}
    assert second["type"] == {"schemaTitle": "tfx.Examples"}
    assert "type" not in done["inputs"]["artifacts"]["other"]["artifacts"][0]


def test_complete_executor_input_replaces_kfp_local_generic_type():
    """kfp.local hands an upstream output down as `system.Artifact` (its own class
    for a schema it does not know); the task's declared type replaces it."""
    inputs_spec = pipeline_spec_pb2.ComponentInputsSpec()
    inputs_spec.artifacts[
        "examples"
    ].artifact_type.instance_schema = "title: tfx.Examples\ntype: object\n"
    executor_input = {
        "inputs": {
            "artifacts": {
                "examples": {
                    "artifacts": [
                        {
                            "name": "examples",
                            "uri": "/root/run/ExampleGen/examples",
                            "type": {"schemaTitle": "system.Artifact", "schemaVersion": "0.0.1"},
                            "metadata": {"split_names": '["train", "eval"]'},
                        }
                    ]
                }
            }
        }
    }
    done = json.loads(
        entrypoint.complete_executor_input(
            json.dumps(executor_input), json_format.MessageToJson(inputs_spec)
        )
    )
    (examples,) = done["inputs"]["artifacts"]["examples"]["artifacts"]
    assert examples["type"] == {"instanceSchema": "title: tfx.Examples\ntype: object\n"}
    assert examples["metadata"] == {"split_names": '["train", "eval"]'}
    artifact = kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(
        json_format.Parse(json.dumps(done), pipeline_spec_pb2.ExecutorInput()).inputs.artifacts, {}
    )["examples"][0]
    assert artifact.type_name == "Examples" and artifact.split_names == '["train", "eval"]'


def test_type_title_reads_either_form():
    schema = pipeline_spec_pb2.ArtifactTypeSchema
    assert entrypoint.type_title(schema(schema_title="system.HTML")) == "system.HTML"
    assert (
        entrypoint.type_title(schema(instance_schema="title: tfx.Model\ntype: object\n"))
        == "tfx.Model"
    )
    assert entrypoint.type_title(schema()) == ""


def test_fix_argv_rewrites_only_the_executor_input():
    inputs_spec = json.dumps(
        {"artifacts": {"model": {"artifactType": {"instanceSchema": "title: tfx.Model\n"}}}}
    )
    executor_input = json.dumps(
        {"inputs": {"artifacts": {"model": {"artifacts": [{"name": "7", "uri": "/m"}]}}}}
    )
    argv = [
        "--executor_class_path",
        "x.Y",
        "--json_serialized_invocation_args",
        executor_input,
        "--json_serialized_inputs_spec_args",
        inputs_spec,
        "--direct_num_workers=1",
    ]
    fixed = entrypoint.fix_argv(argv)
    assert fixed[:3] + fixed[4:] == argv[:3] + argv[4:]
    model = json.loads(fixed[3])["inputs"]["artifacts"]["model"]["artifacts"][0]
    assert model["type"] == {"instanceSchema": "title: tfx.Model\n"}
    assert entrypoint.fix_argv(argv[:4]) == argv[:4]  # no inputs spec: unchanged


def test_project_artifact_types_resolve_by_type_name():
    """A custom type whose TYPE_NAME is not an import path (what TFX would try)."""
    from tfx.types import artifact

    class ProbeReport(artifact.Artifact):
        TYPE_NAME = "tiedflow.ProbeReport"

    ProbeReport.__module__ = "components.probe"  # as if defined in the project
    ProbeReport.__qualname__ = "ProbeReport"
    added = entrypoint.register_artifact_types("pipeline.kubeflow.entrypoint.main")
    assert added.get("tiedflow.ProbeReport") == "components.probe.ProbeReport"
    assert compiler_utils.TITLE_TO_CLASS_PATH["tfx.Examples"].endswith("Examples")
    compiler_utils.TITLE_TO_CLASS_PATH.pop("tiedflow.ProbeReport")
    # Without the registration TFX cannot find such a class.
    runtime = pipeline_spec_pb2.RuntimeArtifact(name="1", uri="/r")
    runtime.type.instance_schema = "title: tiedflow.ProbeReport\ntype: object\n"
    try:
        kubeflow_v2_entrypoint_utils._parse_raw_artifact(runtime, {})
        raised = False
    except ImportError:
        raised = True
    assert raised


def test_folder_markers_are_only_empty_slash_objects():
    objects = [
        ("run/Trainer/model/", 0),
        ("run/Trainer/model/Format-Serving/", 0),
        ("run/Trainer/model/Format-Serving/saved_model.pb", 5120),
        ("run/Trainer/model/Format-Serving/assets/empty.txt", 0),
        ("run/Trainer/model/notes/", 12),
    ]
    assert entrypoint.folder_markers(objects) == [
        "run/Trainer/model/",
        "run/Trainer/model/Format-Serving/",
    ]


def test_output_uris_lists_every_output_artifact():
    executor_input = json.dumps(
        {
            "outputs": {
                "artifacts": {
                    "model": {"artifacts": [{"name": "m", "uri": "gs://b/run/Trainer/model"}]},
                    "model_run": {
                        "artifacts": [{"name": "r", "uri": "gs://b/run/Trainer/model_run"}]
                    },
                },
                "outputFile": "/tmp/kfp_outputs/output_metadata.json",
            }
        }
    )
    assert entrypoint.output_uris(executor_input) == [
        "gs://b/run/Trainer/model",
        "gs://b/run/Trainer/model_run",
    ]


def test_report_type_resolves_to_the_project_class():
    """`system.HTML` is no import path: the entry point maps it to the report's class."""
    added = entrypoint.register_artifact_types("components.report.EvaluationReport_Executor")
    try:
        assert compiler_utils.TITLE_TO_CLASS_PATH["system.HTML"] == "components.report.HtmlReport"
        runtime = pipeline_spec_pb2.RuntimeArtifact(name="1", uri="/r/EvaluationReport/report")
        runtime.type.instance_schema = "title: system.HTML\ntype: object\n"
        parsed = kubeflow_v2_entrypoint_utils._parse_raw_artifact(runtime, {})
        assert type(parsed).__name__ == "HtmlReport" and parsed.uri == runtime.uri
    finally:
        for title in added:
            compiler_utils.TITLE_TO_CLASS_PATH.pop(title)
