"""Is an output dir's ML Metadata file readable? Checked before a run or a report
uses it, so a damaged file is named with what to do, not a crash inside TFX.

Imports nothing heavy: `tiedflow run` checks before TensorFlow loads.
"""

from __future__ import annotations

import contextlib
import os
import urllib.parse

from ingestion.errors import DataError


class DamagedStoreError(DataError):
    """The output dir's ML Metadata file is not a readable SQLite database."""


def check_store(metadata_path: str) -> None:
    """Raises DamagedStoreError naming the file when it exists but SQLite cannot
    read it (garbage bytes, cut short); TFX would fail deep inside otherwise."""
    import sqlite3

    if not os.path.exists(metadata_path):
        return
    problem = None
    try:
        with contextlib.closing(
            sqlite3.connect(
                f"file:{urllib.parse.quote(os.path.abspath(metadata_path))}?mode=ro", uri=True
            )
        ) as db:
            rows = db.execute("PRAGMA quick_check").fetchall()
        if rows != [("ok",)]:
            problem = "; ".join(str(r[0]) for r in rows[:3])
    except sqlite3.DatabaseError as err:
        problem = str(err)
    if problem:
        raise DamagedStoreError(
            f"{metadata_path}: the ML Metadata store is damaged ({problem}). Move it aside "
            f"(mv {metadata_path} {metadata_path}.damaged) and run again: the next run starts "
            "a fresh store (pushed models under serving/ are kept and still used as baselines)"
        )
