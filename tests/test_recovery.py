"""pipeline.recovery on a real ML Metadata store: what a killed run left and what
was deleted by hand is found, and only that."""

from __future__ import annotations

import os

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.local import recovery


def _store(path):
    cfg = pb.ConnectionConfig()
    cfg.sqlite.filename_uri = path
    cfg.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(cfg)


def _artifact(store, type_name, uri, state=pb.Artifact.LIVE, props=None, custom=None):
    artifact_type = pb.ArtifactType(name=type_name)
    if props:
        artifact_type.properties["split_names"] = pb.STRING
    type_id = store.put_artifact_type(artifact_type)
    artifact = pb.Artifact(type_id=type_id, uri=uri, state=state)
    for key, value in (props or {}).items():
        artifact.properties[key].string_value = value
    for key, value in (custom or {}).items():
        if isinstance(value, int):
            artifact.custom_properties[key].int_value = value
        else:
            artifact.custom_properties[key].string_value = value
    (artifact_id,) = store.put_artifacts([artifact])
    return artifact_id


def test_deleted_files_are_marked_and_nothing_else(tmp_path):
    path = str(tmp_path / "metadata.sqlite")
    store = _store(path)
    root = tmp_path / "pipeline_root"
    whole = root / "StatisticsGen" / "statistics" / "2"
    (whole / "Split-train").mkdir(parents=True)
    (whole / "Split-eval").mkdir()
    split_gone = root / "ExampleValidator" / "anomalies" / "4"
    (split_gone / "Split-train").mkdir(parents=True)
    pushed_archive = root / "Pusher" / "pushed_model" / "9"
    pushed_archive.mkdir(parents=True)
    splits = {"split_names": '["train", "eval"]'}
    ids = {
        "intact": _artifact(store, "ExampleStatistics", str(whole), props=splits),
        "split": _artifact(store, "ExampleAnomalies", str(split_gone), props=splits),
        "folder": _artifact(store, "Model", str(root / "Trainer" / "model" / "6")),
        "push": _artifact(
            store,
            "PushedModel",
            str(pushed_archive),
            custom={"pushed": 1, "pushed_destination": str(tmp_path / "serving/1")},
        ),
        "not_pushed": _artifact(store, "PushedModel", str(pushed_archive), custom={"pushed": 0}),
        "remote": _artifact(store, "Model", "gs://bucket/model"),
        "already": _artifact(store, "Model", str(tmp_path / "gone"), state=pb.Artifact.DELETED),
    }
    missing = recovery.forget_missing(path)
    assert sorted(missing) == sorted(
        [
            str(split_gone / "Split-eval"),
            str(root / "Trainer" / "model" / "6"),
            str(tmp_path / "serving/1"),
        ]
    )
    states = {name: store.get_artifacts_by_id([i])[0].state for name, i in ids.items()}
    deleted = {name for name, state in states.items() if state == pb.Artifact.DELETED}
    assert deleted == {"split", "folder", "push", "already"}
    assert recovery.forget_missing(path) == []  # once is enough


def test_executions_a_killed_run_left_running_are_canceled_and_their_outputs_removed(tmp_path):
    path = str(tmp_path / "metadata.sqlite")
    store = _store(path)
    execution_type = store.put_execution_type(pb.ExecutionType(name="Trainer"))
    node_type = store.put_context_type(pb.ContextType(name="node"))
    node = pb.Context(type_id=node_type, name="tiedflow.Trainer")
    (node_id,) = store.put_contexts([node])
    running, done = (
        pb.Execution(type_id=execution_type, last_known_state=state)
        for state in (pb.Execution.RUNNING, pb.Execution.COMPLETE)
    )
    running_id, done_id = store.put_executions([running, done])
    store.put_attributions_and_associations(
        [], [pb.Association(context_id=node_id, execution_id=i) for i in (running_id, done_id)]
    )
    root = tmp_path / "pipeline_root"
    partial = root / "Trainer" / "model" / str(running_id)
    finished = root / "Trainer" / "model" / str(done_id)
    for folder in (partial, finished):
        folder.mkdir(parents=True)

    lines = recovery.recover(path, str(root), str(tmp_path))
    assert lines == [
        "resuming: a previous run stopped during Trainer; its partial outputs were "
        "removed, finished components are reused"
    ]
    states = [e.last_known_state for e in store.get_executions_by_id([running_id, done_id])]
    assert states == [pb.Execution.CANCELED, pb.Execution.COMPLETE]
    assert not partial.exists() and finished.exists()


def test_no_store_yet_nothing_to_do(tmp_path):
    assert recovery.recover(str(tmp_path / "metadata.sqlite"), str(tmp_path), str(tmp_path)) == []
    assert not os.path.exists(tmp_path / "metadata.sqlite")
