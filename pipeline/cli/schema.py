"""`tiedflow schema`: the newest run's data schema, as a start for a curated one."""

from __future__ import annotations

import argparse
import os
import shutil

from pipeline.cli.output import error, say
from pipeline.config import DEFAULT_OUTPUT_DIR
from pipeline.errors import EXIT_OK, EXIT_USAGE


def add_parser(sub) -> None:
    sch = sub.add_parser(
        "schema",
        help="copy the newest run's data schema to a file, "
        "to curate and give back with --set schema=FILE",
    )
    sch.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR)
    sch.add_argument(
        "--output",
        required=True,
        metavar="FILE",
        help="where to write the schema (TFDV text format)",
    )


def execute(args: argparse.Namespace) -> int:
    """Copies the newest run's schema (inferred, or the curated file it loaded)
    to --output: a starting point for a curated schema (`--set schema=FILE`)."""
    from pipeline.local import outcome

    try:
        path, source = outcome.latest_schema(os.path.join(args.output_dir, "metadata.sqlite"))
    except (FileNotFoundError, LookupError) as err:
        error(f"{err}; run `tiedflow run --output-dir {args.output_dir}` first")
        return EXIT_USAGE
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    shutil.copyfile(path, args.output)
    say(
        f"wrote {args.output} (from {path}; "
        f"{'loaded from ' + source if source else 'inferred from the data'})"
    )
    return EXIT_OK
