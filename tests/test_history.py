"""`tiedflow runs`, `lineage` and `diff` on output dirs that hold no usable
store: one line naming what is wrong and what to do, exit 2, no traceback.
(tests/test_history_e2e.py covers real stores made by real runs.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from test_damaged_output_dir import make_store

from pipeline.local.history import data_text, duration_text

TIEDFLOW = os.path.join(os.path.dirname(sys.executable), "tiedflow")
VERBS = (["runs"], ["runs", "--json"], ["lineage", "serving/1"], ["diff", "a", "b"])


def _store(tmp_path, kind: str) -> tuple[str, str]:
    """(output dir, what the message must say) for each kind of unusable store."""
    out = tmp_path / kind
    if kind == "missing":
        return str(out), f"{out}: no such output dir"
    out.mkdir()
    path = out / "metadata.sqlite"
    if kind == "no store":
        return str(out), "no run recorded here (no metadata.sqlite); run `tiedflow run"
    if kind == "empty":
        path.write_bytes(b"")
        return str(out), f"{path}: the ML Metadata store is empty"
    make_store(str(path))  # real ML Metadata, but no run of the pipeline
    if kind == "other pipeline":
        return str(out), "no run of pipeline 'tiedflow' in ML Metadata; run `tiedflow run"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])
    return str(out), f"{path}: the ML Metadata store is damaged"


@pytest.mark.parametrize("kind", ["missing", "no store", "empty", "other pipeline", "damaged"])
def test_unusable_stores_exit_2_with_one_line(tmp_path, kind):
    output_dir, message = _store(tmp_path, kind)
    for verb in VERBS:
        proc = subprocess.run(
            [TIEDFLOW, *verb, "--output-dir", output_dir],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 2, (verb, proc.stdout, proc.stderr)
        assert message in proc.stderr, (verb, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stdout == ""


def test_data_and_duration_in_words():
    assert data_text("digits", "digits") == "digits"
    assert data_text("/d/x.tfrecord", "0123456789abcdef") == "/d/x.tfrecord@01234567"
    assert data_text("/d/x.tfrecord", None) == "/d/x.tfrecord@?"
    assert data_text(None, None) == "?"
    assert [duration_text(s) for s in (None, 0.04, 9.96, 12.4, 599, 754)] == [
        "?",
        "0.0 s",
        "10.0 s",
        "12 s",
        "599 s",
        "12 min 34 s",
    ]
