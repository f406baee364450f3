"""`tiedflow compile`: the Kubeflow Pipelines v2 spec (pipeline.yaml)."""

from __future__ import annotations

import argparse

from pipeline.cli.output import say
from pipeline.errors import EXIT_OK


def add_parser(sub) -> None:
    comp = sub.add_parser("compile", help="compile the Kubeflow Pipelines v2 spec (pipeline.yaml)")
    comp.add_argument(
        "--image", default=None, help="container image every task runs (default tiedflow:<version>)"
    )
    comp.add_argument("--output", default="pipeline.yaml")
    comp.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fix one config knob in the compiled spec (repeatable)",
    )
    comp.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="one Beam flag compiled into every Beam-powered task (repeatable)",
    )


def execute(args: argparse.Namespace) -> int:
    from pipeline.beam_args import check_beam_args
    from pipeline.config import PipelineConfig
    from pipeline.kubeflow import compiler

    config = PipelineConfig(beam_args=tuple(check_beam_args(args.beam_arg))).with_overrides(
        args.set
    )
    image = args.image or compiler.default_image()
    path = compiler.compile_pipeline(args.output, image=image, config=config)
    say(f"wrote {path} (image {image}; run parameters: {', '.join(compiler.RUNTIME_PARAMETERS)})")
    return EXIT_OK
