"""`tiedflow submit` with the real kfp.Client against a KFP v2beta1 API on loopback.

The server answers the calls `create_run_from_pipeline_package` makes
(healthz, experiments, runs) and records every request, so the tests check
what a cluster would receive.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from pipeline import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIPELINE_YAML = os.path.join(REPO, "pipeline.yaml")
ROOT = "gs://bucket/tiedflow/root"


class FakeKfp:
    """Records requests; `reject_runs` makes POST /runs fail like a real API."""

    def __init__(self):
        self.requests = []
        self.experiments = []
        self.reject_runs = None
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self, body=None):
                url = urlsplit(self.path)
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": url.path,
                        "query": parse_qs(url.query),
                        "body": body,
                        "auth": self.headers.get("Authorization"),
                    }
                )
                return url.path

            def do_GET(self):
                path = self._record()
                if path == "/apis/v2beta1/healthz":
                    self._reply(
                        200, {"commit_sha": "test", "tag_name": "2.0.5", "multi_user": False}
                    )
                elif path == "/apis/v2beta1/experiments":
                    self._reply(
                        200, {"experiments": fake.experiments, "total_size": len(fake.experiments)}
                    )
                else:
                    self._reply(404, {"error": "not found", "code": 5})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                path = self._record(body)
                if path == "/apis/v2beta1/experiments":
                    experiment = {
                        "experiment_id": f"exp-{len(fake.experiments) + 1}",
                        "display_name": body.get("display_name"),
                        "namespace": body.get("namespace") or "",
                    }
                    fake.experiments.append(experiment)
                    self._reply(200, experiment)
                elif path == "/apis/v2beta1/runs":
                    if fake.reject_runs:
                        self._reply(
                            400, {"error": fake.reject_runs, "code": 3, "message": fake.reject_runs}
                        )
                        return
                    self._reply(
                        200,
                        {
                            "run_id": "run-123",
                            "display_name": body.get("display_name"),
                            "experiment_id": body.get("experiment_id"),
                            "state": "PENDING",
                        },
                    )
                else:
                    self._reply(404, {"error": "not found", "code": 5})

        return Handler

    def posts(self, path):
        return [r for r in self.requests if r["method"] == "POST" and r["path"] == path]


# How the data is read: run parameters too, with the config's defaults.
INGESTION_DEFAULTS = {
    "image_size": 0,
    "channels": 0,
    "classes": "",
    "image_feature": "pixels",
    "label_feature": "label",
    "pixel_encoding": "int",
    "pixel_range": "",
    "image_shape": "",
    "schema": "",
    "max_pixels": 4096 * 4096,
}


@pytest.fixture
def kfp_api():
    fake = FakeKfp()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture(autouse=True)
def isolated_kfp_env(monkeypatch, tmp_path):
    """No user kfp context or endpoint variables leak in."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in (
        "KF_PIPELINES_ENDPOINT",
        "KF_PIPELINES_UI_ENDPOINT",
        "KF_PIPELINES_DEFAULT_EXPERIMENT_NAME",
        "KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME",
        "KFP_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)


def submit(*args, pipeline_file=PIPELINE_YAML):
    return cli.main(["submit", "--pipeline-file", pipeline_file, *args])


def test_submit_sends_pipeline_yaml_parameters_and_root(kfp_api, capsys):
    code = submit(
        "--host",
        kfp_api.host,
        "--pipeline-root",
        ROOT,
        "--experiment",
        "nightly",
        "--run-name",
        "try-1",
        "--set",
        "train_steps=321",
        "--set",
        "learning_rate=0.01",
        "--set",
        "accuracy_threshold=0.85",
        "--set",
        "data=gs://bucket/images",
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "run-123" in out and f"{kfp_api.host}/#/runs/details/run-123" in out

    [run] = kfp_api.posts("/apis/v2beta1/runs")
    body = run["body"]
    with open(PIPELINE_YAML) as f:
        assert body["pipeline_spec"] == yaml.safe_load(f)
    assert body["display_name"] == "try-1"
    assert body["runtime_config"]["pipeline_root"] == ROOT
    assert body["runtime_config"]["parameters"] == {
        "data": "gs://bucket/images",
        "train_steps": 321,
        "learning_rate": 0.01,
        "accuracy_threshold": 0.85,
        "serving_dir": ROOT + "/serving",
        **INGESTION_DEFAULTS,
    }
    [experiment] = kfp_api.posts("/apis/v2beta1/experiments")
    assert experiment["body"]["display_name"] == "nightly"
    assert body["experiment_id"] == "exp-1"


def test_defaults_fill_every_parameter_and_token_is_sent(kfp_api, capsys):
    kfp_api.experiments.append({"experiment_id": "exp-old", "display_name": "tiedflow"})
    code = submit(
        "--host",
        kfp_api.host,
        "--pipeline-root",
        ROOT + "/",
        "--existing-token",
        "secret-token",
        "--namespace",
        "team-a",
        "--set",
        "serving_dir=gs://models/digits",
    )
    assert code == 0, capsys.readouterr().err
    [run] = kfp_api.posts("/apis/v2beta1/runs")
    params = run["body"]["runtime_config"]["parameters"]
    assert params == {
        "data": "digits",
        "train_steps": cli_default("train_steps"),
        "learning_rate": cli_default("learning_rate"),
        "accuracy_threshold": cli_default("accuracy_threshold"),
        "serving_dir": "gs://models/digits",
        **INGESTION_DEFAULTS,
    }
    assert run["body"]["experiment_id"] == "exp-old"  # existing experiment reused
    assert not kfp_api.posts("/apis/v2beta1/experiments")
    assert all(r["auth"] == "Bearer secret-token" for r in kfp_api.requests)
    listing = [r for r in kfp_api.requests if r["path"] == "/apis/v2beta1/experiments"]
    assert listing[0]["query"].get("namespace") == ["team-a"]


def cli_default(name):
    from pipeline.config import PipelineConfig

    return getattr(PipelineConfig(), name)


def test_no_cache_turns_caching_off_for_every_task(kfp_api, capsys):
    assert submit("--host", kfp_api.host, "--pipeline-root", ROOT, "--no-cache") == 0
    [run] = kfp_api.posts("/apis/v2beta1/runs")
    tasks = run["body"]["pipeline_spec"]["root"]["dag"]["tasks"]
    assert all(
        t["cachingOptions"] == {} or t["cachingOptions"].get("enableCache") is False
        for t in tasks.values()
    )


@pytest.mark.parametrize(
    "args, needle",
    [
        ([], "--pipeline-root is required"),
        (["--pipeline-root", "minio://mlpipeline/root"], "must be a gs:// location"),
        (["--pipeline-root", "s3://mlpipeline/root"], "no s3://"),
        (["--pipeline-root", "/tmp/root"], "must be a gs:// location"),
        (["--pipeline-root", ROOT, "--set", "width=64"], "unknown run parameter 'width'"),
        (["--pipeline-root", ROOT, "--set", "nonsense=1"], "unknown run parameter 'nonsense'"),
        (["--pipeline-root", ROOT, "--set", "train_steps=many"], "'train_steps'"),
        (["--pipeline-root", ROOT, "--set", "accuracy_threshold=1.5"], "'accuracy_threshold'"),
        (["--pipeline-root", ROOT, "--set", "data=./images"], "data './images'"),
        (["--pipeline-root", ROOT, "--set", "serving_dir=/srv/models"], "serving_dir"),
        (["--pipeline-root", ROOT, "--set", "schema=/no/such/schema.pbtxt"], "setting 'schema'"),
        (["--pipeline-root", ROOT, "--set", "train_steps"], "expected KEY=VALUE"),
    ],
)
def test_bad_input_exits_2_naming_the_problem_and_sends_nothing(kfp_api, capsys, args, needle):
    code = submit("--host", kfp_api.host, *args)
    err = capsys.readouterr().err
    assert code == 2 and needle in err, err
    assert not kfp_api.posts("/apis/v2beta1/runs")


def test_missing_pipeline_file_exits_2(kfp_api, capsys, tmp_path):
    code = submit(
        "--host", kfp_api.host, "--pipeline-root", ROOT, pipeline_file=str(tmp_path / "nope.yaml")
    )
    err = capsys.readouterr().err
    assert code == 2 and "tiedflow compile" in err


def test_unreachable_host_exits_1_quickly(capsys):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = submit("--host", f"http://127.0.0.1:{port}", "--pipeline-root", ROOT)
    err = capsys.readouterr().err
    assert code == 1 and "cannot reach Kubeflow Pipelines" in err, err


def test_rejected_run_exits_1_with_the_servers_message(kfp_api, capsys):
    kfp_api.reject_runs = "Invalid input error: pipeline root is not allowed"
    code = submit("--host", kfp_api.host, "--pipeline-root", ROOT)
    err = capsys.readouterr().err
    assert code == 1, err
    assert "rejected the request (HTTP 400" in err
    assert "pipeline root is not allowed" in err


def test_a_local_schema_file_is_refused_for_a_cluster(kfp_api, capsys, tmp_path):
    schema = tmp_path / "schema.pbtxt"
    schema.write_text('feature { name: "pixels" type: INT shape { dim { size: 64 } } }\n')
    code = submit("--host", kfp_api.host, "--pipeline-root", ROOT, "--set", f"schema={schema}")
    err = capsys.readouterr().err
    assert code == 2 and "on a cluster use a gs:// schema file" in err, err
    assert not kfp_api.posts("/apis/v2beta1/runs")


TOKEN = "tok-3f9a1c-very-secret"


def test_token_from_a_file_or_the_environment_is_sent(kfp_api, capsys, tmp_path, monkeypatch):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    assert submit("--host", kfp_api.host, "--pipeline-root", ROOT, "--token-file", str(path)) == 0
    assert kfp_api.requests and all(r["auth"] == f"Bearer {TOKEN}" for r in kfp_api.requests)
    kfp_api.requests.clear()
    monkeypatch.setenv("KFP_TOKEN", "env-token")
    assert submit("--host", kfp_api.host, "--pipeline-root", ROOT) == 0
    assert all(r["auth"] == "Bearer env-token" for r in kfp_api.requests)
    assert TOKEN not in capsys.readouterr().out


@pytest.mark.parametrize("content, needle", [(None, "cannot be read"), ("  \n", "is empty")])
def test_an_unusable_token_file_exits_2_naming_it(kfp_api, capsys, tmp_path, content, needle):
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    code = submit("--host", kfp_api.host, "--pipeline-root", ROOT, "--token-file", str(path))
    err = capsys.readouterr().err
    assert code == 2 and f"--token-file {path}: {needle}" in err, err
    assert not kfp_api.requests


def _files_text(root) -> str:
    text = []
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                text.append(f.read().decode("utf-8", "replace"))
    return "\n".join(text)


def test_the_token_never_appears_in_an_error_or_a_log(kfp_api, tmp_path):
    """Failing submits with a token from the environment, run as the user runs
    them (a subprocess, kfp's own logging on): against a dead endpoint, and
    against a server whose error message echoes the token back."""
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    kfp_api.reject_runs = f"Unauthenticated: token {TOKEN} has expired"
    env = {**os.environ, "KFP_TOKEN": TOKEN, "HOME": str(tmp_path / "home")}
    tiedflow = os.path.join(os.path.dirname(sys.executable), "tiedflow")
    for host, needle in ((dead, "cannot reach"), (kfp_api.host, "rejected the request")):
        proc = subprocess.run(
            [
                tiedflow,
                "submit",
                "--host",
                host,
                "--pipeline-root",
                ROOT,
                "--pipeline-file",
                PIPELINE_YAML,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert proc.returncode == 1 and needle in proc.stderr, proc.stderr
        assert TOKEN not in proc.stdout + proc.stderr
    assert "has expired" in proc.stderr and "[token]" in proc.stderr  # redacted, not dropped
    assert any(r["auth"] == f"Bearer {TOKEN}" for r in kfp_api.requests)  # it was used
    assert TOKEN not in _files_text(tmp_path / "home")  # kfp's context file, any log
