"""The `tiedflow` command line: run, compile, submit, report, predict.

Exit status of `run`: 0 blessed and pushed; 3 ran but not blessed (nothing
pushed); 2 bad input or configuration; 1 any other failure.
"""
from __future__ import annotations

import argparse
import os
import sys

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_NOT_BLESSED = 0, 1, 2, 3


def _quiet_logs() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import warnings

    warnings.filterwarnings("ignore")


def _user_errors():
    from components.image_data import DataError
    from components.validator import DataAnomaliesError
    from pipeline.config import ConfigError

    return (DataError, DataAnomaliesError, ConfigError)


def _find_user_error(err: BaseException):
    """The DataError / anomaly / config error inside a wrapped exception, if any."""
    user = _user_errors()
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, user):
            return err
        err = err.__cause__ or err.__context__
    return None


def cmd_run(args) -> int:
    from components.image_data import check_source
    from pipeline.config import PipelineConfig
    from pipeline import local_runner, outcome as outcome_lib

    config = PipelineConfig(output_dir=args.output_dir, data=args.data).with_overrides(args.set)
    check_source(config.data)
    ran = local_runner.run(config, orchestrator=args.orchestrator)
    result = outcome_lib.read_outcome(ran.metadata_path, ran.pipeline_name)
    accuracy = f"{result.accuracy:.4f}" if result.accuracy is not None else "n/a"
    print(f"run {result.run_id}: overall eval accuracy {accuracy}")
    print(f"evaluation: {result.evaluation_uri}")
    if result.blessed and result.pushed_dir:
        print(f"BLESSED and pushed to {result.pushed_dir}")
        return EXIT_OK
    print("NOT BLESSED: nothing was pushed. Failed thresholds:")
    for line in result.failures or ["(no threshold details found)"]:
        print(f"  - {line}")
    return EXIT_NOT_BLESSED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tiedflow", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline on this machine")
    run.add_argument("--data", default="digits",
                     help="'digits' (embedded), an image folder DIR/<label>/*.png, "
                          "or TFRecord file(s)/glob")
    run.add_argument("--output-dir", default="tiedflow_output")
    run.add_argument("--orchestrator", choices=("local", "beam"), default="local")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override one config knob (repeatable)")
    run.set_defaults(func=cmd_run)
    return parser


def main(argv=None) -> int:
    _quiet_logs()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except BaseException as err:  # map to the documented exit statuses
        if isinstance(err, SystemExit):
            raise
        user_error = _find_user_error(err)
        if user_error is not None:
            print(f"tiedflow: error: {user_error}", file=sys.stderr)
            return EXIT_USAGE
        print(f"tiedflow: failed: {type(err).__name__}: {err}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
