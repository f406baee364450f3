"""One command in a child process, measured: exit status, wall seconds, peak RSS.

Shared by the benchmark scripts (run as `python benchmarks/<script>.py`, which
puts this folder on sys.path)."""
from __future__ import annotations

import os
import subprocess
import time


def run_measured(cmd: list, log_path: str) -> dict:
    """Runs `cmd` with its output appended to `log_path`."""
    start = time.perf_counter()
    with open(log_path, "a") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    return {"exit_code": os.waitstatus_to_exitcode(status),
            "wall_s": round(time.perf_counter() - start, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}
