"""TFX's Kubeflow V2 executor entry point, for the open-source KFP launcher and kfp.local.

The open-source driver rebuilds a task's input artifacts from ML Metadata with
their name, uri and metadata but no type; TFX's entry point needs the type to
pick the artifact class and fails on such input (UnboundLocalError in
`_retrieve_class_path`). kfp.local passes them typed `system.Artifact`, which
TFX then fails to import as a class path. The compiled spec hands every
container its input definitions (`--json_serialized_inputs_spec_args`), so
each input artifact whose type is missing or names another type gets the
type the task declares, and TFX's own entry point then runs unchanged.

TFX finds a custom artifact class by taking its schema title, the TYPE_NAME,
as an import path; the project's own types (e.g. the report's `system.HTML`)
are registered under their TYPE_NAME first, so their names need not be paths.

Bad data or settings (the errors `tiedflow run` exits 2 on) end the task with
exit status 2 and one line naming the problem, not a traceback.

After the executor, the empty "folder" objects that TensorFlow's GCS
filesystem leaves under a task's gs:// outputs are deleted: the open-source
launcher downloads a task's inputs before it starts and fails on them
(kubeflow/pipelines#13476; reading with tf.io.gfile does not need them).
"""

from __future__ import annotations

import importlib
import runpy
import sys

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

TFX_ENTRYPOINT = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
INVOCATION_FLAG = "--json_serialized_invocation_args"
INPUTS_SPEC_FLAG = "--json_serialized_inputs_spec_args"
EXECUTOR_FLAG = "--executor_class_path"
PROJECT_PACKAGES = ("components", "pipeline", "trainer")  # where artifact classes live


def type_title(artifact_type: pipeline_spec_pb2.ArtifactTypeSchema) -> str:
    """The type's name: its schema title, or the `title:` of its instance schema."""
    if artifact_type.schema_title:
        return artifact_type.schema_title
    for line in artifact_type.instance_schema.splitlines():
        if line.startswith("title:"):
            return line[len("title:") :].strip()
    return ""


def complete_executor_input(executor_input: str, inputs_spec: str) -> str:
    """The executor input with each input artifact that is untyped, or typed other
    than the task declares (kfp.local's `system.Artifact`), given the declared type."""
    message = json_format.Parse(
        executor_input, pipeline_spec_pb2.ExecutorInput(), ignore_unknown_fields=True
    )
    spec = json_format.Parse(
        inputs_spec, pipeline_spec_pb2.ComponentInputsSpec(), ignore_unknown_fields=True
    )
    for key, artifacts in message.inputs.artifacts.items():
        if key not in spec.artifacts:
            continue
        declared = spec.artifacts[key].artifact_type
        for artifact in artifacts.artifacts:
            if type_title(artifact.type) != type_title(declared):
                artifact.type.CopyFrom(declared)
    return json_format.MessageToJson(message, sort_keys=True)


def _flag_value(argv: list, flag: str):
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return i + 1
    return None


def fix_argv(argv: list) -> list:
    """`argv` with the executor input completed (unchanged if a flag is missing)."""
    argv = list(argv)
    at_input, at_spec = _flag_value(argv, INVOCATION_FLAG), _flag_value(argv, INPUTS_SPEC_FLAG)
    if at_input is not None and at_spec is not None:
        argv[at_input] = complete_executor_input(argv[at_input], argv[at_spec])
    return argv


def register_artifact_types(executor_class_path: str) -> dict:
    """Maps the TYPE_NAME of each project artifact class to its import path."""
    from tfx.orchestration.kubeflow.v2 import compiler_utils
    from tfx.types import artifact

    importlib.import_module(executor_class_path.rpartition(".")[0])
    added, pending = {}, list(artifact.Artifact.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        title = getattr(cls, "TYPE_NAME", None)
        if (
            cls.__module__.split(".")[0] in PROJECT_PACKAGES
            and title
            and title not in compiler_utils.TITLE_TO_CLASS_PATH
        ):
            added[title] = f"{cls.__module__}.{cls.__qualname__}"
    compiler_utils.TITLE_TO_CLASS_PATH.update(added)
    return added


def output_uris(executor_input: str) -> list:
    message = json_format.Parse(
        executor_input, pipeline_spec_pb2.ExecutorInput(), ignore_unknown_fields=True
    )
    return sorted(
        a.uri
        for artifacts in message.outputs.artifacts.values()
        for a in artifacts.artifacts
        if a.uri
    )


def folder_markers(objects) -> list:
    """Names among (name, size) pairs that are empty "folder/" objects."""
    return [name for name, size in objects if size == 0 and name.endswith("/")]


def delete_folder_markers(uri: str) -> int:
    """Deletes the folder markers under a gs:// artifact URI; returns how many."""
    from google.cloud import storage

    bucket_name, _, prefix = uri[len("gs://") :].partition("/")
    bucket = storage.Client().bucket(bucket_name)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    names = folder_markers((b.name, b.size) for b in bucket.list_blobs(prefix=prefix))
    for name in names:
        bucket.blob(name).delete()
    return len(names)


def main() -> None:
    sys.argv = [sys.argv[0]] + fix_argv(sys.argv[1:])
    at_executor = _flag_value(sys.argv, EXECUTOR_FLAG)
    if at_executor is not None:
        register_artifact_types(sys.argv[at_executor])
    at_input = _flag_value(sys.argv, INVOCATION_FLAG)
    try:
        runpy.run_module(TFX_ENTRYPOINT, run_name="__main__", alter_sys=True)
    except SystemExit as done:  # absl's app.run ends with sys.exit
        if done.code not in (None, 0):
            raise
    except Exception as err:  # bad data or settings: one line in the task's log, exit 2
        from ingestion.terminal_text import terminal_safe
        from pipeline.errors import EXIT_USAGE, find_user_error

        user_error = find_user_error(err)
        if user_error is None:
            raise
        print(terminal_safe(f"tiedflow: error: {user_error}"), file=sys.stderr)
        sys.exit(EXIT_USAGE)
    for uri in output_uris(sys.argv[at_input]) if at_input is not None else []:
        if uri.startswith("gs://"):
            print(f"tiedflow: deleted {delete_folder_markers(uri)} folder markers under {uri}")


if __name__ == "__main__":
    main()
