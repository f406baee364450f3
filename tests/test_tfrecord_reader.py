"""The streaming TFRecord reader: the same records as TensorFlow's reader, and every
kind of cut or corruption a DataError naming the file, the record and its byte offset;
records decoded in batches exactly as one by one, a bad one named wherever it is."""

import gzip
import re
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf

from ingestion import tfrecords
from ingestion.errors import DataError
from ingestion.settings import IngestSettings

RECORDS = [bytes([i % 251]) * (i * 7 % 300 + 1) for i in range(200)]
FRAME = tfrecords.HEADER + tfrecords.FOOTER


def _write(path, records=RECORDS, compression=""):
    with tf.io.TFRecordWriter(str(path), options=compression) as writer:
        for rec in records:
            writer.write(rec)
    return path


def _plain(records=RECORDS) -> bytes:
    out = b""
    for rec in records:
        length = struct.pack("<Q", len(rec))
        out += (
            length
            + struct.pack("<I", tfrecords.masked_crc32c(length))
            + rec
            + struct.pack("<I", tfrecords.masked_crc32c(rec))
        )
    return out


def _offset(index: int) -> int:
    """Where record `index` starts in the plain (inflated) stream."""
    return sum(len(r) + FRAME for r in RECORDS[:index])


def _read(path):
    return [data for _, data in tfrecords.read_file(str(path))]


@pytest.mark.parametrize("compression", ["", "GZIP", "ZLIB"])
def test_same_records_as_tensorflow(tmp_path, compression):
    path = _write(tmp_path / "data.tfrecord", compression=compression)
    assert tfrecords.detect_compression(str(path)) == compression
    ours = list(tfrecords.read_file(str(path)))
    assert [i for i, _ in ours] == list(range(len(RECORDS)))
    assert (
        [d for _, d in ours]
        == [r.numpy() for r in tf.data.TFRecordDataset(str(path), compression_type=compression)]
        == RECORDS
    )
    assert _read(_write(tmp_path / "empty", [], compression)) == []


def test_records_larger_than_a_chunk_and_gzip_members_one_after_another(tmp_path):
    big = [b"x" * (3 * tfrecords.CHUNK + 5), b"y", b"z" * tfrecords.CHUNK]
    assert _read(_write(tmp_path / "big.gz", big, "GZIP")) == big
    members = tmp_path / "members.gz"
    members.write_bytes(gzip.compress(_plain(RECORDS[:50])) + gzip.compress(_plain(RECORDS[50:])))
    assert _read(members) == RECORDS


def _damaged(tmp_path, data: bytes, match: str, index: int, offset: int):
    path = tmp_path / "damaged.tfrecord"
    path.write_bytes(data)
    got = []
    with pytest.raises(DataError, match=match) as err:
        for _, rec in tfrecords.read_file(str(path)):
            got.append(rec)
    message = str(err.value)
    assert message.startswith(f"{path}: record {index} (byte {offset} of "), message
    assert "copy it again" in message
    assert got == RECORDS[:index], "every record before the damage is read, none after"


@pytest.mark.parametrize(
    "cut, match",
    [
        (5, r"cut off inside the record's header \(5 of 12 bytes; the file is truncated\)"),
        (12 + 3, r"cut off inside the record's data \(3 of \d+ bytes after the header"),
        (-2, r"cut off inside the record's footer"),
    ],
)
def test_plain_file_cut_inside_a_record(tmp_path, cut, match):
    whole = _plain()
    start = _offset(120)
    end = start + (cut if cut > 0 else len(RECORDS[120]) + FRAME + cut)
    _damaged(tmp_path, whole[:end], match, 120, start)


@pytest.mark.parametrize(
    "where, match",
    [
        (2, "its length field fails its checksum"),  # a byte of the length
        (9, "its length field fails its checksum"),  # a byte of the length's crc
        (12, "its data fails its checksum"),  # the first data byte
        (-1, "its data fails its checksum"),  # a byte of the data's crc
    ],
)
def test_flipped_byte_in_a_record(tmp_path, where, match):
    data = bytearray(_plain())
    start = _offset(77)
    data[start + where if where >= 0 else _offset(78) + where] ^= 0x10
    _damaged(tmp_path, bytes(data), match, 77, start)


@pytest.mark.parametrize("compress", [gzip.compress, zlib.compress], ids=["gzip", "zlib"])
def test_compressed_stream_cut_before_its_end(tmp_path, compress):
    whole = compress(_plain())
    kind = "gzip" if compress is gzip.compress else "zlib"
    # Cut the stream inside its last bytes (checksum trailer): every record is there,
    # but the end-of-stream marker is not.
    _damaged(
        tmp_path,
        whole[:-3],
        f"the {kind} stream is cut off before its end",
        len(RECORDS),
        _offset(len(RECORDS)),
    )
    # Cut the stream at its middle: the records inflated before the cut are read.
    path = tmp_path / "half"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(
        DataError,
        match=r"record \d+ \(byte \d+ of the uncompressed data\): "
        f"the {kind} stream is cut off before its end",
    ):
        _read(path)


def test_compressed_stream_corrupt_or_with_trailing_bytes(tmp_path):
    whole = bytearray(gzip.compress(_plain()))
    whole[-6] ^= 0xFF  # the gzip trailer's crc32 of the whole stream
    _damaged(
        tmp_path,
        bytes(whole),
        r"the gzip data is corrupt at or after this record "
        r"\(.*incorrect data check",
        len(RECORDS),
        _offset(len(RECORDS)),
    )
    flipped = bytearray(gzip.compress(_plain(), compresslevel=0))  # stored: bytes map 1:1
    flipped[len(flipped) // 2] ^= 0x01
    path = tmp_path / "flipped.gz"
    path.write_bytes(bytes(flipped))
    with pytest.raises(
        DataError,
        match=r"record \d+ \(byte \d+ of the uncompressed data\): its "
        "(data|length field) fails its checksum",
    ):
        _read(path)
    _damaged(
        tmp_path,
        zlib.compress(_plain()) + b"junk",
        "bytes after the end of the zlib stream",
        len(RECORDS),
        _offset(len(RECORDS)),
    )


def test_gzip_zero_padding_after_the_stream_is_allowed(tmp_path):
    path = tmp_path / "padded.gz"
    path.write_bytes(gzip.compress(_plain()) + b"\0" * 512)
    assert _read(path) == RECORDS


def test_not_a_tfrecord_file(tmp_path):
    _damaged(tmp_path, b"garbage" * 10, "its length field fails its checksum", 0, 0)
    # A length that passes its checksum but claims a terabyte is refused without reading on.
    head = _plain()[: _offset(5)]
    length = struct.pack("<Q", 1 << 40)
    _damaged(
        tmp_path,
        head + length + struct.pack("<I", tfrecords.masked_crc32c(length)) + b"x" * 10,
        "its length field says 1099511627776 bytes",
        5,
        _offset(5),
    )


def _examples(
    n, label_of=lambda i: i % 10, pixels_of=lambda i: [(i * 7 + j) % 256 for j in range(64)]
):
    out = []
    for i in range(n):
        label = label_of(i)
        feature = {
            "pixels": tf.train.Feature(int64_list=tf.train.Int64List(value=pixels_of(i))),
            "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode()]))
            if isinstance(label, str)
            else tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        }
        out.append(
            tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
        )
    return out


@pytest.mark.parametrize(
    "settings",
    [
        IngestSettings(),
        IngestSettings(pixel_encoding="float", pixel_range="0,255"),
        IngestSettings(image_shape="4,16"),
    ],
)
def test_batches_decode_as_record_by_record(tmp_path, settings):
    records = _examples(tfrecords.BATCH + 100, label_of=lambda i: ["cat", "dog"][i % 2])
    if settings.pixel_encoding == "float":
        records = [
            tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "pixels": tf.train.Feature(
                            float_list=tf.train.FloatList(
                                value=[
                                    float(v)
                                    for v in tf.train.Example.FromString(r)
                                    .features.feature["pixels"]
                                    .int64_list.value
                                ]
                            )
                        ),
                        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 3])),
                    }
                )
            ).SerializeToString()
            for i, r in enumerate(records)
        ]
    path = _write(tmp_path / "data.tfrecord", records, "GZIP")
    batched = list(tfrecords.read_images(str(path), settings))
    assert tfrecords._decoded_batch(records[:10], settings) is not None  # the fast path ran
    one_by_one = [tfrecords.decode_record(r, "x", settings) for r in records]
    assert [b[0] for b in batched] == list(range(len(records)))
    for (_, label, pixels, colour), (label1, pixels1, colour1) in zip(batched, one_by_one):
        assert label == label1 and type(label) is type(label1) and colour == colour1
        assert pixels.dtype == np.uint8 and np.array_equal(pixels, pixels1)


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda i: [300] * 64, "outside pixel_range 0,255"),
        (lambda i: [1] * 60, "60 values, not a square image"),
    ],
)
def test_a_bad_record_in_a_batch_is_named(tmp_path, bad, match):
    index = tfrecords.BATCH + 37
    records = _examples(
        tfrecords.BATCH + 100, pixels_of=lambda i: bad(i) if i == index else [i % 256] * 64
    )
    path = _write(tmp_path / "data.tfrecord", records)
    with pytest.raises(DataError, match=f"record {index}: .*{match}"):
        list(tfrecords.read_images(str(path), IngestSettings()))
    # A bad record before damage to the file is named first: the file is cut after it.
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 5000])
    with pytest.raises(DataError, match=f"record {index}: .*{match}"):
        list(tfrecords.read_images(str(path), IngestSettings()))


@pytest.mark.e2e
def test_truncated_file_exits_2_naming_it_with_two_worker_processes(tmp_path):
    """Beam's multi-processing runner sends a worker's DataError back as text only:
    the run still exits 2 with the reader's message, not 1 with a traceback."""
    from conftest import run_tiedflow

    whole = gzip.compress(_plain(_examples(3000)))
    path = tmp_path / "cut.tfrecord.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    run = run_tiedflow(
        "run",
        "--data",
        str(path),
        "--set",
        "train_steps=1",
        "--beam-arg=--direct_running_mode=multi_processing",
        "--beam-arg=--direct_num_workers=2",
        output_dir=str(tmp_path / "out"),
    )
    assert run.returncode == 2, run.stderr[-3000:]
    assert re.search(
        rf"error: {re.escape(str(path))}: record \d+ \(byte \d+ of the "
        r"uncompressed data\): the gzip stream is cut off before its end",
        run.stderr,
    )
    assert "Traceback" not in run.stderr
