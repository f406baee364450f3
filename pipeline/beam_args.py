"""Beam settings from the command line (`--beam-arg=FLAG`), checked before a run.

Beam itself only logs a warning about a flag no runner knows and drops it, so a
typo (`--runner=Dataflow`, `--direct_num_worker=2`) would quietly run with the
defaults; here every flag is parsed the way Beam parses it, and an unknown
flag or a bad value stops the run with exit status 2, naming it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Sequence

from pipeline.config import ConfigError


def check_beam_args(flags: Sequence[str]) -> list[str]:
    """`flags` if Beam knows each one and its value; ConfigError naming the first that is not."""
    flags = list(flags)
    if not flags:
        return flags
    for flag in flags:
        if not flag.startswith("--"):
            raise ConfigError(
                f"--beam-arg {flag!r}: a Beam flag starts with '--' "
                "(e.g. --beam-arg=--direct_num_workers=2)"
            )
    from apache_beam.options.pipeline_options import PipelineOptions

    parsers: list = []
    errors = io.StringIO()
    beam_logger = logging.getLogger("apache_beam.options.pipeline_options")
    level = beam_logger.level
    beam_logger.setLevel(logging.ERROR)  # its own "Discarding unparseable args" warning
    try:
        with contextlib.redirect_stderr(errors):
            PipelineOptions(flags).get_all_options(add_extra_args_fn=parsers.append)
            parsers[0].allow_abbrev = False  # a misspelt flag is not a prefix of a real one
            _, unknown = parsers[0].parse_known_args(flags)
    except SystemExit:  # argparse's answer to a bad value
        message = errors.getvalue().strip().splitlines()[-1:] or ["bad value"]
        raise ConfigError(f"--beam-arg: {message[0].split('error: ')[-1]}") from None
    finally:
        beam_logger.setLevel(level)
    unknown = [arg for arg in unknown if arg.startswith("--")]
    if unknown:
        raise ConfigError(
            f"--beam-arg {unknown[0]}: not a flag Beam knows (see Beam's "
            "pipeline options and your runner's documentation)"
        )
    return flags


# The local default Beam mode, by data size (measured on 2 cores with
# `make bench-scale`, 28x28 raw bytes, train_steps=200: docs/scaling.md).
# Two multi-processing workers cut the wall time per example by about half
# (0.15 against 0.28 s per 1,000 examples between 180k and 1.8M), but each
# Beam component then starts worker processes that import TensorFlow, TFDV
# or TFMA, about 40 s more per run: one process is faster at 180k (78 s
# against 93), workers at 450k (139 s against 168). They break even near
# 250k examples (interpolated: 225k-270k in two series; near 250k at 8x8 too).
MODE_FLAGS = ("--direct_running_mode", "--direct_num_workers", "--runner")
MULTI_PROCESSING_FROM_EXAMPLES = 250_000


def local_default(data: str, user_flags: Sequence[str], cores: int | None = None) -> list[str]:
    """Beam flags for a local run: multi-processing with a worker per core (at
    most 8) when the data is large enough for it to pay, else none (one
    process); none either when the user chose a mode or a runner."""
    from ingestion.sources import estimated_examples

    if any(flag.startswith(MODE_FLAGS) for flag in user_flags):
        return []
    cores = cores or os.cpu_count() or 1
    if cores < 2:
        return []
    examples = estimated_examples(data)
    if examples is None or examples < MULTI_PROCESSING_FROM_EXAMPLES:
        return []
    return ["--direct_running_mode=multi_processing", f"--direct_num_workers={min(cores, 8)}"]
