"""The project's EvalConfig, run by TFMA on known predictions, against numpy/scikit-learn.

No model: `tfma.analyze_raw_data` takes labels and probabilities from a
DataFrame, so every value TFMA reports can be recomputed independently. The
predictions are built so that on the `ink_density=light` slice class 2 is
never the top prediction and class 7 always is: the cases TFMA 0.47 miscounts
with its default top-k threshold.

The AUC and the ROC points come from fixed score histograms, not from the
examples: they are compared within 1e-3 (AUC) and exactly (ROC counts at the
thresholds, which are histogram edges); test_histogram_auc_* bound the AUC's
difference on larger data.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import tensorflow_model_analysis as tfma
from sklearn import metrics as skm

from evaluation import eval_config as ec
from names import PROBABILITIES_KEY
from pipeline.config import PipelineConfig

N, CLASSES = 400, 10


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, CLASSES, N)
    logits = rng.normal(size=(N, CLASSES))
    logits[np.arange(N), labels] += 2.2  # right about 2 times in 3
    ink = rng.choice(["light", "medium", "heavy"], N)
    light = ink == "light"
    # Never the top class on the light slice. Spread out: with one logit for all,
    # class 2's scores there would differ only by float32 noise, which
    # scikit-learn ranks and the AUC histograms (rightly) count as ties.
    logits[light, 2] = -9.0 + rng.normal(size=light.sum())
    logits[light, 7] = 9.0  # always the top class on the light slice
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return pd.DataFrame(
        {"label": labels, "ink_density": ink, PROBABILITIES_KEY: list(probs.astype(np.float32))}
    )


@pytest.fixture(scope="module")
def result(data, tmp_path_factory):
    config = PipelineConfig(min_class_recall=0.05)  # a per-class threshold is part of it
    out = str(tmp_path_factory.mktemp("tfma"))
    # As TFX's Evaluator does on a first run: no baseline, change thresholds dropped.
    built = ec.build_eval_config(config)
    ec.set_classes(built, CLASSES)  # as the Evaluator's executor does from the Examples
    eval_config = tfma.utils.update_eval_config_with_defaults(
        built, has_baseline=False, rubber_stamp=True
    )
    tfma.analyze_raw_data(data, eval_config, output_path=out)
    by_slice = {}
    for per_slice in tfma.load_metrics(out):
        key = tuple(
            (s.column, s.bytes_value.decode() or s.int64_value)
            for s in per_slice.slice_key.single_slice_keys
        )
        for kv in per_slice.metric_keys_and_values:
            sub = kv.key.sub_key
            class_id = sub.class_id.value if sub.HasField("class_id") else None
            k = sub.k.value if sub.HasField("k") else None
            by_slice.setdefault(key, {})[(kv.key.name, class_id, k)] = kv.value.double_value.value
    by_slice["__path__"] = out
    return by_slice


def _arrays(data, mask=None):
    frame = data if mask is None else data[mask]
    probs = np.stack(frame[PROBABILITIES_KEY].to_numpy())
    return frame["label"].to_numpy(), probs


def _ece(labels, probs, bins=10):
    conf = probs.max(axis=1)
    right = (probs.argmax(axis=1) == labels).astype(float)
    index = np.minimum((conf * bins).astype(int), bins - 1)
    return sum(abs(right[index == b].sum() - conf[index == b].sum()) for b in range(bins)) / len(
        labels
    )


@pytest.mark.parametrize("slice_key", [(), (("ink_density", "light"),)])
def test_per_class_metrics_are_those_of_the_argmax_prediction(data, result, slice_key):
    mask = None if not slice_key else (data["ink_density"] == slice_key[0][1]).to_numpy()
    labels, probs = _arrays(data, mask)
    predicted = probs.argmax(axis=1)
    got = result[slice_key]
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        labels, predicted, labels=range(CLASSES), zero_division=np.nan
    )
    for c in range(CLASSES):
        for name, expected in (
            (ec.PRECISION, precision[c]),
            (ec.RECALL, recall[c]),
            (ec.F1, f1[c]),
        ):
            value = got[(name, c, None)]
            if math.isnan(expected):
                assert math.isnan(value) or value == 0.0, (name, c, value)
            else:
                assert value == pytest.approx(expected, abs=1e-9), (name, c)
    assert got[(ec.ACCURACY, None, None)] == pytest.approx((predicted == labels).mean(), abs=1e-6)
    assert got[(ec.MACRO_F1, None, None)] == pytest.approx(
        skm.f1_score(labels, predicted, average="macro"), abs=1e-9
    )
    assert got[(ec.EXAMPLE_COUNT, None, None)] == len(labels)


def test_the_light_slice_really_has_a_never_and_an_always_predicted_class(data, result):
    labels, probs = _arrays(data, (data["ink_density"] == "light").to_numpy())
    predicted = probs.argmax(axis=1)
    assert not (predicted == 2).any() and (predicted == 7).all()
    got = result[(("ink_density", "light"),)]
    assert got[(ec.RECALL, 2, None)] == 0.0  # TFMA's default top-k threshold says 1.0
    assert got[(ec.RECALL, 7, None)] == 1.0


def test_loss_auc_and_calibration_error(data, result):
    labels, probs = _arrays(data)
    got = result[()]
    # Keras' sparse categorical cross-entropy clips probabilities at 1e-7.
    p_true = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1 - 1e-7)
    assert got[(ec.LOSS, None, None)] == pytest.approx(-np.log(p_true).mean(), rel=1e-4)
    for c in range(10):
        # evaluation.metrics.ExactAUC: from the log-odds histograms, within 1e-3 of
        # scikit-learn's (TFMA's own AUC, on 10,000 buckets, was off by up to 0.03
        # on class 0 here).
        assert got[(ec.AUC, c, None)] == pytest.approx(
            skm.roc_auc_score(labels == c, probs[:, c]), abs=1e-3
        )
    assert got[(ec.ECE, None, 1)] == pytest.approx(_ece(labels, probs), abs=1e-6)
    assert got[(ec.ECE, None, 1)] > 0.05  # the synthetic model is miscalibrated


def test_exact_auc_counts_ties_as_half_and_weights_examples():
    from evaluation.metrics import exact_auc

    scores, labels = [0.1, 0.4, 0.4, 0.8, 0.8, 0.9], [0, 0, 1, 0, 1, 1]
    assert exact_auc(scores, labels, [1] * 6) == pytest.approx(skm.roc_auc_score(labels, scores))
    weights = [1, 2, 1, 1, 3, 1]
    assert exact_auc(scores, labels, weights) == pytest.approx(
        skm.roc_auc_score(labels, scores, sample_weight=weights)
    )
    assert math.isnan(exact_auc([0.2, 0.3], [1, 1], [1, 1]))  # no negatives


def _plots(out):
    found = {}
    for per_slice in tfma.load_plots(out):
        if per_slice.slice_key.single_slice_keys:
            continue
        for kv in per_slice.plot_keys_and_values:
            sub = kv.key.sub_key
            class_id = sub.class_id.value if sub.HasField("class_id") else None
            for field, value in kv.value.ListFields():
                found[(field.name, class_id)] = value
    return found


def test_plots_match_the_predictions(data, result, tmp_path_factory):
    """The confusion matrix, each class's ROC counts and the calibration bins,
    recomputed from the predictions."""
    out = result["__path__"]
    labels, probs = _arrays(data)
    plots = {
        name: value for (name, class_id), value in _plots(out).items() if class_id in (None, 3)
    }
    matrix = plots[ec.CONFUSION_MATRIX_PLOT]
    counts = np.zeros((CLASSES, CLASSES))
    for e in matrix.matrices[0].entries:
        counts[e.actual_class_id, e.predicted_class_id] += e.num_weighted_examples
    assert (
        counts == skm.confusion_matrix(labels, probs.argmax(axis=1), labels=range(CLASSES))
    ).all()
    roc = plots[ec.ROC_PLOT].matrices
    assert len(roc) == ec.ROC_THRESHOLDS
    for m in roc[::37]:
        predicted = probs[:, 3] > m.threshold
        assert m.true_positives == ((labels == 3) & predicted).sum()
        assert m.false_positives == ((labels != 3) & predicted).sum()
        assert m.false_negatives == ((labels == 3) & ~predicted).sum()
    buckets = plots[ec.CALIBRATION_PLOT].buckets
    conf = probs.max(axis=1)
    index = np.minimum((conf * 10).astype(int), 9)
    assert [b.num_weighted_examples.value for b in buckets] == [
        (index == b).sum() for b in range(10)
    ]


def _validate(data, tmp_path_factory, min_class_recall):
    out = str(tmp_path_factory.mktemp("tfma-recall"))
    built = ec.build_eval_config(PipelineConfig(min_class_recall=min_class_recall))
    ec.set_classes(built, CLASSES)
    ec.set_accuracy_threshold(built, 0.0)  # as the Evaluator's knob does
    eval_config = tfma.utils.update_eval_config_with_defaults(
        built, has_baseline=False, rubber_stamp=True
    )
    tfma.analyze_raw_data(data, eval_config, output_path=out)
    return tfma.load_validation_result(out)


def test_min_class_recall_blesses_or_names_the_classes_below_it(data, tmp_path_factory):
    """Each class's recall is a metric TFMA finds under the threshold's key (TFMA's
    own top-k Recall was stored under another key: every run failed)."""
    labels, probs = _arrays(data)
    recall = skm.recall_score(labels, probs.argmax(axis=1), average=None)
    low = _validate(data, tmp_path_factory, float(recall.min()) - 0.01)
    assert low.validation_ok, low
    high = _validate(data, tmp_path_factory, float(np.median(recall)))
    failed = {
        f.metric_key.sub_key.class_id.value
        for s in high.metric_validations_per_slice
        for f in s.failures
        if f.metric_key.name == ec.RECALL
    }
    assert failed == {c for c in range(CLASSES) if recall[c] < np.median(recall)}


def _model_outputs(n, seed=3, margin=6.0, spread=3.0):
    """Labels, float32 softmax probabilities and weights of a fairly good model."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    logits = rng.normal(0, spread, (n, CLASSES))
    logits[np.arange(n), labels] += margin
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (
        labels,
        (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32),
        rng.uniform(0.5, 2.0, n),
    )


def test_histogram_auc_and_roc_points_agree_with_scikit_learn():
    """20,000 weighted examples, scores crowding near 0 and 1: each class's AUC from
    the histograms within 1e-3 of scikit-learn's (in fact ~1e-5), its ROC points exact."""
    from tensorflow_model_analysis.metrics.metric_types import SubKey

    from evaluation import metrics as m

    labels, probs, weights = _model_outputs(20_000)
    stats = m.ClassificationStats.of(labels, probs, weights)
    for c in range(CLASSES):
        expected = skm.roc_auc_score(labels == c, probs[:, c], sample_weight=weights)
        got = m.auc(stats, SubKey(class_id=c))
        assert got == pytest.approx(expected, abs=1e-3), c
        assert abs(got - expected) < 1e-4, c
    fpr, tpr, _ = skm.roc_curve(labels == 4, probs[:, 4], sample_weight=weights)
    roc = m.roc_curve(stats, SubKey(class_id=4)).matrices
    for point in roc[1::50]:
        positive = probs[:, 4] > point.threshold
        assert point.true_positives == pytest.approx(weights[(labels == 4) & positive].sum())
        assert point.false_positives == pytest.approx(weights[(labels != 4) & positive].sum())
        # the point lies on scikit-learn's curve (between its neighbours' steps)
        assert point.recall == pytest.approx(
            np.interp(point.false_positive_rate, fpr, tpr), abs=1e-3
        )


def test_histogram_auc_counts_one_bucket_as_a_tie():
    """Scores closer than a bucket are ties; with every score in its own bucket the
    area is the exact one (exact_auc is histogram_auc on distinct scores)."""
    from evaluation.metrics import exact_auc, histogram_auc

    assert histogram_auc([0, 1, 0], [1, 0, 1]) == pytest.approx(0.5)
    assert histogram_auc([0, 2, 1], [1, 1, 0]) == pytest.approx((2 * 1.5 + 1 * 2) / (3 * 2))
    labels, probs, weights = _model_outputs(500, seed=5)
    assert exact_auc(probs[:, 1], labels == 1, weights) == pytest.approx(
        skm.roc_auc_score(labels == 1, probs[:, 1], sample_weight=weights), abs=1e-12
    )


def _accumulated(combiner, n, seed):
    from tensorflow_model_analysis.metrics.metric_types import StandardMetricInputs

    labels, probs, _ = _model_outputs(n, seed=seed)
    acc = combiner.create_accumulator()
    for label, row in zip(labels, probs, strict=True):
        acc = combiner.add_input(
            acc, StandardMetricInputs({"labels": np.array([label]), "predictions": row})
        )
    return acc, labels, probs


def test_the_accumulator_has_one_size_whatever_the_examples():
    """Same serialized size after 1,000 and after 100,000 examples, and after
    merging two; the merged accumulator holds both halves' counts."""
    import pickle

    from tensorflow_model_analysis.metrics.metric_types import MetricKey

    from evaluation import metrics as m

    combiner = m._StatsCombiner(
        MetricKey(m.stats_key_name(200, 10, m.DEFAULT_NUM_BUCKETS)),
        None,
        200,
        10,
        m.DEFAULT_NUM_BUCKETS,
    )

    def size(acc):
        return len(pickle.dumps(combiner.compact(acc)))

    small, small_labels, small_probs = _accumulated(combiner, 1_000, seed=1)
    large, large_labels, large_probs = _accumulated(combiner, 100_000, seed=2)
    assert size(small) == size(large)
    assert size(small) < 2_000_000  # 10 classes: about 0.35 MB, mostly the histograms
    merged = combiner.merge_accumulators([small, large])
    assert size(merged) == size(large)
    stats = combiner.extract_output(merged)[combiner._key]
    labels = np.concatenate([small_labels, large_labels])
    predicted = np.concatenate([small_probs, large_probs]).argmax(axis=1)
    assert stats.total == 101_000
    assert (stats.confusion == skm.confusion_matrix(labels, predicted)).all()
