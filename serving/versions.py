"""The version folders of a push destination (`<serving_dir>/<version>/`).

One place answers "which pushed models are there, and which is newest" for
the baseline lookup, warm start and `tiedflow predict`.
"""
from __future__ import annotations

import hashlib
import os
from typing import Optional

import tensorflow as tf


def pushed_versions(serving_dir: str) -> list[str]:
    """Numeric version folders holding a SavedModel, newest first."""
    if not serving_dir or not tf.io.gfile.isdir(serving_dir):
        return []
    versions = []
    for name in tf.io.gfile.listdir(serving_dir):
        name = name.rstrip("/")
        if name.isdigit() and tf.io.gfile.exists(
                os.path.join(serving_dir, name, "saved_model.pb")):
            versions.append(name)
    return sorted(versions, key=int, reverse=True)


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


def newest_other_than(serving_dir: str, candidate_dir: Optional[str]):
    """(version, digest) of the newest pushed model that differs from the
    candidate SavedModel, or (None, None)."""
    skip = model_digest(candidate_dir) if candidate_dir and tf.io.gfile.exists(
        os.path.join(candidate_dir, "saved_model.pb")) else None
    for version in pushed_versions(serving_dir):
        digest = model_digest(os.path.join(serving_dir, version))
        if digest != skip:
            return version, digest
    return None, None
