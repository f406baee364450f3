"""The project's TFMA metrics: every classification metric and plot of the
evaluation, derived from one fixed-size accumulator per slice.

Written the way TFMA's own metrics are (its confusion-matrix metrics all
derive from one calibration-histogram combiner): one combiner,
`_StatsCombiner`, keeps per slice
- a K x K count of (label, arg-max prediction), weighted;
- per class, histograms of the predicted probability of that class over
  fixed score edges, one for the examples of the class and one for the rest
  (the edges: every ROC threshold, plus `num_buckets` edges evenly spaced in
  log-odds, fine where softmax scores crowd near 0 and 1);
- the top-label calibration bins (weight, weighted correct, weighted top
  probability per bin);
- running sums of the weighted loss and of the weights;
and a buffer of at most BATCH examples, folded into the arrays with numpy a
batch at a time. Its size depends on the number of classes and buckets, never
on the number of examples, and merging adds arrays: what a distributed runner
needs (TFMA's own accumulators are bounded the same way). Each metric and plot
is a TFMA DerivedMetricComputation over that accumulator; TFMA de-duplicates
computations by combiner and key, and every metric keys the combiner on the
same histogram settings (`stats_key_name`), so one pass serves them all.

Why not TFMA's stock combiners: for one-vs-rest metrics they binarize every
example once per class and metric in Python
(`metric_util.to_label_prediction_example_weight`); with 10 classes that was
65% of the Evaluator's time, about 7 ms per eval example. This combiner costs
a few microseconds per example.

The metrics are registered with TFMA (`metric_types.register_metric`) when
this module is imported, and the EvalConfig also names this module
(evaluation.eval_config), so TFMA finds them in a fresh process. Two class
names are also tf_keras metric names (SparseCategoricalAccuracy,
SparseCategoricalCrossentropy): in a process that imported this module, TFMA
resolves those to these, which compute the same figures from probabilities.

What each is, as the report and the thresholds read it:
- `example_count`: the weighted number of examples.
- `sparse_categorical_accuracy`: share whose arg-max class is the label.
- `sparse_categorical_crossentropy`: mean -log p[label], probabilities clipped
  to [1e-7, 1 - 1e-7] and renormalised, as tf_keras computes it.
- per class (sub key `class_id`, one-vs-rest of the arg-max prediction, so
  they agree with the confusion matrix): `precision`, `recall`, `f1_score`;
  NaN when undefined (nothing predicted, or no example of the class).
- `macro_f1`: mean of the per-class F1 over the classes that occur (as
  scikit-learn's average over present labels).
- `auc` per class: area under the one-vs-rest ROC of the class probability,
  from the histograms (scores in one bucket count as tied, one half, as
  scikit-learn counts equal scores); within 1e-3 of scikit-learn's
  roc_auc_score with the default buckets (tests). TFMA's binned AUC, on
  10,000 evenly spaced thresholds, was off by up to 0.03 when softmax scores
  crowd near 0.
- plots: the arg-max confusion matrix, each class's ROC counts at
  `num_thresholds` thresholds (exact: the thresholds are bucket edges), and
  the top-label calibration histogram.
- `expected_calibration_error` (sub key `k=1`): sum over `num_bins`
  equal-width bins of |sum(correct) - sum(top probability)| / examples, the
  usual top-label ECE; TFMA has a calibration plot but no single figure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import metrics_for_slice_pb2 as slice_pb2

STATS_NAME = "_classification_stats"  # leading underscore: computed, not stored
EXAMPLE_COUNT_NAME = "example_count"
ACCURACY_NAME = "sparse_categorical_accuracy"
CROSSENTROPY_NAME = "sparse_categorical_crossentropy"
PRECISION_NAME = "precision"
RECALL_NAME = "recall"
F1_NAME = "f1_score"
MACRO_F1_NAME = "macro_f1"
AUC_NAME = "auc"
ECE_NAME = "expected_calibration_error"
CONFUSION_MATRIX_NAME = "multi_class_confusion_matrix_plot"
ROC_NAME = "confusion_matrix_plot"
CALIBRATION_NAME = "calibration_plot"
DEFAULT_NUM_BINS = 10
DEFAULT_NUM_THRESHOLDS = 200
DEFAULT_NUM_BUCKETS = 2000  # log-odds edges of the score histograms (0.027 apart)
LOG_ODDS_RANGE = (-36.0, 17.0)  # p from about 2e-16 to 1 - 4e-8 (float32's last step)
EPSILON = 1e-7  # tf_keras' backend.epsilon()
BATCH = 1024  # examples buffered before they are folded into the arrays


def roc_thresholds(num_thresholds: int) -> np.ndarray:
    """TFMA's: just below 0, evenly inside (0, 1), just above 1."""
    inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return np.array([-EPSILON, *inner, 1 + EPSILON])


def score_edges(
    num_thresholds: int = DEFAULT_NUM_THRESHOLDS, num_buckets: int = DEFAULT_NUM_BUCKETS
) -> np.ndarray:
    """Sorted bucket edges of the score histograms: the ROC thresholds and
    `num_buckets` points evenly spaced in log-odds. Bucket i holds the scores
    in (edges[i-1], edges[i]]; the first everything up to edges[0], the last
    everything above edges[-1]."""
    fine = 1.0 / (1.0 + np.exp(-np.linspace(*LOG_ODDS_RANGE, num_buckets)))
    return np.unique(np.concatenate([roc_thresholds(num_thresholds), fine]))


def stats_key_name(num_thresholds: int, num_bins: int, num_buckets: int) -> str:
    """The shared combiner's key name: metrics with the same settings share it."""
    return metric_util.generate_private_name_from_arguments(
        STATS_NAME, num_thresholds=num_thresholds, num_bins=num_bins, num_buckets=num_buckets
    )


class ClassificationStats(NamedTuple):
    """One slice's sufficient statistics (the accumulator's arrays, folded)."""

    confusion: np.ndarray  # weighted counts [actual, predicted], K x K
    scores: np.ndarray  # weighted counts [0 = of the class / 1 = not, class, bucket]
    edges: np.ndarray  # the buckets' edges (score_edges)
    calibration: np.ndarray  # [bin, (weight, weighted correct, weighted top probability)]
    loss: float  # sum of weight * -log p[label]
    total: float  # sum of weights

    @classmethod
    def of(
        cls,
        labels,
        probs,
        weights,
        num_thresholds: int = DEFAULT_NUM_THRESHOLDS,
        num_bins: int = DEFAULT_NUM_BINS,
        num_buckets: int = DEFAULT_NUM_BUCKETS,
    ) -> ClassificationStats:
        """From arrays in memory (tests, tools): what the combiner would give."""
        acc = Accumulator(score_edges(num_thresholds, num_buckets), num_bins)
        acc.add_batch(labels, probs, weights)
        return acc.stats()


class Accumulator:
    """Fixed-size arrays plus a buffer of at most BATCH examples (see the module
    docstring). The class count comes from the first batch's probabilities."""

    def __init__(self, edges: np.ndarray, num_bins: int):
        self.edges = edges
        self.num_bins = num_bins
        self.classes = 0
        self.confusion = np.zeros((0, 0))
        self.scores = np.zeros((2, 0, len(edges) + 1))
        self.calibration = np.zeros((num_bins, 3))
        self.loss = 0.0
        self.total = 0.0
        self.buffer: tuple[list, list, list] = ([], [], [])

    def _size_for(self, classes: int) -> None:
        if self.classes == classes:
            return
        if self.classes:
            raise ValueError(
                f"the model's predictions have {classes} classes in one batch "
                f"and {self.classes} in another"
            )
        self.classes = classes
        self.confusion = np.zeros((classes, classes))
        self.scores = np.zeros((2, classes, len(self.edges) + 1))

    def add(self, label: int, probs: np.ndarray, weight: float) -> None:
        labels, rows, weights = self.buffer
        labels.append(label)
        rows.append(probs)
        weights.append(weight)
        if len(labels) >= BATCH:
            self.flush()

    def flush(self) -> Accumulator:
        labels, rows, weights = self.buffer
        if labels:
            self.buffer = ([], [], [])
            self.add_batch(labels, np.stack(rows), weights)
        return self

    def add_batch(self, labels, probs, weights) -> None:
        """Folds a batch of examples into the arrays, with numpy."""
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        n = len(labels)
        if not n:
            return
        probs = np.asarray(probs, dtype=np.float64).reshape(n, -1)
        k = probs.shape[1]
        self._size_for(k)
        if labels.min() < 0 or labels.max() >= k:
            bad = labels[(labels < 0) | (labels >= k)][0]
            raise ValueError(f"label {bad} is not one of the model's {k} classes (0..{k - 1})")
        rows = np.arange(n)
        predicted = probs.argmax(axis=1)
        self.confusion += np.bincount(labels * k + predicted, weights, minlength=k * k).reshape(
            k, k
        )
        buckets = len(self.edges) + 1
        index = np.searchsorted(self.edges, probs, side="left") + np.arange(k) * buckets
        mine = np.zeros((n, k))
        mine[rows, labels] = weights
        for side, w in enumerate((mine, weights[:, None] - mine)):
            self.scores[side] += np.bincount(
                index.ravel(), w.ravel(), minlength=k * buckets
            ).reshape(k, buckets)
        top = probs[rows, predicted]
        correct = (predicted == labels).astype(np.float64)
        bins = np.clip(np.floor(top * self.num_bins), 0, self.num_bins - 1).astype(np.int64)
        for column, w in enumerate((weights, weights * correct, weights * top)):
            self.calibration[:, column] += np.bincount(bins, w, minlength=self.num_bins)
        clipped = np.clip(probs, EPSILON, 1 - EPSILON)
        picked = clipped[rows, labels] / clipped.sum(axis=1)
        self.loss += float(np.sum(-np.log(picked) * weights))
        self.total += float(weights.sum())

    def merge(self, other: Accumulator) -> None:
        other.flush()
        if not other.classes:
            return
        self._size_for(other.classes)
        self.confusion += other.confusion
        self.scores += other.scores
        self.calibration += other.calibration
        self.loss += other.loss
        self.total += other.total

    def stats(self) -> ClassificationStats:
        self.flush()
        return ClassificationStats(
            self.confusion, self.scores, self.edges, self.calibration, self.loss, self.total
        )


def _model_keys(eval_config, model_name: str) -> tuple[str, str]:
    """(label key, prediction key) of `model_name` in the EvalConfig."""
    if eval_config is not None and eval_config.model_specs:
        for spec in eval_config.model_specs:
            name = spec.name if len(eval_config.model_specs) > 1 else ""
            if name == model_name:
                return spec.label_key, spec.prediction_key
    return "", ""


def _pick(value, *keys):
    for key in keys:
        if key and isinstance(value, Mapping) and key in value:
            value = value[key]
    return value


class _StatsCombiner(beam.CombineFn):
    """Folds a slice's examples into an Accumulator."""

    def __init__(
        self,
        key: metric_types.MetricKey,
        eval_config,
        num_thresholds: int,
        num_bins: int,
        num_buckets: int,
    ):
        self._key = key
        self._label_key, self._prediction_key = _model_keys(eval_config, key.model_name)
        self._edges = score_edges(num_thresholds, num_buckets)
        self._num_bins = num_bins

    def create_accumulator(self) -> Accumulator:
        return Accumulator(self._edges, self._num_bins)

    def add_input(self, acc: Accumulator, element) -> Accumulator:
        model, output = self._key.model_name, self._key.output_name
        label = _pick(element.label, model, output, self._label_key)
        probs = _pick(element.prediction, model, output, self._prediction_key)
        if isinstance(label, Mapping) or isinstance(probs, Mapping) or probs is None:
            raise ValueError(
                f"{STATS_NAME}: cannot find the label ({self._label_key!r}) or "
                f"the prediction ({self._prediction_key!r}) of model {model!r}"
            )
        weight = 1.0
        if self._key.example_weighted and element.example_weight is not None:
            weight = float(np.asarray(_pick(element.example_weight, model, output)).reshape(-1)[0])
        acc.add(int(np.asarray(label).reshape(-1)[0]), np.asarray(probs).reshape(-1), weight)
        return acc

    def merge_accumulators(self, accs) -> Accumulator:
        accs = iter(accs)
        result = next(accs).flush()
        for acc in accs:
            result.merge(acc)
        return result

    def compact(self, acc: Accumulator) -> Accumulator:
        return acc.flush()

    def extract_output(self, acc: Accumulator):
        return {self._key: acc.stats()}


def _stats_computations(name: str, value: Callable, plot: bool) -> Callable:
    """TFMA's create-computations function of a metric (or plot, a PlotKey)
    whose result is `value(stats, sub_key, **config)`: the shared combiner,
    then one derived computation per key. Every metric takes the histogram
    settings, so that those configured alike share the combiner."""

    def computations(
        name=name,
        eval_config=None,
        model_name="",
        output_name="",
        sub_key=None,
        example_weighted=False,
        num_thresholds: int = DEFAULT_NUM_THRESHOLDS,
        num_bins: int = DEFAULT_NUM_BINS,
        num_buckets: int = DEFAULT_NUM_BUCKETS,
    ):
        stats_key = metric_types.MetricKey(
            name=stats_key_name(num_thresholds, num_bins, num_buckets),
            model_name=model_name,
            output_name=output_name,
            example_weighted=example_weighted,
        )
        key_type = metric_types.PlotKey if plot else metric_types.MetricKey
        key = key_type(
            name=name,
            model_name=model_name,
            output_name=output_name,
            sub_key=sub_key,
            example_weighted=example_weighted,
        )
        settings = {"num_thresholds": num_thresholds, "num_bins": num_bins}

        def result(metrics):
            return {key: value(metrics[stats_key], sub_key, **settings)}

        combiner = _StatsCombiner(stats_key, eval_config, num_thresholds, num_bins, num_buckets)
        return [
            metric_types.MetricComputation(keys=[stats_key], preprocessors=None, combiner=combiner),
            metric_types.DerivedMetricComputation(keys=[key], result=result),
        ]

    return metric_util.merge_per_key_computations(computations)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else float("nan")


def _class_counts(stats: ClassificationStats, class_id: int) -> tuple[float, float, float]:
    """(true positives, false positives, false negatives) of the arg-max prediction."""
    m = stats.confusion
    if class_id >= m.shape[0]:
        return 0.0, 0.0, 0.0
    tp = float(m[class_id, class_id])
    return tp, float(m[:, class_id].sum()) - tp, float(m[class_id, :].sum()) - tp


def example_count(stats, sub_key=None, **_) -> float:
    return stats.total


def accuracy(stats, sub_key=None, **_) -> float:
    return _ratio(np.trace(stats.confusion), stats.total)


def crossentropy(stats, sub_key=None, **_) -> float:
    return _ratio(stats.loss, stats.total)


def precision(stats, sub_key, **_) -> float:
    tp, fp, _fn = _class_counts(stats, sub_key.class_id)
    return _ratio(tp, tp + fp)


def recall(stats, sub_key, **_) -> float:
    tp, _fp, fn = _class_counts(stats, sub_key.class_id)
    return _ratio(tp, tp + fn)


def f1(stats, sub_key=None, class_id: int | None = None, **_) -> float:
    tp, fp, fn = _class_counts(stats, sub_key.class_id if class_id is None else class_id)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def macro_f1(stats, sub_key=None, **_) -> float:
    values = [f1(stats, class_id=c) for c in range(stats.confusion.shape[0])]
    values = [v for v in values if not np.isnan(v)]
    return sum(values) / len(values) if values else float("nan")


def histogram_auc(positive, negative) -> float:
    """ROC AUC from weighted score histograms in ascending score order: for each
    positive, the negatives in lower buckets plus half those in its own bucket
    (one bucket counts as one tied score); NaN without positives or negatives."""
    pos, neg = np.asarray(positive, np.float64), np.asarray(negative, np.float64)
    if pos.sum() <= 0 or neg.sum() <= 0:
        return float("nan")
    neg_below = np.cumsum(neg) - neg
    return float(np.sum(pos * (neg_below + 0.5 * neg)) / (pos.sum() * neg.sum()))


def exact_auc(scores, labels, weights) -> float:
    """Weighted ROC AUC of examples in memory (each distinct score its own
    bucket): what the histograms approximate."""
    s, y, w = (np.asarray(v, dtype=np.float64) for v in (scores, labels, weights))
    distinct, index = np.unique(s, return_inverse=True)
    pos = np.bincount(index, w * (y > 0.5), minlength=len(distinct))
    neg = np.bincount(index, w * (y <= 0.5), minlength=len(distinct))
    return histogram_auc(pos, neg)


def _one_vs_rest(stats: ClassificationStats, class_id: int):
    """(histogram of the class's examples, of the others) over the class's score."""
    if class_id >= stats.scores.shape[1]:
        return None
    return stats.scores[0, class_id], stats.scores[1, class_id]


def auc(stats, sub_key, **_) -> float:
    pair = _one_vs_rest(stats, sub_key.class_id)
    return float("nan") if pair is None else histogram_auc(*pair)


def roc_curve(stats, sub_key, num_thresholds: int = DEFAULT_NUM_THRESHOLDS, **_):
    """One-vs-rest counts of `score > threshold` at each threshold (each one is a
    bucket edge, so the counts are exact)."""
    plot = slice_pb2.ConfusionMatrixAtThresholds()
    pair = _one_vs_rest(stats, sub_key.class_id)
    if pair is None:
        return plot
    pos_w = np.concatenate([[0.0], np.cumsum(pair[0])])  # [j]: buckets below j
    neg_w = np.concatenate([[0.0], np.cumsum(pair[1])])
    thresholds = roc_thresholds(num_thresholds)
    at = np.atleast_1d(np.searchsorted(stats.edges, thresholds))
    if not np.array_equal(stats.edges[np.minimum(at, len(stats.edges) - 1)], thresholds):
        raise ValueError(
            f"{ROC_NAME}: the histograms were made for other thresholds than "
            f"num_thresholds={num_thresholds}"
        )
    for t, j in zip(thresholds, at, strict=True):
        fn, tn = pos_w[j + 1], neg_w[j + 1]  # scores <= t: predicted negative
        tp, fp = pos_w[-1] - fn, neg_w[-1] - tn
        plot.matrices.add(
            threshold=float(t),
            true_positives=tp,
            false_positives=fp,
            true_negatives=tn,
            false_negatives=fn,
            precision=_ratio(tp, tp + fp) if tp + fp else 1.0,
            recall=_ratio(tp, tp + fn) if tp + fn else 1.0,
            false_positive_rate=_ratio(fp, fp + tn) if fp + tn else 0.0,
            f1=_ratio(2 * tp, 2 * tp + fp + fn) if tp else 0.0,
            accuracy=_ratio(tp + tn, tp + tn + fp + fn) if stats.total else 0.0,
        )
    return plot


def confusion_matrix(stats, sub_key=None, **_):
    """The arg-max confusion matrix, as TFMA's plot at threshold 0 stores it."""
    plot = slice_pb2.MultiClassConfusionMatrixAtThresholds()
    matrix = plot.matrices.add(threshold=0.0)
    for actual, predicted in zip(*np.nonzero(stats.confusion), strict=True):
        matrix.entries.add(
            actual_class_id=int(actual),
            predicted_class_id=int(predicted),
            num_weighted_examples=float(stats.confusion[actual, predicted]),
        )
    return plot


def calibration(stats, sub_key=None, num_bins: int = DEFAULT_NUM_BINS, **_):
    """Top-label calibration histogram over `num_bins` equal-width bins of [0, 1]."""
    plot = slice_pb2.CalibrationHistogramBuckets()
    for b, (weight, correct, top) in enumerate(stats.calibration):
        bucket = plot.buckets.add(
            lower_threshold_inclusive=b / num_bins, upper_threshold_exclusive=(b + 1) / num_bins
        )
        bucket.num_weighted_examples.value = float(weight)
        bucket.total_weighted_label.value = float(correct)
        bucket.total_weighted_refined_prediction.value = float(top)
    return plot


def expected_calibration_error(stats, sub_key=None, **_) -> float:
    if not stats.total:
        return float("nan")
    gaps = stats.calibration[:, 1] - stats.calibration[:, 2]
    return float(np.abs(gaps).sum() / stats.total)


def _metric_class(
    class_name: str, name: str, value: Callable, plot: bool = False, doc: str = ""
) -> type:
    """A TFMA Metric class over the shared combiner, registered with TFMA."""
    create = _stats_computations(name, value, plot)

    def init(self, name: str = name, **config):
        metric_types.Metric.__init__(self, create, name=name, **config)

    cls = type(
        class_name,
        (metric_types.Metric,),
        {"__init__": init, "__doc__": doc, "__module__": __name__},
    )
    metric_types.register_metric(cls)
    return cls


ExampleTotal = _metric_class(
    "ExampleTotal", EXAMPLE_COUNT_NAME, example_count, doc="Weighted number of examples."
)
SparseCategoricalAccuracy = _metric_class(
    "SparseCategoricalAccuracy",
    ACCURACY_NAME,
    accuracy,
    doc="Share of examples whose arg-max class is the label.",
)
SparseCategoricalCrossentropy = _metric_class(
    "SparseCategoricalCrossentropy",
    CROSSENTROPY_NAME,
    crossentropy,
    doc="Mean -log p[label], as tf_keras computes it from probabilities.",
)
ArgmaxPrecision = _metric_class(
    "ArgmaxPrecision",
    PRECISION_NAME,
    precision,
    doc="One-vs-rest precision of the arg-max prediction.",
)
ArgmaxRecall = _metric_class(
    "ArgmaxRecall", RECALL_NAME, recall, doc="One-vs-rest recall of the arg-max prediction."
)
ArgmaxF1 = _metric_class("ArgmaxF1", F1_NAME, f1, doc="One-vs-rest F1 of the arg-max prediction.")
MacroF1 = _metric_class(
    "MacroF1", MACRO_F1_NAME, macro_f1, doc="Mean per-class F1 over the classes that occur."
)
ExactAUC = _metric_class(
    "ExactAUC",
    AUC_NAME,
    auc,
    doc="One-vs-rest ROC AUC of the class probability, from the "
    "fine score histograms (within 1e-3 of the exact area).",
)
ExpectedCalibrationError = _metric_class(
    "ExpectedCalibrationError",
    ECE_NAME,
    expected_calibration_error,
    doc="Top-label expected calibration error over `num_bins` equal-width bins.",
)
ArgmaxConfusionMatrix = _metric_class(
    "ArgmaxConfusionMatrix",
    CONFUSION_MATRIX_NAME,
    confusion_matrix,
    plot=True,
    doc="Confusion matrix of the arg-max prediction.",
)
RocCurve = _metric_class(
    "RocCurve",
    ROC_NAME,
    roc_curve,
    plot=True,
    doc="One-vs-rest ROC counts at `num_thresholds` thresholds.",
)
TopLabelCalibration = _metric_class(
    "TopLabelCalibration",
    CALIBRATION_NAME,
    calibration,
    plot=True,
    doc="Top-label calibration histogram.",
)
