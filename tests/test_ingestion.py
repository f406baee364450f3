"""Data generation: pixels as image files hold them, slice features, a stable split."""
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from ingestion import examples, sources, split
from ingestion.errors import DataError


@pytest.fixture(scope="module")
def digits():
    return list(sources.digits_records(8))


def test_digits_are_8bit_images_with_labels(digits):
    assert len(digits) == 1797
    assert {r.label for r in digits} == set(range(10))
    pixels = np.stack([r.pixels for r in digits])
    assert pixels.dtype == np.uint8 and pixels.shape == (1797, 8, 8)
    assert pixels.max() == 255 and pixels.min() == 0
    # 0-16 scaled to 0-255: every value is a rounded multiple of 255/16.
    allowed = {int(round(v * 255 / 16)) for v in range(17)}
    assert set(np.unique(pixels)) <= allowed


def test_split_is_deterministic_stratified_and_disjoint(digits):
    a = split.split_records(digits, 20, seed=42)
    b = split.split_records(list(reversed(digits)), 20, seed=42)
    assert [r.key for r in a["eval"]] == [r.key for r in b["eval"]]
    assert len(a["eval"]) + len(a["train"]) == len(digits)
    assert not {r.key for r in a["eval"]} & {r.key for r in a["train"]}
    for label in range(10):
        n_all = sum(r.label == label for r in digits)
        n_eval = sum(r.label == label for r in a["eval"])
        assert abs(n_eval - 0.2 * n_all) <= 1
    other = split.split_records(digits, 20, seed=7)
    assert {r.key for r in other["eval"]} != {r.key for r in a["eval"]}


def test_ink_density_buckets_cover_the_data(digits):
    assert examples.ink_density(np.zeros((8, 8))) == "light"
    assert examples.ink_density(np.full((8, 8), 255)) == "heavy"
    counts = {b: 0 for b in examples.INK_BUCKETS}
    for r in digits:
        counts[examples.ink_density(r.pixels)] += 1
    assert all(c > 200 for c in counts.values()), counts


def test_example_carries_image_label_and_slice_feature(digits):
    ex = examples.to_example(digits[0])
    feats = ex.features.feature
    assert list(feats["pixels"].int64_list.value) == digits[0].pixels.reshape(-1).tolist()
    assert feats["label"].int64_list.value == [digits[0].label]
    assert feats["ink_density"].bytes_list.value[0].decode() in examples.INK_BUCKETS


def test_image_folder_any_size_and_mode(tmp_path):
    for label in ("0", "1"):
        (tmp_path / label).mkdir()
        for i in range(3):
            img = Image.new("RGB", (32, 20), (255, 255, 255) if label == "1" else (0, 0, 0))
            img.save(tmp_path / label / f"{i}.png")
    records = list(sources.folder_records(str(tmp_path), 8))
    assert len(records) == 6
    assert {r.label for r in records} == {0, 1}
    assert all(r.pixels.shape == (8, 8) for r in records)
    assert all(r.pixels.max() == 255 for r in records if r.label == 1)


def test_image_folder_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="no class folders"):
        list(sources.folder_records(str(tmp_path), 8))
    (tmp_path / "cats").mkdir()
    with pytest.raises(DataError, match="cats"):
        list(sources.folder_records(str(tmp_path), 8))
    (tmp_path / "cats").rmdir()
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="broken.png"):
        list(sources.folder_records(str(tmp_path), 8))


def test_tfrecords_round_trip_and_bad_records(tmp_path, digits):
    path = str(tmp_path / "d.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        for r in digits[:5]:
            w.write(examples.to_example(r).SerializeToString())
    back = list(sources.tfrecord_records(str(tmp_path / "*.tfrecord"), 8))
    assert [r.label for r in back] == [r.label for r in digits[:5]]
    assert np.array_equal(back[0].pixels, digits[0].pixels)
    with pytest.raises(DataError, match="image_size=16"):
        list(sources.tfrecord_records(path, 16))
    bad = str(tmp_path / "bad.tfrecord")
    with open(bad, "wb") as f:
        f.write(b"garbage" * 10)
    with pytest.raises(DataError, match="bad.tfrecord"):
        list(sources.tfrecord_records(bad, 8))


def test_check_source_names_missing_path(tmp_path):
    assert sources.check_source("digits") == "digits"
    assert sources.check_source(str(tmp_path)) == "folder"
    missing = os.path.join(str(tmp_path), "nope")
    with pytest.raises(DataError, match="nope"):
        sources.check_source(missing)
    with pytest.raises(DataError, match="no files match"):
        sources.check_source(os.path.join(str(tmp_path), "*.tfrecord"))
