"""Writes a model into a push destination as a new version, all or nothing.

TFX's Pusher names a version by the second and, when that folder exists,
skips the copy yet records a push; an interrupted copy leaves a numeric
folder a model server or the next run would pick up. Here a version number
is one no folder has yet (at least the Unix time, above every existing
number), and on a local disk the model is copied into a staging folder
(`.staging-...`, a name model servers and `pushed_versions` ignore) that is
renamed into place: the version appears complete or not at all. Object
stores (gs://) have no atomic rename: the copy goes straight to the version
folder with `saved_model.pb` last, the file servers and `pushed_versions`
take as the sign that a model is there.
"""

from __future__ import annotations

import errno
import os
import time
import uuid

import tensorflow as tf

from pushed_models.versions import STAGING_PREFIX

GRAPH_FILE = "saved_model.pb"
_RENAME_ATTEMPTS = 20


def is_local(path: str) -> bool:
    return "://" not in path


def next_version(serving_dir: str, now: float | None = None) -> int:
    """A version number above every numeric folder there (broken ones too),
    and at least the Unix time (TFX's and TF Serving's convention)."""
    taken = [int(name.rstrip("/")) for name in _listdir(serving_dir) if name.rstrip("/").isdigit()]
    return max([int(time.time() if now is None else now)] + [n + 1 for n in taken])


def copy_model(source: str, target: str) -> list[str]:
    """Copies the SavedModel at `source` to `target`, saved_model.pb last;
    returns the copied files' relative paths in order."""
    copied, graph = [], None
    for folder, _, files in tf.io.gfile.walk(source):
        relative = os.path.relpath(folder, source)
        # Only the relative part is normalized: normpath turns gs://b into gs:/b.
        tf.io.gfile.makedirs(target if relative == "." else os.path.join(target, relative))
        for name in sorted(files):
            path = os.path.normpath(os.path.join(relative, name))
            if path == GRAPH_FILE:
                graph = path
                continue
            tf.io.gfile.copy(os.path.join(source, path), os.path.join(target, path), overwrite=True)
            copied.append(path)
    if graph:
        tf.io.gfile.copy(os.path.join(source, graph), os.path.join(target, graph), overwrite=True)
        copied.append(graph)
    return copied


def push(model_dir: str, serving_dir: str, now: float | None = None) -> tuple[str, str]:
    """Writes `model_dir` as a new version of `serving_dir`; (version, its folder)."""
    tf.io.gfile.makedirs(serving_dir)
    if not is_local(serving_dir):
        version = str(next_version(serving_dir, now))
        target = os.path.join(serving_dir, version)
        copy_model(model_dir, target)
        return version, target
    staging = os.path.join(serving_dir, f"{STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    copy_model(model_dir, staging)
    try:
        for _ in range(_RENAME_ATTEMPTS):
            version = str(next_version(serving_dir, now))
            target = os.path.join(serving_dir, version)
            if os.path.lexists(target):  # appeared since next_version looked
                continue
            try:
                os.rename(staging, target)  # atomic; fails on a non-empty target
            except OSError as err:
                if err.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    continue  # another push took the number first
                raise
            return version, target
        raise RuntimeError(
            f"{serving_dir}: no free version number after "
            f"{_RENAME_ATTEMPTS} attempts (concurrent pushes?)"
        )
    finally:
        if tf.io.gfile.exists(staging):
            tf.io.gfile.rmtree(staging)


def _listdir(path: str) -> list[str]:
    return tf.io.gfile.listdir(path) if tf.io.gfile.isdir(path) else []
