"""What a run produced, read back from ML Metadata: verdict, artifacts, timings."""

from __future__ import annotations

import dataclasses
import os

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.data_properties import parse_class_names
from ingestion.errors import DataError
from names import (
    BASELINE_SKIPPED_PROPERTY,
    CLASS_NAMES_PROPERTY,
    HAS_MODEL_PROPERTY,
    HTML_REPORT_TYPE,
    IMAGE_SHAPE_PROPERTY,
    PUSHED_VERSION_PROPERTY,
    SCHEMA_FILE_PROPERTY,
    SKIPPED_FILES_PROPERTY,
    SPLIT_EXAMPLES_PROPERTY,
)
from pipeline.local.store_check import check_store


@dataclasses.dataclass
class RunOutcome:
    """One run's verdict and where its artifacts are, as `tiedflow run` prints them."""

    run_id: str
    component_seconds: dict[str, float]  # node id -> seconds (0 for cached)
    cached: dict[str, bool]  # node id -> whether its execution was reused
    blessed: bool
    pushed_dir: str | None
    model_uri: str | None
    evaluation_uri: str | None
    accuracy: float | None
    failures: list[str]  # human-readable failed thresholds
    statistics_uri: str | None = None
    report_uri: str | None = None  # the EvaluationReport's page (a file)
    baseline_version: str | None = None  # pushed version used as the baseline
    # Why newer pushed models were not the baseline (other inputs or classes).
    baseline_skipped: str | None = None
    class_names: list[str] | None = None  # the data's, from the run's Examples artifact
    data: str | None = None  # what ingestion found, in a sentence


def describe_data(examples, class_names) -> str | None:
    """'1797 examples (1438 train, 359 eval), 10 classes (0, 1, ...), images 8x8x1; ...'."""
    if examples is None:
        return None
    train, eval_ = (
        _prop(examples, SPLIT_EXAMPLES_PROPERTY.format(split=s)) for s in ("train", "eval")
    )
    text = f"{(train or 0) + (eval_ or 0)} examples ({train} train, {eval_} eval)"
    if class_names:
        shown = ", ".join(class_names[:10]) + (", ..." if len(class_names) > 10 else "")
        text += f", {len(class_names)} classes ({shown})"
    shape = _prop(examples, IMAGE_SHAPE_PROPERTY)
    if shape:
        text += f", images {shape.replace(',', 'x')}"
    skipped = _prop(examples, SKIPPED_FILES_PROPERTY)
    if skipped:
        text += (
            f"; skipped {skipped} file{'s' if skipped != 1 else ''} "
            "(hidden, or not an image by its suffix)"
        )
    return text


def open_store(metadata_path: str) -> metadata_store.MetadataStore:
    if not os.path.exists(metadata_path):
        raise DataError(
            f"{metadata_path}: no ML Metadata store; has a run happened in this "
            "output dir? Run `tiedflow run` or pass the right --output-dir"
        )
    check_store(metadata_path)
    if _is_empty(metadata_path):  # read-only, MLMD would try to create its tables
        raise LookupError(
            f"{metadata_path}: the ML Metadata store is empty (no run of any pipeline recorded)"
        )
    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = metadata_path
    cfg.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(cfg)


def _is_empty(metadata_path: str) -> bool:
    """Whether the SQLite file holds no ML Metadata tables (a run stopped as it began)."""
    import contextlib
    import sqlite3
    import urllib.parse

    uri = f"file:{urllib.parse.quote(os.path.abspath(metadata_path))}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        return not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'Type'").fetchall()


def run_contexts(store, pipeline_name: str) -> list:
    """The pipeline's run contexts, newest first."""
    runs = [c for c in store.get_contexts_by_type("pipeline_run")]
    pipeline_ctx = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline_ctx is None or not runs:
        raise LookupError(f"no run of pipeline {pipeline_name!r} in ML Metadata")
    return sorted(runs, key=lambda c: (c.create_time_since_epoch, c.id), reverse=True)


def latest_run(store, pipeline_name: str, *, evaluated: bool = False, run_id: str | None = None):
    """(run context, its artifacts by type name) of the newest run; with
    `evaluated`, of the newest run that got as far as an evaluation (a later
    run may have failed earlier, on bad data say); with `run_id`, of that run."""
    types = {t.id: t.name for t in store.get_artifact_types()}
    for run_ctx in run_contexts(store, pipeline_name):
        if run_id is not None and run_ctx.name != run_id:
            continue
        arts: dict = {}
        for artifact in store.get_artifacts_by_context(run_ctx.id):
            arts.setdefault(types.get(artifact.type_id), []).append(artifact)
        if not evaluated or arts.get("ModelEvaluation"):
            return run_ctx, arts
    if run_id is not None:
        raise LookupError(f"no run {run_id!r} of pipeline {pipeline_name!r} in ML Metadata")
    raise LookupError(f"no run of pipeline {pipeline_name!r} got as far as an evaluation")


def latest_schema(metadata_path: str) -> tuple[str, str]:
    """(schema.pbtxt path, the curated file it was loaded from or "") of the
    newest schema SchemaGen wrote in this store: a starting point to curate."""
    store = open_store(metadata_path)
    live = [
        a
        for a in store.get_artifacts_by_type("Schema")
        if a.state == metadata_store_pb2.Artifact.LIVE
    ]
    if not live:
        raise LookupError(f"{metadata_path}: no run got as far as SchemaGen")
    newest = max(live, key=lambda a: a.id)
    return os.path.join(newest.uri, "schema.pbtxt"), _prop(newest, SCHEMA_FILE_PROPERTY) or ""


def _prop(artifact, name):
    """A custom property of an artifact or context (an MLMD proto), or None."""
    value = artifact.custom_properties.get(name)
    if value is None or value.WhichOneof("value") is None:
        return None
    return getattr(value, value.WhichOneof("value"))


prop = _prop  # for run history and lineage (pipeline.local)


def describe_failures(evaluation_uri: str, class_names=None) -> list[str]:
    """Every failed threshold with its slice, value and bound (as the report words
    it, classes by name)."""
    from reporting import evaluation_data

    return evaluation_data.describe_failures(
        evaluation_data.load_evaluation(evaluation_uri, class_names)
    )


def class_names_of(examples) -> list | None:
    """The class names recorded on an Examples artifact (an MLMD proto), or None."""
    text = _prop(examples, CLASS_NAMES_PROPERTY) if examples is not None else None
    try:
        return parse_class_names(text) if text else None
    except ValueError:
        return None


def overall_accuracy(evaluation_uri: str) -> float | None:
    """The candidate's overall eval accuracy (also when a baseline was evaluated)."""
    from evaluation.eval_config import ACCURACY
    from reporting import evaluation_data

    return evaluation_data.load_evaluation(evaluation_uri).value(evaluation_data.OVERALL, ACCURACY)


def _output_of(store, execution_id: int | None):
    """The (first) output artifact of an execution, or None."""
    if execution_id is None:
        return None
    ids = [
        e.artifact_id
        for e in store.get_events_by_execution_ids([execution_id])
        if e.type == metadata_store_pb2.Event.OUTPUT
    ]
    return min(store.get_artifacts_by_id(ids), key=lambda a: a.id, default=None) if ids else None


def read_outcome(
    metadata_path: str, pipeline_name: str, *, evaluated: bool = False, run_id: str | None = None
) -> RunOutcome:
    """The newest run's outcome; with `evaluated`, the newest evaluated run's;
    with `run_id`, that run's."""
    store = open_store(metadata_path)
    run_ctx, arts = latest_run(store, pipeline_name, evaluated=evaluated, run_id=run_id)
    blessing = max(arts.get("ModelBlessing", []), key=lambda a: a.id, default=None)
    evaluation = max(arts.get("ModelEvaluation", []), key=lambda a: a.id, default=None)
    pushed = max(arts.get("PushedModel", []), key=lambda a: a.id, default=None)
    models = [m for m in arts.get("Model", []) if _prop(m, HAS_MODEL_PROPERTY) is None]
    model = max(models, key=lambda a: a.id, default=None)
    blessed = bool(blessing is not None and _prop(blessing, "blessed"))
    pushed_dir = None
    if pushed is not None and _prop(pushed, "pushed"):
        pushed_dir = _prop(pushed, "pushed_destination")
    evaluation_uri = evaluation.uri if evaluation is not None else None
    examples = max(
        (e for e in arts.get("Examples", []) if _prop(e, CLASS_NAMES_PROPERTY)),
        key=lambda a: a.id,
        default=None,
    )
    class_names = class_names_of(examples)

    seconds, cached, executions = {}, {}, {}
    for execution in store.get_executions_by_context(run_ctx.id):
        node = next(
            (
                c.name.split(".", 1)[-1]
                for c in store.get_contexts_by_execution(execution.id)
                if store.get_context_types_by_id([c.type_id])[0].name == "node"
            ),
            None,
        )
        if node is None:
            continue
        is_cached = execution.last_known_state == metadata_store_pb2.Execution.CACHED
        executions[node] = execution.id
        cached[node] = is_cached
        seconds[node] = (
            0.0
            if is_cached
            else (execution.last_update_time_since_epoch - execution.create_time_since_epoch)
            / 1000.0
        )

    # StatisticsGen's, not Transform's pre/post-transform statistics (same type).
    statistics = _output_of(store, executions.get("StatisticsGen"))
    report = max(arts.get(HTML_REPORT_TYPE, []), key=lambda a: a.id, default=None)
    baseline = max(
        (m for m in arts.get("Model", []) if _prop(m, HAS_MODEL_PROPERTY)),
        key=lambda a: a.id,
        default=None,
    )
    # The evaluation's baseline lookup (not the warm start's): LatestPushedModel's output.
    lookup = _output_of(store, executions.get("LatestPushedModel"))
    return RunOutcome(
        statistics_uri=statistics.uri if statistics is not None else None,
        report_uri=report.uri if report is not None else None,
        baseline_version=_prop(baseline, PUSHED_VERSION_PROPERTY) if baseline is not None else None,
        baseline_skipped=_prop(lookup, BASELINE_SKIPPED_PROPERTY) if lookup is not None else None,
        class_names=class_names,
        data=describe_data(examples, class_names),
        run_id=run_ctx.name,
        blessed=blessed,
        pushed_dir=pushed_dir,
        model_uri=model.uri if model is not None else None,
        evaluation_uri=evaluation_uri,
        accuracy=overall_accuracy(evaluation_uri) if evaluation_uri else None,
        failures=(
            describe_failures(evaluation_uri, class_names) if evaluation_uri and not blessed else []
        ),
        component_seconds=seconds,
        cached=cached,
    )
