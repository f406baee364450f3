"""Every task of the committed pipeline.yaml, run in the image it names (`make test-image`).

What a cluster would first show about the image: a missing package or system
library, a file the image lacks, a task that needs root or the network. Each
task runs in DAG order under the container engine (container/engine.sh), as
the open-source launcher would run it (its own command and args, the executor
input as the driver writes it: kfp_launcher.OssLauncher), as uid 1000 with no
network, its outputs under a bind-mounted pipeline root. Build the image first
(`make image`; `make test-image` does both). Not part of `make test`.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from kfp_launcher import ContainerRunner, OssLauncher, dag_order

pytestmark = [pytest.mark.image, pytest.mark.e2e]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_PARAMETERS = {"train_steps": 150, "accuracy_threshold": 0.5}
TASK_USER = (1000, 1000)
TIMES_OUT = os.path.join(REPO, "build", "test-image.json")


@pytest.fixture(scope="module")
def spec():
    with open(os.path.join(REPO, "pipeline.yaml")) as f:
        return json_format.ParseDict(yaml.safe_load(f), pipeline_spec_pb2.PipelineSpec())


@pytest.fixture(scope="module")
def engine():
    """The engine and its flags here, e.g. ['podman'] (container/engine.sh), with
    the repo's engine settings (containers.conf) unless CONTAINERS_CONF names others."""
    os.environ.setdefault("CONTAINERS_CONF", os.path.join(REPO, "container", "containers.conf"))
    found = subprocess.run(
        [os.path.join(REPO, "container", "engine.sh")], capture_output=True, text=True
    )
    assert found.returncode == 0, found.stderr
    return found.stdout.split()


@pytest.fixture(scope="module")
def image(spec, engine):
    """The one image pipeline.yaml names; it must be built (`make image`)."""
    from kfp_launcher import executors

    images = {c.image for c in executors(spec).values()}
    assert len(images) == 1, images
    name = images.pop()
    found = subprocess.run([engine[0], "image", "inspect", name], capture_output=True, text=True)
    assert found.returncode == 0, f"no image {name}: run `make image` first"
    labels = json.loads(found.stdout)[0].get("Config", {}).get("Labels") or {}
    print(f"\nimage {name}, base {labels.get('tiedflow.base', 'unknown')}")
    return name


def _pipeline_root(tmp_path_factory) -> str:
    """A pipeline root the task user may write to, as a pod's volume would be."""
    root = str(tmp_path_factory.mktemp("kfp_image"))
    os.chown(root, *TASK_USER)
    return root


def _snapshot(path) -> dict:
    return {
        os.path.relpath(os.path.join(d, f), path): os.stat(os.path.join(d, f)).st_mtime_ns
        for d, _, files in os.walk(path)
        for f in files
    }


@pytest.fixture(scope="module")
def launched(spec, engine, image, tmp_path_factory):
    """Every task of pipeline.yaml, in DAG order, in the image, on the embedded digits."""
    root = _pipeline_root(tmp_path_factory)
    serving_dir = os.path.join(root, "serving")
    launcher = OssLauncher(
        spec,
        root,
        {**RUN_PARAMETERS, "serving_dir": serving_dir},
        runner=ContainerRunner(engine, image, root),
    )
    for task in dag_order(spec):
        launcher.launch(task)
    launcher.serving_dir = serving_dir
    launcher.first_seconds = dict(launcher.seconds)
    return launcher


@pytest.fixture(scope="module")
def second_pass(launched):
    """The next run's Trainer, baseline lookup, Evaluator and report, against the pushed model."""
    launched.run_root = os.path.join(launched.workdir, "run2")
    launched.run_parameters["train_steps"] = 60  # a different candidate model
    for task in ("Trainer", "LatestPushedModel", "Evaluator", "EvaluationReport"):
        launched.launch(task)
    return launched


def test_every_task_runs_in_the_image_as_non_root_without_network(launched, spec):
    assert set(launched.first_seconds) == set(spec.root.dag.tasks)
    examples = launched.outputs["ImageExampleGen"]["examples"]
    meta = examples["metadata"]
    assert json.loads(meta["split_names"]) == ["train", "eval"]
    assert meta["train_examples"] + meta["eval_examples"] == 1797
    # Written by the task user, into the bind-mounted root: nothing needed root.
    for task, outputs in launched.outputs.items():
        for artifact in outputs.values():
            if os.path.exists(artifact["uri"]):
                assert os.stat(artifact["uri"]).st_uid == TASK_USER[0], (task, artifact["uri"])
    os.makedirs(os.path.dirname(TIMES_OUT), exist_ok=True)
    with open(TIMES_OUT, "w") as f:
        json.dump({"task_seconds": launched.first_seconds}, f, indent=1)
    print("\n" + "\n".join(f"{task:20s} {s:6.1f} s" for task, s in launched.first_seconds.items()))


def test_the_run_ends_with_a_blessed_model_in_serving_dir(launched):
    import tensorflow as tf

    assert launched.outputs["Evaluator"]["blessing"]["metadata"].get("blessed") == 1
    assert launched.outputs["Pusher"]["pushed_model"]["metadata"].get("pushed") == 1
    pushed = glob.glob(os.path.join(launched.serving_dir, "*", "saved_model.pb"))
    assert len(pushed) == 1, pushed
    model = tf.saved_model.load(os.path.dirname(pushed[0]))
    assert {"serving_default", "serving_images"} <= set(model.signatures)


def test_report_is_one_html_file_at_its_uri(launched):
    """What the KFP UI reads for a system.HTML artifact: the object at its URI."""
    uri = launched.outputs["EvaluationReport"]["report"]["uri"]
    assert os.path.isfile(uri)
    with open(uri, encoding="utf-8") as f:
        page = f.read()
    assert page.lstrip().lower().startswith("<!doctype html") and "BLESSED" in page


def test_second_pass_compares_against_the_pushed_model(second_pass):
    version = os.path.basename(
        os.path.dirname(glob.glob(os.path.join(second_pass.serving_dir, "*", "saved_model.pb"))[0])
    )
    baseline = second_pass.outputs["LatestPushedModel"]["model"]["metadata"]
    assert baseline["has_model"] == 1 and str(baseline["pushed_version"]) == version
    assert second_pass.outputs["Evaluator"]["blessing"]["metadata"].get("baseline_model")
    with open(second_pass.outputs["EvaluationReport"]["report"]["uri"], encoding="utf-8") as f:
        assert version in f.read()


def test_bad_data_fails_in_the_container_and_pushes_nothing(second_pass):
    """A bad `data` parameter: the task exits non-zero, says why, and the run stops
    before anything reaches serving_dir (which keeps the first run's model)."""
    before = _snapshot(second_pass.serving_dir)
    second_pass.run_root = os.path.join(second_pass.workdir, "run3")
    second_pass.run_parameters["data"] = "/no/such/images"
    proc = second_pass.run("ImageExampleGen")
    assert proc.returncode == 2
    output = proc.stdout + proc.stderr
    assert "tiedflow: error: --data /no/such/images: no such file or directory" in output
    assert "Traceback" not in output
    assert not os.path.exists(os.path.join(second_pass.run_root, "kfp_outputs", "ImageExampleGen"))
    assert _snapshot(second_pass.serving_dir) == before


def test_build_mounts_leave_nothing_in_the_image(engine, image):
    """The CA bundle and pip cache mounted for the lock's install stay outside the
    image: only their empty mount points remain under /run/build."""
    probe = "find /run/build /root/.cache -type f -size +0 2>/dev/null; echo done"
    found = subprocess.run(
        [engine[0], "run", "--rm", *engine[1:], "--network=none", image, "sh", "-c", probe],
        capture_output=True,
        text=True,
    )
    assert found.stdout.strip() == "done", found.stdout + found.stderr
