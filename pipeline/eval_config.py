"""The TFMA EvalConfig, built from the project config.

The model is evaluated as a generic TF model through its `serving_default`
signature (raw tf.Examples in, `probabilities` out); the label comes from the
raw examples.
"""
from __future__ import annotations

import tensorflow_model_analysis as tfma

from trainer.model import NUM_CLASSES
from trainer.preprocessing import LABEL_KEY

PREDICTION_KEY = "probabilities"
ACCURACY = "sparse_categorical_accuracy"
SLICE_FEATURES = ("ink_density",)


def slicing_specs(config) -> list:
    specs = [tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[LABEL_KEY])]
    for feature in SLICE_FEATURES:
        specs.append(tfma.SlicingSpec(feature_keys=[feature]))
    for item in config.slice_features:
        keys = [k.strip() for k in item.split("*") if k.strip()]
        if keys and keys not in ([LABEL_KEY], *([f] for f in SLICE_FEATURES)):
            specs.append(tfma.SlicingSpec(feature_keys=keys))
    return specs


def build_eval_config(config) -> tfma.EvalConfig:
    accuracy_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": config.accuracy_threshold}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -config.regression_tolerance}))
    overall = tfma.MetricsSpec(metrics=[
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(class_name="SparseCategoricalAccuracy",
                          threshold=accuracy_threshold),
        tfma.MetricConfig(class_name="SparseCategoricalCrossentropy"),
        tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
    ])
    recall_threshold = None
    if config.min_class_recall > 0:
        recall_threshold = tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
            lower_bound={"value": config.min_class_recall}))
    per_class = tfma.MetricsSpec(
        binarize=tfma.BinarizationOptions(class_ids={"values": list(range(NUM_CLASSES))}),
        metrics=[
            tfma.MetricConfig(class_name="Precision"),
            tfma.MetricConfig(class_name="Recall", threshold=recall_threshold),
            tfma.MetricConfig(class_name="AUC"),
        ])
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key=LABEL_KEY,
                                    prediction_key=PREDICTION_KEY)],
        slicing_specs=slicing_specs(config),
        metrics_specs=[overall, per_class],
    )
