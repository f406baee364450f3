"""`tiedflow runs`: one line per run recorded in an output dir, newest first.

Reads ML Metadata only (pipeline.local.history): no TensorFlow, so it answers
at once."""

from __future__ import annotations

import argparse

from pipeline.cli.output import show_from_store
from pipeline.config import DEFAULT_OUTPUT_DIR
from pipeline.errors import EXIT_OK


def add_parser(sub) -> None:
    rns = sub.add_parser("runs", help="list the runs recorded in an output dir, newest first")
    rns.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR)
    rns.add_argument(
        "--json",
        action="store_true",
        help="a JSON list of the run records (every field, None when unknown)",
    )


def execute(args: argparse.Namespace) -> int:
    from pipeline.local import history

    show_from_store(args.output_dir, history.read_runs, history.table, args.json)
    return EXIT_OK
