"""Other people's data through the whole pipeline: a colour folder with named classes,
TFRecords with other feature names and float pixels in another range, TFRecords of
PNG bytes with string labels. Each is blessed, and the report and `predict` name
the classes."""

from __future__ import annotations

import glob
import io
import json
import os
import re

import pytest
import tensorflow as tf
from conftest import run_tiedflow
from PIL import Image

from ingestion import synthetic

pytestmark = pytest.mark.e2e
# The data path is under test here, not accuracy: a short budget and a low bound.
QUICK = ("--set", "train_steps=150", "--set", "accuracy_threshold=0.5")
NAMES = sorted(synthetic.CLASS_NAMES)


def _example(image_value, label_value):
    return tf.train.Example(
        features=tf.train.Features(feature={"image": image_value, "target": label_value})
    )


def _check_blessed_and_named(run, tmp_path, probe: str):
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert "BLESSED and pushed to" in run.stdout
    with open(run.report_path) as f:
        page = f.read()
    assert sum(name in page for name in NAMES) == len(NAMES), "the report names the classes"
    done = run_tiedflow(
        "predict", "--json", "--abstain-below", "0", probe, output_dir=run.output_dir
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert row["label"] in NAMES and isinstance(row["class_id"], int)
    assert NAMES[row["class_id"]] == row["label"]


def test_colour_folder_with_named_classes(tmp_path):
    data = tmp_path / "folder"
    synthetic.generate(str(data), 300, "folder", image_size=28, colour=True, names=True)
    (data / ".DS_Store").write_bytes(b"\0")
    (data / "three" / "notes.txt").write_text("not an image")
    run = run_tiedflow("run", "--data", str(data), *QUICK, output_dir=str(tmp_path / "out"))
    assert re.search(r"skipped 1 file", run.stdout), run.stdout[-2000:]
    probe = sorted(glob.glob(str(data / "seven" / "*.png")))[0]
    _check_blessed_and_named(run, tmp_path, probe)
    (examples,) = glob.glob(
        str(
            tmp_path
            / "out"
            / "pipeline_root"
            / "ImageExampleGen"
            / "examples"
            / "*"
            / "ingestion.json"
        )
    )
    with open(examples) as f:
        summary = json.load(f)
    assert summary["image_shape"] == [28, 28, 3] and summary["class_names"] == NAMES


def test_tfrecords_with_other_names_and_float_pixels_in_another_range(tmp_path):
    path = tmp_path / "floats.tfrecord"
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for _, pixels, label in synthetic.examples(300, image_size=8):
            writer.write(
                _example(
                    tf.train.Feature(
                        float_list=tf.train.FloatList(
                            value=(pixels.reshape(-1) / 255.0 - 0.5).tolist()
                        )
                    ),
                    tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[synthetic.CLASS_NAMES[label].encode()])
                    ),
                ).SerializeToString()
            )
    run = run_tiedflow(
        "run",
        "--data",
        str(path),
        "--set",
        "image_feature=image",
        "--set",
        "label_feature=target",
        "--set",
        "pixel_encoding=float",
        "--set",
        "pixel_range=-0.5,0.5",
        *QUICK,
        output_dir=str(tmp_path / "out"),
    )
    probe = str(tmp_path / "probe.png")
    Image.fromarray(synthetic.variant(7, 8)[0]).save(probe)
    _check_blessed_and_named(run, tmp_path, probe)


def test_tfrecords_of_png_bytes_and_string_labels(tmp_path):
    path = tmp_path / "encoded.data"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for _, pixels, label in synthetic.examples(300, image_size=28):
            png = io.BytesIO()
            Image.fromarray(pixels).save(png, format="PNG")
            writer.write(
                _example(
                    tf.train.Feature(bytes_list=tf.train.BytesList(value=[png.getvalue()])),
                    tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[synthetic.CLASS_NAMES[label].encode()])
                    ),
                ).SerializeToString()
            )
    run = run_tiedflow(
        "run",
        "--data",
        str(path),
        "--set",
        "image_feature=image",
        "--set",
        "label_feature=target",
        "--set",
        "pixel_encoding=encoded",
        *QUICK,
        output_dir=str(tmp_path / "out"),
    )
    probe = str(tmp_path / "probe.jpg")
    Image.fromarray(synthetic.variant(3, 28)[0]).convert("RGB").resize((40, 40)).save(probe)
    _check_blessed_and_named(run, tmp_path, probe)


def test_a_missing_feature_names_the_features_the_record_has(tmp_path):
    path = tmp_path / "other.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for _ in range(3):
            writer.write(
                _example(
                    tf.train.Feature(int64_list=tf.train.Int64List(value=[0] * 64)),
                    tf.train.Feature(int64_list=tf.train.Int64List(value=[1])),
                ).SerializeToString()
            )
    run = run_tiedflow("run", "--data", str(path), output_dir=str(tmp_path / "out"))
    assert run.returncode == 2, run.stderr[-2000:]
    assert (
        "other.tfrecord: record 0: no feature 'pixels' (the record has: image, target)"
        in run.stderr
    )
    assert "Traceback" not in run.stderr + run.stdout
    assert not os.path.exists(tmp_path / "out" / "serving")
