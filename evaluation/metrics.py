"""The project's own TFMA metrics. They run inside the Evaluator (also in a
Kubeflow container), are stored per slice and can carry thresholds like any
other; the EvalConfig names this module for them.

Two that TFMA 0.47 lacks:

ExpectedCalibrationError: TFMA has a calibration plot but no single
calibration figure that a threshold or a table can use. It derives one from the same
calibration histogram the plot uses: the predictions are cut into
`num_bins` equal-width bins over [0, 1] and

    ECE = sum over bins |sum(labels) - sum(predictions)| / number of examples,

the example-weighted mean gap between confidence and accuracy. Used under a
`k_list=[1]` binarization (label 1 when the top prediction is right,
prediction the top probability) it is the usual top-label ECE of a classifier.

MacroF1: TFMA's macro averaging looks up per-class values without the
`top_k=1` setting that makes one-vs-rest precision, recall and F1 agree with
the arg-max prediction (and the confusion matrix), so it cannot average them.
This metric averages TFMA's own top-1 F1Score over the classes.

Three in place of slower ones, under the names the thresholds, the report and
the verdict read (measured on the 359 eval examples: Evaluator 12 s -> 5 s):

SparseCategoricalAccuracy, SparseCategoricalCrossentropy: TFMA wraps these
tf_keras metrics and converts them with autograph on every evaluation (about
2 s). These are computed natively: the accuracy from the arg-max confusion
matrix MultiClassConfusionMatrixPlot already computes (no extra pass), the
cross-entropy as tf_keras does from probabilities (clipped to [1e-7, 1 - 1e-7],
renormalised). Same class and metric names; the EvalConfig selects them with
`module=` (they are not registered, so they never stand in for tf_keras' own
elsewhere).

ExactAUC (stored as `auc`): TFMA's AUC bins the scores into 10,000 buckets,
re-binned in Python for every class and slice (about 4 s here), and is off by
up to 0.03 when softmax scores crowd near 0. This one keeps each slice's
(score, label, weight) triples and computes the exact area (ties count one
half, as scikit-learn's roc_auc_score); its memory grows with the eval split.
(Named ExactAUC: TFMA resolves a registered class name such as `AUC` before
it looks at the module.)

One in place of TFMA's own, so that a threshold on it works:

ClassRecall (stored as `recall`), under a `class_ids` binarization: the share
of a class's examples whose arg-max prediction is that class, from the same
arg-max confusion matrix. TFMA's Recall gets the arg-max semantics from a
`top_k=1` setting, which puts `top_k` into its metric keys, while the keys of
the thresholds TFMA derives from the MetricsSpec carry the class id only: a
bound on it was never matched and failed every run. This one is keyed by the
class id alone, so `min_class_recall` blesses or fails class by class.
"""
from __future__ import annotations

import math
from typing import Dict, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import calibration_histogram
from tensorflow_model_analysis.metrics import confusion_matrix_metrics
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.metrics import metric_util
from tensorflow_model_analysis.metrics import multi_class_confusion_matrix_metrics as mccm
from tensorflow_model_analysis.proto import config_pb2

ECE_NAME = "expected_calibration_error"
MACRO_F1_NAME = "macro_f1"
ACCURACY_NAME = "sparse_categorical_accuracy"
RECALL_NAME = "recall"
CROSSENTROPY_NAME = "sparse_categorical_crossentropy"
AUC_NAME = "auc"
DEFAULT_NUM_BINS = 10
EPSILON = 1e-7  # tf_keras' backend.epsilon(): probabilities are clipped to [eps, 1 - eps]


class ExpectedCalibrationError(metric_types.Metric):
    """Top-label expected calibration error over `num_bins` equal-width bins."""

    def __init__(self, num_bins: int = DEFAULT_NUM_BINS, name: str = ECE_NAME):
        super().__init__(metric_util.merge_per_key_computations(_ece_computations),
                         num_bins=num_bins, name=name)


metric_types.register_metric(ExpectedCalibrationError)


def bin_edges(num_bins: int) -> list:
    return [i / num_bins for i in range(num_bins)]


def ece_from_histogram(histogram, num_bins: int) -> float:
    """ECE of a TFMA calibration histogram (buckets over [0, 1])."""
    bins = calibration_histogram.rebin(bin_edges(num_bins), histogram)
    total = sum(b.weighted_examples for b in bins)
    if total <= 0:
        return float("nan")
    return sum(abs(b.weighted_labels - b.weighted_predictions) for b in bins) / total


def _ece_computations(
        num_bins: int = DEFAULT_NUM_BINS,
        name: str = ECE_NAME,
        eval_config: Optional[config_pb2.EvalConfig] = None,
        model_name: str = "",
        output_name: str = "",
        sub_key: Optional[metric_types.SubKey] = None,
        aggregation_type: Optional[metric_types.AggregationType] = None,
        class_weights: Optional[Dict[int, float]] = None,
        example_weighted: bool = False) -> metric_types.MetricComputations:
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 sub_key=sub_key, example_weighted=example_weighted)
    computations = calibration_histogram.calibration_histogram(
        eval_config=eval_config, model_name=model_name, output_name=output_name,
        sub_key=sub_key, aggregation_type=aggregation_type, class_weights=class_weights,
        example_weighted=example_weighted)
    histogram_key = computations[-1].keys[-1]

    def result(metrics):
        return {key: ece_from_histogram(metrics[histogram_key], num_bins)}

    computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
    return computations


class MacroF1(metric_types.Metric):
    """Unweighted mean over `num_classes` classes of the top-1 one-vs-rest F1."""

    def __init__(self, num_classes: int, name: str = MACRO_F1_NAME):
        super().__init__(metric_util.merge_per_key_computations(_macro_f1_computations),
                         num_classes=num_classes, name=name)


metric_types.register_metric(MacroF1)


def _macro_f1_computations(
        num_classes: int,
        name: str = MACRO_F1_NAME,
        eval_config: Optional[config_pb2.EvalConfig] = None,
        model_name: str = "",
        output_name: str = "",
        example_weighted: bool = False) -> metric_types.MetricComputations:
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 example_weighted=example_weighted)
    computations, class_keys = [], []
    for class_id in range(num_classes):
        # A private name (leading underscore): TFMA computes it but does not store it.
        # thresholds=[0.0]: see ARGMAX in evaluation.eval_config.
        per_class = confusion_matrix_metrics.F1Score(
            name=f"_{name}_f1", top_k=1, class_id=class_id, thresholds=[0.0]).computations(
                eval_config=eval_config, model_names=[model_name], output_names=[output_name],
                example_weighted=example_weighted)
        computations.extend(per_class)
        class_keys.append(per_class[-1].keys[-1])

    def result(metrics):
        # NaN: a class neither present nor predicted in the slice; like
        # scikit-learn, average over the classes that occur.
        values = [metrics[k] for k in class_keys if not math.isnan(metrics[k])]
        return {key: sum(values) / len(values) if values else float("nan")}

    computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
    return computations


def _key(name, model_name, output_name, sub_key, example_weighted) -> metric_types.MetricKey:
    return metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                  sub_key=sub_key, example_weighted=example_weighted)


class SparseCategoricalAccuracy(metric_types.Metric):
    """Share of examples whose arg-max class is the label."""

    def __init__(self, name: str = ACCURACY_NAME):
        super().__init__(metric_util.merge_per_key_computations(_accuracy), name=name)


def _argmax_matrix_metric(key, eval_config, model_name, output_name, example_weighted,
                          value) -> metric_types.MetricComputations:
    """A metric derived from the arg-max confusion matrix: `value(entries)` of
    its {MatrixEntryKey(actual, predicted): weighted count}. The same
    computation (threshold 0) as MultiClassConfusionMatrixPlot's, so TFMA
    shares it: no extra pass over the data."""
    computations = mccm.multi_class_confusion_matrices(
        thresholds=[0.0], eval_config=eval_config, model_name=model_name,
        output_name=output_name, example_weighted=example_weighted)
    matrices_key = computations[-1].keys[-1]

    def result(metrics):
        return {key: value(metrics[matrices_key][0.0])}

    computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
    return computations


def _share(right: float, total: float) -> float:
    return float(right) / total if total else float("nan")


def _accuracy(name=ACCURACY_NAME, eval_config=None, model_name="", output_name="",
              sub_key=None, aggregation_type=None, class_weights=None, example_weighted=False):
    def accuracy(entries):
        right = sum(v for k, v in entries.items() if k.actual_class_id == k.predicted_class_id)
        return _share(right, sum(entries.values()))

    return _argmax_matrix_metric(_key(name, model_name, output_name, sub_key, example_weighted),
                                 eval_config, model_name, output_name, example_weighted,
                                 accuracy)


class ClassRecall(metric_types.Metric):
    """Per binarized class: the share of its examples whose arg-max class it is."""

    def __init__(self, name: str = RECALL_NAME):
        super().__init__(metric_util.merge_per_key_computations(_class_recall), name=name)


def _class_recall(name=RECALL_NAME, eval_config=None, model_name="", output_name="",
                  sub_key=None, aggregation_type=None, class_weights=None,
                  example_weighted=False):
    if sub_key is None or sub_key.class_id is None:
        raise ValueError(f"{name}: ClassRecall needs a MetricsSpec binarized by class_ids")
    class_id = sub_key.class_id

    def recall(entries):
        mine = {k: v for k, v in entries.items() if k.actual_class_id == class_id}
        return _share(sum(v for k, v in mine.items() if k.predicted_class_id == class_id),
                      sum(mine.values()))

    return _argmax_matrix_metric(_key(name, model_name, output_name, sub_key, example_weighted),
                                 eval_config, model_name, output_name, example_weighted, recall)


class SparseCategoricalCrossentropy(metric_types.Metric):
    """Mean of -log p[label] over the examples, as tf_keras computes it from probabilities."""

    def __init__(self, name: str = CROSSENTROPY_NAME):
        super().__init__(metric_util.merge_per_key_computations(_crossentropy), name=name)


def _crossentropy(name=CROSSENTROPY_NAME, eval_config=None, model_name="", output_name="",
                  sub_key=None, aggregation_type=None, class_weights=None, example_weighted=False):
    key = _key(name, model_name, output_name, sub_key, example_weighted)
    return [metric_types.MetricComputation(
        keys=[key], preprocessors=None,
        combiner=_CrossentropyCombiner(key, eval_config, example_weighted))]


class _CrossentropyCombiner(beam.CombineFn):
    def __init__(self, key, eval_config, example_weighted):
        self._key, self._eval_config, self._weighted = key, eval_config, example_weighted

    def create_accumulator(self):
        return [0.0, 0.0]  # weighted sum of -log p[label], weight

    def add_input(self, acc, element):
        for label, prediction, weight in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config, model_name=self._key.model_name,
                output_name=self._key.output_name, example_weighted=self._weighted,
                flatten=False, allow_none=False):
            p = np.clip(np.asarray(prediction, dtype=np.float64).reshape(-1),
                        EPSILON, 1 - EPSILON)
            p = p / p.sum()
            w = float(np.asarray(weight).reshape(-1)[0])
            acc[0] += -np.log(p[int(np.asarray(label).reshape(-1)[0])]) * w
            acc[1] += w
        return acc

    def merge_accumulators(self, accs):
        accs = list(accs)
        return [sum(a[0] for a in accs), sum(a[1] for a in accs)]

    def extract_output(self, acc):
        return {self._key: acc[0] / acc[1] if acc[1] else float("nan")}


class ExactAUC(metric_types.Metric):
    """Exact area under the ROC curve of each binarized (one-vs-rest) class."""

    def __init__(self, name: str = AUC_NAME):
        super().__init__(metric_util.merge_per_key_computations(_exact_auc), name=name)


def _exact_auc(name=AUC_NAME, eval_config=None, model_name="", output_name="", sub_key=None,
               aggregation_type=None, class_weights=None, example_weighted=False):
    key = _key(name, model_name, output_name, sub_key, example_weighted)
    return [metric_types.MetricComputation(
        keys=[key], preprocessors=None,
        combiner=_ExactAUCCombiner(key, eval_config, example_weighted, aggregation_type,
                                   class_weights))]


class _ExactAUCCombiner(beam.CombineFn):
    def __init__(self, key, eval_config, example_weighted, aggregation_type, class_weights):
        self._key, self._eval_config, self._weighted = key, eval_config, example_weighted
        self._aggregation_type, self._class_weights = aggregation_type, class_weights

    def create_accumulator(self):
        return ([], [], [])  # scores, labels, weights

    def add_input(self, acc, element):
        for label, prediction, weight in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config, model_name=self._key.model_name,
                output_name=self._key.output_name, sub_key=self._key.sub_key,
                aggregation_type=self._aggregation_type, class_weights=self._class_weights,
                example_weighted=self._weighted, flatten=True):
            acc[0].append(float(prediction[0]))
            acc[1].append(float(label[0]))
            acc[2].append(float(weight[0]))
        return acc

    def merge_accumulators(self, accs):
        out = ([], [], [])
        for acc in accs:
            for i in range(3):
                out[i].extend(acc[i])
        return out

    def extract_output(self, acc):
        return {self._key: exact_auc(*acc)}


def exact_auc(scores, labels, weights) -> float:
    """Weighted ROC AUC: for each positive, the negatives scored below it plus
    half those tied with it; NaN without positives or negatives."""
    s, y, w = (np.asarray(v, dtype=np.float64) for v in (scores, labels, weights))
    pos, neg = w * (y > 0.5), w * (y <= 0.5)
    if pos.sum() == 0 or neg.sum() == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    s, pos, neg = s[order], pos[order], neg[order]
    _, start = np.unique(s, return_index=True)
    neg_at, pos_at = np.add.reduceat(neg, start), np.add.reduceat(pos, start)
    neg_below = np.concatenate([[0.0], np.cumsum(neg_at)[:-1]])
    return float(np.sum(pos_at * (neg_below + 0.5 * neg_at)) / (pos.sum() * neg.sum()))
