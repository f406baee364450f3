"""Before a run resumes in an output dir, ML Metadata is made to agree with the disk.

- A run that was killed (SIGKILL, a crash, or interrupted: pipeline.interrupt)
  leaves its component's execution RUNNING, and that component's outputs half
  written under pipeline_root/<component>/<output>/<execution id>. TFX reuses
  only finished executions, so the next run is right anyway; here the stale
  execution is recorded as CANCELED and its partial outputs removed.
- Someone deletes folders by hand. TFX's cache checks that a cached
  artifact's folder exists, but not the split folders in it, nor the version
  folder a PushedModel was pushed to: it would reuse a record of files that
  are gone (and report a push to a folder that is not there). Such artifacts
  are marked DELETED, which TFX's cache skips: their component runs again,
  and what consumes their output after it.

Called with the output dir's lock held (one run at a time), before TFX opens
the store; imports ML Metadata only, not TensorFlow.
"""

from __future__ import annotations

import glob
import json
import os
import shutil

# Execution and artifact states, as ml_metadata's protos number them (kept as
# names here so that importing this module loads nothing).
_UNFINISHED = ("NEW", "RUNNING")
_SPLIT_DIR = "Split-{}"  # how TFX names a split's folder inside an artifact


def _store(metadata_path: str):
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = metadata_path
    cfg.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE
    return metadata_store.MetadataStore(cfg), metadata_store_pb2


def _node_ids(store, execution_id: int) -> list:
    """The component ids of an execution (its `node` context is `<pipeline>.<id>`)."""
    node_type = {t.id for t in store.get_context_types() if t.name == "node"}
    return [
        c.name.split(".", 1)[1]
        for c in store.get_contexts_by_execution(execution_id)
        if c.type_id in node_type and "." in c.name
    ]


def cancel_unfinished(metadata_path: str, pipeline_root: str, opened=None) -> list:
    """Executions a stopped run left NEW or RUNNING become CANCELED, and their
    outputs (pipeline_root/<component>/<output>/<execution id>) are removed.
    Returns the components concerned. `opened`: the store, if open already."""
    if not os.path.exists(metadata_path):
        return []
    store, pb2 = opened or _store(metadata_path)
    unfinished = [
        e
        for e in store.get_executions()
        if pb2.Execution.State.Name(e.last_known_state) in _UNFINISHED
    ]
    stopped = []
    for execution in unfinished:
        for node in _node_ids(store, execution.id):
            stopped.append(node)
            for partial in glob.glob(
                os.path.join(glob.escape(pipeline_root), glob.escape(node), "*", str(execution.id))
            ):
                shutil.rmtree(partial, ignore_errors=True)
        execution.last_known_state = pb2.Execution.CANCELED
    if unfinished:
        store.put_executions(unfinished)
    return stopped


def _missing_path(artifact, type_name: str) -> str | None:
    """The first file or folder of a live artifact that is gone, if any."""
    uri = artifact.uri
    if not uri or "://" in uri:  # only what a local run writes is checked
        return None
    if not os.path.exists(uri):
        return uri
    splits = artifact.properties.get("split_names")
    for split in json.loads(splits.string_value) if splits and splits.string_value else []:
        path = os.path.join(uri, _SPLIT_DIR.format(split))
        if not os.path.isdir(path):
            return path
    custom = artifact.custom_properties
    if type_name == "PushedModel" and "pushed" in custom and custom["pushed"].int_value:
        destination = (
            custom["pushed_destination"].string_value if "pushed_destination" in custom else ""
        )
        if destination and "://" not in destination and not os.path.isdir(destination):
            return destination
    return None


def forget_missing(metadata_path: str, opened=None) -> list:
    """Live artifacts whose files are gone become DELETED (their components run
    again). Returns the missing paths. `opened`: the store, if open already."""
    if not os.path.exists(metadata_path):
        return []
    store, pb2 = opened or _store(metadata_path)
    types = {t.id: t.name for t in store.get_artifact_types()}
    gone, missing = [], []
    for artifact in store.get_artifacts():
        if artifact.state != pb2.Artifact.LIVE:
            continue
        path = _missing_path(artifact, types.get(artifact.type_id, ""))
        if path:
            artifact.state = pb2.Artifact.DELETED
            gone.append(artifact)
            missing.append(path)
    if gone:
        store.put_artifacts(gone)
    return missing


def recover(metadata_path: str, pipeline_root: str, output_dir: str) -> list:
    """Both of the above, on the store opened once; returns lines saying what
    was found, for the terminal."""
    if not os.path.exists(metadata_path):
        return []
    opened = _store(metadata_path)
    lines = []
    stopped = cancel_unfinished(metadata_path, pipeline_root, opened)
    if stopped:
        lines.append(
            f"resuming: a previous run stopped during {', '.join(sorted(set(stopped)))}"
            "; its partial outputs were removed, finished components are reused"
        )
    missing = forget_missing(metadata_path, opened)
    if missing:
        shown = ", ".join(os.path.relpath(p, output_dir) for p in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        lines.append(
            f"recovering: {shown}{more} deleted since a run made "
            f"{'them' if len(missing) > 1 else 'it'}; the components that made "
            f"{'them' if len(missing) > 1 else 'it'} run again"
        )
    return lines
