"""tf.Examples written by other projects: compression from the content, pixels and label
from the features the settings name, in the encoding they say."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from ingestion import record_stream
from ingestion.errors import DataError
from ingestion.images import decode
from ingestion.settings import IngestSettings

GZIP_MAGIC = b"\x1f\x8b"
ZLIB_SECOND_BYTES = (0x01, 0x5E, 0x9C, 0xDA)


def detect_compression(path: str) -> str:
    """'GZIP', 'ZLIB' or '' from a file's first bytes (its name says nothing certain)."""
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "rb") as f:
        head = f.read(record_stream.HEADER)
    if record_stream.is_header(head):  # a plain record whose length starts like a magic
        return ""
    if head[:2] == GZIP_MAGIC:
        return "GZIP"
    if len(head) >= 2 and head[0] == 0x78 and head[1] in ZLIB_SECOND_BYTES:
        return "ZLIB"
    return ""


def read_file(path: str) -> Iterator[tuple[int, bytes]]:
    """(index, serialized record) of every record in one TFRecord file, each checked
    (ingestion.record_stream): a truncated or corrupt file is a DataError naming the record."""
    for index, _, data in record_stream.checked_records(path, detect_compression(path)):
        yield index, data


def _feature(example, name: str, where: str, setting: str):
    features = example.features.feature
    if name not in features:
        have = ", ".join(sorted(features)) or "none"
        raise DataError(f"{where}: no feature {name!r} (the record has: {have}); "
                        f"set {setting}=<the feature that holds it>")
    return features[name]


def decode_label(example, where: str, settings: IngestSettings):
    """The label as an int id or a str name."""
    feature = _feature(example, settings.label_feature, where, "label_feature")
    kind = feature.WhichOneof("kind")
    values = list(getattr(feature, kind).value) if kind else []
    if len(values) != 1 or kind == "float_list":
        raise DataError(f"{where}: feature {settings.label_feature!r} must hold one int64 id or "
                        f"one class name (bytes); it holds {len(values)} {kind or 'values'}")
    if kind == "bytes_list":
        try:
            return values[0].decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{where}: feature {settings.label_feature!r} is not UTF-8 text")
    return int(values[0])


def _numeric_pixels(values: np.ndarray, where: str, settings: IngestSettings) -> np.ndarray:
    if not np.isfinite(values).all():
        raise DataError(f"{where}: feature {settings.image_feature!r} holds NaN or infinite "
                        "values")
    lo, hi = settings.value_range()
    if values.size and (values.min() < lo - 1e-6 or values.max() > hi + 1e-6):
        raise DataError(f"{where}: feature {settings.image_feature!r} has values in "
                        f"[{values.min():g}, {values.max():g}], outside pixel_range {lo:g},{hi:g}; "
                        "set pixel_range=lo,hi to the range the data uses")
    return np.clip(np.rint((values - lo) * 255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def _shape_for(count: int, where: str, settings: IngestSettings) -> tuple[int, int, int]:
    shape = settings.shape()
    if shape is None:
        side = math.isqrt(count)
        if side * side != count or count == 0:
            raise DataError(f"{where}: feature {settings.image_feature!r} has {count} values, "
                            "not a square image; set image_shape=H,W or H,W,C")
        shape = (side, side, 1)
    if shape[0] * shape[1] * shape[2] != count:
        raise DataError(f"{where}: feature {settings.image_feature!r} has {count} values, "
                        f"expected {shape[0] * shape[1] * shape[2]} for image_shape "
                        f"{','.join(map(str, shape))}")
    return shape


def decode_image(example, where: str, settings: IngestSettings) -> tuple[np.ndarray, bool]:
    """(uint8 H x W x C at the data's own size, whether it is colour)."""
    feature = _feature(example, settings.image_feature, where, "image_feature")
    encoding = settings.pixel_encoding
    expected = {"int": "int64_list", "float": "float_list"}.get(encoding, "bytes_list")
    kind = feature.WhichOneof("kind")
    if kind != expected:
        raise DataError(f"{where}: feature {settings.image_feature!r} is a {kind or 'empty list'}, "
                        f"but pixel_encoding={encoding} reads a {expected}; set pixel_encoding "
                        "to int, float, bytes or encoded as the data is stored")
    values = getattr(feature, kind).value
    if encoding == "encoded":
        if len(values) != 1:
            raise DataError(f"{where}: feature {settings.image_feature!r} must hold one "
                            f"encoded image, it holds {len(values)}")
        return decode(values[0], where, settings.max_pixels)
    if encoding == "bytes":
        if len(values) != 1:
            raise DataError(f"{where}: feature {settings.image_feature!r} must hold one bytes "
                            f"value of raw pixels, it holds {len(values)}")
        pixels = np.frombuffer(values[0], dtype=np.uint8)
    else:
        pixels = _numeric_pixels(np.asarray(values, dtype=np.float64), where, settings)
    shape = _shape_for(pixels.size, where, settings)
    if shape[0] * shape[1] > settings.max_pixels:
        size = shape[0] * shape[1]
        raise DataError(f"{where}: image of {shape[1]}x{shape[0]} = {size} pixels is larger than "
                        f"max_pixels ({settings.max_pixels}); raise it with --set "
                        f"max_pixels={size}, or leave the record out")
    return pixels.reshape(shape), shape[2] == 3


def decode_record(raw: bytes, where: str, settings: IngestSettings):
    """(label, pixels, colour) of one serialized tf.Example."""
    import tensorflow as tf

    try:
        example = tf.train.Example.FromString(raw)
    except Exception:  # protobuf's DecodeError and friends
        raise DataError(f"{where}: not a tf.Example") from None
    pixels, colour = decode_image(example, where, settings)
    return decode_label(example, where, settings), pixels, colour
