"""`tiedflow lineage`: a pushed model (or a run's model) traced back to its data."""

from __future__ import annotations

import argparse

from pipeline.cli.output import show_from_store
from pipeline.config import DEFAULT_OUTPUT_DIR
from pipeline.errors import EXIT_OK


def add_parser(sub) -> None:
    lin = sub.add_parser(
        "lineage",
        help="trace a pushed model (or a run's model) back to "
        "its data: evaluation, code, settings, examples",
    )
    lin.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR)
    lin.add_argument("--json", action="store_true", help="the chain as a JSON list of steps")
    lin.add_argument(
        "target",
        metavar="SERVING_VERSION_DIR|RUN_ID",
        help="a pushed version folder (<output-dir>/serving/<version>), a "
        "version number, or a run id (`tiedflow runs` lists them)",
    )


def execute(args: argparse.Namespace) -> int:
    from pipeline.local import lineage

    show_from_store(
        args.output_dir,
        lambda path: lineage.read_lineage(path, args.target),
        lineage.lines,
        args.json,
    )
    return EXIT_OK
