"""Runs the pipeline on this machine with LocalDagRunner (or BeamDagRunner).

Also a pipeline file for the `tfx` CLI:
    tfx pipeline create --engine local --pipeline_path pipeline/local_runner.py
    tfx run create --engine local --pipeline_name tiedflow
The CLI runs this file as a script; TIEDFLOW_OUTPUT_DIR and TIEDFLOW_DATA pick
the output dir and data (defaults: ./tiedflow_output and the embedded digits).
"""
from __future__ import annotations

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
    schema = config.schema if not config.schema or REMOTE_MARK in config.schema else (
        os.path.abspath(config.schema))
    return config.replace(output_dir=os.path.abspath(config.output_dir), data=data,
                          schema=schema)


def build(config: PipelineConfig) -> tfx_pipeline.Pipeline:
    return create_pipeline(
        config, code_versions=code_versions(),
        metadata_connection_config=metadata.sqlite_metadata_connection_config(
            config.metadata_path))


def run(config: PipelineConfig, orchestrator: str = "local",
        on_built=None) -> PipelineConfig:
    """Runs the whole pipeline; returns the prepared config it ran with.

    `on_built(component ids)` is called once the pipeline is built."""
    config = prepare(config)
    os.makedirs(config.output_dir, exist_ok=True)
    pipeline = build(config)
    if on_built is not None:
        on_built([component.id for component in pipeline.components])
    if orchestrator == "beam":
        from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

        BeamDagRunner().run(pipeline)
    else:
        from tfx.orchestration.local.local_dag_runner import LocalDagRunner

        LocalDagRunner().run(pipeline)
    return config


def config_from_env() -> PipelineConfig:
    return PipelineConfig(output_dir=os.environ.get("TIEDFLOW_OUTPUT_DIR", DEFAULT_OUTPUT_DIR),
                          data=os.environ.get("TIEDFLOW_DATA", "digits"))


if __name__ == "__main__":
    from absl import logging

    logging.set_verbosity(logging.INFO)
    run(config_from_env())
