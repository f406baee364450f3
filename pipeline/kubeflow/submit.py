"""Submits pipeline.yaml to a Kubeflow Pipelines cluster through `kfp.Client`.

TFX leaves parameter values out of the compiled spec, so every run parameter
is sent explicitly: the user's `--set` values, else the config's defaults;
`serving_dir` defaults to `<pipeline root>/serving`. Inputs are checked before
anything is sent, because a bad value on a cluster fails minutes later in a
pod log instead of here. The API token comes from a file or $KFP_TOKEN (see
`read_token`) and never appears in a message.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import yaml

from pipeline.config import ConfigError, PipelineConfig, parse_value

# What the components can write through tf.io.gfile on a cluster. Not s3://:
# TensorFlow 2.16 has no S3 filesystem of its own ("File system scheme 's3'
# not implemented"), and tensorflow-io's, once used, aborts the process at
# exit (status 134), which would fail every task.
REMOTE_SCHEMES = ("gs://",)
CONNECT_TIMEOUT_S = 10


class SubmitError(RuntimeError):
    """The cluster could not be reached or refused the request."""


@dataclasses.dataclass(frozen=True)
class Submission:
    run_id: str
    run_url: str
    parameters: dict


def pipeline_parameters(pipeline_file: str) -> dict[str, str]:
    """The run parameters the compiled spec declares: name -> KFP parameter type."""
    try:
        with open(pipeline_file) as f:
            spec = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"{pipeline_file}: no such file; run `tiedflow compile` first") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{pipeline_file}: not a YAML pipeline spec ({err})") from None
    if not isinstance(spec, dict) or "root" not in spec:
        raise ConfigError(f"{pipeline_file}: not a KFP pipeline spec (no 'root')")
    params = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    return {name: p.get("parameterType", "STRING") for name, p in params.items()}


def _check_uri(name: str, value: str) -> None:
    if not value.startswith(REMOTE_SCHEMES):
        raise ConfigError(
            f"{name} {value!r}: must be a gs:// location the cluster's pods can write "
            "(TFX writes artifacts with tf.io.gfile, which has no s3:// or minio:// here, "
            "and local paths are not shared between pods)"
        )


def resolve_parameters(
    declared: dict[str, str], assignments: Iterable[str], pipeline_root: str
) -> dict[str, Any]:
    """Every declared parameter's value: from `--set KEY=VALUE`, else a default."""
    given = {}
    for item in assignments:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        key, raw = (part.strip() for part in item.split("=", 1))
        if key not in declared:
            raise ConfigError(
                f"unknown run parameter {key!r}; the compiled pipeline takes: "
                f"{', '.join(sorted(declared))} (other settings are fixed by `tiedflow compile`)"
            )
        given[key] = raw
    config_keys = {f.name for f in dataclasses.fields(PipelineConfig)}
    values: dict[str, Any] = {
        key: parse_value(key, raw) if key in config_keys else raw for key, raw in given.items()
    }
    # Range checks come from the config itself.
    PipelineConfig(**{k: v for k, v in values.items() if k in config_keys})
    defaults = PipelineConfig()
    result = {}
    for name in sorted(declared):
        if name in values:
            result[name] = values[name]
        elif name == "serving_dir":
            result[name] = pipeline_root.rstrip("/") + "/serving"
        elif name in config_keys:
            result[name] = getattr(defaults, name)
        else:
            raise ConfigError(f"run parameter {name!r} has no default: give it with --set")
    for name, value in result.items():
        if isinstance(value, tuple):  # a list setting travels as "a,b,c"
            result[name] = ",".join(str(v) for v in value)
    if "serving_dir" in result:
        _check_uri("serving_dir", result["serving_dir"])
    data = result.get("data")
    if data is not None and data != "digits" and not data.startswith(REMOTE_SCHEMES):
        raise ConfigError(
            f"data {data!r}: on a cluster use 'digits' or a gs:// location the pods can read"
        )
    schema = result.get("schema")
    if schema and not schema.startswith(REMOTE_SCHEMES):
        raise ConfigError(
            f"schema {schema!r}: on a cluster use a gs:// schema file the pods "
            "can read (copy yours there), or leave it empty to infer the schema"
        )
    return result


def check_reachable(host: str) -> None:
    """Fails fast with a clear message (kfp.Client retries for half a minute)."""
    parts = urlsplit(host if "://" in host else f"https://{host}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--host {host!r}: expected http(s)://HOST[:PORT]")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise SubmitError(f"cannot reach Kubeflow Pipelines at {host}: {err}") from None


TOKEN_ENV = "KFP_TOKEN"


def read_token(token_file: str | None = None, environ=None) -> str | None:
    """The API token from `token_file`, else from $KFP_TOKEN, else None.

    Not from the command line by default: every user of the machine can read
    a process's arguments (`ps`), not its environment or a private file."""
    environ = os.environ if environ is None else environ
    if token_file:
        try:
            with open(token_file) as f:
                token = f.read().strip()
        except OSError as err:
            raise ConfigError(
                f"--token-file {token_file}: cannot be read ({err.strerror})"
            ) from None
        if not token:
            raise ConfigError(f"--token-file {token_file}: is empty; put the bearer token in it")
        return token
    return environ.get(TOKEN_ENV, "").strip() or None


def redact(text: str, secret: str | None) -> str:
    """`text` with the token replaced, whatever echoes it (a server's message,
    an exception's text)."""
    return text.replace(secret, "[token]") if secret else text


def submit(
    host: str,
    *,
    pipeline_file: str = "pipeline.yaml",
    pipeline_root: str | None = None,
    assignments: Iterable[str] = (),
    experiment: str = "tiedflow",
    run_name: str | None = None,
    namespace: str | None = None,
    existing_token: str | None = None,
    enable_caching: bool | None = None,
) -> Submission:
    """Creates one run of `pipeline_file`; returns its id and URL.

    No message it raises holds `existing_token`."""
    try:
        return _submit(
            host,
            pipeline_file=pipeline_file,
            pipeline_root=pipeline_root,
            assignments=assignments,
            experiment=experiment,
            run_name=run_name,
            namespace=namespace,
            existing_token=existing_token,
            enable_caching=enable_caching,
        )
    except Exception as err:
        if existing_token and existing_token in str(err):
            kind = type(err) if isinstance(err, (SubmitError, ConfigError)) else SubmitError
            raise kind(redact(str(err), existing_token)) from None
        raise


def _submit(
    host: str,
    *,
    pipeline_file,
    pipeline_root,
    assignments,
    experiment,
    run_name,
    namespace,
    existing_token,
    enable_caching,
) -> Submission:
    if not pipeline_root:
        raise ConfigError("--pipeline-root is required: a gs:// folder for the run's artifacts")
    _check_uri("--pipeline-root", pipeline_root)
    parameters = resolve_parameters(pipeline_parameters(pipeline_file), assignments, pipeline_root)
    check_reachable(host)

    import kfp
    import kfp_server_api

    try:
        client = kfp.Client(
            host=host, namespace=namespace or "kubeflow", existing_token=existing_token
        )
        result = client.create_run_from_pipeline_package(
            pipeline_file,
            arguments=parameters,
            run_name=run_name,
            experiment_name=experiment,
            namespace=namespace,
            pipeline_root=pipeline_root,
            enable_caching=enable_caching,
        )
    except kfp_server_api.ApiException as err:
        raise SubmitError(
            f"Kubeflow Pipelines at {host} rejected the request "
            f"(HTTP {err.status} {err.reason}): {_api_message(err)}"
        ) from None
    except Exception as err:  # urllib3 connection errors, kfp's healthz timeout
        raise SubmitError(f"submitting to {host} failed: {type(err).__name__}: {err}") from None
    run_id = result.run_id
    return Submission(run_id, f"{host.rstrip('/')}/#/runs/details/{run_id}", parameters)


def _api_message(err) -> str:
    import json

    try:
        body = json.loads(err.body or "")
        return body.get("message") or body.get("error") or str(body)
    except (ValueError, AttributeError):
        return (err.body or "").strip()[:500] or "(no message)"
