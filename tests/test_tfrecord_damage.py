"""Truncated and corrupt TFRecord files are refused by ingestion's Beam read, naming
the file, the record and its byte offset, where TensorFlow's reader takes some of
them for a clean end of file."""

import os
import re

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.testing.util import assert_that, equal_to

from ingestion import tfrecords
from ingestion.errors import DataError
from ingestion.settings import IngestSettings
from ingestion.transforms import ReadImages

N = 30
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _records():
    """N serialized tf.Examples (8x8 pixels, label), and each one's offset in the plain file."""
    out, offsets, pos = [], [], 0
    for i in range(N):
        feature = {
            "pixels": tf.train.Feature(
                int64_list=tf.train.Int64List(value=[(i * 7 + k) % 256 for k in range(64)])
            ),
            "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 3])),
        }
        data = tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
        out.append(data)
        offsets.append(pos)
        pos += 16 + len(data)
    return out, offsets


def _write(path, compression):
    records, offsets = _records()
    with tf.io.TFRecordWriter(str(path), options=compression) as writer:
        for data in records:
            writer.write(data)
    return path.read_bytes(), offsets


def _ingest_count(path, expected: int = N) -> None:
    """Reads `path` through ImageExampleGen's Beam read; checks the images read."""
    with beam.Pipeline(argv=IN_MEMORY) as pipeline:
        raw, _ = pipeline | ReadImages(IngestSettings(data=str(path)))
        assert_that(raw | beam.combiners.Count.Globally(), equal_to([expected]))


def _tf_count(path, compression) -> int:
    """What TensorFlow's own reader makes of it: records read, or -1 for an error."""
    try:
        return sum(1 for _ in tf.data.TFRecordDataset(str(path), compression_type=compression))
    except tf.errors.OpError:
        return -1


def test_intact_files_read_whole_in_every_compression(tmp_path):
    for compression in ("", "GZIP", "ZLIB"):
        path = tmp_path / f"ok-{compression or 'plain'}.tfrecord"
        _write(path, compression)
        assert tfrecords.detect_compression(str(path)) == compression
        _ingest_count(path)


# (compression, damage, the record named, what the message says). Offsets in a plain
# file are exact; in a compressed one the record is the first not yet checked.
PLAIN_CASES = [
    ("cut inside record 7", lambda data, off: data[: off[7] + 40], 7, "cut off inside the record"),
    (
        "cut inside record 7's header",
        lambda data, off: data[: off[7] + 5],
        7,
        "cut off inside the record's header",
    ),
    (
        "byte flipped in record 12's data",
        lambda data, off: _flip(data, off[12] + 30),
        12,
        "its data fails its checksum",
    ),
    (
        "byte flipped in record 12's length",
        lambda data, off: _flip(data, off[12] + 1),
        12,
        "its length field fails its checksum",
    ),
    (
        "byte flipped in record 12's data checksum",
        lambda data, off: _flip(data, off[13] - 2),
        12,
        "its data fails its checksum",
    ),
]


def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x20
    return bytes(out)


@pytest.mark.parametrize("name, damage, record, says", PLAIN_CASES, ids=[c[0] for c in PLAIN_CASES])
def test_damaged_plain_file_is_refused_naming_record_and_offset(
    tmp_path, name, damage, record, says
):
    data, offsets = _write(tmp_path / "ok.tfrecord", "")
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(damage(data, offsets))
    with pytest.raises(DataError) as err:
        _ingest_count(bad)
    message = str(err.value)
    assert message.startswith(f"{bad}: record {record} (byte {offsets[record]} of the file): ")
    assert says in message and "copy it again from its source" in message


@pytest.mark.parametrize("compression", ["GZIP", "ZLIB"])
@pytest.mark.parametrize("cut", [0.5, 0.98, "last byte", 12])
def test_cut_compressed_stream_is_refused(tmp_path, compression, cut):
    """Cut anywhere, also where TensorFlow's reader sees a clean end of file."""
    data, offsets = _write(tmp_path / "ok.tfrecord", compression)
    if cut == "last byte":
        size = len(data) - 1
    else:
        size = cut if isinstance(cut, int) else int(len(data) * cut)
    bad = tmp_path / "cut.tfrecord"
    bad.write_bytes(data[:size])
    with pytest.raises(DataError) as err:
        _ingest_count(bad)
    message = str(err.value)
    found = re.match(
        rf"{re.escape(str(bad))}: record (\d+) \(byte (\d+) of the uncompressed "
        r"data\): ",
        message,
    )
    assert found, message
    index, offset = int(found.group(1)), int(found.group(2))
    assert offset == (offsets[index] if index < N else offsets[-1] + 16 + len(_records()[0][-1]))
    assert (
        f"the {compression.lower()} stream is cut off before its end" in message
        or "cut off inside the record" in message
    ), message
    if cut == "last byte":
        assert index == N  # every record was whole: only the stream's end is missing
        assert _tf_count(bad, compression) == N  # TensorFlow: a clean end of file


def test_tensorflow_reads_a_cut_gzip_file_as_a_shorter_one(tmp_path):
    """Why the check is the project's own: TF's reader drops what follows the cut, silently."""
    data, _ = _write(tmp_path / "ok.tfrecord", "GZIP")
    bad = tmp_path / "cut.tfrecord"
    bad.write_bytes(data[:12])
    assert _tf_count(bad, "GZIP") == 0
    with pytest.raises(DataError, match="cut off before its end"):
        list(tfrecords.read_file(str(bad)))


@pytest.mark.parametrize("compression", ["GZIP", "ZLIB"])
def test_flipped_byte_in_compressed_stream_is_refused(tmp_path, compression):
    data, _ = _write(tmp_path / "ok.tfrecord", compression)
    bad = tmp_path / "flipped.tfrecord"
    bad.write_bytes(_flip(data, len(data) // 2))
    with pytest.raises(DataError) as err:
        _ingest_count(bad)
    message = str(err.value)
    assert re.match(
        rf"{re.escape(str(bad))}: record \d+ \(byte \d+ of the uncompressed data\)", message
    ), message
    assert "corrupt" in message or "fails its checksum" in message


def test_concatenated_gzip_members_read_as_one_file(tmp_path):
    """`cat a.gz b.gz` is a valid gzip file: both parts are read."""
    first, _ = _write(tmp_path / "a.tfrecord", "GZIP")
    both = tmp_path / "both.tfrecord"
    both.write_bytes(first + first)
    assert len(list(tfrecords.read_file(str(both)))) == 2 * N


def test_plain_record_whose_length_looks_like_a_gzip_magic_is_read_plain(tmp_path):
    """A plain file whose first record is 0x8b1f bytes long starts with 1f 8b."""
    path = tmp_path / "big-first.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(b"x" * 0x8B1F)
        writer.write(b"y")
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert tfrecords.detect_compression(str(path)) == ""
    assert [len(d) for _, d in tfrecords.read_file(str(path))] == [0x8B1F, 1]


def test_masked_crc_matches_tensorflow_framing(tmp_path):
    path = tmp_path / "one.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(b"hello")
    data = path.read_bytes()
    assert int.from_bytes(data[8:12], "little") == tfrecords.masked_crc32c(data[:8])
    assert int.from_bytes(data[-4:], "little") == tfrecords.masked_crc32c(b"hello")
    assert os.path.getsize(path) == 16 + 5


def test_flat_pixels_over_the_pixel_limit_are_refused_by_name(tmp_path):
    from ingestion.tfrecords import decode_record

    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "pixels": tf.train.Feature(int64_list=tf.train.Int64List(value=[0] * 400)),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[1])),
            }
        )
    )
    with pytest.raises(DataError) as err:
        decode_record(
            example.SerializeToString(), "f.tfrecord: record 3", IngestSettings(max_pixels=100)
        )
    assert str(err.value) == (
        "f.tfrecord: record 3: image of 20x20 = 400 pixels is larger than "
        "max_pixels (100); raise it with --set max_pixels=400, or leave "
        "the record out"
    )


def test_a_length_beyond_any_image_is_not_believed(tmp_path):
    """A length field that passes its checksum but claims a terabyte: refused at once,
    without reading (or holding) the rest of the file."""
    import struct

    head = struct.pack("<Q", 1 << 40)
    path = tmp_path / "huge.tfrecord"
    path.write_bytes(head + struct.pack("<I", tfrecords.masked_crc32c(head)) + b"x" * 10)
    with pytest.raises(
        DataError,
        match=r"record 0 \(byte 0 of the file\): its length field "
        r"says 1099511627776 bytes",
    ):
        list(tfrecords.read_file(str(path)))
