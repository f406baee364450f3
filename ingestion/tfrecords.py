"""tf.Examples written by other projects: compression from the content, pixels and label
from the features the settings name, in the encoding they say."""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Iterator

import google_crc32c
import numpy as np

from ingestion.errors import DataError
from ingestion.images import decode
from ingestion.settings import IngestSettings

GZIP_MAGIC = b"\x1f\x8b"
ZLIB_SECOND_BYTES = (0x01, 0x5E, 0x9C, 0xDA)
HEADER = 12  # uint64 length, masked crc32c of the length
FOOTER = 4  # masked crc32c of the data
MAX_RECORD = 1 << 30  # no image's tf.Example is larger; beyond it a length is not believed
CHUNK = 1 << 20  # bytes read (or inflated) at a time: memory stays flat
PIECE = 1 << 16  # compressed bytes inflated at a time
WBITS = {"GZIP": 16 + zlib.MAX_WBITS, "ZLIB": zlib.MAX_WBITS}
FIX = "copy it again from its source, or leave it out of --data"


def _open(path: str):
    """A binary file object: open() for local paths, tf.io.gfile for gs:// and friends."""
    if "://" not in path:
        return open(path, "rb")
    import tensorflow as tf

    return tf.io.gfile.GFile(path, "rb")


def masked_crc32c(data: bytes) -> int:
    """TFRecord's checksum: crc32c rotated right by 15 bits plus a constant."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _compression(head: bytes) -> str:
    if len(head) >= HEADER and masked_crc32c(head[:8]) == struct.unpack_from("<I", head, 8)[0]:
        return ""  # a plain record whose length happens to start like a magic number
    if head[:2] == GZIP_MAGIC:
        return "GZIP"
    if len(head) >= 2 and head[0] == 0x78 and head[1] in ZLIB_SECOND_BYTES:
        return "ZLIB"
    return ""


def detect_compression(path: str) -> str:
    """'GZIP', 'ZLIB' or '' from a file's first bytes (its name says nothing certain)."""
    with _open(path) as f:
        return _compression(f.read(HEADER))


class _Cut(Exception):
    """The compressed stream is damaged or ends early; the reader says which record it hit."""


def _salvage(inflater, data: bytes) -> Iterator[bytes]:
    """What inflates before the fault in `data`, byte by byte (only on the error path),
    so that the error names the record the fault is in, not the first of its piece."""
    for i in range(len(data)):
        try:
            out = inflater.decompress(data[i : i + 1])
        except zlib.error:
            return
        if out:
            yield out


def _inflated(f, compression: str) -> Iterator[bytes]:
    """A gzip (members one after another) or zlib stream, inflated piece by piece
    so that the records before a fault are all read before it is met."""
    kind = compression.lower()
    inflater = zlib.decompressobj(WBITS[compression])
    data = f.read(PIECE)
    while True:
        if not data:
            raise _Cut(f"the {kind} stream is cut off before its end (the file is truncated)")
        while True:
            before = inflater.copy()
            try:
                out = inflater.decompress(data, CHUNK)  # bounded: no zip bomb in memory
            except zlib.error as err:  # includes a gzip trailer's CRC or length mismatch
                yield from _salvage(before, data)
                raise _Cut(f"the {kind} data is corrupt at or after this record ({err})") from None
            if out:
                yield out
            data = inflater.unconsumed_tail
            if not data and len(out) < CHUNK:  # a full CHUNK may leave output pending
                break
        if not inflater.eof:
            data = f.read(PIECE)
            continue
        data = inflater.unused_data
        if len(data) < len(GZIP_MAGIC):
            data += f.read(PIECE)
        if not data.strip(b"\0"):  # the end of the file (zero padding allowed)
            return
        if compression != "GZIP" or data[:2] != GZIP_MAGIC:
            raise _Cut(f"there are bytes after the end of the {kind} stream (corrupt bytes)")
        inflater = zlib.decompressobj(WBITS[compression])


def _chunks(f, compression: str) -> Iterator[bytes]:
    """The file's bytes, inflated, in chunks of at most CHUNK; _Cut on damage."""
    if compression:
        return _inflated(f, compression)
    return iter(lambda: f.read(CHUNK), b"")


def read_file(path: str) -> Iterator[tuple[int, bytes]]:
    """(index, serialized record) of every record in one TFRecord file, streaming.

    Every record's framing is checked (the length and the data against their
    crc32c, nothing cut short) and a compressed stream must reach its end
    marker: a truncated or corrupt file is a DataError naming the file, the
    record and its byte offset (in the uncompressed data when compressed), never
    a silently shorter data set."""
    with _open(path) as f:
        compression = _compression(f.read(HEADER))
        f.seek(0)
        stream = "of the uncompressed data" if compression else "of the file"
        buf, pos, start, index = b"", 0, 0, 0  # start: offset of buf[0] in the stream

        def fail(problem: str) -> DataError:
            return DataError(
                f"{path}: record {index} (byte {start + pos} {stream}): {problem}; "
                f"the {index} record(s) before it are intact; {FIX}"
            )

        chunks = _chunks(f, compression)

        def more():
            try:
                return next(chunks, None)
            except _Cut as err:
                raise fail(str(err)) from None

        while True:
            while len(buf) - pos < HEADER and (chunk := more()) is not None:
                buf, start, pos = buf[pos:] + chunk, start + pos, 0
            if len(buf) == pos:
                return
            if len(buf) - pos < HEADER:
                raise fail(
                    f"cut off inside the record's header ({len(buf) - pos} of {HEADER} "
                    "bytes; the file is truncated)"
                )
            length, length_crc = struct.unpack_from("<QI", buf, pos)
            if masked_crc32c(buf[pos : pos + 8]) != length_crc:
                raise fail(
                    "its length field fails its checksum (corrupt bytes, or not a TFRecord file)"
                )
            if length > MAX_RECORD:  # refused before reading (and holding) the rest
                raise fail(
                    f"its length field says {length} bytes, more than any image's record "
                    f"({MAX_RECORD}); not a TFRecord file of images"
                )
            end = pos + HEADER + length + FOOTER
            while len(buf) < end and (chunk := more()) is not None:
                buf, start, pos, end = buf[pos:] + chunk, start + pos, 0, end - pos
            if len(buf) < end:
                have = len(buf) - pos - HEADER
                part = "data" if have < length else "footer (the data's checksum)"
                raise fail(
                    f"cut off inside the record's {part} ({have} of {length + FOOTER} "
                    "bytes after the header; the file is truncated)"
                )
            data = buf[pos + HEADER : end - FOOTER]
            if masked_crc32c(data) != struct.unpack_from("<I", buf, end - FOOTER)[0]:
                raise fail("its data fails its checksum (corrupt bytes)")
            yield index, data
            pos, index = end, index + 1


def records_per_byte(path: str, sample: int = 4 << 20) -> float:
    """Records per byte of the file on disk, from its first `sample` bytes
    (inflated when compressed; the framing is walked, nothing checked or
    decoded): enough to estimate a data set's size before a run."""
    with _open(path) as f:
        head = f.read(sample)
    compression = _compression(head)
    data = zlib.decompressobj(WBITS[compression]).decompress(head) if compression else head
    count, end = 0, 0  # records complete in the sample, and where the last one ends
    while end + HEADER <= len(data):
        following = end + HEADER + struct.unpack_from("<Q", data, end)[0] + FOOTER
        if following > len(data):
            break
        count, end = count + 1, following
    if not count:
        return 0.0
    return count / end * len(data) / len(head)  # per inflated byte, times inflation


def _feature(example, name: str, where: str, setting: str):
    features = example.features.feature
    if name not in features:
        have = ", ".join(sorted(features)) or "none"
        raise DataError(
            f"{where}: no feature {name!r} (the record has: {have}); "
            f"set {setting}=<the feature that holds it>"
        )
    return features[name]


def decode_label(example, where: str, settings: IngestSettings):
    """The label as an int id or a str name."""
    feature = _feature(example, settings.label_feature, where, "label_feature")
    kind = feature.WhichOneof("kind")
    values = list(getattr(feature, kind).value) if kind else []
    if len(values) != 1 or kind == "float_list":
        raise DataError(
            f"{where}: feature {settings.label_feature!r} must hold one int64 id or "
            f"one class name (bytes); it holds {len(values)} {kind or 'values'}"
        )
    if kind == "bytes_list":
        try:
            return values[0].decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(
                f"{where}: feature {settings.label_feature!r} is not UTF-8 text"
            ) from None
    return int(values[0])


def _numeric_pixels(values: np.ndarray, where: str, settings: IngestSettings) -> np.ndarray:
    if not np.isfinite(values).all():
        raise DataError(f"{where}: feature {settings.image_feature!r} holds NaN or infinite values")
    lo, hi = settings.value_range()
    if values.size and (values.min() < lo - 1e-6 or values.max() > hi + 1e-6):
        raise DataError(
            f"{where}: feature {settings.image_feature!r} has values in "
            f"[{values.min():g}, {values.max():g}], outside pixel_range {lo:g},{hi:g}; "
            "set pixel_range=lo,hi to the range the data uses"
        )
    return np.clip(np.rint((values - lo) * 255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def _shape_for(count: int, where: str, settings: IngestSettings) -> tuple[int, int, int]:
    shape = settings.shape()
    if shape is None:
        side = math.isqrt(count)
        if side * side != count or count == 0:
            raise DataError(
                f"{where}: feature {settings.image_feature!r} has {count} values, "
                "not a square image; set image_shape=H,W or H,W,C"
            )
        shape = (side, side, 1)
    if shape[0] * shape[1] * shape[2] != count:
        raise DataError(
            f"{where}: feature {settings.image_feature!r} has {count} values, "
            f"expected {shape[0] * shape[1] * shape[2]} for image_shape "
            f"{','.join(map(str, shape))}"
        )
    return shape


def decode_image(example, where: str, settings: IngestSettings) -> tuple[np.ndarray, bool]:
    """(uint8 H x W x C at the data's own size, whether it is colour)."""
    feature = _feature(example, settings.image_feature, where, "image_feature")
    encoding = settings.pixel_encoding
    expected = {"int": "int64_list", "float": "float_list"}.get(encoding, "bytes_list")
    kind = feature.WhichOneof("kind")
    if kind != expected:
        raise DataError(
            f"{where}: feature {settings.image_feature!r} is a {kind or 'empty list'}, "
            f"but pixel_encoding={encoding} reads a {expected}; set pixel_encoding "
            "to int, float, bytes or encoded as the data is stored"
        )
    values = getattr(feature, kind).value
    if encoding == "encoded":
        if len(values) != 1:
            raise DataError(
                f"{where}: feature {settings.image_feature!r} must hold one "
                f"encoded image, it holds {len(values)}"
            )
        return decode(values[0], where, settings.max_pixels)
    if encoding == "bytes":
        if len(values) != 1:
            raise DataError(
                f"{where}: feature {settings.image_feature!r} must hold one bytes "
                f"value of raw pixels, it holds {len(values)}"
            )
        pixels = np.frombuffer(values[0], dtype=np.uint8)
    else:
        pixels = _numeric_pixels(np.asarray(values, dtype=np.float64), where, settings)
    shape = _shape_for(pixels.size, where, settings)
    if shape[0] * shape[1] > settings.max_pixels:
        size = shape[0] * shape[1]
        raise DataError(
            f"{where}: image of {shape[1]}x{shape[0]} = {size} pixels is larger than "
            f"max_pixels ({settings.max_pixels}); raise it with --set "
            f"max_pixels={size}, or leave the record out"
        )
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


BATCH = 1024  # records decoded together


def _raw_pixel_batch(image, settings: IngestSettings):
    """(n, H, W, C) uint8 of a batch's `bytes` image column (one value of raw
    pixels per record, all of the image's size), or None when any record is
    otherwise (decode_image then names it)."""
    if not (np.diff(image.offsets.to_numpy()) == 1).all():
        return None
    values = image.values  # LargeBinaryArray: one value per record
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[
        values.offset : values.offset + len(values) + 1
    ]
    lengths = np.diff(offsets)
    shape = settings.shape()
    if shape is None:
        side = math.isqrt(int(lengths[0]))
        shape = (side, side, 1)
    size = shape[0] * shape[1] * shape[2]
    if not size or not (lengths == size).all() or shape[0] * shape[1] > settings.max_pixels:
        return None
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.reshape((len(values),) + shape).copy()


def _decoded_batch(records: list[bytes], settings: IngestSettings):
    """[(label, pixels, colour)] of records with raw or numeric pixels, decoded
    together by tfx_bsl (C++, what TFX's own components use), or None when
    anything in the batch needs a closer look: the records are then decoded one
    by one, which names the record and what is wrong with it. The pixel
    arithmetic is decode_image's, on the whole batch at once."""
    from tfx_bsl.coders import example_coder

    encoding = settings.pixel_encoding
    if encoding not in ("int", "float", "bytes") or not records:
        return None
    try:
        batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(records)
    except Exception:  # a record that is not a tf.Example
        return None
    names = batch.schema.names
    if settings.image_feature not in names or settings.label_feature not in names:
        return None
    image = batch.column(names.index(settings.image_feature))
    label = batch.column(names.index(settings.label_feature))
    if image.null_count or label.null_count:
        return None
    image_kind, label_kind = str(image.type.value_type), str(label.type.value_type)
    expected = {"int": "int64", "float": "float", "bytes": "large_binary"}[encoding]
    if (
        image_kind != expected
        or label_kind not in ("int64", "large_binary")
        or not (np.diff(label.offsets.to_numpy()) == 1).all()
    ):
        return None
    if encoding == "bytes":
        pixels = _raw_pixel_batch(image, settings)
        if pixels is None:
            return None
        shape = pixels.shape[1:]
    else:
        counts = np.diff(image.offsets.to_numpy())
        shape = settings.shape()
        if shape is None:
            side = math.isqrt(int(counts[0]))
            shape = (side, side, 1)
        if (
            not (counts == shape[0] * shape[1] * shape[2]).all()
            or counts[0] == 0
            or shape[0] * shape[1] > settings.max_pixels
        ):
            return None
        values = image.values.to_numpy().astype(np.float64)
        lo, hi = settings.value_range()
        if not np.isfinite(values).all() or values.min() < lo - 1e-6 or values.max() > hi + 1e-6:
            return None
        pixels = np.clip(np.rint((values - lo) * 255.0 / (hi - lo)), 0, 255).astype(np.uint8)
        pixels = pixels.reshape((len(records),) + shape)
    labels = label.values.to_pylist()
    if label_kind == "large_binary":
        try:
            labels = [value.decode("utf-8") for value in labels]
        except UnicodeDecodeError:
            return None
    colour = shape[2] == 3
    return [(labels[i], pixels[i], colour) for i in range(len(records))]


def read_images(
    path: str, settings: IngestSettings
) -> Iterator[tuple[int, object, np.ndarray, bool]]:
    """(index, label, pixels, colour) of every record of one file: read_file, then
    decoded in batches (decode_record for a batch the fast path declines)."""
    batch: list[tuple[int, bytes]] = []

    def decoded():
        done = _decoded_batch([raw for _, raw in batch], settings)
        if done is None:
            done = (decode_record(raw, f"{path}: record {index}", settings) for index, raw in batch)
        for (index, _), (label, pixels, colour) in zip(batch, done):
            yield index, label, pixels, colour

    records = read_file(path)
    while True:
        try:
            record = next(records, None)
        except DataError:
            yield from decoded()  # a bad record before the damage is named first
            raise
        if record is None:
            break
        batch.append(record)
        if len(batch) == BATCH:
            yield from decoded()
            batch = []
    yield from decoded()
