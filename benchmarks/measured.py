"""One command in a child process, measured: exit status, wall seconds, peak RSS.

Peak RSS is that of the whole process tree (the run and any Beam workers it
starts), sampled every 0.2 s, next to the largest single process's peak from
the kernel and the peak of the root process alone (the runner); the samples
are returned too, for peaks per component (`peaks_within`). Shared by the
benchmark scripts (run as `python benchmarks/<script>.py`, which puts this
folder on sys.path)."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import psutil


def _rss(root: psutil.Process) -> tuple[int, int]:
    """(RSS of the whole tree, of the root process alone)."""
    total = own = 0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for proc in procs:
        try:
            rss = proc.memory_info().rss
        except psutil.Error:
            continue
        total += rss
        own = rss if proc is root else own
    return total, own


def peaks_within(samples: list, windows: dict) -> dict:
    """{name: (peak tree RSS MB, peak root-process RSS MB)} over the samples taken
    inside each (start, end) epoch-seconds window (a component's run, say)."""
    out = {}
    for name, (start, end) in windows.items():
        inside = [(tree, own) for t, tree, own in samples if start <= t <= end]
        if inside:
            out[name] = (
                round(max(t for t, _ in inside) / 2**20, 1),
                round(max(o for _, o in inside) / 2**20, 1),
            )
    return out


def run_measured(cmd: list, log_path: str, env=None, cwd=None) -> dict:
    """Runs `cmd` (in `cwd`) with its output appended to `log_path`."""
    start = time.perf_counter()
    peak = [0]
    samples: list = []  # (epoch seconds, tree RSS, root RSS)
    with open(log_path, "a") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        done = threading.Event()

        def sample():
            root = psutil.Process(proc.pid)
            while not done.wait(0.2):
                tree, own = _rss(root)
                peak[0] = max(peak[0], tree)
                samples.append((time.time(), tree, own))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        sampler.join()
    return {
        "exit_code": os.waitstatus_to_exitcode(status),
        "wall_s": round(time.perf_counter() - start, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "peak_tree_rss_mb": round(peak[0] / 2**20, 1),
        "peak_runner_rss_mb": round(max((o for _, _, o in samples), default=0) / 2**20, 1),
        "samples": samples,
    }
