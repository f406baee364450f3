"""How long `tiedflow runs` (and lineage) take on a store of many runs.

Makes a store of N real runs in one output dir: one full run, then N-1 cached
re-runs through the same runner the CLI uses (in this process, so TensorFlow
loads once), every 10th with another accuracy bound so that the Evaluator,
the report and the Pusher run again. Then times `tiedflow runs`, `runs --json`
and `lineage` of the newest push as the user runs them (fresh processes),
and prints the figures (median and max of --repeat runs), also as JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def make_store(output_dir: str, n: int) -> float:
    """N runs into `output_dir`; returns the seconds it took."""
    from pipeline.config import PipelineConfig
    from pipeline.local import runner

    start = time.time()
    for i in range(n):
        config = PipelineConfig(output_dir=output_dir).with_overrides(
            ["train_steps=40", f"accuracy_threshold={0.3 + 0.01 * (i // 10)}"]
        )
        runner.run(config, run_id=runner.new_run_id())
        print(f"run {i + 1}/{n}: {time.time() - start:.0f} s", file=sys.stderr, flush=True)
    return time.time() - start


def timed(cmd: list[str], repeat: int) -> dict:
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        assert done.returncode == 0, done.stderr
    return {
        "median_s": round(statistics.median(seconds), 3),
        "max_s": round(max(seconds), 3),
        "lines": len(done.stdout.splitlines()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--output-dir",
        default=None,
        help="an output dir that already holds the runs (skips making them)",
    )
    parser.add_argument("--out", default="bench_out/history.json")
    args = parser.parse_args()
    output_dir = args.output_dir
    made_s = None
    if output_dir is None:
        output_dir = os.path.join(tempfile.mkdtemp(prefix="bench-history-"), "out")
        made_s = make_store(output_dir, args.runs)
    tiedflow = os.path.join(os.path.dirname(sys.executable), "tiedflow")
    serving = os.path.join(output_dir, "serving")
    newest = os.path.join(serving, max(v for v in os.listdir(serving) if v.isdigit()))
    result = {
        "output_dir": output_dir,
        "made_s": made_s and round(made_s, 1),
        "store_bytes": os.path.getsize(os.path.join(output_dir, "metadata.sqlite")),
        "runs": timed([tiedflow, "runs", "--output-dir", output_dir], args.repeat),
        "runs_json": timed([tiedflow, "runs", "--json", "--output-dir", output_dir], args.repeat),
        "lineage": timed([tiedflow, "lineage", newest, "--output-dir", output_dir], args.repeat),
    }
    result["runs"]["lines"] -= 1  # the header
    for name in ("runs", "runs_json", "lineage"):
        print(
            f"tiedflow {name.replace('_', ' --')}: median {result[name]['median_s']:.3f} s, "
            f"max {result[name]['max_s']:.3f} s ({args.repeat} runs)"
        )
    print(
        f"store: {result['runs']['lines']} runs, {result['store_bytes'] / 1e6:.1f} MB"
        + (f", made in {result['made_s']:.0f} s" if made_s else "")
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
