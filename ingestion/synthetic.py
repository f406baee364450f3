"""`tiedflow generate`: a deterministic data set of any size from the embedded digits.

Example i is digit i mod 1,797, shifted by up to one pixel (in 8x8 terms),
rotated by up to 10 degrees, with a little noise; optionally upscaled to
28x28, in colour (a random tint), and with named classes. The same arguments
always write the same images: tests and benchmarks rely on it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ingestion import sources

FORMATS = ("folder", "tfrecord")
CLASS_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
RECORDS_PER_FILE = 20_000
MIN_SHARDS_FROM = 10_000  # from this many examples on, at least two files: two readers


def variant(
    index: int, image_size: int = 8, colour: bool = False, seed: int = 0
) -> tuple[np.ndarray, int]:
    """(uint8 image (S, S) or (S, S, 3), label) of example `index`."""
    from PIL import Image

    pixels, label = sources.digit(index % sources.DIGITS_COUNT)
    rng = np.random.default_rng([seed, index])
    image = Image.fromarray(pixels).resize((image_size, image_size), Image.BILINEAR)
    angle = float(rng.uniform(-10, 10))
    step = image_size / 8.0
    dx, dy = (float(v) * step for v in rng.integers(-1, 2, size=2))
    image = image.rotate(angle, resample=Image.BILINEAR, translate=(dx, dy))
    out = np.asarray(image, dtype=np.float64)
    out = np.clip(out + rng.normal(0, 6.0, size=out.shape), 0, 255)
    if colour:
        tint = rng.uniform(0.5, 1.0, size=3)
        out = out[:, :, None] * tint[None, None, :]
    return np.rint(out).astype(np.uint8), label


def examples(
    n: int, image_size: int = 8, colour: bool = False, seed: int = 0
) -> Iterator[tuple[int, np.ndarray, int]]:
    for index in range(n):
        pixels, label = variant(index, image_size, colour, seed)
        yield index, pixels, label


def write_folder(out: str, n: int, image_size: int, colour: bool, names: bool, seed: int) -> int:
    from PIL import Image

    for index, pixels, label in examples(n, image_size, colour, seed):
        folder = os.path.join(out, CLASS_NAMES[label] if names else str(label))
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(pixels).save(os.path.join(folder, f"{index:07d}.png"))
    return n


def shards(n: int) -> tuple[int, int]:
    """(files, examples per file) for n examples: about RECORDS_PER_FILE each, and at
    least two from MIN_SHARDS_FROM on (one file is read by one Beam worker)."""
    files = max(1, -(-n // RECORDS_PER_FILE), 2 if n >= MIN_SHARDS_FROM else 1)
    return files, -(-n // files)


def write_tfrecords(
    out: str,
    n: int,
    image_size: int,
    colour: bool,
    names: bool,
    seed: int,
    pixel_encoding: str = "int",
) -> int:
    """Raw-schema tf.Examples (`pixels` int64, or with pixel_encoding="bytes" one
    bytes value of raw uint8 pixels; `label` int64 or the class name), in gzipped
    files as `shards` says."""
    for shard in range(shards(n)[0]):
        write_tfrecord_shard(out, n, shard, image_size, colour, names, seed, pixel_encoding)
    return n


def write_tfrecord_shard(
    out: str,
    n: int,
    shard: int,
    image_size: int = 8,
    colour: bool = False,
    names: bool = False,
    seed: int = 0,
    pixel_encoding: str = "int",
) -> str:
    """One of write_tfrecords' files (shards are independent: processes can write
    them side by side); returns its path."""
    import tensorflow as tf

    from names import LABEL_KEY, RAW_IMAGE_KEY

    os.makedirs(out, exist_ok=True)
    files, per_file = shards(n)
    path = os.path.join(out, f"data-{shard:05d}-of-{files:05d}.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for index in range(shard * per_file, min(n, (shard + 1) * per_file)):
            pixels, label = variant(index, image_size, colour, seed)
            label_feature = (
                tf.train.Feature(bytes_list=tf.train.BytesList(value=[CLASS_NAMES[label].encode()]))
                if names
                else tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))
            )
            if pixel_encoding == "bytes":
                image = tf.train.Feature(bytes_list=tf.train.BytesList(value=[pixels.tobytes()]))
            else:
                image = tf.train.Feature(
                    int64_list=tf.train.Int64List(value=pixels.reshape(-1).astype(np.int64))
                )
            writer.write(
                tf.train.Example(
                    features=tf.train.Features(
                        feature={RAW_IMAGE_KEY: image, LABEL_KEY: label_feature}
                    )
                ).SerializeToString()
            )
    return path


PIXEL_ENCODINGS = ("int", "bytes")  # of TFRecords: what `pixel_encoding` reads back


def generate(
    out: str,
    n: int,
    fmt: str,
    image_size: int = 8,
    colour: bool = False,
    names: bool = False,
    seed: int = 0,
    pixel_encoding: str = "int",
) -> int:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    if pixel_encoding not in PIXEL_ENCODINGS:
        raise ValueError(f"pixel_encoding must be one of {', '.join(PIXEL_ENCODINGS)}")
    if fmt == "folder":
        return write_folder(out, n, image_size, colour, names, seed)
    return write_tfrecords(out, n, image_size, colour, names, seed, pixel_encoding)
