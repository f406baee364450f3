"""The EvalConfig built from the project config: slices, metrics, thresholds."""

from __future__ import annotations

import json

import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_specs

from evaluation import eval_config as ec
from pipeline.config import ConfigError, PipelineConfig


def _thresholds(config: PipelineConfig, num_classes: int = 10) -> dict:
    """TFMA's own reading of the config, its classes completed as the Evaluator
    does: {(metric name, class id): [(slices, threshold)]}."""
    eval_config = ec.build_eval_config(config)
    ec.set_classes(eval_config, num_classes)
    out = {}
    for key, pairs in metric_specs.metric_thresholds_from_metrics_specs(
        eval_config.metrics_specs, eval_config=eval_config
    ).items():
        class_id = key.sub_key.class_id if key.sub_key else None
        out.setdefault((key.name, class_id, key.is_diff), []).extend(pairs)
    return out


def _feature_keys(config: PipelineConfig) -> list:
    return [list(s.feature_keys) for s in ec.build_eval_config(config).slicing_specs]


def test_slices_overall_label_ink_density_and_user_crosses():
    keys = _feature_keys(
        PipelineConfig(slice_features=("label*ink_density", "ink_density", "ink_density*label"))
    )
    # Built-ins once each; a cross and its mirror image are the same slices.
    assert keys == [[], ["label"], ["ink_density"], ["label", "ink_density"]]


@pytest.mark.parametrize("bad", ["pixels", "label*label", "label*", "colour*label"])
def test_unknown_or_malformed_slice_feature_is_rejected_by_name(bad):
    with pytest.raises(ConfigError, match="slice_features"):
        PipelineConfig().with_overrides([f"slice_features={bad}"])


@pytest.mark.parametrize(
    "knob,value",
    [
        ("slice_regression_tolerance", "1.5"),
        ("min_slice_accuracy", "-0.1"),
        ("max_calibration_error", "0"),
    ],
)
def test_bad_evaluation_knob_is_rejected_by_name(knob, value):
    with pytest.raises(ConfigError, match=knob):
        PipelineConfig().with_overrides([f"{knob}={value}"])


def test_accuracy_bound_is_on_overall_slice_only_and_changes_on_every_slice():
    config = PipelineConfig(
        regression_tolerance=0.02,
        slice_regression_tolerance=0.07,
        slice_features=("label*ink_density",),
    )
    thresholds = _thresholds(config)
    value = [(s, t) for s, t in thresholds[(ec.ACCURACY, None, False)]]
    # The bound's value is the Evaluator's accuracy_threshold knob (set when it runs).
    # A placeholder above any accuracy until the Evaluator's knob sets it (fails closed).
    assert [(s, t.lower_bound.value) for s, t in value] == [
        (tfma.SlicingSpec(), ec.UNSET_ACCURACY_BOUND)
    ]
    change = {
        tuple(s.feature_keys): t.absolute.value for s, t in thresholds[(ec.ACCURACY, None, True)]
    }
    assert change == pytest.approx(
        {(): -0.02, ("label",): -0.07, ("ink_density",): -0.07, ("label", "ink_density"): -0.07}
    )
    for _, t in thresholds[(ec.ACCURACY, None, True)]:
        assert t.direction == tfma.MetricDirection.HIGHER_IS_BETTER


def test_per_slice_and_calibration_bounds_exist_only_when_switched_on():
    off = _thresholds(PipelineConfig())
    assert {name for name, _, _ in off} == {ec.ACCURACY}
    on = _thresholds(
        PipelineConfig(min_class_recall=0.8, min_slice_accuracy=0.7, max_calibration_error=0.15)
    )
    recall = {cid: pairs for (name, cid, _), pairs in on.items() if name == ec.RECALL}
    assert sorted(recall) == list(range(10))  # every class's recall, on the overall slice
    assert all(
        s == tfma.SlicingSpec() and t.lower_bound.value == 0.8
        for pairs in recall.values()
        for s, t in pairs
    )
    ((slices, ece),) = on[(ec.ECE, None, False)]
    assert slices == tfma.SlicingSpec() and ece.upper_bound.value == pytest.approx(0.15)
    named = {
        tuple(s.feature_keys): t.lower_bound.value
        for s, t in on[(ec.ACCURACY, None, False)]
        if s != tfma.SlicingSpec()
    }
    assert named == {("label",): 0.7, ("ink_density",): 0.7}


def test_metrics_cover_the_issue_list():
    eval_config = ec.build_eval_config(PipelineConfig())
    ec.set_classes(eval_config, 10)
    by_spec = [
        ({m.class_name: json.loads(m.config or "{}") for m in spec.metrics}, spec.binarize)
        for spec in eval_config.metrics_specs
    ]
    names = {name for metrics, _ in by_spec for name in metrics}
    assert {
        "ExampleTotal",
        "SparseCategoricalAccuracy",
        "SparseCategoricalCrossentropy",
        "MacroF1",
        "ArgmaxConfusionMatrix",
        "ArgmaxPrecision",
        "ArgmaxRecall",
        "ArgmaxF1",
        "ExactAUC",
        "RocCurve",
        "TopLabelCalibration",
        "ExpectedCalibrationError",
    } <= names
    assert all(
        m.module == ec.TFMA_METRICS_MODULE
        for spec in eval_config.metrics_specs
        for m in spec.metrics
    )
    binarize = next(b for m, b in by_spec if "ArgmaxRecall" in m)
    assert list(binarize.class_ids.values) == list(range(10))
    per_class = next(m for m, b in by_spec if "ArgmaxRecall" in m)
    assert per_class["RocCurve"] == {"num_thresholds": ec.ROC_THRESHOLDS}
    calibration = next(b for m, b in by_spec if "TopLabelCalibration" in m)
    assert list(calibration.k_list.values) == [1]


def test_set_accuracy_threshold_moves_only_the_overall_bound():
    eval_config = ec.build_eval_config(PipelineConfig(min_slice_accuracy=0.6))
    ec.set_accuracy_threshold(eval_config, 0.42)
    bounds = {}
    for spec in eval_config.metrics_specs:
        for metric in spec.metrics:
            for per_slice in metric.per_slice_thresholds:
                if per_slice.threshold.HasField("value_threshold"):
                    key = tuple(tuple(s.feature_keys) for s in per_slice.slicing_specs)
                    bounds[key] = per_slice.threshold.value_threshold.lower_bound.value
    assert bounds == {((),): 0.42, (("label",), ("ink_density",)): 0.6}


def test_the_accuracy_bound_is_left_to_the_evaluator_knob():
    """Two configs that differ only in accuracy_threshold build the same EvalConfig:
    the setting reaches the bound through the Evaluator's knob alone."""
    assert ec.build_eval_config(PipelineConfig(accuracy_threshold=0.5)) == ec.build_eval_config(
        PipelineConfig(accuracy_threshold=0.99)
    )


def test_the_class_list_is_left_to_the_evaluator():
    """Built without a class count (the data is a run parameter on Kubeflow);
    set_classes completes the per-class binarization."""
    eval_config = ec.build_eval_config(PipelineConfig(min_class_recall=0.5))
    per_class = [s for s in eval_config.metrics_specs if s.binarize.HasField("class_ids")]
    assert len(per_class) == 1 and list(per_class[0].binarize.class_ids.values) == []
    ec.set_classes(eval_config, 3)
    assert list(per_class[0].binarize.class_ids.values) == [0, 1, 2]
    recall = {
        cid
        for (name, cid, _) in _thresholds(PipelineConfig(min_class_recall=0.5), 3)
        if name == ec.RECALL
    }
    assert recall == {0, 1, 2}
    ec.set_classes(eval_config, 11)  # again, for another data set: replaced, not appended
    assert list(per_class[0].binarize.class_ids.values) == list(range(11))


def test_every_threshold_key_is_a_key_the_metrics_compute():
    """TFMA fails a threshold whose metric key no metric produces: every run
    failed with min_class_recall > 0 when recall was TFMA's top_k=1 Recall."""
    config = PipelineConfig(min_class_recall=0.5, min_slice_accuracy=0.5, max_calibration_error=0.2)
    eval_config = ec.build_eval_config(config)
    ec.set_classes(eval_config, 4)
    computed = {
        key
        for computation in metric_specs.to_computations(
            eval_config.metrics_specs, eval_config=eval_config
        )
        for key in computation.keys
    }
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(
        eval_config.metrics_specs, eval_config=eval_config
    )
    missing = [key for key in thresholds if key._replace(is_diff=False) not in computed]
    assert not missing, missing
    assert {k.sub_key.class_id for k in thresholds if k.name == ec.RECALL} == {0, 1, 2, 3}
