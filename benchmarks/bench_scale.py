"""Scaling benchmark: the pipeline at growing N, per DirectRunner mode.

For each N, `tiedflow generate` writes N examples as gzipped TFRecords (once;
kept under --data-dir), then `tiedflow run` ingests them with training capped
(`train_steps`, so the data components dominate) on a fresh output dir, for
each Beam mode given. Prints a table (wall, seconds and examples per second per
component, peak RSS), writes it as JSON and plots time per component against N
(log-log) as a PNG.

    python benchmarks/bench_scale.py --n 1800 18000 180000 --out bench_out/scale.json
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from measured import run_measured

MODES = {
    "in_memory": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    "multi_processing_2": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
}
DATA_COMPONENTS = ("ImageExampleGen", "StatisticsGen", "Transform", "Evaluator")
SHOWN = ("ImageExampleGen", "StatisticsGen", "Transform", "Trainer", "Evaluator")


def tool(name: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), name)


def dataset(data_dir: str, n: int, image_size: int) -> str:
    folder = os.path.join(data_dir, f"digits-{n}-{image_size}")
    if not os.path.isdir(folder):
        subprocess.run([tool("tiedflow"), "generate", "--n", str(n), "--format", "tfrecord",
                        "--image-size", str(image_size), "--out", folder + ".tmp"], check=True)
        os.rename(folder + ".tmp", folder)
    return os.path.join(folder, "*.tfrecord.gz")


def timed_run(data: str, mode: str, settings: list[str], work: str,
              source: str | None = None) -> dict:
    """One cold run on a fresh output dir. With `source` (another checkout, such
    as an older commit), that tree's code runs, with its own default Beam mode."""
    output_dir = tempfile.mkdtemp(prefix=f"scale-{mode}-", dir=work)
    env = dict(os.environ)
    beam_args = [f"--beam-arg={flag}" for flag in MODES[mode]]
    if source:
        env["PYTHONPATH"] = os.path.abspath(source)
        beam_args = []
    cmd = [tool("tiedflow"), "run", "--data", data, "--output-dir", output_dir,
           *beam_args, *(a for s in settings for a in ("--set", s))]
    result = {"mode": mode, **run_measured(cmd, output_dir + ".log", env=env)}
    code = result["exit_code"]
    if code in (0, 3):
        result.update(_outcome(output_dir, env))
        shutil.rmtree(output_dir, ignore_errors=True)
    else:
        print(f"run failed ({code}); its log: {output_dir}.log", file=sys.stderr)
    return result


# Read by the code that ran (its own outcome module and TFMA metric modules;
# run from the output dir so that the working directory shadows nothing).
_READ_OUTCOME = """
import json, sys
from pipeline.outcome import read_outcome
o = read_outcome(sys.argv[1], "tiedflow")
print(json.dumps({"components_s": {k: round(v, 2) for k, v in o.component_seconds.items()},
                  "eval_accuracy": o.accuracy}))
"""


def _outcome(output_dir: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", _READ_OUTCOME,
                          os.path.join(output_dir, "metadata.sqlite")],
                         env=env, cwd=output_dir, check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def plot(rows: list, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    for mode in sorted({r["mode"] for r in rows}):
        mine = sorted((r for r in rows if r["mode"] == mode and "components_s" in r),
                      key=lambda r: r["n"])
        for component in SHOWN:
            xs = [r["n"] for r in mine]
            ys = [max(r["components_s"].get(component, 0.0), 0.01) for r in mine]
            style = "-" if mode == "in_memory" else "--"
            ax.plot(xs, ys, style, marker="o", label=f"{component} ({mode})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("examples (N)")
    ax.set_ylabel("seconds")
    ax.set_title("Time per component against N")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=110, bbox_inches="tight")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1800, 18000, 180000])
    parser.add_argument("--image-size", type=int, default=8, choices=(8, 28))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--min-n-multi", type=int, default=18000,
                        help="multi_processing only from this N (start-up dominates below)")
    parser.add_argument("--set", action="append", default=["train_steps=20"])
    parser.add_argument("--data-dir", default="bench_out/scale_data")
    parser.add_argument("--out", default="bench_out/scale.json")
    parser.add_argument("--source", default=None, metavar="DIR",
                        help="run the code of another checkout (e.g. an older commit) instead")
    parser.add_argument("--label", default="", help="recorded with each row (e.g. the commit)")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="tiedflow-scale-")
    rows = []
    for n in args.n:
        data = dataset(args.data_dir, n, args.image_size)
        for mode in args.modes:
            if mode != "in_memory" and n < args.min_n_multi:
                continue
            row = {"n": n, "image_size": args.image_size, "label": args.label,
                   **timed_run(data, mode, args.set, work, args.source)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    shutil.rmtree(work, ignore_errors=True)

    print("seconds per component (examples per second)")
    header = f"{'N':>8} {'mode':<20}{'wall s':>8}" + "".join(f"{c[:15]:>18}" for c in SHOWN)
    print(header + f"{'RSS MB':>9}{'tree MB':>9}")
    for r in rows:
        comps = r.get("components_s", {})
        cells = "".join(f"{comps.get(c, float('nan')):>9.1f} ({r['n'] / comps[c] if comps.get(c) else 0:>6.0f})"
                        for c in SHOWN)
        print(f"{r['n']:>8} {r['mode']:<20}{r['wall_s']:>8.1f}{cells}{r['peak_rss_mb']:>9.0f}{r['peak_tree_rss_mb']:>9.0f}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(rows, f, indent=2)
    png = os.path.splitext(args.out)[0] + ".png"
    plot(rows, png)
    print(f"written to {args.out} and {png}")
    return 0 if all(r["exit_code"] in (0, 3) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
