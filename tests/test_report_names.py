"""The report shows classes by name, escaped (names are other people's folder names)."""

from __future__ import annotations

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.proto import metrics_for_slice_pb2, validation_result_pb2

from evaluation import eval_config as ec
from reporting import evaluation_data as rd
from reporting import page

NAMES = ["<cat>", "dog & co", "$fox$"]


def evaluation() -> rd.Evaluation:
    label = lambda c: (("label", c),)  # noqa: E731
    metrics = {
        (): {
            ("", ec.ACCURACY, None, None, False): 0.5,
            ("", ec.EXAMPLE_COUNT, None, None, False): 6.0,
        }
    }
    for c in range(3):
        metrics[()][("", ec.F1, c, None, False)] = 0.2 * (c + 1)
        metrics[label(c)] = {
            ("", ec.ACCURACY, None, None, False): 0.3 * c,
            ("", ec.EXAMPLE_COUNT, None, None, False): 2.0,
        }
    matrix = metrics_for_slice_pb2.MultiClassConfusionMatrixAtThresholds()
    entries = matrix.matrices.add().entries
    for actual, predicted, n in ((0, 1, 2), (1, 1, 2), (2, 2, 1), (2, 0, 1)):
        entries.add(actual_class_id=actual, predicted_class_id=predicted, num_weighted_examples=n)
    slices = [(), *(label(c) for c in range(3))]
    plots = {s: {("", ec.CONFUSION_MATRIX_PLOT, None, None): matrix} for s in slices}
    return rd.Evaluation(
        uri="eval",
        eval_config=tfma.EvalConfig(),
        candidate="",
        baseline=None,
        slices=slices,
        metrics=metrics,
        plots=plots,
        validation=validation_result_pb2.ValidationResult(validation_ok=True),
    )


def test_tables_weakest_slices_and_confusions_name_the_classes_escaped():
    ev = evaluation()
    html = page.render(
        page.ReportInputs(evaluation_uri="eval", blessed=True, class_names=NAMES), ev
    )
    assert "<cat>" not in html and "$fox$" in html
    assert "&lt;cat&gt;" in html and "dog &amp; co" in html
    assert "label=&lt;cat&gt;" in html  # weakest slices and the per-slice table
    assert "&lt;cat&gt; read as dog &amp; co" in html  # a slice's most frequent error
    assert "&lt;cat&gt; as dog &amp; co (2x)" in html  # the most frequent confusions


def test_without_names_classes_are_their_ids():
    ev = evaluation()
    assert rd.slice_text((("label", 2),)) == "label=2"
    assert ev.slice_text((("label", 2), ("ink_density", b"heavy"))) == "label=2 & ink_density=heavy"
    ev.class_names = NAMES
    assert ev.slice_text((("label", 2),)) == "label=$fox$"
    assert rd.metric_label(ec.RECALL, 1, NAMES) == "recall (class dog & co)"
    assert rd.class_name(NAMES, 7) == "7"  # a class beyond the names: its id


def test_skipped_baseline_is_named_in_the_report():
    html = page.render(
        page.ReportInputs(
            evaluation_uri="eval",
            blessed=True,
            class_names=NAMES,
            baseline_skipped="pushed model 12: it has 10 classes (0, 1, ...), the candidate 3",
        ),
        evaluation(),
    )
    assert "none compatible" in html and "pushed model 12" in html
