"""TFRecord files read record by record, every byte checked, streaming.

TensorFlow's and Beam's readers take some damage for a clean end of file (a
gzip or zlib stream cut off, a cut inside a record's header), so a truncated
file would silently train on its first part. This reader checks the framing
of every record (uint64 length, masked crc32c of the length, data, masked
crc32c of the data), that a compressed stream reaches its end marker (and its
own checksum), and that nothing is left over; any fault is a DataError naming
the file, the record and its byte offset. It holds one chunk and one record
in memory, never the file.
"""
from __future__ import annotations

import struct
import zlib
from typing import Iterator

import google_crc32c

from ingestion.errors import DataError

CHUNK = 1 << 20
PIECE = 1 << 12  # compressed bytes inflated at a time
HEADER = 12  # uint64 length + masked crc32c of the length
FOOTER = 4  # masked crc32c of the data
MAX_RECORD = 1 << 30  # no image's tf.Example is larger; beyond it the length is not believed
WBITS = {"GZIP": 16 + zlib.MAX_WBITS, "ZLIB": zlib.MAX_WBITS}
FIX = ("the file is damaged: copy it again from its source, or leave it out of --data")


def masked_crc32c(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def is_header(head: bytes) -> bool:
    """Whether `head` is a whole record header whose length passes its checksum."""
    return len(head) >= HEADER and masked_crc32c(head[:8]) == struct.unpack_from("<I", head, 8)[0]


class _Damaged(Exception):
    """A fault in the bytes, before the record it hit is known."""


def _chunks(path: str, compression: str) -> Iterator[bytes]:
    """The file's (decompressed) bytes in chunks; _Damaged when a compressed
    stream is corrupt or ends before its end marker. Compressed input goes in
    small pieces, so the records before a fault are checked before it is met."""
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "rb") as f:
        if not compression:
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    return
                yield chunk
        inflater = zlib.decompressobj(WBITS[compression])
        pending = b""
        while True:
            if not pending:
                pending = f.read(CHUNK)
                if not pending:
                    break
            piece, pending = pending[:PIECE], pending[PIECE:]
            try:
                out = inflater.decompress(piece)
            except zlib.error as err:
                raise _Damaged(f"the {compression.lower()} data is corrupt at or after this record "
                               f"({err})") from None
            if out:
                yield out
            if inflater.eof:  # concatenated streams (gzip members) go on
                pending = inflater.unused_data + pending
                inflater = zlib.decompressobj(WBITS[compression])
                if not pending and not (pending := f.read(CHUNK)):
                    return
        if not inflater.eof:
            raise _Damaged(f"the {compression.lower()} stream is cut off before its end "
                           "(the file is truncated)")


def checked_records(path: str, compression: str = "") -> Iterator[tuple[int, int, bytes]]:
    """(index, byte offset, data) of every record; DataError on any damage.

    The offset is in the uncompressed bytes when the file is compressed."""
    where = "of the uncompressed data" if compression else "of the file"
    buffer = bytearray()
    pos = 0  # of `buffer[0]` in the stream
    index = 0
    chunks = _chunks(path, compression)

    def fail(problem: str) -> DataError:
        return DataError(f"{path}: record {index} (byte {pos} {where}): {problem}; "
                         f"{FIX}")

    def fill(need: int) -> bool:
        while len(buffer) < need:
            try:
                chunk = next(chunks)
            except StopIteration:
                return False
            except _Damaged as err:
                raise fail(str(err)) from None
            buffer.extend(chunk)
        return True

    while True:
        if not fill(1):
            return
        if not fill(HEADER):
            raise fail(f"cut off inside the record's header ({len(buffer)} of {HEADER} bytes; "
                       "the file is truncated)")
        length, length_crc = struct.unpack_from("<QI", buffer)
        if masked_crc32c(bytes(buffer[:8])) != length_crc:
            raise fail("its length field fails its checksum (corrupt bytes, or not a TFRecord "
                       "file)")
        if length > MAX_RECORD:
            raise fail(f"its length field says {length} bytes, more than any image's record "
                       f"({MAX_RECORD}); not a TFRecord file of images")
        if not fill(HEADER + length + FOOTER):
            raise fail(f"cut off inside the record ({len(buffer)} of {HEADER + length + FOOTER}"
                       " bytes; the file is truncated)")
        data = bytes(buffer[HEADER:HEADER + length])
        (data_crc,) = struct.unpack_from("<I", buffer, HEADER + length)
        if masked_crc32c(data) != data_crc:
            raise fail("its data fails its checksum (corrupt bytes)")
        yield index, pos, data
        del buffer[:HEADER + length + FOOTER]
        pos += HEADER + length + FOOTER
        index += 1
