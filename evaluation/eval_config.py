"""The TFMA EvalConfig, built from the pipeline's settings.

`build_eval_config(settings)` reads the evaluation knobs by name from any
object that has them (the pipeline's PipelineConfig).

The model is evaluated as a generic TF model through its `serving_default`
signature (raw tf.Examples in, `probabilities` out); the label comes from the
raw examples.

Slices: overall, each label, each ink density, and the features or crosses
named in `slice_features`.

The class count is not known when the pipeline is built (on Kubeflow the data
is a run parameter): the per-class metrics' class list is left empty here and
completed by `set_classes` when the Evaluator runs, from the Examples artifact
(components.evaluator).

Metrics (all the project's own, evaluation.metrics, registered with TFMA and
derived from one fixed-size accumulator per slice): example count, accuracy, loss and macro F1
(overall and per slice);
per class one-vs-rest precision, recall and F1 of the arg-max prediction (so
they agree with the confusion matrix) and AUC with the ROC curve; the
multi-class confusion matrix; top-label calibration (plot and expected
calibration error, `k=1`).

Thresholds (a TFMA threshold without slices applies to *every* slice, so each
one here names the slices it is meant for):
- absolute, overall slice: accuracy >= accuracy_threshold; ECE <=
  max_calibration_error (when < 1). The accuracy bound is the Evaluator's
  per-run knob (components.evaluator): it is not read here but written into
  the EvalConfig by `set_accuracy_threshold` when the Evaluator runs, so a
  Kubeflow run parameter and a local setting take the same path;
- per slice: each class's recall >= min_class_recall, accuracy on every named
  slice >= min_slice_accuracy (each when > 0);
- change against the baseline: overall accuracy may drop at most
  regression_tolerance, accuracy on each named slice at most
  slice_regression_tolerance. TFX's Evaluator ignores change thresholds when
  there is no baseline (first run), so then only the absolute ones decide.
"""

from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

from names import EXAMPLES_SIGNATURE, INK_DENSITY_KEY, LABEL_KEY, PROBABILITIES_KEY

TFMA_METRICS_MODULE = "evaluation.metrics"
# Slices every evaluation has besides overall: by label and by the slice
# feature ImageExampleGen adds.
BUILTIN_SLICES = ((LABEL_KEY,), (INK_DENSITY_KEY,))
ACCURACY_CLASS = "SparseCategoricalAccuracy"

# Metric names as TFMA stores them (the report and the verdict read these).
EXAMPLE_COUNT = "example_count"
ACCURACY = "sparse_categorical_accuracy"
LOSS = "sparse_categorical_crossentropy"
MACRO_F1 = "macro_f1"
PRECISION = "precision"
RECALL = "recall"
F1 = "f1_score"
AUC = "auc"
ECE = "expected_calibration_error"
# Plots as TFMA stores them: the PlotData field each one fills.
CONFUSION_MATRIX_PLOT = "multi_class_confusion_matrix_at_thresholds"
ROC_PLOT = "confusion_matrix_at_thresholds"
CALIBRATION_PLOT = "calibration_histogram_buckets"
ROC_THRESHOLDS = 200
CALIBRATION_BINS = 10


def slice_feature_keys(config) -> list[tuple[str, ...]]:
    """The built-in slices, then the user's features and crosses (no repeats)."""
    keys: list[tuple[str, ...]] = list(BUILTIN_SLICES)
    for item in config.slice_features:
        key = tuple(k.strip() for k in item.split("*") if k.strip())
        if key and key not in keys and tuple(reversed(key)) not in keys:
            keys.append(key)
    return keys


def slicing_specs(config) -> list:
    return [tfma.SlicingSpec()] + [
        tfma.SlicingSpec(feature_keys=list(k)) for k in slice_feature_keys(config)
    ]


def _bound(lower=None, upper=None):
    bounds = {}
    if lower is not None:
        bounds["lower_bound"] = {"value": lower}
    if upper is not None:
        bounds["upper_bound"] = {"value": upper}
    return tfma.GenericValueThreshold(**bounds)


def _no_drop_beyond(tolerance: float):
    return tfma.GenericChangeThreshold(
        direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -tolerance}
    )


def _on(specs, threshold: tfma.MetricThreshold) -> tfma.PerSliceMetricThreshold:
    return tfma.PerSliceMetricThreshold(slicing_specs=specs, threshold=threshold)


def _metric(class_name: str, module: str = "", per_slice=(), **config) -> tfma.MetricConfig:
    return tfma.MetricConfig(
        class_name=class_name,
        module=module,
        config=json.dumps(config) if config else "",
        per_slice_thresholds=list(per_slice),
    )


UNSET_ACCURACY_BOUND = 2.0  # no accuracy reaches it


def accuracy_thresholds(config) -> list:
    overall = [tfma.SlicingSpec()]
    named = slicing_specs(config)[1:]
    # The lower bound is a placeholder: set_accuracy_threshold writes the
    # Evaluator's accuracy_threshold knob into it when the Evaluator runs. Left
    # unset it is above any accuracy, so it fails closed: nothing is blessed.
    thresholds = [
        _on(
            overall,
            tfma.MetricThreshold(
                value_threshold=_bound(lower=UNSET_ACCURACY_BOUND),
                change_threshold=_no_drop_beyond(config.regression_tolerance),
            ),
        )
    ]
    named_threshold = tfma.MetricThreshold(
        change_threshold=_no_drop_beyond(config.slice_regression_tolerance)
    )
    if config.min_slice_accuracy > 0:
        named_threshold.value_threshold.CopyFrom(_bound(lower=config.min_slice_accuracy))
    thresholds.append(_on(named, named_threshold))
    return thresholds


def build_eval_config(config) -> tfma.EvalConfig:
    overall = [tfma.SlicingSpec()]
    recall_bound = []
    if config.min_class_recall > 0:
        recall_bound = [
            _on(
                overall, tfma.MetricThreshold(value_threshold=_bound(lower=config.min_class_recall))
            )
        ]
    ece_bound = []
    if config.max_calibration_error < 1:
        ece_bound = [
            _on(
                overall,
                tfma.MetricThreshold(value_threshold=_bound(upper=config.max_calibration_error)),
            )
        ]

    def own(class_name, per_slice=(), **config):
        return _metric(class_name, TFMA_METRICS_MODULE, per_slice=per_slice, **config)

    whole = tfma.MetricsSpec(
        metrics=[
            own("ExampleTotal"),
            own(ACCURACY_CLASS, per_slice=accuracy_thresholds(config)),
            own("SparseCategoricalCrossentropy"),
            own("MacroF1"),
            own("ArgmaxConfusionMatrix"),
        ]
    )
    per_class = tfma.MetricsSpec(
        binarize=tfma.BinarizationOptions(class_ids={}),  # set_classes
        metrics=[
            own("ArgmaxPrecision"),
            own("ArgmaxRecall", per_slice=recall_bound),
            own("ArgmaxF1"),
            own("ExactAUC"),
            own("RocCurve", num_thresholds=ROC_THRESHOLDS),
        ],
    )
    top_label = tfma.MetricsSpec(
        binarize=tfma.BinarizationOptions(k_list={"values": [1]}),
        metrics=[
            own("TopLabelCalibration", num_bins=CALIBRATION_BINS),
            own("ExpectedCalibrationError", per_slice=ece_bound, num_bins=CALIBRATION_BINS),
        ],
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=EXAMPLES_SIGNATURE,
                label_key=LABEL_KEY,
                prediction_key=PROBABILITIES_KEY,
            )
        ],
        slicing_specs=slicing_specs(config),
        metrics_specs=[whole, per_class, top_label],
    )


def set_accuracy_threshold(eval_config: tfma.EvalConfig, value: float) -> None:
    """Sets the overall accuracy lower bound in place (the Evaluator's knob).

    Raises ValueError if the EvalConfig has no such bound to set."""
    count = 0
    for spec in eval_config.metrics_specs:
        for metric in spec.metrics:
            if metric.class_name != ACCURACY_CLASS:
                continue
            for per_slice in metric.per_slice_thresholds:
                overall = [s for s in per_slice.slicing_specs if s == tfma.SlicingSpec()]
                if overall and per_slice.threshold.HasField("value_threshold"):
                    per_slice.threshold.value_threshold.lower_bound.value = value
                    count += 1
    if count != 1:
        raise ValueError(
            f"accuracy_threshold: the EvalConfig has {count} overall "
            f"{ACCURACY_CLASS} value thresholds, expected exactly one to set"
        )


def set_classes(eval_config: tfma.EvalConfig, num_classes: int) -> None:
    """Completes the class list in place: binarized class ids 0..num_classes-1
    for the per-class metrics.

    Raises ValueError if the EvalConfig has no such place to set."""
    binarized = 0
    for spec in eval_config.metrics_specs:
        if spec.binarize.HasField("class_ids"):
            spec.binarize.class_ids.values[:] = list(range(num_classes))
            binarized += 1
    if binarized != 1:
        raise ValueError(
            f"the EvalConfig has {binarized} per-class specs, expected one to set the classes of"
        )
