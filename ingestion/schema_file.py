"""A curated schema file: a TFDV Schema in text format, read and checked once.

The `schema` setting names one; SchemaGen (components.schema_gen) then loads
it instead of inferring a schema, and ExampleValidator holds the data to it.
The same reading serves the check before a local run starts (config) and the
component (also in a Kubeflow container, where the path is gs://). It parses
with protobuf's text_format as tfdv.load_schema_text does, without loading
TensorFlow for a local file (the check runs before TensorFlow loads).
"""

from __future__ import annotations

import hashlib

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from ingestion.errors import DataError

REMOTE_MARK = "://"
# Where a run's inferred schema is: a starting point to curate.
STARTING_POINT = "<output-dir>/pipeline_root/SchemaGen/schema/<id>/schema.pbtxt"
FIX = (
    f"fix the file, or start again from a run's inferred schema ({STARTING_POINT}, "
    "or `tiedflow schema --output FILE`)"
)


def _read_bytes(path: str) -> bytes:
    if REMOTE_MARK in path:
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def read_bytes(path: str) -> bytes:
    """The file's bytes; DataError naming it when it cannot be read."""
    try:
        return _read_bytes(path)
    except Exception as err:  # OSError here; tf.errors.NotFoundError and kin on gs://
        reason = getattr(err, "strerror", None) or (str(err).splitlines() or [""])[0]
        raise DataError(
            f"schema {path}: cannot be read ({reason or type(err).__name__}); "
            "give an existing schema file, or leave the setting empty to infer "
            "the schema"
        ) from None


def parse_schema(data: bytes, path: str) -> schema_pb2.Schema:
    """The Schema in `data`; DataError naming `path` when it is not a usable one.

    Usable: text format, at least one feature, and every feature of fixed
    shape (what SchemaGen infers here; Transform and the Trainer read the
    features as fixed-length tensors)."""
    try:
        schema = text_format.Parse(data.decode("utf-8"), schema_pb2.Schema())
    except (UnicodeDecodeError, text_format.ParseError) as err:
        raise DataError(f"schema {path}: not a TFDV schema in text format ({err}); {FIX}") from None
    if not schema.feature:
        raise DataError(f"schema {path}: has no features; {FIX}")
    unshaped = [f.name for f in schema.feature if not f.HasField("shape")]
    if unshaped:
        raise DataError(
            f"schema {path}: feature {', '.join(repr(n) for n in unshaped)} has no fixed "
            "shape (the pipeline reads fixed-length features); add `shape { dim { size: N } }` "
            "(tfdv.infer_schema(..., infer_feature_shape=True) writes it), or " + FIX
        )
    return schema


def read_schema(path: str) -> schema_pb2.Schema:
    return parse_schema(read_bytes(path), path)


def content_digest(path: str) -> str:
    """A digest of the file's bytes ('unreadable' if it cannot be read): it keys
    TFX's cache, so an edited file at the same path is loaded again."""
    try:
        return hashlib.sha256(_read_bytes(path)).hexdigest()[:16]
    except Exception:  # the component reports it, with the reason
        return "unreadable"
