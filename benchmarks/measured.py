"""One command in a child process, measured: exit status, wall seconds, peak RSS.

Peak RSS is that of the whole process tree (the run and any Beam workers it
starts), sampled every 0.2 s, next to the largest single process's peak from
the kernel. Shared by the benchmark scripts (run as `python benchmarks/<script>.py`,
which puts this folder on sys.path)."""
from __future__ import annotations

import os
import subprocess
import threading
import time

import psutil


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_measured(cmd: list, log_path: str, env=None, cwd=None) -> dict:
    """Runs `cmd` (in `cwd`) with its output appended to `log_path`."""
    start = time.perf_counter()
    peak = [0]
    with open(log_path, "a") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        done = threading.Event()

        def sample():
            root = psutil.Process(proc.pid)
            while not done.wait(0.2):
                peak[0] = max(peak[0], _tree_rss(root))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        sampler.join()
    return {"exit_code": os.waitstatus_to_exitcode(status),
            "wall_s": round(time.perf_counter() - start, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "peak_tree_rss_mb": round(peak[0] / 2**20, 1)}
