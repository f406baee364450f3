"""Pipeline benchmark: a cold run and a warm (cached) run on a fresh output dir.

Prints both wall times, every component's time (from ML Metadata) and the
peak memory of each run, and writes them as JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

from measured import run_measured

from pipeline.local.outcome import read_outcome


def timed_run(output_dir: str, extra: list[str]) -> dict:
    """Runs `tiedflow run` in a child process; wall time and its peak RSS."""
    tiedflow = os.path.join(os.path.dirname(sys.executable), "tiedflow")
    cmd = [tiedflow, "run", "--output-dir", output_dir, *extra]
    measured = run_measured(cmd, output_dir + ".log")
    measured.pop("samples")
    outcome = read_outcome(os.path.join(output_dir, "metadata.sqlite"), "tiedflow")
    return {
        **measured,
        "eval_accuracy": outcome.accuracy,
        "blessed": outcome.blessed,
        "components_s": {k: round(v, 2) for k, v in sorted(outcome.component_seconds.items())},
        "cached": outcome.cached,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench_out/pipeline.json")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    extra = [a for kv in args.set for a in ("--set", kv)]

    work = tempfile.mkdtemp(prefix="tiedflow-bench-")
    output_dir = os.path.join(work, "out")
    try:
        cold = timed_run(output_dir, extra)
        warm = timed_run(output_dir, extra)
    except Exception:
        print(f"a run failed; its log: {output_dir}.log", file=sys.stderr)
        raise
    if cold["exit_code"] or warm["exit_code"]:
        print(f"a run failed; its log: {output_dir}.log", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)

    result = {"cold": cold, "warm": warm, "cpus": os.cpu_count(), "settings": args.set}
    print(f"{'component':<20}{'cold s':>10}{'warm s':>10}")
    for node in cold["components_s"]:
        warm_s = (
            "cached" if warm["cached"].get(node) else f"{warm['components_s'].get(node, 0):.2f}"
        )
        print(f"{node:<20}{cold['components_s'][node]:>10.2f}{warm_s:>10}")
    for name, run in (("cold", cold), ("warm", warm)):
        print(
            f"{name}: wall {run['wall_s']:.1f} s, peak RSS {run['peak_rss_mb']:.0f} MB, "
            f"exit {run['exit_code']}, eval accuracy {run['eval_accuracy']}"
        )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"written to {args.out}")
    return 0 if cold["exit_code"] == 0 and warm["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
