"""A curated schema, end to end: data that violates it stops the run before
training (exit 2, the anomalies named, nothing pushed, pushed models left
alone); data that matches it trains (`regressed_run` runs with the schema
`pipeline_run` inferred, given as a file)."""

from __future__ import annotations

import os
import shutil

import pytest
import tensorflow_data_validation as tfdv
from background_run import tree_digest
from conftest import inferred_schema, run_tiedflow

from names import SCHEMA_FILE_PROPERTY
from pipeline.local import outcome as outcome_lib

pytestmark = pytest.mark.e2e


def _store(run):
    return outcome_lib.open_store(os.path.join(run.output_dir, "metadata.sqlite"))


def _executions(store, component: str) -> list:
    types = [t for t in store.get_execution_types() if t.name.endswith("." + component)]
    return [e for t in types for e in store.get_executions_by_type(t.name)]


@pytest.fixture(scope="module")
def curated(pipeline_run, tmp_path_factory):
    """(run, schema file, digests of the pushed models before it): the schema
    pipeline_run inferred, got with `tiedflow schema`, with the label's domain
    narrowed to 0-8 (the digits have a 9), in an output dir that starts with a
    copy of pipeline_run's pushed models."""
    assert pipeline_run.returncode == 0, pipeline_run.stderr[-3000:]
    base = tmp_path_factory.mktemp("curated")
    schema_path = str(base / "schema.pbtxt")
    got = run_tiedflow("schema", "--output", schema_path, output_dir=pipeline_run.output_dir)
    assert got.returncode == 0, got.stderr[-3000:]
    assert f"wrote {schema_path}" in got.stdout and "inferred from the data" in got.stdout
    with open(schema_path) as f, open(inferred_schema(pipeline_run)) as g:
        assert f.read() == g.read()
    schema = tfdv.load_schema_text(schema_path)
    label = tfdv.get_feature(schema, "label")
    label.int_domain.min, label.int_domain.max = 0, 8
    tfdv.write_schema_text(schema, schema_path)

    out = base / "out"
    shutil.copytree(os.path.join(pipeline_run.output_dir, "serving"), out / "serving")
    before = tree_digest(str(out / "serving"))
    run = run_tiedflow("run", "--set", f"schema={schema_path}", output_dir=str(out))
    return run, schema_path, before


def test_data_violating_a_curated_schema_stops_the_run_naming_the_anomalies(curated):
    run, schema_path, _ = curated
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-3000:]
    err = run.stderr
    for split in ("train", "eval"):
        assert f"split {split!r}, feature 'label': Out-of-range values" in err, err
    assert f"update the schema file {schema_path}" in err and "fix the data" in err
    assert "Traceback" not in err + run.stdout


def test_nothing_is_trained_or_pushed_and_pushed_models_are_untouched(curated):
    run, _, before = curated
    store = _store(run)
    assert _executions(store, "ExampleValidator")  # it got that far ...
    assert not _executions(store, "Trainer") and not _executions(store, "Pusher")  # ... no further
    assert tree_digest(os.path.join(run.output_dir, "serving")) == before


def test_data_matching_a_schema_file_trains(regressed_run):
    """regressed_run gives the schema pipeline_run inferred as a file: it
    validates, trains and is evaluated (not blessed only by its change thresholds)."""
    assert regressed_run.returncode == 3, regressed_run.stderr[-3000:]
    store = _store(regressed_run)
    (schema,) = store.get_artifacts_by_type("Schema")
    assert schema.custom_properties[SCHEMA_FILE_PROPERTY].string_value.endswith("schema.pbtxt")
    assert len(_executions(store, "Trainer")) == 1
