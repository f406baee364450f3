"""The evaluation artifact and the HTML report made from it, end to end.

Metric values in the evaluation are checked against values recomputed here
from the candidate model's own predictions on the eval split (the weak run's
model, whose confusion matrix is far from diagonal).
"""

from __future__ import annotations

import base64
import glob
import io
import os
import re

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from conftest import run_tiedflow
from PIL import Image

pytestmark = pytest.mark.e2e


def _one(pattern: str) -> str:
    found = glob.glob(pattern)
    assert len(found) == 1, (pattern, found)
    return found[0]


def _evaluation_uri(run) -> str:
    return os.path.dirname(
        _one(
            os.path.join(
                run.output_dir, "pipeline_root", "Evaluator", "evaluation", "*", "eval_config.json"
            )
        )
    )


def _report_path(run) -> str:
    """The run's own report, in <output-dir>/reports (later runs add theirs)."""
    path = run.report_path
    assert os.path.dirname(path) == os.path.join(run.output_dir, "reports"), path
    assert re.fullmatch(r"evaluation-[0-9A-Za-z-]+\.html", os.path.basename(path)), path
    return path


def _overall(eval_result) -> dict:
    """{(metric name, sub key text): value} of the overall slice, as TFMA's API gives it."""
    for slice_key, metrics in eval_result.slicing_metrics:
        if slice_key == ():
            return {
                (name, sub): list(value.values())[0]
                for sub, named in metrics[""].items()
                for name, value in named.items()
            }
    raise AssertionError("no overall slice")


@pytest.fixture(scope="module")
def predictions(weak_run):
    """(labels, predicted classes) of the weak run's model on its eval split."""
    assert weak_run.returncode == 3, weak_run.stderr[-3000:]
    root = os.path.join(weak_run.output_dir, "pipeline_root")
    model = tf.saved_model.load(_one(os.path.join(root, "Trainer", "model", "*", "Format-Serving")))
    split = _one(os.path.join(root, "ImageExampleGen", "examples", "*", "Split-eval", "*.gz"))
    records = [r.numpy() for r in tf.data.TFRecordDataset(split, compression_type="GZIP")]
    labels = np.array(
        [
            tf.train.Example.FromString(r).features.feature["label"].int64_list.value[0]
            for r in records
        ]
    )
    probs = model.signatures["serving_default"](examples=tf.constant(records))["probabilities"]
    return labels, np.asarray(probs).argmax(axis=1)


def test_tfma_metrics_match_the_models_own_predictions(weak_run, predictions):
    labels, predicted = predictions
    result = tfma.load_eval_result(_evaluation_uri(weak_run))
    overall = _overall(result)
    assert overall[("example_count", "")] == len(labels)
    accuracy = (predicted == labels).mean()
    assert 0.2 < accuracy < 0.95  # a weak model, not a trivial one
    assert overall[("sparse_categorical_accuracy", "")] == pytest.approx(accuracy, abs=1e-6)
    # One class's precision and recall: the class predicted most often.
    c = int(np.bincount(predicted).argmax())
    tp = np.sum((predicted == c) & (labels == c))
    sub = f"classId:{c}"
    assert overall[("precision", sub)] == pytest.approx(tp / np.sum(predicted == c), abs=1e-9)
    assert overall[("recall", sub)] == pytest.approx(tp / np.sum(labels == c), abs=1e-9)
    # One cell of the confusion matrix: the most frequent mistake.
    wrong = labels != predicted
    pairs, counts = np.unique(
        np.stack([labels[wrong], predicted[wrong]]), axis=1, return_counts=True
    )
    actual, guess = pairs[:, counts.argmax()]
    plots = dict(result.plots)[()][""][""]
    cells = plots["multiClassConfusionMatrixAtThresholds"]["matrices"][0]["entries"]
    cell = next(
        e
        for e in cells
        if e.get("actualClassId", 0) == actual and e.get("predictedClassId", 0) == guess
    )
    assert cell["numWeightedExamples"] == counts.max()


@pytest.mark.parametrize("fixture", ["pipeline_run", "weak_run"])
def test_evaluation_has_every_slice(fixture, request):
    run = request.getfixturevalue(fixture)
    result = tfma.load_eval_result(_evaluation_uri(run))
    slices = {k for k, _ in result.slicing_metrics}
    assert () in slices
    assert {(("label", c),) for c in range(10)} <= slices
    assert {(("ink_density", v),) for v in ("light", "medium", "heavy")} <= slices


def _images(page: str) -> list:
    return re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)


def test_report_is_copied_after_the_run_and_self_contained(pipeline_run):
    assert pipeline_run.returncode == 0, pipeline_run.stderr[-3000:]
    path = _report_path(pipeline_run)
    assert f"report: {path}" in pipeline_run.stdout
    with open(path) as f:
        page = f.read()
    assert 'id="verdict" class="verdict ok">BLESSED' in page
    for section in ("thresholds", "overall", "per-class", "slices", "weakest", "figures"):
        assert f'<section id="{section}">' in page
    # Nothing fetched from anywhere: no scripts, no external styles or images.
    assert not re.search(r"<script|<link|@import|url\(|src=\"(?!data:)|href=", page)
    images = _images(page)
    assert len(images) == 4  # confusion matrix, ROC, calibration, class balance
    for data in images:
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        assert image.format == "PNG" and image.width > 300 and image.height > 200
        assert np.asarray(image.convert("L")).std() > 5  # not a blank canvas
    assert "Overall" in page and "ink_density=heavy" in page and "label=9" in page


def test_report_command_renders_the_latest_run_again(pipeline_run, failed_rerun, tmp_path):
    """The newest evaluated run, also when a later run failed before evaluating."""
    failed, _ = failed_rerun
    assert failed.returncode == 2, failed.stderr[-3000:]

    out = str(tmp_path / "again.html")
    done = run_tiedflow("report", "--out", out, output_dir=pipeline_run.output_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"wrote .*again\.html \(run \S+, \d+\.\d s\)", done.stdout)
    with open(out) as f:
        again = f.read()
    with open(_report_path(pipeline_run)) as f:
        first = f.read()

    def section(page, name):
        return re.search(rf'<section id="{name}">.*?</section>', page, re.S).group(0)

    for name in ("thresholds", "overall", "per-class", "slices", "weakest"):
        assert section(again, name) == section(first, name), name
    assert len(_images(again)) == 4


def test_report_command_renders_a_given_evaluation(weak_run, tmp_path):
    out = str(tmp_path / "given.html")
    done = run_tiedflow("report", "--evaluation", _evaluation_uri(weak_run), "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out) as f:
        page = f.read()
    assert "NOT BLESSED" in page and "bound &gt;= 0.999" in page
    # The run in the output dir it lies in recorded it: its statistics (the class
    # balance) and data come along without --statistics.
    assert len(_images(page)) == 4
    assert "<b>data</b></td><td>digits</td>" in page

    # Per slice: slice, examples, accuracy, macro F1, loss, ECE (no baseline).
    slices = re.search(r'<section id="slices">.*?</section>', page, re.S).group(0)

    def cells(name):
        row = re.search(rf'<td class="l">{re.escape(name)}</td>(.*?)</tr>', slices).group(1)
        return re.findall(r"<td>([^<]*)</td>", row)

    assert cells("label=5")[2] == "–"  # macro F1 over one label's examples means nothing
    assert 0 < float(cells("Overall")[2]) < 1
    assert 0 < float(cells("ink_density=light")[2]) < 1


def test_report_command_on_a_missing_dir_is_a_usage_error(tmp_path):
    done = run_tiedflow("report", output_dir=str(tmp_path / "nothing-here"))
    assert done.returncode == 2 and "no such output dir" in done.stderr
