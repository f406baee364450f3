"""Runs the committed pipeline.yaml with Kubeflow's own local executor, kfp.local.

Run with the kfp venv's python (`make test-kfp-local` creates it from
kfp-local.lock; kfp 2.15 needs protobuf 6, the project's stack protobuf 3),
never with the project's: it imports nothing of the project. kfp.local reads
the compiled PipelineSpec, orders the DAG, builds each task's executor input
(`{{$}}`), passes parameters and artifacts between tasks and runs every
container task with DockerRunner, here against the engine at DOCKER_HOST
(podman's Docker-compatible API socket, container/kfp-local.sh).

The spec is used as committed except for the image reference: DockerRunner
finds an image only by one of its exact tags, and podman tags a local build
`localhost/NAME:TAG`. Containers run as a non-root user without network,
labelled with this run's id; afterwards each container's exit status, time
and log are read back through the same API, matched to its task by its
command line, and the containers are removed (kfp 2.15 leaves them, which
is what lets the exit status be read at all). The outcome goes to a JSON
file (`--result`) for tests/test_kfp_local.py.

    python tests/kfp_local_run.py --spec pipeline.yaml --root DIR --result OUT.json \
        [--param NAME=VALUE ...] [--user 1000:1000]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import sys
import time
import uuid

import docker
import kfp
import yaml
from kfp import components, local

PLACEHOLDER = "{{$}}"
LABEL = "tiedflow.kfp-local-run"
CONF_NOFILE = 16384  # container/containers.conf's open-files limit


def local_tag(client: docker.DockerClient, image: str) -> str:
    """The exact tag the engine lists for `image` (podman: localhost/NAME:TAG)."""
    try:
        found = client.images.get(image)
    except docker.errors.ImageNotFound:
        sys.exit(f"kfp_local_run: no image {image} at DOCKER_HOST: build it first (make image)")
    tags = [t for t in found.tags if t == image or t.endswith("/" + image)]
    if not tags:
        sys.exit(f"kfp_local_run: image {image} has no tag naming it: {found.tags}")
    return tags[0]


def with_image(spec: dict, image: str) -> tuple[dict, str]:
    """The spec with every executor's image replaced by `image`; the image it named."""
    named = set()
    for executor in spec["deploymentSpec"]["executors"].values():
        if "container" in executor:
            named.add(executor["container"]["image"])
            executor["container"]["image"] = image
    if len(named) != 1:
        sys.exit(f"kfp_local_run: expected one image in the spec, found {sorted(named)}")
    return spec, named.pop()


def task_commands(spec: dict) -> dict:
    """Task -> its container's command and args as compiled ({{$}} unfilled)."""
    executors = spec["deploymentSpec"]["executors"]
    out = {}
    for task, task_spec in spec["root"]["dag"]["tasks"].items():
        label = spec["components"][task_spec["componentRef"]["name"]]["executorLabel"]
        container = executors[label]["container"]
        out[task] = list(container.get("command", [])) + list(container.get("args", []))
    return out


def match_task(cmd: list, commands: dict):
    """The task whose compiled command line `cmd` is, and its executor input."""
    for task, compiled in commands.items():
        if len(compiled) != len(cmd):
            continue
        filled = [c for c, s in zip(cmd, compiled, strict=True) if s == PLACEHOLDER]
        if (
            all(c == s for c, s in zip(cmd, compiled, strict=True) if s != PLACEHOLDER)
            and len(filled) == 1
        ):
            return task, json.loads(filled[0])
    return None, None


def _seconds(state: dict) -> float:
    def parse(text):
        # RFC 3339 with nanoseconds; keep microseconds for fromisoformat.
        head, _, frac = text.rstrip("Z").partition(".")
        frac = "".join(ch for ch in frac if ch.isdigit())[:6]
        return datetime.datetime.fromisoformat(f"{head}.{frac or '0'}")

    return round((parse(state["FinishedAt"]) - parse(state["StartedAt"])).total_seconds(), 1)


def collect(client: docker.DockerClient, run_id: str, commands: dict) -> dict:
    """Each task's container: exit status, seconds, log tail and reported outputs."""
    tasks = {}
    for container in client.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"}):
        attrs = container.attrs
        cmd = list(attrs["Config"].get("Entrypoint") or []) + list(attrs["Config"].get("Cmd") or [])
        task, executor_input = match_task(cmd, commands)
        if task is None:  # the engine may report the command as Cmd alone
            task, executor_input = match_task(list(attrs["Config"].get("Cmd") or []), commands)
        log = container.logs().decode("utf-8", "replace")
        outputs = {}
        output_file = executor_input["outputs"]["outputFile"] if executor_input else None
        if output_file and os.path.isfile(output_file):
            with open(output_file) as f:
                reported = json.load(f).get("artifacts", {})
            outputs = {
                key: {
                    "uri": value["artifacts"][0].get("uri"),
                    "metadata": value["artifacts"][0].get("metadata", {}),
                }
                for key, value in reported.items()
            }
        tasks[task or container.name] = {
            "exit_code": attrs["State"]["ExitCode"],
            "seconds": _seconds(attrs["State"]),
            "user": attrs["Config"].get("User"),
            "network_mode": attrs["HostConfig"].get("NetworkMode"),
            "input_types": {
                key: [a.get("type", {}) for a in value.get("artifacts", [])]
                for key, value in (executor_input or {})
                .get("inputs", {})
                .get("artifacts", {})
                .items()
            },
            "outputs": outputs,
            "log_tail": log[-4000:],
        }
        container.remove()
    return tasks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--root", required=True, help="the pipeline root (absolute, existing)")
    parser.add_argument("--result", required=True)
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a pipeline parameter (YAML value: numbers stay numbers)",
    )
    parser.add_argument("--user", default="1000:1000")
    args = parser.parse_args(argv)

    with open(args.spec) as f:
        spec = yaml.safe_load(f)
    client = docker.from_env()
    compiled_image = with_image(spec, "")[1]
    image = local_tag(client, compiled_image)
    spec, _ = with_image(spec, image)
    local_spec = os.path.join(args.root, "pipeline.local.yaml")
    with open(local_spec, "w") as f:
        yaml.safe_dump(spec, f, sort_keys=True)

    run_id = uuid.uuid4().hex[:12]
    run_args = {"user": args.user, "network_mode": "none", "labels": {LABEL: run_id}}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < CONF_NOFILE:  # as container/engine.sh
        run_args["ulimits"] = [docker.types.Ulimit(name="nofile", soft=hard, hard=hard)]
    local.init(runner=local.DockerRunner(**run_args), pipeline_root=args.root, raise_on_error=False)
    pipeline = components.load_component_from_file(local_spec)
    params = {}
    for item in args.param:
        name, _, value = item.partition("=")
        params[name] = yaml.safe_load(value) if value else ""

    start = time.monotonic()
    try:
        pipeline(**params)
    finally:  # read back and remove the containers even if kfp.local raised
        seconds = time.monotonic() - start
        tasks = collect(client, run_id, task_commands(spec))
    result = {
        "kfp_version": kfp.__version__,
        "compiled_image": compiled_image,
        "image": image,
        "parameters": params,
        "seconds": round(seconds, 1),
        "tasks": tasks,
        "all_tasks": sorted(spec["root"]["dag"]["tasks"]),
    }
    with open(args.result, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    print(f"kfp {kfp.__version__}, image {image}: {len(tasks)} task(s) in {seconds:.0f} s")
    for task, outcome in sorted(tasks.items(), key=lambda kv: kv[1]["seconds"]):
        print(f"  {task:20s} exit {outcome['exit_code']}  {outcome['seconds']:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
