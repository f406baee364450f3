"""Tied against untied: trains each variant on the embedded digits and prints a table.

Same split as the pipeline (ingestion.split.split_records), same
preprocessing (trainer.preprocessing's per-channel standardization, analyzed
over the training split by TFT on Beam, as Transform does), the trainer's default
hyperparameters (PipelineConfig) unless --set overrides them. Writes a JSON
list of {variant, conv_params, total_params, eval_accuracy,
train_examples_per_s, wall_s} to --out, or to $BENCH_OUT.

    BENCH_OUT=bench_out/trainer.json python benchmarks/bench_trainer.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ingestion.split import digits_splits  # noqa: E402
from names import IMAGE_KEY, LABEL_KEY, RAW_IMAGE_KEY  # noqa: E402
from pipeline.config import PipelineConfig  # noqa: E402
from trainer import data, training  # noqa: E402
from trainer import model as model_lib
from trainer.hparams import HParams  # noqa: E402

VARIANTS = {"tied-depth": "depth", "tied-channel": "channel", "untied": "none"}


DIGITS_SIZE = 8
DIGITS_CLASSES = tuple(str(i) for i in range(10))


def digits_arrays(config: PipelineConfig):
    """(train_x, train_y, eval_x, eval_y): flat images as Transform's graph gives them."""
    splits = digits_splits(config.image_size or DIGITS_SIZE, config.eval_percent, config.seed)
    done = transformed(splits)
    return (*done["train"], *done["eval"])


def transformed(splits) -> dict:
    """Each split through preprocessing_fn, its analyzers run over the training split."""
    import functools
    import tempfile

    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    from trainer.preprocessing import CHANNELS_KEY, preprocessing_fn

    def rows(records):
        return [
            {RAW_IMAGE_KEY: r.pixels.reshape(-1).astype(np.int64), LABEL_KEY: r.label}
            for r in records
        ]

    values = splits["train"][0].pixels.size
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(
            {
                RAW_IMAGE_KEY: tf.io.FixedLenFeature([values], tf.int64),
                LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
            }
        )
    )
    fn = functools.partial(preprocessing_fn, custom_config={CHANNELS_KEY: 1})
    done = {}
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(), force_tf_compat_v1=False):
        transform_fn = (rows(splits["train"]), metadata) | tft_beam.AnalyzeDataset(fn)
        for name, records in splits.items():
            out, _ = ((rows(records), metadata), transform_fn) | tft_beam.TransformDataset()
            done[name] = (
                np.stack([row[IMAGE_KEY] for row in out]).astype(np.float32),
                np.array([row[LABEL_KEY] for row in out], dtype=np.int64),
            )
    return done


def with_data(hp: HParams, config: PipelineConfig) -> HParams:
    """The settings the Trainer's executor adds from the data (here: the digits)."""
    size = config.image_size or DIGITS_SIZE
    return hp.replace(
        image_height=size, image_width=size, image_channels=1, class_names=DIGITS_CLASSES
    )


def bench_variant(variant: str, hp: HParams, arrays) -> dict:
    train_x, train_y, eval_x, eval_y = arrays
    hp = HParams(**{**hp.to_custom_config(), "tie_mode": VARIANTS[variant]})
    start = time.time()
    training.set_seeds(hp.seed)
    batch = training.batch_size_for(hp)
    train_ds = data.from_arrays(train_x, train_y, batch, shuffle=True, seed=hp.seed, repeat=True)
    eval_ds = data.from_arrays(eval_x, eval_y, 256)
    model = model_lib.from_hparams(hp)
    train_steps = hp.train_steps or training.auto_steps(len(train_y), hp.input_shape, batch)
    fit_start = time.time()
    history = training.fit(
        model, train_ds, eval_ds, hp, train_steps, int(np.ceil(len(train_y) / batch)), verbose=0
    )
    fit_s = time.time() - fit_start
    steps = len(history.history["loss"]) * min(train_steps, int(np.ceil(len(train_y) / batch)))
    predicted = np.argmax(model.predict(eval_x, batch_size=256, verbose=0), axis=-1)
    return {
        "variant": variant,
        "conv_params": model_lib.conv_parameter_count(model),
        "total_params": int(model.count_params()),
        "eval_accuracy": round(float(np.mean(predicted == eval_y)), 4),
        "train_examples_per_s": round(steps * batch / fit_s, 1),
        "wall_s": round(time.time() - start, 2),
    }


def warm_up(hp: HParams, arrays) -> None:
    """A few steps first, so the first variant does not pay TensorFlow's start-up."""
    tiny = HParams(**{**hp.to_custom_config(), "train_steps": 3})
    train_x, train_y = arrays[0][:64], arrays[1][:64]
    model = model_lib.from_hparams(hp)
    training.fit(
        model, data.from_arrays(train_x, train_y, 32, repeat=True), None, tiny, 3, 3, verbose=0
    )


def table(rows: list[dict]) -> str:
    cols = [
        "variant",
        "conv_params",
        "total_params",
        "eval_accuracy",
        "train_examples_per_s",
        "wall_s",
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("BENCH_OUT", "bench_out/trainer.json"))
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config knob, as `tiedflow run --set`",
    )
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    tf.get_logger().setLevel("ERROR")
    config = PipelineConfig().with_overrides(args.set)
    hp = with_data(HParams.from_config(config), config)
    arrays = digits_arrays(config)
    warm_up(hp, arrays)
    rows = [bench_variant(v, hp, arrays) for v in args.variants.split(",")]
    print(
        f"digits: {len(arrays[1])} train / {len(arrays[3])} eval examples; "
        f"width={hp.width} tied_layers={hp.tied_layers} optimizer={hp.optimizer} "
        f"train_steps={hp.train_steps or 'auto'} batch_size={hp.batch_size} "
        f"learning_rate={hp.learning_rate} l2={hp.l2}"
    )
    print(table(rows))
    by = {r["variant"]: r for r in rows}
    if "tied-depth" in by and "untied" in by:
        tied, untied = by["tied-depth"], by["untied"]
        print(
            f"tied-depth: {1 - tied['conv_params'] / untied['conv_params']:.0%} fewer conv "
            f"params, accuracy {100 * (tied['eval_accuracy'] - untied['eval_accuracy']):+.2f} "
            "points against untied"
        )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(rows, f, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
