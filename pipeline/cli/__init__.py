"""The `tiedflow` command line: a thin `main` here, one module per verb beside it.

Each verb module has `add_parser(sub)` and `execute(args) -> int`, and keeps its
heavy imports (TensorFlow, TFX) inside `execute`, so `--help` and argument
errors answer at once. `main` maps errors to exit statuses (pipeline.errors):
for `run`, 0 blessed and pushed; 3 ran but not blessed (nothing pushed); 2 bad
input or configuration; 1 any other failure; 130 / 143 interrupted by Ctrl-C /
SIGTERM (pipeline.local.interrupt).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from pipeline.cli.output import quiet_logs, say
from pipeline.errors import EXIT_FAILURE, EXIT_USAGE, find_user_error, user_message
from pipeline.local import interrupt

# One module of pipeline.cli per verb, in the order `--help` lists them.
VERBS = (
    "run",
    "report",
    "schema",
    "compile",
    "submit",
    "generate",
    "predict",
    "runs",
    "lineage",
    "diff",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiedflow",
        description="A TFX pipeline for a tied-weight CNN: run, compile, "
        "submit, report, predict; look back with runs, "
        "lineage, diff.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for verb in VERBS:
        module = importlib.import_module(f"pipeline.cli.{verb}")
        module.add_parser(sub)
        sub.choices[verb].set_defaults(func=module.execute)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The console script. Run as a program (`argv` None), it ends the process
    without the interpreter's teardown of TensorFlow and Beam (about 1.5 s),
    once its output is flushed; called with arguments (tests) it returns."""
    code = _main(argv)
    if argv is None:
        import logging

        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    return code


def _main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_logs(args.command)
    try:
        with interrupt.signals_raise():
            return args.func(args)
    except BaseException as err:  # map to the documented exit statuses
        if isinstance(err, SystemExit):
            raise
        stopped = interrupt.stopped_by(err)
        if stopped is not None:  # Ctrl-C or SIGTERM: a line, no traceback
            where = f" during {stopped.during}" if stopped.during else ""
            resume = (
                "; run the same command again to resume: finished components are reused"
                if args.command == "run"
                else ""
            )
            print(f"tiedflow: interrupted by {stopped}{where}{resume}", file=sys.stderr)
            return stopped.exit_status
        user_error = find_user_error(err)
        if user_error is not None:
            say(f"tiedflow: error: {user_message(user_error)}", file=sys.stderr)
            return EXIT_USAGE
        say(f"tiedflow: failed: {type(err).__name__}: {err}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
