"""The streaming TFRecord reader: the same records as TensorFlow's reader, and every
kind of cut or corruption a DataError naming the file, the record and its byte offset."""
import gzip
import struct
import zlib

import pytest
import tensorflow as tf

from ingestion import tfrecords
from ingestion.errors import DataError

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
        out += (length + struct.pack("<I", tfrecords.masked_crc32c(length)) + rec
                + struct.pack("<I", tfrecords.masked_crc32c(rec)))
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
    assert [d for _, d in ours] == [r.numpy() for r in tf.data.TFRecordDataset(
        str(path), compression_type=compression)] == RECORDS
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
        for i, rec in tfrecords.read_file(str(path)):
            got.append(rec)
    message = str(err.value)
    assert message.startswith(f"{path}: not a readable TFRecord file: record {index} at byte "
                              f"{offset} "), message
    assert "copy it again" in message
    assert got == RECORDS[:index], "every record before the damage is read, none after"


@pytest.mark.parametrize("cut, match", [
    (5, r"ends inside the record's header \(5 of 12 bytes\)"),
    (12 + 3, r"ends inside the record's data \(3 of \d+ bytes after the header\)"),
    (-2, r"ends inside the record's footer"),
])
def test_plain_file_cut_inside_a_record(tmp_path, cut, match):
    whole = _plain()
    start = _offset(120)
    end = start + (cut if cut > 0 else len(RECORDS[120]) + FRAME + cut)
    _damaged(tmp_path, whole[:end], match, 120, start)


@pytest.mark.parametrize("where, match", [
    (2, "its length fails its checksum"),  # a byte of the length
    (9, "its length fails its checksum"),  # a byte of the length's crc
    (12, "its data fails its checksum"),  # the first data byte
    (-1, "its data fails its checksum"),  # a byte of the data's crc
])
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
    _damaged(tmp_path, whole[:-3], f"the {kind} stream ends before its end-of-stream marker",
             len(RECORDS), _offset(len(RECORDS)))
    # Cut the stream at its middle: the records inflated before the cut are read.
    path = tmp_path / "half"
    path.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(DataError, match=f"record (\\d+) at byte \\d+ of the inflated stream: the "
                       f"{kind} stream ends before its end-of-stream marker"):
        _read(path)


def test_compressed_stream_corrupt_or_with_trailing_bytes(tmp_path):
    whole = bytearray(gzip.compress(_plain()))
    whole[-6] ^= 0xFF  # the gzip trailer's crc32 of the whole stream
    _damaged(tmp_path, bytes(whole), r"the gzip data is corrupt \(.*incorrect data check",
             len(RECORDS), _offset(len(RECORDS)))
    flipped = bytearray(gzip.compress(_plain(), compresslevel=0))  # stored: bytes map 1:1
    flipped[len(flipped) // 2] ^= 0x01
    path = tmp_path / "flipped.gz"
    path.write_bytes(bytes(flipped))
    with pytest.raises(DataError, match=r"record \d+ at byte \d+ of the inflated stream: its "
                       "(data|length) fails its checksum"):
        _read(path)
    _damaged(tmp_path, zlib.compress(_plain()) + b"junk", "bytes after the end of the zlib "
             "stream", len(RECORDS), _offset(len(RECORDS)))


def test_gzip_zero_padding_after_the_stream_is_allowed(tmp_path):
    path = tmp_path / "padded.gz"
    path.write_bytes(gzip.compress(_plain()) + b"\0" * 512)
    assert _read(path) == RECORDS


def test_not_a_tfrecord_file(tmp_path):
    _damaged(tmp_path, b"garbage" * 10, "its length fails its checksum", 0, 0)
