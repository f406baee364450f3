"""How the command line prints text that may come from the data."""

from __future__ import annotations

import os
import sys
from typing import TextIO


def say(text: str = "", file: TextIO | None = None) -> None:
    """print() for lines that may hold text from the data (class, folder and file
    names, a server's message): control characters are shown as escapes."""
    from ingestion.terminal_text import terminal_safe

    print(terminal_safe(text), file=file or sys.stdout, flush=True)


def show_from_store(output_dir: str, read, lines, as_json: bool) -> None:
    """Prints what `read(metadata path)` finds in the output dir's ML Metadata
    store: as JSON (each item's `as_json()`), else as `lines(items)`. A missing
    store or target is a user error that names the output dir."""
    import json

    from pipeline.local import history

    try:
        items = read(history.metadata_path_of(output_dir))
    except LookupError as err:
        raise history.not_found(output_dir, err) from None
    if as_json:
        print(json.dumps([item.as_json() for item in items], indent=1))
        return
    for line in lines(items):
        say(line)


def error(text: str) -> None:
    """One `tiedflow: error: ...` line on stderr."""
    say(f"tiedflow: error: {text}", file=sys.stderr)


def quiet_logs(command: str) -> None:
    """`run` keeps library warnings and TensorFlow's own logs, for its log file
    (pipeline.local.progress); the other commands drop them (CUDA-stub noise on
    CPU machines, deprecations of the stack)."""
    if command == "run":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    # TensorFlow's own Python deprecation notes (TFMA reading an evaluation).
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
