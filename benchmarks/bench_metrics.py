"""The Evaluator's metrics alone: the project's (evaluation.metrics) against TFMA's
stock equivalents, on the same known predictions, through tfma.analyze_raw_data
(real TFMA on Beam, in one process). Prints seconds and microseconds per
example for each, after a small warm-up run of each.

Stock: ExampleCount, SparseCategoricalAccuracy and -Crossentropy (tf_keras),
MultiClassConfusionMatrixPlot, per class Precision, Recall, AUC and
ConfusionMatrixPlot, top-label CalibrationPlot: what the project's metrics
stand in for.

    python benchmarks/bench_metrics.py --n 5000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow_model_analysis as tfma  # noqa: E402

from evaluation import eval_config as ec  # noqa: E402
from names import PROBABILITIES_KEY  # noqa: E402
from pipeline.config import PipelineConfig  # noqa: E402

CLASSES = 10


def frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    logits = rng.normal(0, 3, (n, CLASSES))
    logits[np.arange(n), labels] += 6
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)
    return pd.DataFrame(
        {
            "label": labels,
            "ink_density": rng.choice(["a", "b", "c"], n),
            PROBABILITIES_KEY: list(probs),
        }
    )


def ours() -> tfma.EvalConfig:
    config = ec.build_eval_config(PipelineConfig())
    ec.set_classes(config, CLASSES)
    return config


def stock() -> tfma.EvalConfig:
    config = ours()
    metric = tfma.MetricConfig
    del config.metrics_specs[:]
    config.metrics_specs.extend(
        [
            tfma.MetricsSpec(
                metrics=[
                    metric(class_name="ExampleCount"),
                    metric(class_name="SparseCategoricalAccuracy"),
                    metric(class_name="SparseCategoricalCrossentropy"),
                    metric(class_name="MultiClassConfusionMatrixPlot"),
                ]
            ),
            tfma.MetricsSpec(
                binarize=tfma.BinarizationOptions(class_ids={"values": list(range(CLASSES))}),
                metrics=[
                    metric(class_name=name)
                    for name in ("Precision", "Recall", "AUC", "ConfusionMatrixPlot")
                ],
            ),
            tfma.MetricsSpec(
                binarize=tfma.BinarizationOptions(k_list={"values": [1]}),
                metrics=[metric(class_name="CalibrationPlot")],
            ),
        ]
    )
    return config


def timed(data: pd.DataFrame, config: tfma.EvalConfig) -> float:
    config = tfma.utils.update_eval_config_with_defaults(
        config, has_baseline=False, rubber_stamp=True
    )
    start = time.perf_counter()
    tfma.analyze_raw_data(data, config, output_path=tempfile.mkdtemp(prefix="bench-metrics-"))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    data, warm = frame(args.n), frame(200, seed=1)
    print(f"{args.n} examples, {CLASSES} classes, slices: overall, label, ink_density")
    for name, config in (("evaluation.metrics", ours()), ("TFMA stock", stock())):
        timed(warm, config)
        seconds = timed(data, config)
        print(
            f"{name:<20} {seconds:7.1f} s  {seconds / args.n * 1e6:8.0f} us per example", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
