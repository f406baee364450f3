"""The pipeline file for the `tfx` CLI's Beam engine (BeamDagRunner).

    tfx pipeline create --engine beam --pipeline_path pipeline/local/beam_runner.py
    tfx run create --engine beam --pipeline_name tiedflow

The CLI's Beam engine expects the file to call BeamDagRunner (it patches that
runner to read the pipeline), so it is a file of its own; otherwise it is
`pipeline/local/runner.py`: same environment variables, same pipeline.
"""

from pipeline.local import runner as local_runner

if __name__ == "__main__":
    from absl import logging

    logging.set_verbosity(logging.INFO)
    local_runner.run(local_runner.config_from_env(), orchestrator="beam")
