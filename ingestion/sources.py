"""The sources `--data` names: the embedded digits, an image folder, TFRecord files.

Each yields `Record`s of 8-bit grayscale pixels at the configured size.
"""
from __future__ import annotations

import glob
import os
from typing import Iterator

import numpy as np

from ingestion.errors import DataError
from ingestion.examples import Record
from ingestion.images import IMAGE_SUFFIXES, load_image_file, to_uint8_image
from names import LABEL_KEY, RAW_IMAGE_KEY


def digits_records(size: int = 8) -> Iterator[Record]:
    """scikit-learn's bundled digits, scaled from 0-16 to 8-bit 0-255."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for index, (image, label) in enumerate(zip(digits.images, digits.target)):
        pixels = np.clip(np.rint(image * 255.0 / 16.0), 0, 255).astype(np.uint8)
        if size != pixels.shape[0]:
            from PIL import Image

            pixels = to_uint8_image(Image.fromarray(pixels), size)
        yield Record(pixels, int(label), f"digits-{index:05d}")


def folder_records(root: str, size: int) -> Iterator[Record]:
    """Images under root/<label>/, where <label> is a class id 0..N-1."""
    class_dirs = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not class_dirs:
        raise DataError(f"{root}: no class folders (expected {root}/<label>/<image>.png)")
    for name in class_dirs:
        if not name.isdigit():
            raise DataError(f"{os.path.join(root, name)}: class folder names must be "
                            "integer class ids (0, 1, ...)")
    found = 0
    for name in class_dirs:
        folder = os.path.join(root, name)
        for file in sorted(os.listdir(folder)):
            if not file.lower().endswith(IMAGE_SUFFIXES):
                continue
            path = os.path.join(folder, file)
            found += 1
            yield Record(load_image_file(path, size), int(name), os.path.relpath(path, root))
    if not found:
        raise DataError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)}) in its class folders")


def tfrecord_records(pattern: str, size: int) -> Iterator[Record]:
    """tf.Examples with `pixels` (int64, size*size) and `label` (int64)."""
    import tensorflow as tf

    files = sorted(glob.glob(pattern))
    if not files:
        raise DataError(f"{pattern}: no TFRecord files match")
    for path in files:
        compression = "GZIP" if path.endswith(".gz") else ""
        try:
            for i, raw in enumerate(tf.data.TFRecordDataset(path, compression_type=compression)):
                example = tf.train.Example.FromString(raw.numpy())
                feats = example.features.feature
                if RAW_IMAGE_KEY not in feats or LABEL_KEY not in feats:
                    raise DataError(f"{path}: record {i} lacks feature 'pixels' or 'label'")
                pixels = np.asarray(feats[RAW_IMAGE_KEY].int64_list.value, dtype=np.int64)
                if pixels.size != size * size:
                    raise DataError(f"{path}: record {i}: feature 'pixels' has {pixels.size} "
                                    f"values, expected {size * size} (image_size={size})")
                if pixels.min() < 0 or pixels.max() > 255:
                    raise DataError(f"{path}: record {i}: feature 'pixels' outside 0-255")
                label = feats[LABEL_KEY].int64_list.value
                if len(label) != 1:
                    raise DataError(f"{path}: record {i}: feature 'label' must hold one int64")
                yield Record(pixels.reshape(size, size).astype(np.uint8), int(label[0]),
                             f"{os.path.basename(path)}-{i:06d}")
        except tf.errors.OpError as err:
            raise DataError(f"{path}: not a readable TFRecord file ({err.message})") from None


def check_source(data: str) -> str:
    """Validates a --data value early; returns its kind: digits, folder or tfrecord."""
    if data == "digits":
        return "digits"
    if os.path.isdir(data):
        return "folder"
    if any(ch in data for ch in "*?[") or os.path.isfile(data):
        if not glob.glob(data):
            raise DataError(f"--data {data}: no files match")
        return "tfrecord"
    raise DataError(f"--data {data}: no such file or directory "
                    "(expected 'digits', an image folder, or TFRecord file(s))")


def read_records(data: str, size: int) -> Iterator[Record]:
    kind = check_source(data)
    if kind == "digits":
        return digits_records(size)
    if kind == "folder":
        return folder_records(data, size)
    return tfrecord_records(data, size)
