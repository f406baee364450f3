"""`tiedflow runs`: one line per run recorded in an output dir, newest first.

Reads ML Metadata only (pipeline.local.history): no TensorFlow, so it answers
at once."""

from __future__ import annotations

import argparse
import json

from pipeline.cli.output import say
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

    path = history.metadata_path_of(args.output_dir)
    try:
        records = history.read_runs(path)
    except LookupError as err:
        raise history.not_found(args.output_dir, err) from None
    if args.json:
        print(json.dumps([r.as_json() for r in records], indent=1))
        return EXIT_OK
    for line in history.table(records):
        say(line)
    return EXIT_OK
