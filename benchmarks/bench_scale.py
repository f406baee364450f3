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
import time

from measured import peaks_within, run_measured

MODES = {
    "in_memory": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    "multi_processing_2": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
}
DATA_COMPONENTS = ("ImageExampleGen", "StatisticsGen", "Transform", "Evaluator")
SHOWN = ("ImageExampleGen", "StatisticsGen", "Transform", "Trainer", "Evaluator")


def tool(name: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), name)


_WRITE_SHARDS = """
import sys
from concurrent.futures import ProcessPoolExecutor
from ingestion import synthetic
out, n, size, encoding, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    sys.argv[4], int(sys.argv[5])
with ProcessPoolExecutor(workers) as pool:
    list(pool.map(synthetic.write_tfrecord_shard, *zip(*[
        (out, n, shard, size, False, False, 0, encoding)
        for shard in range(synthetic.shards(n)[0])])))
"""


def dataset(cache_dir: str, n: int, image_size: int, encoding: str, workers: int = 2) -> str:
    """The glob of N generated examples, written once (shards side by side in
    `workers` processes) and reused from `cache_dir` by later runs."""
    folder = os.path.join(os.path.abspath(cache_dir), f"digits-{n}-{image_size}-{encoding}")
    if not os.path.isdir(folder):
        shutil.rmtree(folder + ".tmp", ignore_errors=True)
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                _WRITE_SHARDS,
                folder + ".tmp",
                str(n),
                str(image_size),
                encoding,
                str(workers),
            ],
            check=True,
        )
        os.rename(folder + ".tmp", folder)
        print(
            f"generated {n} examples in {time.perf_counter() - start:.0f} s: {folder}", flush=True
        )
    return os.path.join(folder, "*.tfrecord.gz")


def timed_run(
    data: str,
    mode: str,
    settings: list[str],
    work: str,
    source: str | None = None,
    keep_logs: str = "bench_out/scale.json",
    keep_output: bool = False,
) -> dict:
    """One cold run on a fresh output dir, in the Beam mode given. With `source`
    (another checkout, such as an older commit), that tree's code runs. A failed
    run's log is kept beside `keep_logs` (the results file)."""
    output_dir = tempfile.mkdtemp(prefix=f"scale-{mode}-", dir=work)
    env = dict(os.environ)
    beam_args = [f"--beam-arg={flag}" for flag in MODES[mode]]
    if source:
        env["PYTHONPATH"] = os.path.abspath(source)
    cmd = [
        tool("tiedflow"),
        "run",
        "--data",
        data,
        "--output-dir",
        output_dir,
        *beam_args,
        *(a for s in settings for a in ("--set", s)),
    ]
    # Run from the work dir: Beam's worker processes put their working directory
    # first on sys.path, and a checkout there would shadow `source`.
    result = {"mode": mode, **run_measured(cmd, output_dir + ".log", env=env, cwd=work)}
    samples = result.pop("samples")
    code = result["exit_code"]
    if code in (0, 3):
        outcome = _outcome(output_dir, env)
        windows = outcome.pop("windows", {})
        result.update(outcome)
        # peak RSS (whole tree, runner process alone) while each component ran
        result["components_peak_mb"] = peaks_within(samples, windows)
        if keep_output:
            result["output_dir"] = output_dir
        else:
            shutil.rmtree(output_dir, ignore_errors=True)
    else:
        kept = os.path.join(
            os.path.dirname(os.path.abspath(keep_logs)), os.path.basename(output_dir) + ".log"
        )
        shutil.copy(output_dir + ".log", kept)
        if os.path.isdir(os.path.join(output_dir, "logs")):  # the run's own full logs
            shutil.copytree(os.path.join(output_dir, "logs"), kept[:-4] + "-logs")
        print(f"run failed ({code}); its log: {kept}", file=sys.stderr)
    return result


# Read by the code that ran (its own outcome module and TFMA metric modules;
# run from the output dir so that the working directory shadows nothing).
_READ_OUTCOME = """
import json, sys
try:
    from pipeline.local.outcome import read_outcome
except ImportError:  # before the pipeline/local split
    from pipeline.outcome import read_outcome
o = read_outcome(sys.argv[1], "tiedflow")
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
config = metadata_store_pb2.ConnectionConfig()
config.sqlite.filename_uri = sys.argv[1]
store = metadata_store.MetadataStore(config)
windows = {}  # node id -> (start, end) in epoch seconds
for e in store.get_executions():
    for c in store.get_contexts_by_execution(e.id):
        if store.get_context_types_by_id([c.type_id])[0].name == "node":
            windows[c.name.split(".", 1)[-1]] = (e.create_time_since_epoch / 1000,
                                                 e.last_update_time_since_epoch / 1000)
print(json.dumps({"components_s": {k: round(v, 2) for k, v in o.component_seconds.items()},
                  "eval_accuracy": o.accuracy, "windows": windows}))
"""


def _outcome(output_dir: str, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _READ_OUTCOME, os.path.join(output_dir, "metadata.sqlite")],
        env=env,
        cwd=output_dir,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _series(row: dict) -> str:
    return f"{row.get('label') or 'this tree'}, {row['mode']}"


def plot(rows: list, path: str) -> None:
    """Seconds per component against N, log-log: one colour per component,
    one line style per series (code and Beam mode)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 5.5))
    ax = fig.subplots()
    styles = ["-", "--", ":", "-."]
    colours = dict(zip(SHOWN + ("wall",), ["C0", "C1", "C2", "C3", "C4", "k"]))
    for i, series in enumerate(sorted({_series(r) for r in rows}, reverse=True)):
        mine = sorted(
            (r for r in rows if _series(r) == series and "components_s" in r), key=lambda r: r["n"]
        )
        xs = [r["n"] for r in mine]
        for component in SHOWN + ("wall",):
            ys = [
                max(
                    r["wall_s"] if component == "wall" else r["components_s"].get(component, 0.0),
                    0.01,
                )
                for r in mine
            ]
            ax.plot(
                xs,
                ys,
                styles[i % len(styles)],
                marker="o",
                color=colours[component],
                label=f"{component} ({series})",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("examples (N)")
    ax.set_ylabel("seconds")
    size = rows[0]["image_size"] if rows else "?"
    ax.set_title(f"Time per component against N ({size}x{size} images)")
    ax.legend(fontsize=6, ncol=2)
    fig.savefig(path, dpi=110, bbox_inches="tight")


def table(rows: list) -> str:
    lines = [
        "seconds per component (examples per second)",
        f"{'N':>8} {'series':<32}{'wall s':>8}"
        + "".join(f"{c[:15]:>18}" for c in SHOWN)
        + f"{'RSS MB':>9}",
    ]
    for r in rows:
        comps = r.get("components_s", {})
        cells = "".join(
            f"{comps.get(c, float('nan')):>9.1f} ({r['n'] / comps[c] if comps.get(c) else 0:>6.0f})"
            for c in SHOWN
        )
        lines.append(
            f"{r['n']:>8} {_series(r):<32}{r['wall_s']:>8.1f}{cells}{r['peak_tree_rss_mb']:>9.0f}"
        )
    lines.append("marginal cost between the two largest N (wall), per series:")
    for series in sorted({_series(r) for r in rows}):
        mine = sorted((r for r in rows if _series(r) == series), key=lambda r: r["n"])
        if len(mine) >= 2:
            a, b = mine[-2], mine[-1]
            per_1000 = (b["wall_s"] - a["wall_s"]) / (b["n"] - a["n"]) * 1000
            lines.append(
                f"  {series}: {per_1000:.3f} s per 1,000 examples "
                f"({a['n']} -> {b['n']}); peak RSS "
                f"x{b['peak_tree_rss_mb'] / a['peak_tree_rss_mb']:.2f}"
            )
    lines.append("peak RSS MB while each component ran, whole tree / runner process alone:")
    for r in rows:
        peaks = r.get("components_peak_mb")
        if peaks:
            lines.append(
                f"  {r['n']:>8} {_series(r)}: "
                + ", ".join(f"{c} {peaks[c][0]:.0f}/{peaks[c][1]:.0f}" for c in SHOWN if c in peaks)
            )
    lines.append("data components (" + ", ".join(DATA_COMPONENTS) + "), seconds together:")
    for r in rows:
        if "components_s" in r:
            total = sum(r["components_s"].get(c, 0.0) for c in DATA_COMPONENTS)
            lines.append(f"  {r['n']:>8} {_series(r)}: {total:.1f}")
    return "\n".join(lines)


def write(rows: list, out: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(rows, f, indent=2)
    png = os.path.splitext(out)[0] + ".png"
    plot(rows, png)
    print(table(rows))
    print(f"written to {out} and {png}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1800, 18000, 180000])
    parser.add_argument("--image-size", type=int, default=8, choices=(8, 28))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument(
        "--min-n-multi",
        type=int,
        default=18000,
        help="multi_processing only from this N (start-up dominates below)",
    )
    parser.add_argument("--set", action="append", default=["train_steps=20"])
    parser.add_argument(
        "--pixel-encoding",
        default="bytes",
        choices=("bytes", "int"),
        help="TFRecords of raw uint8 bytes (read with pixel_encoding=bytes "
        "and image_shape) or of int64 pixels",
    )
    parser.add_argument(
        "--cache-dir",
        "--data-dir",
        dest="cache_dir",
        default="bench_out/scale_data",
        help="generated data sets, kept and reused (1.8M at 28x28: 1.5 GB)",
    )
    parser.add_argument("--out", default="bench_out/scale.json")
    parser.add_argument(
        "--source",
        default=None,
        metavar="DIR",
        help="run the code of another checkout (e.g. an older commit) instead",
    )
    parser.add_argument("--label", default="", help="recorded with each row (e.g. the commit)")
    parser.add_argument(
        "--work-dir",
        default=None,
        help="where the runs' output dirs go (default: a temporary dir, removed)",
    )
    parser.add_argument(
        "--keep-output",
        action="store_true",
        help="keep each run's output dir (under --work-dir) to look into afterwards",
    )
    parser.add_argument(
        "--combine",
        nargs="+",
        metavar="JSON",
        help="no runs: one table and plot of these results (e.g. before and after)",
    )
    args = parser.parse_args()
    if args.combine:
        rows = [row for path in args.combine for row in json.load(open(path))]
        write(rows, args.out)
        return 0

    settings = list(args.set)
    if args.pixel_encoding == "bytes":
        settings += ["pixel_encoding=bytes", f"image_shape={args.image_size},{args.image_size}"]
    if args.work_dir:
        os.makedirs(args.work_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="tiedflow-scale-", dir=args.work_dir)
    rows = []
    for n in args.n:
        data = dataset(args.cache_dir, n, args.image_size, args.pixel_encoding)
        for mode in args.modes:
            if mode != "in_memory" and n < args.min_n_multi:
                continue
            row = {
                "n": n,
                "image_size": args.image_size,
                "label": args.label,
                "pixel_encoding": args.pixel_encoding,
                **timed_run(data, mode, settings, work, args.source, args.out, args.keep_output),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    if not args.keep_output:
        shutil.rmtree(work, ignore_errors=True)
    write(rows, args.out)
    return 0 if all(r["exit_code"] in (0, 3) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
