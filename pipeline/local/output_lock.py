"""One run at a time per output dir.

ML Metadata, the push destination and the run's printed outcome all assume
it, so a second run into the same folder fails at once with a message that
names the process holding it.
"""

from __future__ import annotations

import fcntl
import os
from typing import IO

from pipeline.config import ConfigError

_HELD: list[IO[str]] = []  # open lock files, held until the process ends


def lock_output_dir(output_dir: str) -> None:
    """Takes `output_dir`'s lock for the rest of this process, or raises ConfigError."""
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ConfigError(f"--output-dir {output_dir}: is a file, not a folder")
    try:
        os.makedirs(output_dir, exist_ok=True)
        lock = open(os.path.join(output_dir, ".run.lock"), "a+")
    except OSError as err:
        raise ConfigError(
            f"--output-dir {output_dir}: cannot be written ({err.strerror})"
        ) from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        raise ConfigError(
            f"--output-dir {output_dir}: another run is using it ({holder}); "
            "wait for it to end, or use another --output-dir"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"pid {os.getpid()}\n")
    lock.flush()
    _HELD.append(lock)
