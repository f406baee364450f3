"""An evaluation artifact read back into plain Python for the report and the verdict.

TFMA stores metrics, plots and the validation result as protos keyed by
slice, model, sub-key (class or top-k) and whether a value is a difference
to the baseline. `load_evaluation` indexes them once; the helpers below answer
what the report shows: a metric on a slice, every threshold with its outcome,
the confusion matrix, ROC points, calibration bins, the weakest slices and
(from TFDV statistics) the class balance of each split.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_specs, metric_types
from tensorflow_model_analysis.slicer import slicer_lib as slicer
from tensorflow_model_analysis.writers import eval_config_writer

from evaluation import eval_config as ec
from names import LABEL_KEY

OVERALL = ()


def class_name(class_names, class_id) -> str:
    """The name of class `class_id` (its id as text when no name is known)."""
    try:
        index = int(class_id)
    except (TypeError, ValueError):
        return str(class_id)
    if class_names and 0 <= index < len(class_names):
        return str(class_names[index])
    return str(class_id)


def slice_text(slice_key, class_names=None) -> str:
    """'Overall' or 'label=3 & ink_density=heavy' (a label by its class name)."""
    if not slice_key:
        return "Overall"
    parts = []
    for column, value in slice_key:
        if isinstance(value, bytes):
            value = value.decode()
        if column == LABEL_KEY:
            value = class_name(class_names, value)
        parts.append(f"{column}={value}")
    return " & ".join(parts)


def _norm_slice(slice_key) -> tuple:
    return tuple((c, v.decode() if isinstance(v, bytes) else v) for c, v in slice_key)


def _slice_order(slice_key) -> tuple:
    """Overall, then by feature, then by value (numbers numerically)."""
    values = tuple(
        (isinstance(v, str), v if not isinstance(v, str) else 0, str(v)) for _, v in slice_key
    )
    return (len(slice_key), tuple(c for c, _ in slice_key), values)


def _metric_index(key: metric_types.MetricKey) -> tuple:
    sub = key.sub_key
    return (
        key.model_name,
        key.name,
        sub.class_id if sub else None,
        sub.k if sub else None,
        bool(key.is_diff),
    )


@dataclasses.dataclass
class ThresholdOutcome:
    slice: str
    metric: str
    kind: str  # "absolute" or "change"
    value: float | None
    bound: str
    status: str  # "passed" or "FAILED"

    @property
    def failed(self) -> bool:
        return self.status == "FAILED"

    def describe(self) -> str:
        value = "missing" if self.value is None else f"{self.value:.4f}"
        what = "change vs baseline" if self.kind == "change" else "value"
        return f"{self.metric} on slice {self.slice}: {what} {value}, bound {self.bound}"


@dataclasses.dataclass
class Evaluation:
    uri: str
    eval_config: tfma.EvalConfig
    candidate: str  # model name of the candidate in TFMA's keys
    baseline: str | None  # model name of the baseline, None on a first run
    slices: list  # slice keys, overall first, in TFMA's order otherwise
    metrics: dict  # slice key -> {(model, name, class_id, k, is_diff): value}
    plots: dict  # slice key -> {(model, plot field, class_id, k): PlotData}
    validation: Any  # tfma ValidationResult
    class_names: list = dataclasses.field(default_factory=list)  # index = class id

    def class_name(self, class_id) -> str:
        return class_name(self.class_names, class_id)

    def slice_text(self, slice_key) -> str:
        return slice_text(slice_key, self.class_names)

    @property
    def has_baseline(self) -> bool:
        return self.baseline is not None

    @property
    def validation_ok(self) -> bool:
        return bool(self.validation.validation_ok)

    def value(
        self, slice_key, name, *, baseline=False, class_id=None, k=None, diff=False
    ) -> float | None:
        model = self.baseline if baseline else self.candidate
        if model is None:
            return None
        found = self.metrics.get(slice_key, {}).get((model, name, class_id, k, diff))
        return None if found is None or math.isnan(found) else found

    def plot(self, slice_key, field, *, baseline=False, class_id=None, k=None):
        model = self.baseline if baseline else self.candidate
        return self.plots.get(slice_key, {}).get((model, field, class_id, k))


def load_evaluation(uri: str, class_names=None) -> Evaluation:
    """Reads a TFMA output directory (a ModelEvaluation artifact's uri); classes
    are shown by `class_names` (index = class id) when given."""
    eval_config, _, _, _ = eval_config_writer.load_eval_run(uri)
    candidate, baseline = "", None
    for spec in eval_config.model_specs:
        if spec.is_baseline:
            baseline = spec.name
        else:
            candidate = spec.name
    metrics: dict[Any, dict[Any, float]] = {}
    order: list[Any] = []
    for per_slice in tfma.load_metrics(uri):
        key = _norm_slice(slicer.deserialize_slice_key(per_slice.slice_key))
        order.append(key)
        values = metrics.setdefault(key, {})
        for kv in per_slice.metric_keys_and_values:
            if kv.value.WhichOneof("type") == "double_value":
                values[_metric_index(metric_types.MetricKey.from_proto(kv.key))] = (
                    kv.value.double_value.value
                )
    plots: dict[Any, Any] = {}
    for per_slice in tfma.load_plots(uri):
        key = _norm_slice(slicer.deserialize_slice_key(per_slice.slice_key))
        for kv in per_slice.plot_keys_and_values:
            sub = kv.key.sub_key
            class_id = sub.class_id.value if sub.HasField("class_id") else None
            k = sub.k.value if sub.HasField("k") else None
            for field, data in kv.value.ListFields():
                plots.setdefault(key, {})[(kv.key.model_name, field.name, class_id, k)] = data
    slices = sorted(set(order), key=_slice_order)
    return Evaluation(
        uri=uri,
        eval_config=eval_config,
        candidate=candidate,
        baseline=baseline,
        slices=slices,
        metrics=metrics,
        plots=plots,
        validation=tfma.load_validation_result(uri),
        class_names=list(class_names or []),
    )


def metric_label(name: str, class_id=None, class_names=None) -> str:
    labels = {
        ec.ACCURACY: "accuracy",
        ec.LOSS: "loss",
        ec.EXAMPLE_COUNT: "example count",
        ec.MACRO_F1: "macro F1",
        ec.ECE: "expected calibration error",
        ec.PRECISION: "precision",
        ec.RECALL: "recall",
        ec.F1: "F1",
        ec.AUC: "AUC",
    }
    label = labels.get(name, name)
    return label if class_id is None else f"{label} (class {class_name(class_names, class_id)})"


def bound_text(threshold) -> str:
    """A value or change threshold in words: '>= 0.9', 'change >= -0.01'."""
    if isinstance(threshold, tfma.GenericValueThreshold):
        parts = []
        if threshold.HasField("lower_bound"):
            parts.append(f">= {threshold.lower_bound.value:g}")
        if threshold.HasField("upper_bound"):
            parts.append(f"<= {threshold.upper_bound.value:g}")
        return " and ".join(parts)
    op = ">=" if threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER else "<="
    if threshold.HasField("absolute"):
        return f"change {op} {threshold.absolute.value:+g}"
    return f"relative change {op} {threshold.relative.value:+g}"


def serialized_threshold(threshold) -> bytes:
    """The threshold as a MetricThreshold's bytes: one key for a value or a change bound."""
    wrapped = tfma.MetricThreshold()
    if isinstance(threshold, tfma.GenericValueThreshold):
        wrapped.value_threshold.CopyFrom(threshold)
    else:
        wrapped.change_threshold.CopyFrom(threshold)
    return wrapped.SerializeToString(deterministic=True)


def _failure_index(validation) -> dict:
    """(slice key, metric index, serialized threshold) -> failure, for every failure."""
    out = {}
    for per_slice in validation.metric_validations_per_slice:
        key = _norm_slice(slicer.deserialize_slice_key(per_slice.slice_key))
        for failure in per_slice.failures:
            index = _metric_index(metric_types.MetricKey.from_proto(failure.metric_key))
            out[(key, index, failure.metric_threshold.SerializeToString(deterministic=True))] = (
                failure
            )
    return out


def threshold_outcomes(ev: Evaluation) -> list[ThresholdOutcome]:
    """Every configured threshold on every slice it applies to, failures first.

    TFMA's validation result lists only failures; a threshold TFMA lists is
    FAILED, any other passed. Without a baseline TFX drops the change
    thresholds from the stored config, so a first run lists absolute ones only.
    """
    failures = _failure_index(ev.validation)
    seen = set()
    outcomes = []
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(
        ev.eval_config.metrics_specs, eval_config=ev.eval_config
    )
    for key, pairs in thresholds.items():
        if key.model_name != ev.candidate:
            continue
        index = _metric_index(key)
        for slice_key in ev.slices:
            for slice_spec, threshold in pairs:
                if slice_spec is not None and not slicer.SingleSliceSpec(
                    spec=slice_spec
                ).is_slice_applicable(slice_key):
                    continue
                change = isinstance(threshold, tfma.GenericChangeThreshold)
                serialized = serialized_threshold(threshold)
                if (slice_key, index, serialized) in seen:
                    continue
                seen.add((slice_key, index, serialized))
                value = ev.metrics.get(slice_key, {}).get(index)
                failed = (slice_key, index, serialized) in failures
                status = "FAILED" if failed else "passed"
                outcomes.append(
                    ThresholdOutcome(
                        slice=ev.slice_text(slice_key),
                        metric=metric_label(key.name, index[2], ev.class_names),
                        kind="change" if change else "absolute",
                        value=value,
                        bound=bound_text(threshold),
                        status=status,
                    )
                )
    # Anything TFMA failed that the loop above did not name (a missing slice...).
    named = {(o.slice, o.metric, o.bound) for o in outcomes if o.failed}
    for (slice_key, index, _), failure in failures.items():
        threshold = failure.metric_threshold
        inner = (
            threshold.value_threshold
            if threshold.HasField("value_threshold")
            else threshold.change_threshold
        )
        label = metric_label(index[1], index[2], ev.class_names)
        if (ev.slice_text(slice_key), label, bound_text(inner)) not in named:
            value = (
                failure.metric_value.double_value.value
                if failure.HasField("metric_value")
                else None
            )
            outcomes.append(
                ThresholdOutcome(
                    slice=ev.slice_text(slice_key),
                    metric=label,
                    kind="change" if index[4] else "absolute",
                    value=value,
                    bound=bound_text(inner) + (f" ({failure.message})" if failure.message else ""),
                    status="FAILED",
                )
            )
    for missing in ev.validation.missing_slices:
        outcomes.append(
            ThresholdOutcome(
                slice=str(missing).strip() or "Overall",
                metric="slice",
                kind="absolute",
                value=None,
                bound="must be present in the evaluation data",
                status="FAILED",
            )
        )
    outcomes.sort(key=lambda o: not o.failed)
    return outcomes


def describe_failures(ev: Evaluation) -> list[str]:
    return [o.describe() for o in threshold_outcomes(ev) if o.failed]


def class_ids(ev: Evaluation) -> list[int]:
    found = {key[2] for values in ev.metrics.values() for key in values if key[2] is not None}
    return sorted(found)


def confusion_matrix(ev: Evaluation, slice_key=OVERALL, *, baseline=False):
    """counts[actual, predicted] of the arg-max prediction, or None."""
    data = ev.plot(slice_key, ec.CONFUSION_MATRIX_PLOT, baseline=baseline)
    if data is None or not data.matrices:
        return None
    entries = data.matrices[0].entries
    n = (
        max(
            [max(e.actual_class_id, e.predicted_class_id) for e in entries]
            + [c for c in class_ids(ev)]
            + [0]
        )
        + 1
    )
    counts = np.zeros((n, n))
    for e in entries:
        if e.predicted_class_id >= 0:
            counts[e.actual_class_id, e.predicted_class_id] += e.num_weighted_examples
    return counts


def roc_points(ev: Evaluation, class_id: int, slice_key=OVERALL, *, baseline=False):
    """(false positive rates, true positive rates) of class `class_id` vs the rest."""
    data = ev.plot(slice_key, ec.ROC_PLOT, baseline=baseline, class_id=class_id)
    if data is None:
        return None
    fpr, tpr = [1.0], [1.0]
    for m in sorted(data.matrices, key=lambda m: m.threshold):
        positives = m.true_positives + m.false_negatives
        negatives = m.false_positives + m.true_negatives
        fpr.append(m.false_positives / negatives if negatives else 0.0)
        tpr.append(m.true_positives / positives if positives else 0.0)
    fpr.append(0.0)
    tpr.append(0.0)
    return fpr[::-1], tpr[::-1]


@dataclasses.dataclass
class CalibrationBin:
    lower: float
    upper: float
    examples: float
    accuracy: float
    confidence: float


def calibration_bins(ev: Evaluation, slice_key=OVERALL, *, baseline=False) -> list:
    """Non-empty bins of the top-label calibration plot."""
    data = ev.plot(slice_key, ec.CALIBRATION_PLOT, baseline=baseline, k=1)
    if data is None:
        return []
    bins = []
    for b in data.buckets:
        n = b.num_weighted_examples.value
        if n > 0:
            bins.append(
                CalibrationBin(
                    lower=max(b.lower_threshold_inclusive, 0.0),
                    upper=min(b.upper_threshold_exclusive, 1.0),
                    examples=n,
                    accuracy=b.total_weighted_label.value / n,
                    confidence=b.total_weighted_refined_prediction.value / n,
                )
            )
    return bins


@dataclasses.dataclass
class WeakSlice:
    slice: str
    examples: float
    accuracy: float
    baseline_accuracy: float | None
    top_confusion: str  # e.g. "3 read as 8 (4x)"


def top_confusions(counts, limit: int = 3) -> list[tuple[int, int, float]]:
    if counts is None:
        return []
    off = [(int(a), int(p), counts[a, p]) for a, p in zip(*np.nonzero(counts)) if a != p]
    return sorted(off, key=lambda t: (-t[2], t[0], t[1]))[:limit]


def weakest_slices(ev: Evaluation, limit: int = 5) -> list[WeakSlice]:
    """The named slices with the lowest accuracy (ties: the larger slice first)."""
    rows = []
    for slice_key in ev.slices:
        accuracy = ev.value(slice_key, ec.ACCURACY)
        if slice_key == OVERALL or accuracy is None:
            continue
        confusions = top_confusions(confusion_matrix(ev, slice_key), 1)
        text = (
            f"{ev.class_name(confusions[0][0])} read as "
            f"{ev.class_name(confusions[0][1])} ({confusions[0][2]:g}x)"
            if confusions
            else "none"
        )
        rows.append(
            WeakSlice(
                slice=ev.slice_text(slice_key),
                examples=ev.value(slice_key, ec.EXAMPLE_COUNT) or 0,
                accuracy=accuracy,
                baseline_accuracy=ev.value(slice_key, ec.ACCURACY, baseline=True),
                top_confusion=text,
            )
        )
    rows.sort(key=lambda r: (r.accuracy, -r.examples))
    return rows[:limit]


def load_statistics(uri: str) -> dict:
    """split name -> DatasetFeatureStatistics, from a StatisticsGen artifact's uri."""
    import tensorflow_data_validation as tfdv

    out = {}
    for path in sorted(tf.io.gfile.glob(os.path.join(uri, "Split-*", "FeatureStats.pb"))):
        split = os.path.basename(os.path.dirname(path))[len("Split-") :]
        stats = tfdv.load_stats_binary(path)
        if stats.datasets:
            out[split] = stats.datasets[0]
    return out


@dataclasses.dataclass
class Distribution:
    feature: str
    exact: bool  # False for numeric features (TFDV's histogram is a sketch)
    counts: dict  # split -> {value label: count}


def value_distribution(statistics: dict, feature: str) -> Distribution | None:
    """How often each value of `feature` occurs per split.

    Categorical features carry exact counts. For an integer feature (the
    label) TFDV keeps a 10-bucket histogram built from a quantile sketch; when
    every bucket spans at most one integer the buckets are read as per-value
    counts, rounded (so approximate).
    """
    counts, exact = {}, True
    for split, dataset in statistics.items():
        feat = next((f for f in dataset.features if f.path.step == [feature]), None)
        if feat is None:
            continue
        if feat.HasField("string_stats") and feat.string_stats.rank_histogram.buckets:
            counts[split] = {
                b.label: b.sample_count for b in feat.string_stats.rank_histogram.buckets
            }
            continue
        if not feat.HasField("num_stats"):
            continue
        hist = next((h for h in feat.num_stats.histograms if h.type == h.STANDARD), None)
        if hist is None:
            continue
        exact = False
        per_value: dict = {}
        buckets = list(hist.buckets)
        for i, b in enumerate(buckets):
            last = i == len(buckets) - 1
            ints = [
                v
                for v in range(math.ceil(b.low_value), math.floor(b.high_value) + 1)
                if v < b.high_value or last or b.low_value == b.high_value
            ]
            if len(ints) > 1:
                return None  # buckets wider than one value: not a per-class count
            if ints:
                per_value[str(ints[0])] = per_value.get(str(ints[0]), 0) + round(b.sample_count)
        counts[split] = per_value
    if not counts:
        return None
    return Distribution(feature=feature, exact=exact, counts=counts)
