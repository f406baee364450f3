"""Runs the pipeline on this machine with LocalDagRunner (or BeamDagRunner).

Also a pipeline file for the `tfx` CLI:
    tfx pipeline create --engine local --pipeline_path pipeline/local_runner.py
    tfx run create --engine local --pipeline_name tiedflow
The CLI runs this file as a script; TIEDFLOW_OUTPUT_DIR and TIEDFLOW_DATA pick
the output dir and data (defaults: ./tiedflow_output and the embedded digits).
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # Run as a file (by the tfx CLI or `python pipeline/local_runner.py`), Python
    # puts this folder first on sys.path, where pipeline/pipeline.py would shadow
    # the `pipeline` package; the folder above it must come first.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfx import v1 as tfx

from pipeline.code_version import code_version
from pipeline.config import PipelineConfig
from pipeline.pipeline import create_pipeline


def prepare(config: PipelineConfig) -> PipelineConfig:
    """Absolute paths and the code fingerprint: what a local run needs fixed."""
    data = config.data if config.data == "digits" else os.path.abspath(config.data)
    return config.replace(output_dir=os.path.abspath(config.output_dir), data=data,
                          code_version=code_version())


def build(config: PipelineConfig) -> tfx.dsl.Pipeline:
    return create_pipeline(
        config,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            config.metadata_path))


def run(config: PipelineConfig, orchestrator: str = "local") -> PipelineConfig:
    """Runs the whole pipeline; returns the prepared config it ran with."""
    config = prepare(config)
    os.makedirs(config.output_dir, exist_ok=True)
    pipeline = build(config)
    if orchestrator == "beam":
        from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

        BeamDagRunner().run(pipeline)
    else:
        tfx.orchestration.LocalDagRunner().run(pipeline)
    return config


def config_from_env() -> PipelineConfig:
    return PipelineConfig(output_dir=os.environ.get("TIEDFLOW_OUTPUT_DIR", "tiedflow_output"),
                          data=os.environ.get("TIEDFLOW_DATA", "digits"))


if __name__ == "__main__":
    from absl import logging

    logging.set_verbosity(logging.INFO)
    run(config_from_env())
