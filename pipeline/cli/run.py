"""`tiedflow run`: the whole pipeline on this machine, then the verdict."""

from __future__ import annotations

import argparse

from pipeline.cli.output import say
from pipeline.config import DEFAULT_OUTPUT_DIR, ORCHESTRATORS
from pipeline.errors import EXIT_NOT_BLESSED, EXIT_OK


def add_parser(sub) -> None:
    run = sub.add_parser("run", help="run the whole pipeline on this machine")
    run.add_argument(
        "--data",
        default="digits",
        help="'digits' (embedded), an image folder DIR/<label>/*.png, or TFRecord file(s)/glob",
    )
    run.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR)
    run.add_argument("--orchestrator", choices=ORCHESTRATORS, default="local")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config knob (repeatable; docs/knobs.md lists them)",
    )
    run.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="one flag for the Beam-powered components' beam_pipeline_args, "
        "e.g. --beam-arg=--direct_running_mode=multi_processing (repeatable)",
    )
    run.add_argument(
        "--verbose",
        action="store_true",
        help="show library warnings and TensorFlow/TFX logs live "
        "(they always go to <output-dir>/logs/run-*.log)",
    )


def execute(args: argparse.Namespace) -> int:
    from ingestion.sources import check_source
    from pipeline.beam_args import check_beam_args
    from pipeline.config import PipelineConfig
    from pipeline.local.run import run_locally

    # Bad settings and data paths are reported before TFX and TensorFlow load.
    config = PipelineConfig(
        output_dir=args.output_dir, data=args.data, beam_args=tuple(args.beam_arg)
    ).with_overrides(args.set)
    check_source(config.data)
    if config.beam_args:
        check_beam_args(config.beam_args)
    done = run_locally(config, orchestrator=args.orchestrator, verbose=args.verbose, say=say)
    result = done.outcome
    accuracy = f"{result.accuracy:.4f}" if result.accuracy is not None else "n/a"
    if result.data:
        say(f"data: {result.data}")
    say(f"run {result.run_id}: overall eval accuracy {accuracy}")
    say(f"evaluation: {result.evaluation_uri}")
    for line in (result.baseline_skipped or "").splitlines():
        say(f"baseline: skipped {line}")
    say(f"report: {done.report or '(none: the run stopped before the report)'}")
    if done.exit_status == EXIT_OK:
        say(f"BLESSED and pushed to {result.pushed_dir}")
        return EXIT_OK
    say("NOT BLESSED: nothing was pushed. Failed thresholds:")
    for line in result.failures or ["(no threshold details found)"]:
        say(f"  - {line}")
    return EXIT_NOT_BLESSED
