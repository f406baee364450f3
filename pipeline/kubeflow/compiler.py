"""Compiles the pipeline into pipeline.yaml for open-source Kubeflow Pipelines v2.

The same `create_pipeline(config)` as a local run, compiled by TFX's
KubeflowV2DagRunner with the 2.1 schema (what the open-source driver reads).
The knobs users change per run become pipeline parameters. Containers start
TFX's executor entry point through `pipeline.kubeflow.entrypoint`, which fills in
what the open-source launcher leaves out. Two touches on the spec TFX writes:
parameter descriptions and defaults (TFX drops RuntimeParameter defaults;
kfp's own compiler writes them), and no KFP caching for the baseline lookup,
whose answer depends on the serving folder, not on its inputs.
"""
from __future__ import annotations

import os
import tempfile

import yaml
from google.protobuf import json_format, struct_pb2
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration import data_types
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from components.baseline import LatestPushedModel
from pipeline.config import PipelineConfig
from pipeline.dag import create_pipeline
from pipeline.fingerprints import code_versions


def default_image() -> str:
    """`tiedflow:<project version>`. A versioned tag, not `latest`: Kubernetes
    always pulls `latest`, so an image loaded into the nodes (`kind load
    docker-image`) would not be used."""
    from importlib import metadata

    return f"tiedflow:{metadata.version('tiedflow')}"

# The knobs a run can change: KFP type and what the KFP UI shows.
RUNTIME_PARAMETERS = {
    "data": (str, "'digits' (embedded), or a gs:// folder DIR/<label>/*.png, "
                  "or TFRecord file(s)/glob"),
    "serving_dir": (str, "push destination, also where the baseline model is looked up"),
    "train_steps": (int, "training steps"),
    "learning_rate": (float, "optimizer learning rate"),
    "accuracy_threshold": (float, "lower bound on overall eval accuracy for blessing"),
    "schema": (str, "a curated TFDV schema (text format, gs://...) the data must match; "
                    "empty: inferred from the data's statistics"),
    # How to read the data: the same compiled spec serves any data set.
    "image_size": (int, "0: the data's own size; else every image is resized to it"),
    "channels": (int, "0: the data's own (3 when most images are colour); or 1 or 3"),
    "classes": (str, "the classes in id order, comma-separated; empty: from the data"),
    "image_feature": (str, "TFRecords: the feature that holds the image"),
    "label_feature": (str, "TFRecords: the feature that holds the label (id or name)"),
    "pixel_encoding": (str, "TFRecords: int, float, bytes (raw uint8) or encoded (PNG/JPEG)"),
    "pixel_range": (str, "TFRecords: lo,hi of numeric pixels; empty: 0,255 (int) or 0,1 (float)"),
    "image_shape": (str, "TFRecords: H,W or H,W,C of flat pixels; empty: square, one channel"),
    "max_pixels": (int, "a larger image (width x height) is refused by name"),
}
# Knobs without a default in the spec: they name the user's own storage.
REQUIRED_PARAMETERS = ("serving_dir",)
# Not written into the spec (TFX keeps it for the PipelineJob only); the real
# pipeline root is given at submission.
COMPILE_ROOT = "gs://pipeline-root-given-at-submission"
# Components whose output depends on state outside their inputs.
UNCACHED = (LatestPushedModel,)
# TFX's executor entry point behind a shim for the open-source launcher.
ENTRYPOINT = ("python", "-m", "pipeline.kubeflow.entrypoint")


def build(config: PipelineConfig) -> tfx_pipeline.Pipeline:
    """The pipeline with RuntimeParameters in place of the per-run knobs."""
    runtime = {name: data_types.RuntimeParameter(name=name, ptype=ptype)
               for name, (ptype, _) in RUNTIME_PARAMETERS.items()}
    runtime["pipeline_root"] = COMPILE_ROOT
    return create_pipeline(config, code_versions=code_versions(), runtime=runtime)


def compile_spec(config: PipelineConfig | None = None,
                 image: str | None = None) -> pipeline_spec_pb2.PipelineSpec:
    """Compiles to the PipelineSpec proto (nothing is written)."""
    config = config or PipelineConfig()
    image = image or default_image()
    pipeline = build(config)
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            default_image=image, default_commands=list(ENTRYPOINT),
            use_pipeline_spec_2_1=True),
        output_dir=tempfile.gettempdir())
    job = runner.run(pipeline, write_out=False)
    spec = json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    _describe_parameters(spec, config)
    _disable_cache(spec, pipeline)
    return spec


def _describe_parameters(spec: pipeline_spec_pb2.PipelineSpec, config: PipelineConfig) -> None:
    params = spec.root.input_definitions.parameters
    for name, (_, description) in RUNTIME_PARAMETERS.items():
        params[name].description = description
        if name not in REQUIRED_PARAMETERS:
            params[name].default_value.CopyFrom(_struct_value(getattr(config, name)))
            params[name].is_optional = True


def _struct_value(value) -> struct_pb2.Value:
    if isinstance(value, tuple):
        value = ",".join(str(v) for v in value)
    if isinstance(value, str):
        return struct_pb2.Value(string_value=value)
    return struct_pb2.Value(number_value=value)


def _disable_cache(spec: pipeline_spec_pb2.PipelineSpec, pipeline: tfx_pipeline.Pipeline) -> None:
    for component in pipeline.components:
        if isinstance(component, UNCACHED):
            spec.root.dag.tasks[component.id].caching_options.enable_cache = False


def to_yaml(spec: pipeline_spec_pb2.PipelineSpec) -> str:
    """The YAML `kfp.Client` uploads, with a header naming its parameters."""
    header = ["# PIPELINE DEFINITION (generated by `tiedflow compile`; do not edit,",
              "# regenerate with `make compile`)",
              f"# Name: {spec.pipeline_info.name}",
              "# Inputs:"]
    for name, param in sorted(spec.root.input_definitions.parameters.items()):
        kind = pipeline_spec_pb2.ParameterType.ParameterTypeEnum.Name(param.parameter_type)
        default = " [required]"
        if param.HasField("default_value"):
            value = json_format.MessageToDict(param.default_value)
            if param.parameter_type == pipeline_spec_pb2.ParameterType.NUMBER_INTEGER:
                value = int(value)
            default = f" [Default: {value!r}]"
        header.append(f"#  {name}: {kind}{default}")
    body = yaml.safe_dump(json_format.MessageToDict(spec), sort_keys=True)
    return "\n".join(header) + "\n" + body


def compile_pipeline(output: str = "pipeline.yaml", image: str | None = None,
                     config: PipelineConfig | None = None) -> str:
    """Writes the compiled spec to `output`; returns its path."""
    text = to_yaml(compile_spec(config, image))
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    with open(output, "w") as f:
        f.write(text)
    return output
