"""The evaluation baseline is only a pushed model serving the same inputs and classes."""

from __future__ import annotations

import os

import keras
import pytest
from tfx.types import standard_artifacts

from components import baseline
from names import BASELINE_SKIPPED_PROPERTY, HAS_MODEL_PROPERTY, PUSHED_VERSION_PROPERTY
from pushed_models import versions
from trainer import export
from trainer import model as model_lib
from trainer.hparams import HParams

DIGITS = tuple(str(i) for i in range(10))


def _export(path, transform_dir, hp, seed=0):
    import tensorflow_transform as tft

    keras.utils.set_random_seed(seed)
    export.export_serving_model(
        model_lib.from_hparams(hp.replace(width=4)),
        tft.TFTransformOutput(transform_dir),
        hp,
        str(path),
    )
    return str(path)


@pytest.fixture(scope="module")
def models(tmp_path_factory, transform_dir, transform_dir_rgb):
    root = tmp_path_factory.mktemp("baseline")
    digits = HParams(class_names=DIGITS)
    return {
        "candidate": _export(root / "candidate", transform_dir, digits, seed=1),
        "same": _export(root / "serving" / "100", transform_dir, digits, seed=2),
        "letters": _export(
            root / "serving" / "200",
            transform_dir,
            digits.replace(class_names=tuple("abcdefghij")),
            seed=3,
        ),
        "colour": _export(
            root / "serving" / "300",
            transform_dir_rgb,
            HParams(image_height=12, image_width=10, image_channels=3, class_names=DIGITS),
            seed=4,
        ),
        "serving": str(root / "serving"),
    }


def test_incompatibility_names_what_differs(models):
    assert versions.incompatibility(models["same"], models["candidate"]) is None
    assert "classes" in versions.incompatibility(models["letters"], models["candidate"])
    assert "12x10x3" in versions.incompatibility(models["colour"], models["candidate"])
    assert versions.serving_interface(models["colour"]) == ((12, 10, 3), list(DIGITS))


def test_newest_compatible_skips_other_inputs_and_classes(models):
    version, digest, skipped = versions.newest_compatible(models["serving"], models["candidate"])
    assert version == "100" and digest == versions.model_digest(models["same"])
    assert [line.split(":")[0] for line in skipped] == ["pushed model 300", "pushed model 200"]


def _run_executor(serving_dir, candidate_dir, tmp_path):
    out = standard_artifacts.Model()
    out.uri = str(tmp_path / "out")
    inputs = {}
    if candidate_dir:
        candidate = standard_artifacts.Model()
        candidate.uri = os.path.dirname(candidate_dir)
        inputs["candidate"] = [candidate]
    baseline.Executor().Do(inputs, {"model": [out]}, {"serving_dir": serving_dir})
    return out


def test_executor_records_why_newer_models_were_skipped(models, tmp_path):
    import shutil

    candidate_dir = str(tmp_path / "cand" / "Format-Serving")  # a Trainer's layout
    shutil.copytree(models["candidate"], candidate_dir)
    out = _run_executor(models["serving"], candidate_dir, tmp_path)
    assert out.get_int_custom_property(HAS_MODEL_PROPERTY) == 1
    assert out.get_string_custom_property(PUSHED_VERSION_PROPERTY) == "100"
    assert "pushed model 300" in out.get_string_custom_property(BASELINE_SKIPPED_PROPERTY)


def test_without_a_candidate_it_takes_the_newest_or_a_savedmodel_dir(models, tmp_path):
    """The warm start's lookup: any newest model, or a SavedModel dir given as a path."""
    newest = _run_executor(models["serving"], None, tmp_path / "a")
    assert newest.get_string_custom_property(PUSHED_VERSION_PROPERTY) == "300"
    direct = _run_executor(models["letters"], None, tmp_path / "b")
    assert direct.get_int_custom_property(HAS_MODEL_PROPERTY) == 1
    assert os.path.exists(os.path.join(direct.uri, "Format-Serving", "saved_model.pb"))
    empty = _run_executor(str(tmp_path / "nothing"), None, tmp_path / "c")
    assert empty.get_int_custom_property(HAS_MODEL_PROPERTY) == 0
