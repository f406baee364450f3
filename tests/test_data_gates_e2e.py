"""Bad data through `tiedflow run`, in one process and with Beam's worker processes:
each run ends with exit 2 and one line naming the file and record (or the
source) and what would fix it, and the model pushed before is untouched.

The runs go into one output dir that starts with a copy of `pipeline_run`'s
pushed models; each fails in ImageExampleGen, a few seconds in.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
import tensorflow as tf
from conftest import run_tiedflow, tree_digest

from ingestion import sources

pytestmark = pytest.mark.e2e
RECORDS = 600
BAD = 123  # the index of the one bad record
# Short in case a gate lets the data through: the run then fails its test quickly.
QUICK = ("--set", "train_steps=20", "--set", "accuracy_threshold=0.3")
WORKERS = ("--beam-arg=--direct_running_mode=multi_processing", "--beam-arg=--direct_num_workers=2")


def _example(pixels, label) -> bytes:
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "pixels": tf.train.Feature(int64_list=tf.train.Int64List(value=list(pixels))),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
            }
        )
    ).SerializeToString()


def _digits_with(path, bad_pixels=None, bad_label=None) -> str:
    """RECORDS of the embedded digits as 64-value lists; record BAD changed."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for index, record in enumerate(sources.digits_records(8)):
            if index == RECORDS:
                break
            pixels, label = record.pixels.ravel().tolist(), record.label
            if index == BAD:
                pixels = bad_pixels if bad_pixels is not None else pixels
                label = bad_label if bad_label is not None else label
            writer.write(_example(pixels, label))
    return str(path)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("hostile")
    folder = root / "no_images"
    for name in ("cat", "dog"):
        (folder / name).mkdir(parents=True)
    (folder / "dog" / "notes.txt").write_text("not an image")
    (root / "empty.tfrecord").write_bytes(b"")
    return {
        "longer": _digits_with(root / "longer.tfrecord", bad_pixels=[7] * 100),
        "label42": _digits_with(root / "label42.tfrecord", bad_label=42),
        "negative": _digits_with(root / "negative.tfrecord", bad_label=-1),
        "empty": str(root / "empty.tfrecord"),
        "no_images": str(folder),
        "no_match": str(root / "*.nomatch"),
    }


@pytest.fixture(scope="module")
def guarded(pipeline_run, tmp_path_factory) -> dict:
    """An output dir holding the models `pipeline_run` pushed, and their digest."""
    assert pipeline_run.returncode == 0, pipeline_run.stderr[-3000:]
    out = tmp_path_factory.mktemp("guarded") / "out"
    shutil.copytree(os.path.join(pipeline_run.output_dir, "serving"), out / "serving")
    serving = str(out / "serving")
    return {
        "out": str(out),
        "serving": serving,
        "versions": sorted(os.listdir(serving)),
        "digest": tree_digest(serving),
    }


def _record(key):
    return lambda data: re.escape(f"{data[key]}: record {BAD}: ")


CASES = {
    "longer_list": (
        "longer",
        (),
        lambda d: (
            _record("longer")(d)
            + re.escape(
                "feature 'pixels' has 100 values, but 599 of the 600 records have 64 (8x8); a flat "
                "pixel list has no shape of its own"
            )
            + ".*set image_shape=H,W"
        ),
    ),
    "label_42": (
        "label42",
        (),
        lambda d: (
            _record("label42")(d)
            + re.escape(
                "label 42: class ids must be 0..K-1 with none missing, but no example has the "
                "id(s) 10-41, and 1 record has it; fix the label(s)"
            )
        ),
    ),
    "label_minus_1": (
        "negative",
        (),
        lambda d: (
            _record("negative")(d)
            + re.escape(
                "label -1: class ids must be 0 or more, and 1 record has it; fix the label(s)"
            )
        ),
    ),
    "empty_tfrecord": (
        "empty",
        (),
        lambda d: re.escape(
            f"--data {d['empty']}: the TFRecord file(s) it names hold no records (empty files); "
            "give files that hold tf.Examples"
        ),
    ),
    "folder_without_images": (
        "no_images",
        (),
        lambda d: re.escape(
            f"{d['no_images']}: no images in its class folders; 1 file(s) there are not images by "
            f"their name's suffix; put the images (.png, .jpg, ...) in {d['no_images']}/<class>/"
        ),
    ),
    "glob_matching_nothing": (
        "no_match",
        (),
        lambda d: re.escape(
            f"--data {d['no_match']}: no files match; give an image folder, a TFRecord file or a "
            "pattern that matches TFRecord files"
        ),
    ),
}
# The same bad records with Beam's worker processes: the error crosses back as text.
CASES.update(
    {
        f"{name}_two_workers": (key, WORKERS, pattern)
        for name, (key, _, pattern) in CASES.items()
        if name in ("longer_list", "label_42", "label_minus_1")
    }
)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_data_exits_2_naming_it_and_leaves_the_pushed_model_alone(case, data, guarded):
    key, flags, pattern = CASES[case]
    run = run_tiedflow("run", "--data", data[key], *QUICK, *flags, output_dir=guarded["out"])
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-3000:]
    assert re.search(r"^tiedflow: error: " + pattern(data), run.stderr, re.M), run.stderr[-3000:]
    assert "Traceback" not in run.stderr + run.stdout
    assert "pushed to" not in run.stdout
    assert sorted(os.listdir(guarded["serving"])) == guarded["versions"]
    assert tree_digest(guarded["serving"]) == guarded["digest"]
