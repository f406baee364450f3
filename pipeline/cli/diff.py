"""`tiedflow diff`: what differs between two runs, down to each evaluation slice."""

from __future__ import annotations

import argparse
import json

from pipeline.cli.output import say
from pipeline.config import DEFAULT_OUTPUT_DIR
from pipeline.errors import EXIT_OK


def add_parser(sub) -> None:
    dif = sub.add_parser(
        "diff",
        help="what differs between two runs: settings, data, code and the evaluation per slice",
    )
    dif.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR)
    dif.add_argument("--json", action="store_true", help="the comparison as one JSON object")
    dif.add_argument(
        "--all", action="store_true", help="show every slice row, also those that did not change"
    )
    dif.add_argument("run_a", metavar="RUN_A", help="a run id (`tiedflow runs` lists them)")
    dif.add_argument("run_b", metavar="RUN_B")


def execute(args: argparse.Namespace) -> int:
    from pipeline.local import history, run_diff

    path = history.metadata_path_of(args.output_dir)
    try:
        diff = run_diff.compare(path, args.run_a, args.run_b)
    except LookupError as err:
        raise history.not_found(args.output_dir, err) from None
    if args.json:
        print(json.dumps(diff.as_json(), indent=1))
        return EXIT_OK
    for line in run_diff.lines(diff, every_row=args.all):
        say(line)
    return EXIT_OK
