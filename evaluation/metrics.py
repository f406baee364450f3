"""Two metrics TFMA 0.47 lacks, written as TFMA metrics so they run inside the
Evaluator (also in a Kubeflow container), are stored per slice and can carry
thresholds like any other.

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
"""
from __future__ import annotations

import math
from typing import Dict, Optional

from tensorflow_model_analysis.metrics import calibration_histogram
from tensorflow_model_analysis.metrics import confusion_matrix_metrics
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.metrics import metric_util
from tensorflow_model_analysis.proto import config_pb2

ECE_NAME = "expected_calibration_error"
MACRO_F1_NAME = "macro_f1"
DEFAULT_NUM_BINS = 10


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
