"""Run history: one record per pipeline run in an output dir's ML Metadata.

Everything comes from the store (no TensorFlow, no TFMA): the run context and
its executions (when, how long, which components ran or were reused, where
one failed or stopped), the Examples artifact (data, counts, classes), the
Evaluator's outputs (overall accuracy, failed thresholds: properties the
Evaluator records) and the PushedModel. The store is read in a few bulk
calls, so a store of 100 runs answers in a fraction of a second. A property
that an older version of the project did not record is None: shown as "?".
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os

from ml_metadata.proto import metadata_store_pb2

from names import (
    DATA_FINGERPRINT_PROPERTY,
    DATA_PROPERTY,
    ERROR_PROPERTY,
    EVAL_ACCURACY_PROPERTY,
    EXIT_STATUS_PROPERTY,
    FAILED_THRESHOLDS_PROPERTY,
    SPLIT_EXAMPLES_PROPERTY,
)
from pipeline.local.outcome import class_names_of, open_store, prop, run_contexts

Execution = metadata_store_pb2.Execution
Event = metadata_store_pb2.Event
_STOPPED = (Execution.NEW, Execution.RUNNING, Execution.CANCELED)
# Exit statuses of `tiedflow run` that mean a signal stopped it (pipeline.interrupt).
_SIGNALLED = {130: "SIGINT", 143: "SIGTERM"}
UNKNOWN = "?"


@dataclasses.dataclass
class RunRecord:
    """What one run did, as `tiedflow runs` shows it (None: not recorded)."""

    run_id: str
    started: float  # seconds since the epoch
    seconds: float | None  # from its start to its last component's end
    data: str | None  # the `data` setting
    fingerprint: str | None  # of the data's files (pipeline's ImageExampleGen driver)
    examples: int | None
    classes: int | None
    executed: list  # component ids that ran
    cached: list  # component ids reused from an earlier run
    accuracy: float | None  # overall eval accuracy of the candidate
    verdict: str  # blessed | not blessed | failed | interrupted | running | incomplete
    # Why: the first failed threshold; the component that failed or was stopped.
    detail: str | None = None
    component: str | None = None  # where it failed or stopped
    exit_status: int | None = None  # of `tiedflow run`, when it recorded it
    error: str | None = None  # the error `tiedflow run` printed, when it failed
    failed_thresholds: list | None = None
    pushed_version: str | None = None
    pushed_by_this_run: bool = False  # False: the Pusher was cached (an earlier push)
    evaluation_uri: str | None = None
    examples_uri: str | None = None
    class_names: list | None = None

    def as_json(self) -> dict:
        return dataclasses.asdict(self)


class StoreView:
    """One output dir's store read in bulk: runs, their executions by component,
    events and artifacts, indexed once."""

    def __init__(self, metadata_path: str, pipeline_name: str = "tiedflow"):
        self.metadata_path = metadata_path
        self.store = store = open_store(metadata_path)
        self.runs = run_contexts(store, pipeline_name)  # newest first
        self.artifact_types = {t.id: t.name for t in store.get_artifact_types()}
        self.artifacts = {a.id: a for a in store.get_artifacts()}
        self.executions = {e.id: e for e in store.get_executions()}
        self.node_of = {}  # execution id -> component id
        for node in store.get_contexts_by_type("node"):
            if not node.name.startswith(pipeline_name + "."):
                continue
            for execution in store.get_executions_by_context(node.id):
                self.node_of[execution.id] = node.name.split(".", 1)[1]
        self.inputs: dict = {}  # execution id -> {key: [artifact]}
        self.outputs: dict = {}
        self.producer: dict[int, int] = {}  # artifact id -> the execution that first wrote it
        events = store.get_events_by_execution_ids(list(self.executions))
        for event in sorted(events, key=lambda e: (e.execution_id, e.artifact_id)):
            artifact = self.artifacts.get(event.artifact_id)
            if artifact is None:
                continue
            key = event.path.steps[0].key if event.path.steps else ""
            if event.type == Event.INPUT:
                self.inputs.setdefault(event.execution_id, {}).setdefault(key, []).append(artifact)
            elif event.type == Event.OUTPUT:
                self.outputs.setdefault(event.execution_id, {}).setdefault(key, []).append(artifact)
                self.producer.setdefault(event.artifact_id, event.execution_id)

    def run(self, run_id: str):
        """The run context named `run_id` (LookupError naming the runs there are)."""
        for ctx in self.runs:
            if ctx.name == run_id:
                return ctx
        newest = ", ".join(c.name for c in self.runs[:3])
        raise LookupError(
            f"no run {run_id!r} in {self.metadata_path} (newest: {newest}; "
            "`tiedflow runs` lists them all)"
        )

    def components(self, run_ctx) -> dict:
        """Component id -> the run's (last) execution of it, in the order they started."""
        found: dict = {}
        for execution in sorted(
            self.store.get_executions_by_context(run_ctx.id),
            key=lambda e: (e.create_time_since_epoch, e.id),
        ):
            node = self.node_of.get(execution.id)
            if node is not None:
                found.pop(node, None)
                found[node] = execution
        return found

    def output(self, execution, key: str | None = None, type_name: str | None = None):
        """An execution's output artifact (by key or type), or None."""
        if execution is None:
            return None
        for out_key, artifacts in self.outputs.get(execution.id, {}).items():
            for artifact in artifacts:
                kind = self.artifact_types.get(artifact.type_id)
                if (key is None or out_key == key) and type_name in (None, kind):
                    return artifact
        return None

    def input(self, execution, key: str):
        if execution is None:
            return None
        found = self.inputs.get(execution.id, {}).get(key)
        return found[0] if found else None

    def producer_of(self, artifact):
        """The execution that wrote `artifact` (not a cached run's reuse of it)."""
        if artifact is None:
            return None
        return self.executions.get(self.producer.get(artifact.id))

    def data_of(self, examples, example_gen=None) -> tuple:
        """(data setting, fingerprint) of an Examples artifact: its own properties
        (newer runs), else the properties of the execution that made it."""
        made_by = self.producer_of(examples) or example_gen
        data = prop(examples, DATA_PROPERTY) if examples is not None else None
        fingerprint = prop(examples, DATA_FINGERPRINT_PROPERTY) if examples is not None else None
        if made_by is not None:
            data = data or exec_property(made_by, "data")
            fingerprint = fingerprint or exec_property(made_by, DATA_FINGERPRINT_PROPERTY)
        if data is None and example_gen is not None:
            data = exec_property(example_gen, "data")
        return data, fingerprint


def exec_property(execution, name: str):
    """A property of an execution (TFX records execution properties as custom ones)."""
    for props in (execution.custom_properties, execution.properties):
        value = props.get(name)
        if value is not None:
            return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None
    return None


def _run_in_progress(output_dir: str) -> bool:
    """Whether a `tiedflow run` holds the output dir's lock now (pipeline.cli)."""
    import fcntl

    try:
        with open(os.path.join(output_dir, ".run.lock")) as lock:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return False


def read_run(view: StoreView, run_ctx, *, running: bool = False) -> RunRecord:
    """The record of one run. `running`: a run holds the output dir's lock now."""
    components = view.components(run_ctx)
    started = run_ctx.create_time_since_epoch / 1000.0
    ends = [e.last_update_time_since_epoch for e in components.values()]
    seconds = max(0.0, max(ends) / 1000.0 - started) if ends else None
    executed = [n for n, e in components.items() if e.last_known_state == Execution.COMPLETE]
    cached = [n for n, e in components.items() if e.last_known_state == Execution.CACHED]

    example_gen = components.get("ImageExampleGen")
    examples = view.output(example_gen, type_name="Examples")
    data, fingerprint = view.data_of(examples, example_gen)
    class_names = class_names_of(examples)
    counts = (
        [prop(examples, SPLIT_EXAMPLES_PROPERTY.format(split=s)) for s in ("train", "eval")]
        if examples
        else []
    )
    evaluator = components.get("Evaluator")
    evaluation = view.output(evaluator, type_name="ModelEvaluation")
    blessing = view.output(evaluator, type_name="ModelBlessing")
    pusher = components.get("Pusher")
    pushed = view.output(pusher, type_name="PushedModel")

    exit_status = prop(run_ctx, EXIT_STATUS_PROPERTY)
    record = RunRecord(
        run_id=run_ctx.name,
        started=started,
        seconds=seconds,
        data=data,
        fingerprint=fingerprint,
        examples=sum(counts) if counts and None not in counts else None,
        classes=len(class_names) if class_names else None,
        class_names=class_names,
        executed=executed,
        cached=cached,
        accuracy=prop(evaluation, EVAL_ACCURACY_PROPERTY) if evaluation else None,
        verdict="incomplete",
        exit_status=exit_status,
        error=prop(run_ctx, ERROR_PROPERTY),
        evaluation_uri=evaluation.uri if evaluation is not None else None,
        examples_uri=examples.uri if examples is not None else None,
    )
    if pushed is not None and prop(pushed, "pushed"):
        record.pushed_version = (
            prop(pushed, "pushed_version")
            or os.path.basename(prop(pushed, "pushed_destination") or "")
            or None
        )
        record.pushed_by_this_run = (
            pusher is not None and pusher.last_known_state == Execution.COMPLETE
        )

    failed = [n for n, e in components.items() if e.last_known_state == Execution.FAILED]
    stopped = [n for n, e in components.items() if e.last_known_state in _STOPPED]
    if exit_status in _SIGNALLED or (stopped and not failed):
        where = (stopped + failed)[:1]
        record.component = where[0] if where else None
        if running and any(components[n].last_known_state == Execution.RUNNING for n in stopped):
            record.verdict, record.detail = "running", f"in {record.component}"
        else:
            record.verdict = "interrupted"
            signal = _SIGNALLED.get(exit_status)
            record.detail = (
                " ".join(
                    filter(
                        None,
                        [
                            f"by {signal}" if signal else None,
                            f"during {record.component}" if record.component else None,
                        ],
                    )
                )
                or None
            )
    elif failed or exit_status not in (None, 0, 3) and blessing is None:
        record.verdict = "failed"
        record.component = failed[0] if failed else None
        record.detail = (
            ", ".join(
                filter(
                    None,
                    [
                        f"in {record.component}" if record.component else None,
                        f"exit {exit_status}" if exit_status is not None else None,
                    ],
                )
            )
            or None
        )
    elif blessing is not None:
        blessed = bool(prop(blessing, "blessed"))
        record.verdict = "blessed" if blessed else "not blessed"
        text = prop(blessing, FAILED_THRESHOLDS_PROPERTY)
        if text is not None:
            try:
                record.failed_thresholds = [str(t) for t in json.loads(text)]
            except (ValueError, TypeError):
                record.failed_thresholds = None
        if not blessed and record.failed_thresholds:
            record.detail = record.failed_thresholds[0]
    return record


def read_runs(metadata_path: str, pipeline_name: str = "tiedflow") -> list[RunRecord]:
    """Every run in the store, newest first. LookupError: no run there."""
    view = StoreView(metadata_path, pipeline_name)
    running = _run_in_progress(os.path.dirname(os.path.abspath(metadata_path)))
    return [read_run(view, ctx, running=running and i == 0) for i, ctx in enumerate(view.runs)]


# ---------------------------------------------------------------------------
# The table `tiedflow runs` prints.

COLUMNS = (
    "RUN",
    "STARTED",
    "TOOK",
    "DATA",
    "EXAMPLES",
    "CLASSES",
    "RAN/CACHED",
    "ACCURACY",
    "PUSHED",
    "VERDICT",
)


def short_fingerprint(fingerprint: str | None) -> str | None:
    return fingerprint[:8] if fingerprint else fingerprint


def data_text(data: str | None, fingerprint: str | None) -> str:
    """'digits', or 'PATH@1a2b3c4d' (the first 8 characters of its fingerprint)."""
    if data is None:
        return UNKNOWN
    if data == "digits" and fingerprint in (None, "digits"):
        return data
    return f"{data}@{short_fingerprint(fingerprint) or UNKNOWN}"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return UNKNOWN
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 600:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def _or_unknown(value) -> str:
    return UNKNOWN if value is None else str(value)


def row(record: RunRecord) -> list[str]:
    started = datetime.datetime.fromtimestamp(record.started).strftime("%Y-%m-%d %H:%M:%S")
    verdict = record.verdict + (f": {record.detail}" if record.detail else "")
    if record.pushed_version is None:
        pushed = "-"
    else:
        pushed = record.pushed_version + ("" if record.pushed_by_this_run else " (cached)")
    return [
        record.run_id,
        started,
        duration_text(record.seconds),
        data_text(record.data, record.fingerprint),
        _or_unknown(record.examples),
        _or_unknown(record.classes),
        f"{len(record.executed)}/{len(record.cached)}",
        UNKNOWN if record.accuracy is None else f"{record.accuracy:.4f}",
        pushed,
        verdict,
    ]


def table(records: list[RunRecord]) -> list[str]:
    """A header and one line per run, columns aligned, the verdict last."""
    rows = [list(COLUMNS)] + [row(r) for r in records]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    return [
        "  ".join(
            [*(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)), r[-1]]
        ).rstrip()
        for r in rows
    ]


# ---------------------------------------------------------------------------
# What `tiedflow run` adds to its run's context when it ends.


def record_exit(
    metadata_path: str, run_id: str, exit_status: int, error: str | None = None
) -> bool:
    """Writes `tiedflow run`'s exit status (and error line) on its run context;
    False when the run never reached TFX (no context to write on)."""
    from ml_metadata import metadata_store

    if not os.path.exists(metadata_path):
        return False
    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = metadata_path
    cfg.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE
    store = metadata_store.MetadataStore(cfg)
    ctx = store.get_context_by_type_and_name("pipeline_run", run_id)
    if ctx is None:
        return False
    ctx.custom_properties[EXIT_STATUS_PROPERTY].int_value = int(exit_status)
    if error:
        ctx.custom_properties[ERROR_PROPERTY].string_value = error.splitlines()[0][:500]
    store.put_contexts([ctx])
    return True


# ---------------------------------------------------------------------------
# What the history commands say when an output dir holds no usable store.


def metadata_path_of(output_dir: str) -> str:
    """The output dir's ML Metadata file; DataError (exit 2) when there is none."""
    from ingestion.errors import DataError

    if not os.path.isdir(output_dir):
        raise DataError(
            f"{output_dir}: no such output dir; pass the --output-dir your runs wrote to"
        )
    path = os.path.join(output_dir, "metadata.sqlite")
    if not os.path.exists(path):
        raise DataError(
            f"{output_dir}: no run recorded here (no metadata.sqlite); run "
            f"`tiedflow run --output-dir {output_dir}` first"
        )
    return path


def not_found(output_dir: str, err: LookupError):
    """A LookupError of the history modules as a user error (a DataError, exit 2)."""
    from ingestion.errors import DataError

    message = str(err.args[0] if err.args else err)
    if message.startswith("no run of pipeline") or "store is empty" in message:
        message += f"; run `tiedflow run --output-dir {output_dir}` first"
    return DataError(message if message.startswith(output_dir) else f"{output_dir}: {message}")
