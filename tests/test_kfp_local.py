"""pipeline.yaml run by Kubeflow's own local executor, kfp.local (`make test-kfp-local`).

tests/test_image.py runs the compiled tasks through this project's imitation
of the open-source launcher; here nothing of the project orders the DAG or
builds an executor input: kfp.local does, from the committed spec, and starts
each task in the image through DockerRunner (tests/kfp_local_run.py, run by
the kfp venv's python, KFP_PYTHON, against the engine at DOCKER_HOST).
What kfp.local does differently from the open-source launcher (inputs typed
`system.Artifact`, outputs under PIPELINE_ROOT/<run>/<task>/<key>) is what
the entry point has to cope with. Not part of `make test`.
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

pytestmark = [pytest.mark.kfp_local, pytest.mark.e2e]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(REPO, "tests", "kfp_local_run.py")
# Enough training to pass a low bar quickly: the check is the machinery, not quality.
RUN_PARAMETERS = {"train_steps": 150, "accuracy_threshold": 0.5}
TASK_USER = (1000, 1000)
TASK_USER_TEXT = "1000:1000"
MISSING_DATA = "/no/such/images"
TIMES_OUT = os.path.join(REPO, "build", "test-kfp-local.json")


def _kfp_python() -> str:
    python = os.environ.get("KFP_PYTHON", os.path.join(REPO, ".venv-kfp", "bin", "python"))
    assert os.path.exists(python), f"no kfp venv at {python}: run `make test-kfp-local`"
    assert os.environ.get("DOCKER_HOST") or os.path.exists("/var/run/docker.sock"), (
        "no Docker API: run through container/kfp-local.sh (make test-kfp-local)"
    )
    return python


def _snapshot(path) -> dict:
    return {
        os.path.relpath(os.path.join(d, f), path): os.stat(os.path.join(d, f)).st_mtime_ns
        for d, _, files in os.walk(path)
        for f in files
    }


def run_kfp_local(root: str, name: str, parameters: dict) -> dict:
    """One run of pipeline.yaml under kfp.local; the runner's JSON outcome."""
    result = os.path.join(root, f"{name}.json")
    cmd = [
        _kfp_python(),
        RUNNER,
        "--spec",
        os.path.join(REPO, "pipeline.yaml"),
        "--root",
        root,
        "--result",
        result,
        "--user",
        TASK_USER_TEXT,
    ]
    cmd += [f"--param={key}={value}" for key, value in parameters.items()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    print(proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    with open(result) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    """The pipeline root, writable by the task user as a pod's volume would be."""
    path = str(tmp_path_factory.mktemp("kfp_local"))
    os.chown(path, *TASK_USER)
    return path


@pytest.fixture(scope="module")
def digits_run(root) -> dict:
    serving_dir = os.path.join(root, "serving")
    outcome = run_kfp_local(root, "digits", {**RUN_PARAMETERS, "serving_dir": serving_dir})
    outcome["serving_dir"] = serving_dir
    os.makedirs(os.path.dirname(TIMES_OUT), exist_ok=True)
    with open(TIMES_OUT, "w") as f:
        json.dump(
            {
                "kfp_version": outcome["kfp_version"],
                "seconds": outcome["seconds"],
                "task_seconds": {t: o["seconds"] for t, o in outcome["tasks"].items()},
            },
            f,
            indent=1,
        )
    return outcome


@pytest.fixture(scope="module")
def missing_data_run(root, digits_run) -> tuple:
    """The same spec with a `data` parameter naming nothing, against the same serving dir."""
    before = _snapshot(digits_run["serving_dir"])
    outcome = run_kfp_local(
        root,
        "missing",
        {**RUN_PARAMETERS, "data": MISSING_DATA, "serving_dir": digits_run["serving_dir"]},
    )
    return outcome, before


def test_kfp_local_runs_every_task_as_non_root_without_network(digits_run):
    assert digits_run["kfp_version"].startswith("2.15.")
    tasks = digits_run["tasks"]
    assert sorted(tasks) == digits_run["all_tasks"]
    for task, outcome in tasks.items():
        assert outcome["exit_code"] == 0, (task, outcome["log_tail"])
        assert outcome["user"] == TASK_USER_TEXT and outcome["network_mode"] == "none"
    # kfp.local hands upstream outputs down as system.Artifact, not the tfx.* type
    # the spec declares: the entry point took the type from the task's own spec.
    assert tasks["StatisticsGen"]["input_types"]["examples"][0]["schemaTitle"] == "system.Artifact"
    examples = tasks["ImageExampleGen"]["outputs"]["examples"]["metadata"]
    assert json.loads(examples["split_names"]) == ["train", "eval"]
    assert examples["train_examples"] + examples["eval_examples"] == 1797
    print("\n" + "\n".join(f"{t:20s} {o['seconds']:6.1f} s" for t, o in tasks.items()))


def test_kfp_local_blesses_and_pushes_to_serving_dir(digits_run):
    tasks = digits_run["tasks"]
    assert tasks["Evaluator"]["outputs"]["blessing"]["metadata"].get("blessed") == 1
    assert tasks["Pusher"]["outputs"]["pushed_model"]["metadata"].get("pushed") == 1
    versions = os.listdir(digits_run["serving_dir"])
    assert len(versions) == 1, versions


def test_pushed_version_loads_and_predicts_the_digits(digits_run):
    """The pushed SavedModel, loaded by `tiedflow predict`'s own loader, labels the
    digits above the accuracy bound the run was blessed at."""
    from ingestion.sources import digits_records
    from pushed_models import predict

    predictor = predict.Predictor(predict.resolve_model_dir(model=digits_run["serving_dir"]))
    assert predictor.image_shape == (8, 8, 1)
    records = list(digits_records(8))
    images = np.stack([r.pixels.reshape(8, 8, 1) for r in records])
    probabilities = predictor.probabilities(images)
    assert probabilities.shape == (len(records), 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == [r.label for r in records]))
    print(f"\npushed model: accuracy {accuracy:.3f} on the {len(records)} digits")
    assert accuracy >= RUN_PARAMETERS["accuracy_threshold"]


def test_missing_data_stops_at_example_gen_with_exit_2_and_pushes_nothing(missing_data_run):
    outcome, before = missing_data_run
    assert list(outcome["tasks"]) == ["ImageExampleGen"], sorted(outcome["tasks"])
    failed = outcome["tasks"]["ImageExampleGen"]
    assert failed["exit_code"] == 2, failed["log_tail"]
    lines = [
        line for line in failed["log_tail"].splitlines() if line.startswith("tiedflow: error:")
    ]
    assert len(lines) == 1 and lines[0].startswith(
        f"tiedflow: error: --data {MISSING_DATA}: no such file or directory"
    ), failed["log_tail"]
    assert "Traceback" not in failed["log_tail"]
    assert failed["outputs"] == {}
    print(f"\nImageExampleGen exit {failed['exit_code']}: {lines[0]}")
    assert _snapshot(outcome["parameters"]["serving_dir"]) == before
