"""The version folders of a push destination (`<serving_dir>/<version>/`).

One place answers "which pushed models are there, and which is newest" for
the baseline lookup, warm start and `tiedflow predict`. Only complete
SavedModels count: a version folder left half-written by an interrupted copy
(saved_model.pb without its variables, an empty folder) or a push's staging
folder is left out and listed by `scan_versions` with a note that it can
be deleted (the run prints it, `predict` warns), so one bad folder never
stops later runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re

import tensorflow as tf

# Where a push writes before it renames into place: a name model servers
# (numeric version folders only) and `pushed_versions` ignore.
STAGING_PREFIX = ".staging-"
_SHARD = re.compile(r"^variables\.data-(\d+)-of-(\d+)$")


@dataclasses.dataclass(frozen=True)
class BrokenVersion:
    """A folder in a push destination that is not a complete SavedModel."""

    path: str
    why: str

    def describe(self) -> str:
        return f"folder {self.path}: {self.why}; ignored, it can be deleted"


def version_problem(model_dir: str) -> str | None:
    """Why `model_dir` is not a complete SavedModel (None when it is): the graph
    must parse, and the variables index and every data shard (i of N) be there."""
    graph = os.path.join(model_dir, "saved_model.pb")
    if not tf.io.gfile.exists(graph):
        listing = tf.io.gfile.listdir(model_dir) if tf.io.gfile.isdir(model_dir) else []
        return "an empty folder" if not listing else "no saved_model.pb (an interrupted push?)"
    from tensorflow.core.protobuf import saved_model_pb2

    try:
        with tf.io.gfile.GFile(graph, "rb") as f:
            saved_model_pb2.SavedModel().ParseFromString(f.read())
    except Exception:  # protobuf's DecodeError, or an unreadable file
        return "saved_model.pb cannot be read (cut short?)"
    variables = os.path.join(model_dir, "variables")
    names = (
        set(n.rstrip("/") for n in tf.io.gfile.listdir(variables))
        if tf.io.gfile.isdir(variables)
        else set()
    )
    if "variables.index" not in names:
        return "saved_model.pb without variables/variables.index (an interrupted copy?)"
    shards = [_SHARD.match(n) for n in names]
    counts = {int(m.group(2)) for m in shards if m}
    if not counts:
        return "saved_model.pb without variables/variables.data-* (an interrupted copy?)"
    total = max(counts)
    missing = [i for i in range(total) if f"variables.data-{i:05d}-of-{total:05d}" not in names]
    if missing:
        return f"variables shard(s) {missing} of {total} missing (an interrupted copy?)"
    return None


def scan_versions(serving_dir: str) -> tuple[list[str], list[BrokenVersion]]:
    """(complete numeric versions newest first, every broken or staging folder)."""
    if not serving_dir or not tf.io.gfile.isdir(serving_dir):
        return [], []
    versions, broken = [], []
    for name in tf.io.gfile.listdir(serving_dir):
        name = name.rstrip("/")
        path = os.path.join(serving_dir, name)
        if name.startswith(STAGING_PREFIX):
            broken.append(
                BrokenVersion(
                    path,
                    "a push's staging folder (left by an "
                    "interrupted push, unless one is running now)",
                )
            )
        elif name.isdigit() and tf.io.gfile.isdir(path):
            why = version_problem(path)
            if why:
                broken.append(BrokenVersion(path, why))
            else:
                versions.append(name)
    return sorted(versions, key=int, reverse=True), sorted(broken, key=lambda b: b.path)


def pushed_versions(serving_dir: str) -> list[str]:
    """Numeric version folders holding a complete SavedModel, newest first
    (broken ones left out: `scan_versions` lists them for the caller to report)."""
    return scan_versions(serving_dir)[0]


def model_digest(model_dir: str) -> str:
    """sha256 over a SavedModel's graph and variables: equal for equal models."""
    digest = hashlib.sha256()
    names = ["saved_model.pb"]
    variables = os.path.join(model_dir, "variables")
    if tf.io.gfile.isdir(variables):
        names += [f"variables/{n}" for n in sorted(tf.io.gfile.listdir(variables))]
    for name in names:
        path = os.path.join(model_dir, name)
        if not tf.io.gfile.exists(path):
            continue
        with tf.io.gfile.GFile(path, "rb") as f:
            digest.update(name.encode())
            digest.update(f.read())
    return digest.hexdigest()


def model_dirs(path: str) -> tuple[list[str], list[BrokenVersion]]:
    """(the SavedModels at `path`: itself if it is one, else its complete version
    folders, newest first; the broken folders left out), from one scan. A
    broken SavedModel at `path` itself is a DataError."""
    if path and tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        why = version_problem(path)
        if why:
            from ingestion.errors import DataError

            raise DataError(
                f"{path}: not a usable SavedModel: {why}; copy the model "
                "again or point at another one"
            )
        return [path], []
    versions, broken = scan_versions(path)
    return [os.path.join(path, v) for v in versions], broken


def serving_interface(model_dir: str) -> tuple[tuple | None, list | None]:
    """(shape of one `serving_images` input image, class names) of an exported
    model, read from its files without loading it; None for what it lacks."""
    import json

    from tensorflow.core.protobuf import saved_model_pb2

    from names import CLASS_NAMES_KEY, IMAGES_SIGNATURE, PREDICTION_SETTINGS_FILE

    shape = None
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(os.path.join(model_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        signature = meta_graph.signature_def.get(IMAGES_SIGNATURE)
        if signature is not None and signature.inputs:
            tensor = next(iter(signature.inputs.values()))
            shape = tuple(int(d.size) for d in tensor.tensor_shape.dim[1:])
            break
    names = None
    settings = os.path.join(model_dir, PREDICTION_SETTINGS_FILE)
    if tf.io.gfile.exists(settings):
        with tf.io.gfile.GFile(settings) as f:
            try:
                found = json.load(f).get(CLASS_NAMES_KEY)
            except ValueError:
                found = None
        names = [str(n) for n in found] if found else None
    return shape, names


def incompatibility(model_dir: str, reference_dir: str) -> str | None:
    """Why the model in `model_dir` does not serve the same inputs and classes as
    the one in `reference_dir` (None when it does)."""
    shape, names = serving_interface(model_dir)
    ref_shape, ref_names = serving_interface(reference_dir)
    if shape != ref_shape:
        return f"its images are {_shape_text(shape)}, the candidate's {_shape_text(ref_shape)}"
    if names is None:
        return "it records no class names (exported before they travelled with models)"
    if names != ref_names:
        return (
            f"it has {len(names)} classes ({_names_text(names)}), "
            f"the candidate {len(ref_names or [])} ({_names_text(ref_names or [])})"
        )
    return None


def _shape_text(shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "unknown"


def _names_text(names, most: int = 6) -> str:
    shown = ", ".join(names[:most])
    return shown + (", ..." if len(names) > most else "")


def newest_compatible(serving_dir: str, candidate_dir: str | None):
    """(version, digest, skipped) of the newest pushed model that differs from
    the candidate and serves the same inputs and classes; `skipped` lists
    "version: why" for each newer one left out as incompatible."""
    candidate = (
        candidate_dir
        if candidate_dir and tf.io.gfile.exists(os.path.join(candidate_dir, "saved_model.pb"))
        else None
    )
    skip = model_digest(candidate) if candidate else None
    versions, broken = scan_versions(serving_dir)
    skipped = [item.describe() for item in broken]
    for version in versions:
        model_dir = os.path.join(serving_dir, version)
        digest = model_digest(model_dir)
        if digest == skip:
            continue
        why = incompatibility(model_dir, candidate) if candidate else None
        if why:
            skipped.append(f"pushed model {version}: {why}")
            continue
        return version, digest, skipped
    return None, None, skipped
