"""Beam's portable runner on this machine: a job service and a separate SDK worker pool.

That is the Job API and the SDK-harness protocol Flink, Spark and Dataflow
Runner v2 speak, so a pipeline that runs through it has had every DoFn
pickled, shipped to another process and run by workers that import the
project on their own, with only the options that travel. Both services come
with Beam (no download): `local_job_service_main` and `worker_pool_main`.

    python -m pipeline.local.portable_beam run --output-dir out    # = tiedflow run, through them

starts both, runs `tiedflow` with the flags that point at them, and stops them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen, name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode} at start")
        with contextlib.suppress(OSError):
            socket.create_connection(("localhost", port), timeout=1).close()
            return
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not listen on port {port} within {START_TIMEOUT_S} s")


@contextlib.contextmanager
def services(log_dir: str) -> Iterator[list[str]]:
    """Starts the job service and the worker pool; yields the Beam flags for them.

    The worker pool starts each SDK worker as `python -c ...` from PATH, so this
    interpreter's bin/ goes first on PATH (else the workers cannot import Beam)."""
    os.makedirs(log_dir, exist_ok=True)
    env = {
        **os.environ,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    }
    job_port, worker_port = free_port(), free_port()
    started = []
    try:
        for name, module, args, port in (
            (
                "job service",
                "apache_beam.runners.portability.local_job_service_main",
                [f"--port={job_port}"],
                job_port,
            ),
            (
                "worker pool",
                "apache_beam.runners.worker.worker_pool_main",
                [f"--service_port={worker_port}"],
                worker_port,
            ),
        ):
            log = open(os.path.join(log_dir, f"{name.replace(' ', '_')}.log"), "ab")
            process = subprocess.Popen(
                [sys.executable, "-m", module, *args], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            started.append((process, log))
            _wait_for(port, process, name)
        yield [
            "--runner=PortableRunner",
            f"--job_endpoint=localhost:{job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{worker_port}",
        ]
    finally:
        for process, log in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "run":
        print(
            "usage: python -m pipeline.local.portable_beam run [tiedflow run options]",
            file=sys.stderr,
        )
        return 2
    output_dir = "tiedflow_output"
    for i, arg in enumerate(argv):
        if arg == "--output-dir" and i + 1 < len(argv):
            output_dir = argv[i + 1]
        elif arg.startswith("--output-dir="):
            output_dir = arg.split("=", 1)[1]
    tiedflow = os.path.join(os.path.dirname(sys.executable), "tiedflow")
    with services(os.path.join(output_dir, "logs", "portable")) as flags:
        print(f"portable runner: {' '.join(flags)}", flush=True)
        return subprocess.call([tiedflow, *argv, *(f"--beam-arg={f}" for f in flags)])


if __name__ == "__main__":
    sys.exit(main())
