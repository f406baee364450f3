"""The sources `--data` names: the embedded digits, an image folder, TFRecord files.

`check_source` tells which kind a `--data` value is (before anything heavy
loads); the listings here are what a Beam pipeline needs to know up front
(class folders, TFRecord files). Reading the images themselves happens in
parallel, in ingestion.transforms.
"""

from __future__ import annotations

import functools
import glob
import os
from collections.abc import Iterator

import numpy as np

from ingestion.errors import DataError
from ingestion.examples import Record
from ingestion.images import is_image_name, to_uint8_image

DIGITS_COUNT = 1797
REMOTE = ("gs://",)


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def _is_dir(path: str) -> bool:
    return _gfile().isdir(path) if path.startswith(REMOTE) else os.path.isdir(path)


def _glob(pattern: str) -> list[str]:
    return sorted(_gfile().glob(pattern) if pattern.startswith(REMOTE) else glob.glob(pattern))


def check_source(data: str) -> str:
    """Validates a --data value early; returns its kind: digits, folder or tfrecord."""
    if data == "digits":
        return "digits"
    if _is_dir(data):
        return "folder"
    if any(ch in data for ch in "*?[") or data.startswith(REMOTE) or os.path.isfile(data):
        if not _glob(data):
            raise DataError(
                f"--data {data}: no files match; give an image folder, a TFRecord "
                "file or a pattern that matches TFRecord files (quote a pattern "
                "so that the shell leaves it alone)"
            )
        return "tfrecord"
    raise DataError(
        f"--data {data}: no such file or directory "
        "(expected 'digits', an image folder, or TFRecord file(s))"
    )


@functools.lru_cache(maxsize=1)
def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.clip(np.rint(digits.images * 255.0 / 16.0), 0, 255).astype(np.uint8)
    return pixels, digits.target.astype(np.int64)


def digit(index: int) -> tuple[np.ndarray, int]:
    """One of scikit-learn's bundled digits: (8 x 8 uint8 scaled from 0-16 to 0-255, label)."""
    pixels, labels = _digits()
    return pixels[index], int(labels[index])


def digits_records(size: int = 8) -> Iterator[Record]:
    """The bundled digits as Records at `size` (tests, benchmarks, the generator)."""
    from PIL import Image

    for index in range(DIGITS_COUNT):
        pixels, label = digit(index)
        if size != pixels.shape[0]:
            pixels = to_uint8_image(Image.fromarray(pixels), size)
        yield Record(pixels, label, f"digits-{index:05d}")


def class_folders(root: str) -> list[str]:
    """The class folders under `root` (hidden ones left out), in class-id order:
    numerically when every name is a number, else alphabetically."""
    gfile = _gfile()
    names = [n.rstrip("/") for n in gfile.listdir(root)]
    names = [n for n in names if not n.startswith(".") and gfile.isdir(os.path.join(root, n))]
    if not names:
        loose = any(is_image_name(n) for n in gfile.listdir(root))
        raise DataError(
            f"{root}: no class folders"
            + (" (its images lie loose in it)" if loose else "")
            + f"; put each class's images in a folder of their own: "
            f"{root}/<class>/<image>.png"
        )
    return class_order(names)


def class_order(names) -> list[str]:
    names = sorted(set(str(n) for n in names))
    if all(n.isdigit() for n in names):
        return sorted(names, key=int)
    return names


def tfrecord_files(pattern: str) -> list[str]:
    files = [f for f in _glob(pattern) if not os.path.basename(f).startswith(".")]
    if not files:
        raise DataError(
            f"--data {pattern}: no TFRecord files match (hidden files are left "
            "out); give TFRecord files of tf.Examples"
        )
    return files


def estimated_examples(data: str) -> int | None:
    """About how many examples a local `--data` source holds, without reading it
    all: image files in a folder; for TFRecords, the bytes on disk times the
    records per byte of the first file's first 4 MB. None for the embedded
    digits and remote data."""
    if data == "digits" or data.startswith(REMOTE):
        return None
    if os.path.isdir(data):
        return sum(
            1
            for folder, dirs, files in _visible_walk(data)
            for name in files
            if is_image_name(name)
        )
    from ingestion.tfrecords import records_per_byte

    files = tfrecord_files(data)
    return round(sum(os.path.getsize(f) for f in files) * records_per_byte(files[0]))


def _visible_walk(root: str):
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        yield folder, dirs, [f for f in files if not f.startswith(".")]
