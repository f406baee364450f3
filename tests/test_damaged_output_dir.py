"""A damaged output dir: a metadata.sqlite that is garbage or cut short gives
exit 2 with a message naming the file and saying what to do, for `run`,
`report` and `predict`, before TFX touches it; the file is left as it was."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd

from pipeline.local.store_check import check_store

TIEDFLOW = os.path.join(os.path.dirname(sys.executable), "tiedflow")


def make_store(path: str, contexts: int = 400) -> None:
    """A real ML Metadata store spanning many SQLite pages."""
    config = mlmd.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    type_id = store.put_context_type(mlmd.ContextType(name="pipeline_run"))
    store.put_contexts(
        [mlmd.Context(type_id=type_id, name=f"run-{i:04d}-" + "x" * 100) for i in range(contexts)]
    )


@pytest.fixture(params=["garbage", "truncated"])
def damaged_dir(request, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    path = out / "metadata.sqlite"
    if request.param == "garbage":
        path.write_bytes(os.urandom(3000) + b"SQLite format 3\x00" * 10)
    else:
        make_store(str(path))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2 + 100])  # cut inside a page
    return out


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_a_good_store_and_no_store_pass(tmp_path):
    check_store(str(tmp_path / "none.sqlite"))
    make_store(str(tmp_path / "good.sqlite"))
    check_store(str(tmp_path / "good.sqlite"))


@pytest.mark.parametrize("command", [["run"], ["report"], ["predict", "x.png"]])
def test_damaged_metadata_exits_2_naming_the_file_and_what_to_do(damaged_dir, command):
    path = damaged_dir / "metadata.sqlite"
    before = _digest(path)
    proc = subprocess.run(
        [TIEDFLOW, *command[:1], "--output-dir", str(damaged_dir), *command[1:]],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    if command[0] == "predict":  # needs no ML Metadata: it says what it lacks
        assert "no pushed model under" in proc.stderr
    else:
        assert f"{path}: the ML Metadata store is damaged" in proc.stderr, proc.stderr
        assert f"mv {path} {path}.damaged" in proc.stderr
        assert "the next run starts a fresh store" in proc.stderr
    assert _digest(path) == before  # left for the user to inspect


def test_report_on_an_output_dir_without_runs_exits_2(tmp_path):
    proc = subprocess.run(
        [TIEDFLOW, "report", "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "no ML Metadata store" in proc.stderr and "tiedflow run" in proc.stderr
    assert "Traceback" not in proc.stderr
