"""Warm start through the pipeline: the first run trains from scratch, the
second starts from the pushed model and, with frozen filters, keeps them."""

from __future__ import annotations

import glob
import os
import re

import numpy as np
import pytest
from conftest import run_tiedflow


def tiedflow_run(output_dir, *sets):
    return run_tiedflow(
        "run", *(a for item in sets for a in ("--set", item)), output_dir=output_dir
    )


def bank(model_dir):
    import keras

    from trainer import model as model_lib
    from trainer.warm_start import keras_model_path

    model = keras.saving.load_model(keras_model_path(model_dir))
    return model_lib.shared_variables(model)[0].numpy(), model.get_layer("logits").get_weights()


@pytest.mark.e2e
def test_warm_start_with_frozen_filters_through_the_pipeline(tmp_path):
    out = str(tmp_path / "out")
    knobs = ("warm_start=true", "freeze_filters=true")
    first = tiedflow_run(out, *knobs)  # no pushed model yet: trains from scratch
    assert first.returncode == 0, first.stderr[-3000:]
    (pushed,) = glob.glob(os.path.join(out, "serving", "*"))
    first_bank, first_head = bank(pushed)

    second = tiedflow_run(out, *knobs)
    assert second.returncode in (0, 3), second.stderr[-3000:]
    trained = sorted(
        glob.glob(os.path.join(out, "pipeline_root", "Trainer", "model", "*", "Format-Serving")),
        key=lambda p: int(p.split(os.sep)[-2]),
    )
    assert len(trained) == 2
    second_bank, second_head = bank(trained[-1])
    # the second run started from the pushed filters and kept them frozen;
    # only the head moved
    np.testing.assert_array_equal(second_bank, first_bank)
    assert not np.array_equal(second_head[0], first_head[0])


def three_class_folder(root) -> str:
    """Digits 0, 1 and 2 as a PNG folder DIR/<class id>/*.png, 16x16 (resampled)."""
    from PIL import Image

    from ingestion.sources import digits_records

    for rec in digits_records(8):
        if rec.label < 3:
            folder = os.path.join(root, str(rec.label))
            os.makedirs(folder, exist_ok=True)
            Image.fromarray(rec.pixels).resize((16, 16), Image.BILINEAR).save(
                os.path.join(folder, f"{rec.key}.png")
            )
    return str(root)


@pytest.mark.e2e
def test_transfer_from_the_digits_model_to_three_classes_at_16x16(pipeline_run, tmp_path):
    """A model pushed for 10 classes at 8x8 seeds a 3-class model at 16x16: its
    filters are kept, a new head is trained, and as the evaluation baseline the
    10-class model is skipped (other inputs and classes), which the run says."""
    import json
    import shutil

    import tensorflow as tf

    assert pipeline_run.returncode == 0, pipeline_run.stderr[-3000:]
    digits_serving = os.path.join(pipeline_run.output_dir, "serving")
    out = tmp_path / "out"
    shutil.copytree(digits_serving, out / "serving")  # the baseline lookup sees it
    data = three_class_folder(tmp_path / "three")
    run = run_tiedflow(
        "run",
        "--data",
        data,
        "--set",
        "image_size=16",
        "--set",
        f"warm_start={digits_serving}",
        output_dir=str(out),
    )
    assert run.returncode == 0, (run.stdout[-2000:], run.stderr[-3000:])
    assert re.search(
        r"^baseline: skipped pushed model \d+: its images are 8x8x1, "
        r"the candidate's 16x16x1",
        run.stdout,
        re.M,
    ), run.stdout
    (log,) = glob.glob(os.path.join(str(out), "logs", "run-*.log"))
    with open(log) as f:
        text = f.read()
    assert re.search(
        r"tiedflow: warm start from .*kept stem_conv.*tied_conv_0.*"
        r"new logits.*head: other classes",
        text,
    ), text[-3000:]
    pushed = sorted(glob.glob(os.path.join(str(out), "serving", "*")))
    newest = max(pushed, key=lambda p: int(os.path.basename(p)))
    with open(os.path.join(newest, "assets.extra", "prediction.json")) as f:
        assert json.load(f)["class_names"] == ["0", "1", "2"]
    images = tf.saved_model.load(newest).signatures["serving_images"]
    assert images.structured_input_signature[1]["images"].shape.as_list() == [None, 16, 16, 1]
