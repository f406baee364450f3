"""Bad data that is only bad next to the rest of the data set, refused by name:
flat pixel lists of another length, labels that are no class ids, sources with
no examples. The checks on their own first, then through ingestion on Beam."""

from __future__ import annotations

import os
import re

import apache_beam as beam
import pytest
import tensorflow as tf

from ingestion import data_checks, sources
from ingestion.data_checks import Profile
from ingestion.errors import DataError
from ingestion.settings import IngestSettings
from ingestion.transforms import ImagesToExamples, ReadImages

IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _profile(labels=None, sizes=None):
    labels = labels or {0: (50, "f: record 1"), 1: (50, "f: record 0")}
    sizes = sizes or {(8, 8): (100, "f: record 0")}
    return Profile(labels, sizes, 0.0, sum(n for n, _ in sizes.values()))


def test_tally_keeps_the_same_record_whatever_the_order():
    a, b = {}, {}
    for where in ("f: record 7", "f: record 2", "f: record 5"):
        data_checks.tally(a, 42, where)
    for where in ("f: record 5", "f: record 7", "f: record 2"):
        data_checks.tally(b, 42, where)
    assert a == b == {42: [3, "f: record 2"]}
    merged = {}
    data_checks.merge(merged, {42: (1, "g: record 0")})
    data_checks.merge(merged, a)
    assert merged == {42: [4, "f: record 2"]}


def test_a_flat_list_of_another_length_names_its_record_and_image_shape(tmp_path):
    path = tmp_path / "d.tfrecord"
    path.write_bytes(b"")
    settings = IngestSettings(data=str(path))
    sizes = {(8, 8): (599, "d: record 0"), (10, 10): (1, "d: record 123")}
    with pytest.raises(DataError) as err:
        data_checks.checked(_profile(sizes=sizes), settings)
    assert str(err.value) == (
        "d: record 123: feature 'pixels' has 100 values, but 599 of the 600 records have 64 "
        "(8x8); a flat pixel list has no shape of its own, and other lengths are: 100 "
        "(1 record); fix or leave out those records, or set image_shape=H,W (or H,W,C) to "
        "the shape every record has"
    )


@pytest.mark.parametrize(
    "settings, kind",
    [
        ({"pixel_encoding": "encoded"}, "tfrecord"),  # encoded images have their own size
        ({}, "folder"),
    ],
)
def test_images_of_several_sizes_are_fine_when_they_have_a_size_of_their_own(settings, kind):
    sizes = {(8, 8): (599, "d: record 0"), (10, 10): (1, "d: record 123")}
    data_checks.check_flat_sizes(_profile(sizes=sizes), IngestSettings(**settings), kind)


@pytest.mark.parametrize(
    "labels, message",
    [
        (
            {**{i: (60, f"f: record {i}") for i in range(10)}, 42: (1, "f: record 321")},
            "f: record 321: label 42: class ids must be 0..K-1 with none missing, but no example "
            "has the id(s) 10-41, and 1 record has it; fix the label(s)",
        ),
        (
            {**{i: (60, f"f: record {i}") for i in range(10)}, -1: (2, "f: record 5")},
            "f: record 5: label -1: class ids must be 0 or more, and 2 records have it; "
            "fix the label(s)",
        ),
        (
            {0: (60, "a"), 1: (60, "b"), 3: (60, "f: record 9"), "7": (3, "f: record 4")},
            "f: record 4: label 7: class ids must be 0..K-1 with none missing, but no example has "
            "the id(s) 2, 4-6, and 3 records have it (other ids past the gap: 3)",
        ),
    ],
)
def test_every_label_error_names_a_record_with_the_label(labels, message):
    with pytest.raises(DataError) as err:
        data_checks.class_names(labels, IngestSettings(data="d"))
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)  # one line: found again after Beam's process boundary


@pytest.mark.parametrize(
    "make, labels, message",
    [
        (
            os.mkdir,
            {"5": (40, "d/5/a.png")},
            "--data d: every example has the label '5' (40 records, e.g. d/5/a.png); a "
            "classifier needs at least two classes: give each class a folder of its own under d/",
        ),
        (
            lambda path: open(path, "wb").close(),
            {7: (40, "d: record 0")},
            "--data d: every example has the label '7' (40 records, e.g. d: record 0); a "
            "classifier needs at least two classes: check the `label_feature` setting "
            "(now 'label') or the data",
        ),
    ],
)
def test_one_class_names_the_source_and_a_record(make, labels, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make("d")
    with pytest.raises(DataError) as err:
        data_checks.class_names(labels, IngestSettings(data="d"))
    assert str(err.value) == message


def test_good_labels_give_the_classes_in_order():
    labels = {i: (5, f"r{i}") for i in (2, 0, 1)}
    assert data_checks.class_names(labels, IngestSettings()) == ["0", "1", "2"]
    names = {"dog": (3, "x"), "cat": (4, "y")}
    assert data_checks.class_names(names, IngestSettings()) == ["cat", "dog"]
    assert data_checks.class_names(names, IngestSettings(classes=("dog", "cat"))) == ["dog", "cat"]
    with pytest.raises(DataError, match="setting 'classes': 1 class"):
        data_checks.class_names(names, IngestSettings(classes=("dog",)))


def _write(path, records):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for pixels, label in records:
            writer.write(
                tf.train.Example(
                    features=tf.train.Features(
                        feature={
                            "pixels": tf.train.Feature(int64_list=tf.train.Int64List(value=pixels)),
                            "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                        }
                    )
                ).SerializeToString()
            )
    return str(path)


def _ingest(settings: IngestSettings):
    with beam.Pipeline(argv=IN_MEMORY) as pipeline:
        raw, skipped = pipeline | ReadImages(settings)
        _ = raw | ImagesToExamples(settings, skipped)


def _digits(n, first=0):
    return [(list(range(i % 7, i % 7 + 64)), (first + i) % 10) for i in range(n)]


def test_a_longer_list_in_another_file_is_refused_on_beam(tmp_path):
    _write(tmp_path / "a.tfrecord", _digits(100))
    rows = _digits(50)
    rows[17] = ([1] * 100, 3)
    bad = _write(tmp_path / "b.tfrecord", rows)
    with pytest.raises(
        DataError,
        match=rf"^{re.escape(bad)}: record 17: feature 'pixels' has 100 values, "
        r"but 149 of the 150 records have 64 \(8x8\).*set image_shape=H,W",
    ):
        _ingest(IngestSettings(data=str(tmp_path / "*.tfrecord")))
    # Given image_shape, each record is held to it as it is read.
    with pytest.raises(
        DataError,
        match=rf"{re.escape(bad)}: record 17: .*has 100 values, expected 64 for "
        "image_shape 8,8,1",
    ):
        _ingest(IngestSettings(data=str(tmp_path / "*.tfrecord"), image_shape="8,8"))


@pytest.mark.parametrize(
    "label, match",
    [
        (
            42,
            r"record 33: label 42: class ids must be 0..K-1 with none missing, but no example has "
            r"the id\(s\) 10-41",
        ),
        (-1, r"record 33: label -1: class ids must be 0 or more"),
    ],
)
def test_a_bad_label_is_named_by_file_and_record_on_beam(tmp_path, label, match):
    rows = _digits(100)
    rows[33] = (rows[33][0], label)
    path = _write(tmp_path / "labels.tfrecord", rows)
    with pytest.raises(DataError, match=f"^{re.escape(path)}: {match}"):
        _ingest(IngestSettings(data=path))


def test_empty_sources_name_their_path(tmp_path):
    (tmp_path / "empty.tfrecord").write_bytes(b"")
    (tmp_path / "empty2.tfrecord").write_bytes(b"")
    pattern = str(tmp_path / "*.tfrecord")
    with pytest.raises(
        DataError,
        match=rf"^--data {re.escape(pattern)}: the TFRecord file\(s\) it names "
        "hold no records",
    ):
        _ingest(IngestSettings(data=pattern))

    folder = tmp_path / "folder"
    for name in ("cat", "dog"):
        (folder / name).mkdir(parents=True)
    (folder / "cat" / "notes.txt").write_text("not an image")
    with pytest.raises(
        DataError,
        match=rf"^{re.escape(str(folder))}: no images in its class folders; 1 file\(s\) "
        rf"there are not images by their name's suffix; put the images .* in "
        rf"{re.escape(str(folder))}/<class>/",
    ):
        _ingest(IngestSettings(data=str(folder)))


def test_sources_that_cannot_be_read_say_what_would_fix_them(tmp_path):
    with pytest.raises(
        DataError,
        match=r"no files match; give an image folder, a TFRecord file "
        "or a pattern",
    ):
        sources.check_source(str(tmp_path / "*.nomatch"))
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "a.png").write_bytes(b"")
    with pytest.raises(
        DataError,
        match=rf"^{re.escape(str(loose))}: no class folders \(its images lie loose in "
        rf"it\); put each class's images in a folder of their own: {re.escape(str(loose))}/<class>",
    ):
        sources.class_folders(str(loose))
    (tmp_path / ".hidden.tfrecord").write_bytes(b"")
    with pytest.raises(DataError, match=r"no TFRecord files match \(hidden files are left out\)"):
        sources.tfrecord_files(os.path.join(str(tmp_path), ".hidden*"))
