"""`tiedflow report`: render an evaluation report (HTML) again."""

from __future__ import annotations

import argparse
import os
import time

from pipeline.cli.output import error, say
from pipeline.config import DEFAULT_OUTPUT_DIR
from pipeline.errors import EXIT_OK, EXIT_USAGE


def add_parser(sub) -> None:
    rep = sub.add_parser("report", help="render the evaluation report (HTML) again")
    rep.add_argument(
        "--output-dir", default=DEFAULT_OUTPUT_DIR, help="render the latest run recorded here"
    )
    rep.add_argument(
        "--out",
        default=None,
        metavar="FILE.html",
        help="where to write (default <output-dir>/reports/evaluation-<run>.html)",
    )
    rep.add_argument(
        "--evaluation",
        default=None,
        metavar="URI",
        help="render this evaluation artifact (a TFMA output dir) instead; "
        "classes by name when a run in the store recorded it",
    )
    rep.add_argument(
        "--statistics",
        default=None,
        metavar="URI",
        help="with --evaluation: a StatisticsGen artifact for the class balance",
    )


def execute(args: argparse.Namespace) -> int:
    # Checked before importing TensorFlow (about 14 s on a 2-core machine).
    if not args.evaluation and not os.path.isdir(args.output_dir):
        error(f"{args.output_dir}: no such output dir")
        return EXIT_USAGE
    from pipeline.local import reports

    start = time.time()
    if args.evaluation:
        page = reports.render_evaluation(args.evaluation, args.statistics, args.output_dir)
        source = args.evaluation
        out = args.out or os.path.join(args.output_dir, "reports", "evaluation.html")
    else:
        from ingestion.errors import DataError

        try:
            page, run_id = reports.render_latest(args.output_dir)
        except LookupError as err:  # no run (evaluated) in this output dir
            raise DataError(
                f"{args.output_dir}: {err}; run `tiedflow run` there first, "
                "or pass --evaluation URI"
            ) from None
        source = f"run {run_id}"
        out = args.out or os.path.join(args.output_dir, "reports", reports.report_name(run_id))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write(page)
    say(f"wrote {out} ({source}, {time.time() - start:.1f} s)")
    return EXIT_OK
