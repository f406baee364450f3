"""The runner files through the real `tfx` CLI, as TFX users run pipelines."""

import os
import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = pytest.mark.e2e
TFX = os.path.join(os.path.dirname(sys.executable), "tfx")


@pytest.mark.parametrize(
    "engine, pipeline_file", [("local", "local/runner.py"), ("beam", "local/beam_runner.py")]
)
def test_tfx_pipeline_create_then_run_create_pushes_a_model(tmp_path, engine, pipeline_file):
    env = {**os.environ, "HOME": str(tmp_path), "TIEDFLOW_OUTPUT_DIR": str(tmp_path / "out")}
    env.pop("LOCAL_HOME", None)
    env.pop("BEAM_HOME", None)

    def tfx(*args):
        proc = subprocess.run(
            [TFX, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    tfx(
        "pipeline",
        "create",
        "--engine",
        engine,
        "--pipeline_path",
        os.path.join("pipeline", pipeline_file),
    )
    assert (tmp_path / "tfx" / engine / "tiedflow").is_dir()
    tfx("run", "create", "--engine", engine, "--pipeline_name", "tiedflow")
    serving = tmp_path / "out" / "serving"
    versions = os.listdir(serving)
    assert len(versions) == 1
    assert (serving / versions[0] / "saved_model.pb").is_file()
