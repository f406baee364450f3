"""Reading images into tf.Examples: the embedded digits, image folders, TFRecords.

Every source ends up in one schema, the way image files hold pixels:
`pixels` (int64, H*W values 0-255, row-major grayscale), `label` (int64),
and slice features computed from the pixels (`ink_density`).
"""
from __future__ import annotations

import glob
import hashlib
import os
from typing import Iterator, NamedTuple

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
INK_BUCKETS = ("light", "medium", "heavy")
# Mean ink (0-1) separating the buckets; chosen on the digits so that each
# bucket holds roughly a third of the examples.
INK_EDGES = (0.27, 0.33)


class DataError(ValueError):
    """Input data that cannot be used; the message names the file or setting."""


class Record(NamedTuple):
    pixels: np.ndarray  # uint8, shape (size, size)
    label: int
    key: str  # stable identifier, used for the deterministic split


def ink_density(pixels: np.ndarray) -> str:
    """Buckets an image by its mean ink: a slice feature for the evaluation."""
    mean = float(np.asarray(pixels, dtype=np.float64).mean()) / 255.0
    if mean < INK_EDGES[0]:
        return INK_BUCKETS[0]
    if mean < INK_EDGES[1]:
        return INK_BUCKETS[1]
    return INK_BUCKETS[2]


def to_uint8_image(image, size: int) -> np.ndarray:
    """Converts a PIL image of any size and mode to a (size, size) uint8 array."""
    from PIL import Image

    gray = image.convert("L")
    if gray.size != (size, size):
        gray = gray.resize((size, size), Image.BILINEAR)
    return np.asarray(gray, dtype=np.uint8)


def load_image_file(path: str, size: int) -> np.ndarray:
    """Reads one image file; raises DataError naming the file if it is unusable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return to_uint8_image(image, size)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{path}: not a readable image ({err})") from None


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
                if "pixels" not in feats or "label" not in feats:
                    raise DataError(f"{path}: record {i} lacks feature 'pixels' or 'label'")
                pixels = np.asarray(feats["pixels"].int64_list.value, dtype=np.int64)
                if pixels.size != size * size:
                    raise DataError(f"{path}: record {i}: feature 'pixels' has {pixels.size} "
                                    f"values, expected {size * size} (image_size={size})")
                if pixels.min() < 0 or pixels.max() > 255:
                    raise DataError(f"{path}: record {i}: feature 'pixels' outside 0-255")
                label = feats["label"].int64_list.value
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


def split_records(records: list[Record], eval_percent: int, seed: int) -> dict[str, list[Record]]:
    """Deterministic split, stratified by label: same data and seed, same split."""
    by_label: dict[int, list[Record]] = {}
    for rec in records:
        by_label.setdefault(rec.label, []).append(rec)
    splits: dict[str, list[Record]] = {"train": [], "eval": []}
    for label in sorted(by_label):
        group = sorted(by_label[label],
                       key=lambda r: hashlib.sha256(f"{seed}:{r.key}".encode()).hexdigest())
        n_eval = int(round(len(group) * eval_percent / 100.0))
        splits["eval"].extend(group[:n_eval])
        splits["train"].extend(group[n_eval:])
    for name, part in splits.items():
        if not part:
            raise DataError(f"the {name} split is empty: {len(records)} examples are too few "
                            f"for eval_percent={eval_percent}")
    return splits


def to_example(rec: Record):
    """Serializes one record in the pipeline's raw schema."""
    import tensorflow as tf

    flat = rec.pixels.reshape(-1).astype(np.int64)
    feature = {
        "pixels": tf.train.Feature(int64_list=tf.train.Int64List(value=flat)),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[rec.label])),
        "ink_density": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[ink_density(rec.pixels).encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))
