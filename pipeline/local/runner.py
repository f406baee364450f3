"""Runs the pipeline on this machine with LocalDagRunner (or BeamDagRunner).

Also a pipeline file for the `tfx` CLI:
    tfx pipeline create --engine local --pipeline_path pipeline/local/runner.py
    tfx run create --engine local --pipeline_name tiedflow
The CLI runs this file as a script; TIEDFLOW_OUTPUT_DIR and TIEDFLOW_DATA pick
the output dir and data (defaults: ./tiedflow_output and the embedded digits).
"""

from __future__ import annotations

import datetime
import os

from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline

from ingestion.schema_file import REMOTE_MARK
from pipeline.config import DEFAULT_OUTPUT_DIR, PipelineConfig
from pipeline.dag import create_pipeline
from pipeline.fingerprints import code_versions


def prepare(config: PipelineConfig) -> PipelineConfig:
    """Absolute paths: what a local run needs fixed."""
    data = config.data if config.data == "digits" else os.path.abspath(config.data)
    schema = (
        config.schema
        if not config.schema or REMOTE_MARK in config.schema
        else (os.path.abspath(config.schema))
    )
    return config.replace(output_dir=os.path.abspath(config.output_dir), data=data, schema=schema)


def build(config: PipelineConfig) -> tfx_pipeline.Pipeline:
    return create_pipeline(
        config,
        code_versions=code_versions(),
        metadata_connection_config=metadata.sqlite_metadata_connection_config(config.metadata_path),
    )


def new_run_id() -> str:
    """A run id as LocalDagRunner makes them (ISO time to the microsecond)."""
    return datetime.datetime.now().isoformat()


def run(
    config: PipelineConfig, orchestrator: str = "local", on_built=None, run_id: str | None = None
) -> PipelineConfig:
    """Runs the whole pipeline as run `run_id`; returns the prepared config it ran with.

    `on_built(component ids)` is called once the pipeline is built."""
    config = prepare(config)
    os.makedirs(config.output_dir, exist_ok=True)
    pipeline = build(config)
    if on_built is not None:
        on_built([component.id for component in pipeline.components])
    if orchestrator == "beam":
        from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner as runner_class
    else:
        from tfx.orchestration.local.local_dag_runner import LocalDagRunner as runner_class
    _with_run_id(runner_class, run_id or new_run_id())().run(pipeline)
    return config


def _with_run_id(runner_class: type, run_id: str) -> type:
    """`runner_class` running under `run_id`.

    The runners make up a run id of their own that nobody outside learns; this
    one fills the id into the compiled pipeline first (the runner's own
    substitution then finds nothing left to fill), so the caller can read
    exactly this run's pipeline-run context from ML Metadata. `run` itself is
    left alone: the `tfx` CLI patches it to capture the pipeline."""
    from tfx.dsl.compiler import constants
    from tfx.orchestration.portable import runtime_parameter_utils

    class WithRunId(runner_class):
        def run_with_ir(self, pipeline, run_options=None, **kwargs):
            runtime_parameter_utils.substitute_runtime_parameter(
                pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
            )
            return super().run_with_ir(pipeline, run_options=run_options, **kwargs)

    return WithRunId


def config_from_env() -> PipelineConfig:
    return PipelineConfig(
        output_dir=os.environ.get("TIEDFLOW_OUTPUT_DIR", DEFAULT_OUTPUT_DIR),
        data=os.environ.get("TIEDFLOW_DATA", "digits"),
    )


if __name__ == "__main__":
    from absl import logging

    logging.set_verbosity(logging.INFO)
    run(config_from_env())
