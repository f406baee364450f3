"""`tiedflow lineage`: a pushed model (or a run's model) traced back to its data."""

from __future__ import annotations

import argparse
import json

from pipeline.cli.output import say
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
    from pipeline.local import history, lineage

    path = history.metadata_path_of(args.output_dir)
    try:
        steps = lineage.read_lineage(path, args.target)
    except LookupError as err:
        raise history.not_found(args.output_dir, err) from None
    if args.json:
        print(json.dumps([s.as_json() for s in steps], indent=1))
        return EXIT_OK
    for line in lineage.lines(steps):
        say(line)
    return EXIT_OK
