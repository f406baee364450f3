"""`tiedflow predict`: labels, abstention, JSON lines, bad files reported."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from ingestion import sources
from ingestion.errors import DataError
from ingestion.split import split_records
from pushed_models import predict
from trainer import export
from trainer import model as model_lib
from trainer.hparams import HParams

TIEDFLOW = os.path.join(os.path.dirname(sys.executable), "tiedflow")
DIGITS_HP = HParams(class_names=tuple(str(i) for i in range(10)))


@pytest.fixture(scope="module")
def serving_dir(tmp_path_factory, transform_dir):
    """A serving dir with one exported (untrained) model version, as Pusher leaves it."""
    import tensorflow_transform as tft

    root = tmp_path_factory.mktemp("predict")
    keras.utils.set_random_seed(0)
    model = model_lib.build_model(8, 8, 3, "depth", num_classes=10)
    export.export_serving_model(
        model,
        tft.TFTransformOutput(transform_dir),
        DIGITS_HP,
        str(root / "out" / "serving" / "1700000000"),
    )
    return str(root / "out" / "serving")


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    """Digits saved as a large RGB PNG, a small JPEG; and three bad files."""
    root = tmp_path_factory.mktemp("images")
    records = list(sources.digits_records(8))
    paths = {}
    big = Image.fromarray(records[0].pixels).resize((40, 40)).convert("RGB")
    paths["png"] = str(root / f"digit_{records[0].label}.png")
    big.save(paths["png"])
    paths["jpg"] = str(root / f"digit_{records[1].label}.jpg")
    Image.fromarray(records[1].pixels).save(paths["jpg"], quality=95)
    paths["empty"] = str(root / "empty.png")
    open(paths["empty"], "wb").close()
    paths["text"] = str(root / "notes.png")
    with open(paths["text"], "w") as f:
        f.write("not an image")
    paths["truncated"] = str(root / "truncated.png")
    with open(paths["png"], "rb") as f:
        data = f.read()
    with open(paths["truncated"], "wb") as f:
        f.write(data[: len(data) // 2])
    return paths


def run(paths, **kwargs):
    out = io.StringIO()
    status = predict.run(paths, out=out, **kwargs)
    return status, out.getvalue().splitlines()


def test_json_lines_with_bad_files_reported_and_others_labelled(serving_dir, image_files):
    order = ["png", "empty", "jpg", "text", "truncated"]
    status, lines = run(
        [image_files[k] for k in order], model=serving_dir, abstain_below=0.0, as_json=True
    )
    assert status != 0
    rows = [json.loads(line) for line in lines]
    assert [r["file"] for r in rows] == [image_files[k] for k in order]
    for row in rows:
        assert set(row) == {"file", "label", "class_id", "probability", "abstained", "error"}
    for good in (rows[0], rows[2]):
        assert good["error"] is None and good["abstained"] is False
        assert good["class_id"] in range(10) and good["label"] == str(good["class_id"])
        assert 0 < good["probability"] <= 1
    for bad in (rows[1], rows[3], rows[4]):
        assert bad["error"] and bad["label"] is None and bad["probability"] is None
        assert bad["class_id"] is None
    assert "truncated" in rows[4]["error"]


def test_all_good_files_exit_zero(serving_dir, image_files):
    status, lines = run(
        [image_files["png"], image_files["jpg"]], model=serving_dir, abstain_below=0.0
    )
    assert status == 0 and len(lines) == 2
    assert lines[0].startswith(image_files["png"] + ": ")


def test_abstains_below_the_threshold(serving_dir, image_files):
    _, lines = run([image_files["png"]], model=serving_dir, abstain_below=1.0, as_json=True)
    row = json.loads(lines[0])
    assert row["abstained"] is True and row["label"] is None and row["probability"] < 1.0
    _, text = run([image_files["png"]], model=serving_dir, abstain_below=1.0)
    assert "abstained" in text[0]


def test_any_size_and_mode_gives_the_model_input(serving_dir, image_files):
    predictor = predict.Predictor(predict.resolve_model_dir(model=serving_dir))
    assert predictor.image_shape == (8, 8, 1)
    direct = predictor.probabilities(
        np.stack([list(sources.digits_records(8))[1].pixels[..., None]])
    )
    (row,) = predict.predict_files(predictor, [image_files["jpg"]], 0.0)
    assert row.top_label == str(int(np.argmax(direct[0])))


def test_the_threshold_the_model_was_pushed_with_is_the_default(
    transform_dir, image_files, tmp_path
):
    """`--set abstain_below=P` travels with the exported model; --abstain-below overrides it."""
    import tensorflow_transform as tft

    keras.utils.set_random_seed(0)
    model = model_lib.build_model(
        8, 8, 3, "depth", num_classes=10
    )  # untrained: top probability well below 0.99
    for threshold in (0.0, 0.99):
        export.export_serving_model(
            model,
            tft.TFTransformOutput(transform_dir),
            DIGITS_HP.replace(abstain_below=threshold),
            str(tmp_path / str(threshold) / "1700000000"),
        )
    lenient, strict = (str(tmp_path / name) for name in ("0.0", "0.99"))
    assert predict.Predictor(predict.resolve_model_dir(model=strict)).abstain_below == 0.99
    (_, (row,)) = run([image_files["png"]], model=strict, as_json=True)
    assert json.loads(row)["abstained"] is True
    (_, (row,)) = run([image_files["png"]], model=lenient, as_json=True)
    assert json.loads(row)["abstained"] is False
    (_, (row,)) = run([image_files["png"]], model=strict, abstain_below=0.0, as_json=True)
    assert json.loads(row)["abstained"] is False


def test_model_resolution(serving_dir, tmp_path):
    newest = os.path.join(serving_dir, "1700000000")
    assert predict.resolve_model_dir(model=newest) == newest
    assert predict.resolve_model_dir(model=serving_dir) == newest
    assert predict.resolve_model_dir(output_dir=os.path.dirname(serving_dir)) == newest
    with pytest.raises(DataError, match="no pushed model"):
        predict.resolve_model_dir(output_dir=str(tmp_path))
    with pytest.raises(DataError, match="abstain"):
        predict.run(["x.png"], model=serving_dir, abstain_below=1.5)


def test_cli_reports_bad_file_and_goes_on(serving_dir, image_files):
    proc = subprocess.run(
        [
            TIEDFLOW,
            "predict",
            "--model",
            serving_dir,
            "--json",
            "--abstain-below",
            "0",
            image_files["empty"],
            image_files["png"],
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["error"] is None for r in rows] == [False, True]
    assert "could not be read" in proc.stderr


@pytest.mark.e2e
def test_predict_with_the_pipeline_pushed_model(pipeline_run, tmp_path):
    """The pushed model labels the eval split's digits, read back from PNG files."""
    assert pipeline_run.returncode == 0, pipeline_run.stderr[-3000:]
    records = list(sources.digits_records(8))
    splits = split_records(records, 20, 42)
    files, labels = [], []
    for i, rec in enumerate(splits["eval"]):
        path = str(tmp_path / f"{i}.png")
        image = Image.fromarray(rec.pixels)
        (image.convert("RGB") if i % 2 else image).save(path)
        files.append(path)
        labels.append(rec.label)
    proc = subprocess.run(
        [
            TIEDFLOW,
            "predict",
            "--output-dir",
            pipeline_run.output_dir,
            "--json",
            "--abstain-below",
            "0",
            *files,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == len(files)
    accuracy = np.mean([r["class_id"] == y and r["label"] == str(y) for r, y in zip(rows, labels)])
    assert accuracy >= 0.97, accuracy


def test_colour_model_with_named_classes_prints_names(transform_dir_rgb, tmp_path):
    """A 12x10 RGB model: any image is converted to its shape; text and JSON name the class."""
    import tensorflow_transform as tft

    names = ("cat", "dog", "fox")
    hp = HParams(image_height=12, image_width=10, image_channels=3, class_names=names)
    keras.utils.set_random_seed(0)
    export.export_serving_model(
        model_lib.from_hparams(hp),
        tft.TFTransformOutput(transform_dir_rgb),
        hp,
        str(tmp_path / "serving" / "1700000000"),
    )
    path = str(tmp_path / "grey.png")
    Image.fromarray(np.full((30, 40), 128, np.uint8)).save(path)
    predictor = predict.Predictor(predict.resolve_model_dir(model=str(tmp_path / "serving")))
    assert predictor.image_shape == (12, 10, 3) and predictor.class_names == list(names)
    assert predict.load_image(path, predictor.image_shape).shape == (12, 10, 3)
    _, (line,) = run([path], model=str(tmp_path / "serving"), abstain_below=0.0)
    _, (row,) = run([path], model=str(tmp_path / "serving"), abstain_below=0.0, as_json=True)
    row = json.loads(row)
    assert row["label"] == names[row["class_id"]]
    assert line.startswith(f"{path}: {row['label']} (")


def test_hostile_file_and_class_names_are_escaped_on_the_terminal(
    serving_dir, image_files, tmp_path
):
    """A file name with terminal escape codes: its line shows them as escapes."""
    import shutil

    hostile = str(tmp_path / "digit\x1b[2J\x1b]0;owned\x07.png")
    shutil.copy(image_files["png"], hostile)
    proc = subprocess.run(
        [
            TIEDFLOW,
            "predict",
            "--model",
            serving_dir,
            "--abstain-below",
            "0",
            hostile,
            image_files["empty"],
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr  # the empty file
    assert "\x1b" not in proc.stdout + proc.stderr
    assert "digit\\x1b[2J\\x1b]0;owned\\x07.png: " in proc.stdout, proc.stdout
