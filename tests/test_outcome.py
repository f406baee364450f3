"""Which run `pipeline.outcome` reads, on a real (SQLite) ML Metadata store."""

from __future__ import annotations

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd

from pipeline.local import outcome


@pytest.fixture
def store(tmp_path):
    config = mlmd.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / "metadata.sqlite")
    config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(config)


def _context(store, type_name: str, name: str) -> int:
    type_id = store.put_context_type(mlmd.ContextType(name=type_name))
    [context_id] = store.put_contexts([mlmd.Context(type_id=type_id, name=name)])
    return context_id


def _artifact(store, type_name: str, context_id: int) -> int:
    type_id = store.put_artifact_type(mlmd.ArtifactType(name=type_name))
    [artifact_id] = store.put_artifacts([mlmd.Artifact(type_id=type_id, uri=f"/{type_name}")])
    store.put_attributions_and_associations(
        [mlmd.Attribution(artifact_id=artifact_id, context_id=context_id)], []
    )
    return artifact_id


def test_evaluated_skips_a_newer_run_that_stopped_before_the_evaluator(store):
    _context(store, "pipeline", "tiedflow")
    evaluated = _context(store, "pipeline_run", "run-1")
    _artifact(store, "Examples", evaluated)
    evaluation = _artifact(store, "ModelEvaluation", evaluated)
    failed = _context(store, "pipeline_run", "run-2")  # newer, failed on bad data
    _artifact(store, "Examples", failed)

    run, arts = outcome.latest_run(store, "tiedflow")
    assert run.id == failed and "ModelEvaluation" not in arts

    run, arts = outcome.latest_run(store, "tiedflow", evaluated=True)
    assert run.id == evaluated
    assert [a.id for a in arts["ModelEvaluation"]] == [evaluation]


def test_no_evaluation_ever_is_a_lookup_error_naming_the_pipeline(store):
    _context(store, "pipeline", "tiedflow")
    _artifact(store, "Examples", _context(store, "pipeline_run", "run-1"))
    with pytest.raises(LookupError, match="'tiedflow' got as far as an evaluation"):
        outcome.latest_run(store, "tiedflow", evaluated=True)


def test_unknown_pipeline_is_a_lookup_error(store):
    _context(store, "pipeline", "tiedflow")
    _context(store, "pipeline_run", "run-1")
    with pytest.raises(LookupError, match="no run of pipeline 'other'"):
        outcome.latest_run(store, "other")


def test_class_names_are_read_from_the_runs_examples():
    examples = mlmd.Artifact(uri="/examples")
    assert outcome.class_names_of(examples) is None
    examples.custom_properties["class_names"].string_value = '["cat", "dog"]'
    assert outcome.class_names_of(examples) == ["cat", "dog"]
    examples.custom_properties["class_names"].string_value = "not json"
    assert outcome.class_names_of(examples) is None


def test_a_runs_own_context_is_read_even_when_a_newer_run_exists(store):
    """`tiedflow run` reads the run it started (its run id), not the newest."""
    _context(store, "pipeline", "tiedflow")
    mine = _context(store, "pipeline_run", "2026-01-01T00:00:00.000001")
    evaluation = _artifact(store, "ModelEvaluation", mine)
    _artifact(store, "Examples", _context(store, "pipeline_run", "2026-01-01T00:00:00.000002"))
    run, arts = outcome.latest_run(store, "tiedflow", run_id="2026-01-01T00:00:00.000001")
    assert run.id == mine and [a.id for a in arts["ModelEvaluation"]] == [evaluation]
    with pytest.raises(LookupError, match="no run 'other'"):
        outcome.latest_run(store, "tiedflow", run_id="other")
