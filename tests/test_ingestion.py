"""Ingestion: sources read on Beam, classes from the data, a stable stratified split,
TFRecords from elsewhere, and bad input named by file, record and feature."""

import io
import json
import os
from unittest import mock

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from ingestion import examples, sources, split, synthetic, tfrecords
from ingestion.errors import DataError
from ingestion.settings import IngestSettings
from ingestion.transforms import ImagesToExamples, RawImage, ReadImages

IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


@pytest.fixture(scope="module")
def digits():
    return list(sources.digits_records(8))


def _decode(serialized):
    feats = tf.train.Example.FromString(serialized).features.feature
    return (
        feats["label"].int64_list.value[0],
        tuple(feats["pixels"].int64_list.value),
        feats["ink_density"].bytes_list.value[0].decode(),
    )


def _dump(items, path):
    with open(path, "w") as f:
        json.dump(items, f)


def ingest(settings, argv=IN_MEMORY, raw_images=None):
    """Runs ingestion on Beam: ({split: [(label, pixels, ink)]}, summary)."""
    import tempfile

    from ingestion.transforms import DataSummary

    out = tempfile.mkdtemp()
    with beam.Pipeline(argv=argv) as pipeline:
        reread = None
        if raw_images is None:
            raw, skipped = pipeline | ReadImages(settings)
            reread = lambda label: (pipeline | label >> ReadImages(settings))[0]  # noqa: E731
        else:
            raw, skipped = pipeline | beam.Create(raw_images), None
        splits, summary = raw | ImagesToExamples(settings, skipped, reread=reread)
        for name, part in splits.items():
            _ = (
                part
                | f"Decode[{name}]" >> beam.Map(_decode)
                | f"All[{name}]" >> beam.combiners.ToList()
                | f"Dump[{name}]" >> beam.Map(_dump, os.path.join(out, name))
            )
        _ = (
            summary
            | beam.Map(lambda s: s.to_json())
            | beam.Map(lambda text: open(os.path.join(out, "summary"), "w").write(text))
        )
    got = {}
    for name in ("train", "eval"):
        with open(os.path.join(out, name)) as f:
            got[name] = [(label, tuple(pixels), ink) for label, pixels, ink in json.load(f)]
    with open(os.path.join(out, "summary")) as f:
        summary = DataSummary.from_json(f.read())
    return got, summary


def test_digits_are_8bit_images_with_labels(digits):
    assert len(digits) == 1797
    assert {r.label for r in digits} == set(range(10))
    pixels = np.stack([r.pixels for r in digits])
    assert pixels.dtype == np.uint8 and pixels.shape == (1797, 8, 8)
    assert pixels.max() == 255 and pixels.min() == 0
    # 0-16 scaled to 0-255: every value is a rounded multiple of 255/16.
    allowed = {int(round(v * 255 / 16)) for v in range(17)}
    assert set(np.unique(pixels)) <= allowed


def test_split_per_class_share_at_18k_examples():
    records = [examples.Record(np.zeros(1), i % 10, f"file-{i:06d}.png") for i in range(18_000)]
    parts = split.split_records(records, 20, seed=42)
    for label in range(10):
        n_eval = sum(r.label == label for r in parts["eval"])
        assert n_eval == 360  # exactly round(1,800 x 20%) per class
    assert not {r.key for r in parts["eval"]} & {r.key for r in parts["train"]}
    shuffled = split.split_records(records[::-1], 20, seed=42)
    assert {r.key for r in shuffled["eval"]} == {r.key for r in parts["eval"]}
    assert {r.key for r in split.split_records(records, 20, seed=7)["eval"]} != {
        r.key for r in parts["eval"]
    }


def test_a_class_past_the_exact_limit_is_split_by_hash_range_near_its_share():
    n = 3 * split.EXACT_SPLIT_LIMIT
    records = [examples.Record(np.zeros(1), 0, f"big-{i:06d}.png") for i in range(n)]
    records += [examples.Record(np.zeros(1), 1, f"small-{i:06d}.png") for i in range(100)]
    parts = split.split_records(records, 20, seed=42)
    big_eval = {r.key for r in parts["eval"] if r.label == 0}
    sd = (n * 0.2 * 0.8) ** 0.5
    assert abs(len(big_eval) - 0.2 * n) < 4 * sd  # the share, within sampling error
    assert sum(r.label == 1 for r in parts["eval"]) == 20  # a small class: exact
    # The threshold picks nearly what the exact rule would (uniform hashes).
    hashes = sorted(split.split_hash(42, r.key) for r in records if r.label == 0)
    exact = set(hashes[: round(n * 0.2)])
    by_range = {split.split_hash(42, key) for key in big_eval}
    assert len(exact ^ by_range) < 4 * sd


def test_class_hashes_accumulator_stops_growing_at_the_exact_limit():
    from ingestion.transforms import _ClassHashes

    fn = _ClassHashes()
    small = fn.create_accumulator()
    for i in range(10):
        small = fn.add_input(small, f"{i:064x}")
    big = fn.create_accumulator()
    for i in range(split.EXACT_SPLIT_LIMIT + 1000):
        big = fn.add_input(big, f"{i:064x}")
    assert big == [split.EXACT_SPLIT_LIMIT + 1000, None]  # a count, no hashes
    assert fn.merge_accumulators([small, small]) == [20, small[1] + small[1]]
    half = fn.create_accumulator()
    for i in range(split.EXACT_SPLIT_LIMIT // 2 + 1):
        half = fn.add_input(half, f"{i:064x}")
    assert fn.merge_accumulators([half, half]) == [2 * len(half[1]), None]
    assert fn.merge_accumulators([small, big])[1] is None


def test_the_beam_split_of_a_large_class_is_the_in_memory_split():
    """ImageExampleGen's pass and split.split_records agree past the exact limit."""
    n = split.EXACT_SPLIT_LIMIT + 904
    pixels = np.zeros((8, 8, 1), np.uint8)
    raw = [RawImage(f"k{i:05d}", i % 2, pixels, False, f"k{i:05d}") for i in range(2 * n)]
    got, summary = ingest(IngestSettings(), raw_images=raw)
    records = [examples.Record(np.zeros(1), r.label, r.key) for r in raw]
    want = split.split_records(records, 20, seed=42)
    assert summary.counts["eval"] == [sum(r.label == c for r in want["eval"]) for c in range(2)]
    assert len(got["eval"]) == len(want["eval"]) and len(got["train"]) == len(want["train"])


def test_split_does_not_depend_on_order_or_worker_count(digits):
    raw = [RawImage(r.key, r.label, r.pixels[:, :, None], False, r.key) for r in digits]
    settings = IngestSettings()
    one, summary = ingest(settings, raw_images=raw)
    two, _ = ingest(
        settings,
        raw_images=raw[::-1],
        argv=["--direct_running_mode=multi_threading", "--direct_num_workers=2"],
    )
    for name in ("train", "eval"):
        assert sorted(one[name]) == sorted(two[name])
    counts = summary.counts["eval"]
    assert counts == [round(n * 0.2) for n in np.bincount([r.label for r in digits])]


def test_embedded_digits_ink_slices_from_training_tertiles():
    got, summary = ingest(IngestSettings())
    assert summary.class_names == [str(i) for i in range(10)]
    assert summary.image_shape == (8, 8, 1)
    shares = {
        b: sum(ink == b for _, _, ink in got["train"]) / len(got["train"])
        for b in examples.INK_BUCKETS
    }
    assert all(0.25 < s < 0.42 for s in shares.values()), shares


def test_image_folder_with_named_classes_colour_and_leftovers(tmp_path):
    root = tmp_path / "data"
    synthetic.generate(str(root), 60, "folder", image_size=28, colour=True, names=True)
    (root / ".DS_Store").write_bytes(b"\0")
    (root / ".ipynb_checkpoints").mkdir()
    (root / "zero" / "README").write_text("notes")
    (root / "one" / ".hidden.png").write_bytes(b"not read")
    got, summary = ingest(IngestSettings(data=str(root)))
    assert summary.class_names == sorted(synthetic.CLASS_NAMES)
    assert summary.image_shape == (28, 28, 3)
    assert summary.skipped_files == 2
    assert len(got["train"]) + len(got["eval"]) == 60
    assert all(len(pixels) == 28 * 28 * 3 for _, pixels, _ in got["eval"])


def test_image_size_and_channels_settings_convert_every_image(tmp_path):
    root = tmp_path / "data"
    synthetic.generate(str(root), 40, "folder", image_size=28, colour=True)
    got, summary = ingest(IngestSettings(data=str(root), image_size=12, channels=1))
    assert summary.image_shape == (12, 12, 1)
    assert summary.class_names == [str(i) for i in range(10)]  # numeric folders are ids
    assert {len(p) for _, p, _ in got["train"]} == {144}


def _write(path, records, compression=""):
    with tf.io.TFRecordWriter(str(path), options=compression) as writer:
        for rec in records:
            writer.write(rec.SerializeToString())


def _example(**features):
    feature = {}
    for name, value in features.items():
        if isinstance(value, bytes):
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        elif isinstance(value, float) or (isinstance(value, list) and isinstance(value[0], float)):
            feature[name] = tf.train.Feature(
                float_list=tf.train.FloatList(value=value if isinstance(value, list) else [value])
            )
        else:
            feature[name] = tf.train.Feature(
                int64_list=tf.train.Int64List(value=value if isinstance(value, list) else [value])
            )
    return tf.train.Example(features=tf.train.Features(feature=feature))


def test_tfrecords_with_other_feature_names_and_float_pixels(tmp_path, digits):
    # gzipped, although the name says nothing: compression comes from the content.
    _write(
        tmp_path / "mnist-like.tfrecord",
        [
            _example(
                image_floats=[float(v) / 255 - 0.5 for v in r.pixels.reshape(-1)],
                image_class=r.label,
            )
            for r in digits[:200]
        ],
        "GZIP",
    )
    assert tfrecords.detect_compression(str(tmp_path / "mnist-like.tfrecord")) == "GZIP"
    settings = IngestSettings(
        data=str(tmp_path / "*.tfrecord"),
        image_feature="image_floats",
        label_feature="image_class",
        pixel_encoding="float",
        pixel_range="-0.5,0.5",
    )
    got, summary = ingest(settings)
    assert summary.image_shape == (8, 8, 1)
    by_pixels = {tuple(int(v) for v in r.pixels.reshape(-1)): r.label for r in digits[:200]}
    for label, pixels, _ in got["train"] + got["eval"]:
        assert by_pixels[pixels] == label  # the range mapped back to the same 8-bit values


def test_tfrecords_with_encoded_png_and_string_labels(tmp_path, digits):
    records = []
    for r in digits[:100]:
        png = io.BytesIO()
        Image.fromarray(r.pixels).resize((16, 16)).save(png, format="PNG")
        records.append(_example(image=png.getvalue(), name=synthetic.CLASS_NAMES[r.label].encode()))
    _write(tmp_path / "encoded.gz", records)  # named .gz, not compressed
    assert tfrecords.detect_compression(str(tmp_path / "encoded.gz")) == ""
    got, summary = ingest(
        IngestSettings(
            data=str(tmp_path / "encoded.gz"),
            image_feature="image",
            label_feature="name",
            pixel_encoding="encoded",
        )
    )
    assert summary.class_names == sorted(synthetic.CLASS_NAMES)
    assert summary.image_shape == (16, 16, 1)


def test_tfrecords_of_raw_bytes_decode_in_batches_as_one_by_one(tmp_path, digits):
    """Raw uint8 bytes are decoded a batch at a time; a record of the wrong size makes
    its batch go one by one, which names it."""
    records = [_example(pixels=r.pixels.tobytes(), label=r.label) for r in digits[:300]]
    path = tmp_path / "raw.tfrecord"
    _write(path, records)
    settings = IngestSettings(data=str(path), pixel_encoding="bytes", image_shape="8,8")
    got = [
        (label, pixels.shape, pixels.tobytes())
        for _, label, pixels, _ in tfrecords.read_images(str(path), settings)
    ]
    assert got == [(r.label, (8, 8, 1), r.pixels.tobytes()) for r in digits[:300]]
    records[150] = _example(pixels=b"\0" * 60, label=1)
    _write(path, records)
    with pytest.raises(DataError, match=r"raw.tfrecord: record 150: .*60 values, expected 64"):
        list(tfrecords.read_images(str(path), settings))


@pytest.mark.parametrize(
    "make, settings, message",
    [
        (
            lambda r: _example(image=[1] * 64, label=r.label),
            {},
            r"record 0: no feature 'pixels' \(the record has: image, label\); set image_feature=",
        ),
        (
            lambda r: _example(pixels=[float("nan")] * 64, label=r.label),
            {"pixel_encoding": "float"},
            "NaN or infinite",
        ),
        (lambda r: _example(pixels=[300] * 64, label=r.label), {}, "outside pixel_range 0,255"),
        (lambda r: _example(pixels=[1] * 60, label=r.label), {}, "60 values, not a square image"),
        (lambda r: _example(pixels=[1] * 64, label=-1), {}, "class ids must be 0 or more"),
        (
            lambda r: _example(pixels=[1] * 64, label=r.label),
            {"classes": ("0", "1")},
            "is not among the classes",
        ),
        (lambda r: _example(pixels=[1] * 64, label=r.label * 2), {}, "none missing"),
        (lambda r: _example(pixels=[1] * 64, label=0), {}, "at least two"),
    ],
)
def test_bad_records_are_named(tmp_path, digits, make, settings, message):
    _write(tmp_path / "bad.tfrecord", [make(r) for r in digits[:40]])
    with pytest.raises(DataError, match=message) as err:
        ingest(IngestSettings(data=str(tmp_path / "bad.tfrecord"), **settings))
    if "record" in message:
        assert "bad.tfrecord" in str(err.value)


def test_a_class_too_small_to_split_is_named(tmp_path):
    root = tmp_path / "data"
    for name, count in (("cat", 10), ("dog", 1)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.new("L", (8, 8), 40 * i).save(root / name / f"{i}.png")
    with pytest.raises(DataError, match="class 'dog' has 1 example"):
        ingest(IngestSettings(data=str(root)))


def test_unreadable_image_and_tfrecord_files_are_named(tmp_path):
    root = tmp_path / "data"
    synthetic.generate(str(root), 20, "folder")
    (root / "3" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="broken.png: not a readable image"):
        ingest(IngestSettings(data=str(root)))
    garbage = tmp_path / "garbage.tfrecord"
    garbage.write_bytes(b"garbage" * 10)
    with pytest.raises(
        DataError,
        match=r"garbage.tfrecord: record 0 \(byte 0 of the file\): "
        "its length field fails its checksum",
    ):
        ingest(IngestSettings(data=str(garbage)))


def test_check_source_names_missing_path(tmp_path):
    assert sources.check_source("digits") == "digits"
    assert sources.check_source(str(tmp_path)) == "folder"
    missing = os.path.join(str(tmp_path), "nope")
    with pytest.raises(DataError, match="nope"):
        sources.check_source(missing)
    with pytest.raises(DataError, match="no files match"):
        sources.check_source(os.path.join(str(tmp_path), "*.tfrecord"))


def test_generator_is_deterministic(tmp_path):
    a, b = synthetic.variant(5, 28, colour=True), synthetic.variant(5, 28, colour=True)
    assert np.array_equal(a[0], b[0]) and a[0].shape == (28, 28, 3) and a[1] == 5
    assert not np.array_equal(synthetic.variant(5 + 1797, 28)[0], synthetic.variant(5, 28)[0])
    synthetic.generate(str(tmp_path / "t"), 30, "tfrecord", names=True)
    (path,) = tf.io.gfile.glob(str(tmp_path / "t" / "*"))
    first = next(iter(tf.data.TFRecordDataset(path, compression_type="GZIP")))
    feats = tf.train.Example.FromString(first.numpy()).features.feature
    assert (
        feats["label"].bytes_list.value == [b"zero"] and len(feats["pixels"].int64_list.value) == 64
    )


def test_generator_writes_several_files_for_parallel_readers():
    assert synthetic.shards(9_999) == (1, 9_999)
    assert synthetic.shards(10_000) == (2, 5_000)
    assert synthetic.shards(18_000) == (2, 9_000)
    assert synthetic.shards(180_000) == (9, 20_000)
    for n in (10_000, 40_001, 100_001, 1_000_003):
        files, per_file = synthetic.shards(n)
        assert (files - 1) * per_file < n <= files * per_file  # no file left empty


@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 3)])
def test_batch_encoding_gives_the_examples_to_example_gives(shape):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (300,) + shape).astype(np.uint8)
    pixels[:100] = rng.integers(0, 256, (100, 1, 1, 1))  # flat images: inks repeat
    labels = [int(v) for v in rng.integers(0, 10, 300)]
    edges = (examples.mean_ink(pixels[3]), examples.mean_ink(pixels[150]))  # inks on an edge
    for got, image, label in zip(
        examples.serialized_examples(pixels, labels, edges), pixels, labels
    ):
        assert tf.train.Example.FromString(got) == examples.to_example(
            examples.Record(image, label, "key"), edges
        )


def test_splits_are_written_shuffled_through_files_and_whole(tmp_path):
    """WriteShuffled: every example once, in ceil(n / RECORDS_PER_SHARD) files, each a
    mix of the input's order; nothing left in the temporary folder."""
    from ingestion import shuffled_write

    n = 5_000
    examples = [f"example-{i:05d}".encode() for i in range(n)]  # in order, like sorted data
    out, temp = tmp_path / "Split-train", tmp_path / "temp"
    temp.mkdir()
    with mock.patch.object(shuffled_write, "RECORDS_PER_SHARD", 1_000):
        with beam.Pipeline(argv=IN_MEMORY) as pipeline:
            count = beam.pvalue.AsSingleton(pipeline | "Count" >> beam.Create([n]))
            _ = (
                pipeline
                | beam.Create(examples)
                | shuffled_write.WriteShuffled(str(out), str(temp), count, seed=3)
            )
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"data_tfrecord-{i:05d}-of-00005.gz" for i in range(5)]
    assert not list(temp.iterdir())
    got = [[record for _, record in tfrecords.read_file(str(f))] for f in files]
    assert sorted(r for part in got for r in part) == examples
    for part in got:
        assert 500 < len(part) < 1_500
        assert part != sorted(part)  # shuffled, not in the input's order
        assert {int(r[-5:]) * 5 // n for r in part[:50]} == set(range(5))  # from all over


def test_generated_raw_bytes_tfrecords_read_back_as_generated(tmp_path):
    synthetic.generate(str(tmp_path), 40, "tfrecord", image_size=28, pixel_encoding="bytes")
    (path,) = tmp_path.iterdir()
    settings = IngestSettings(data=str(path), pixel_encoding="bytes", image_shape="28,28")
    for index, label, pixels, _ in tfrecords.read_images(str(path), settings):
        expected, expected_label = synthetic.variant(index, 28)
        assert label == expected_label and (pixels[:, :, 0] == expected).all()
