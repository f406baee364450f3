"""The Trainer's entry point: a thin run_fn over plain, testable functions."""

from __future__ import annotations

import math
import os

import keras
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from trainer import data, export, training, warm_start
from trainer import model as model_lib
from trainer.hparams import HParams

EVAL_BATCH_SIZE = 256
INPUT_CACHE_DIR = "input_cache"  # under the model run dir, during training only
# Cache files pay from about this many passes over a split. Measured at 1.8M
# 28x28 examples (1.44M training): writing the cache made the first epoch
# 41.0 s against 10.2 s re-reading, later epochs took 3.5-4.4 s against
# 10.2-10.9 s; at 1.8k both first epochs took 0.07 s (docs/model.md).
CACHE_FROM_EPOCHS = 6


def caches_input(train_steps: int, steps_per_epoch: int) -> bool:
    """Whether training reads each split often enough for cache files to pay."""
    return training.epochs_for(train_steps, steps_per_epoch) >= CACHE_FROM_EPOCHS


def prepare_model(hp: HParams, base_model_dir: str | None = None) -> keras.Model:
    """Builds the model; with warm_start, copies what fits of the base model.

    Without a base model (a first run) it trains from scratch and freezes
    nothing: frozen random filters would learn nothing. A base model trained
    on other classes, channels or image sizes gives its filters and a new head
    is trained (warm_start.transfer_weights); the log says what was kept.
    """
    model = model_lib.from_hparams(hp)
    if not hp.warm_start:
        return model
    if base_model_dir is None or not warm_start.has_base_model(base_model_dir):
        logging.info("tiedflow: warm start requested but no base model found; from scratch")
        return model
    transfer = warm_start.load_base_weights(model, base_model_dir, list(hp.class_names))
    logging.info("tiedflow: warm start from %s: %s", base_model_dir, transfer.describe())
    if hp.freeze_filters:
        model_lib.freeze_features(model)
        logging.info(
            "tiedflow: filters frozen; %d trainable params",
            sum(int(v.shape.num_elements()) for v in model.trainable_variables),
        )
    return model


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (`trainer.task.run_fn`).

    `train_steps` 0 (the default) chooses the budget from the image size and
    the number of training examples (training.auto_steps)."""
    hp = HParams.from_custom_config(
        fn_args.custom_config or {}, train_steps=int(fn_args.train_steps or 0)
    )
    if not hp.class_names:
        raise ValueError(
            "the Trainer needs the data's class names in custom_config "
            "(components.trainer adds them from the Examples artifact)"
        )
    if hp.train_examples < 1:
        raise ValueError(
            "the Trainer needs the number of training examples in custom_config "
            "(components.trainer adds it from the Examples artifact)"
        )
    training.set_seeds(hp.seed)
    batch_size = training.batch_size_for(hp)
    n_train = hp.train_examples
    steps = hp.train_steps or training.auto_steps(n_train, hp.input_shape, batch_size)
    steps_per_epoch = math.ceil(n_train / batch_size)
    # Training and eval batches go through Transform's graph, as serving does.
    # When training reads each split CACHE_FROM_EPOCHS times or more, the first
    # pass also writes what comes out to cache files under the model run dir,
    # which later epochs read (removed once training ends); else every epoch
    # reads the files again. Neither holds a split in memory (docs/model.md).
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    cache_dir = os.path.join(fn_args.model_run_dir, INPUT_CACHE_DIR)
    cache = caches_input(steps, steps_per_epoch)
    logging.info(
        "tiedflow: %d epoch(s): input %s",
        training.epochs_for(steps, steps_per_epoch),
        "kept in cache files after the first pass" if cache else "read from the files each epoch",
    )
    if cache:
        tf.io.gfile.makedirs(cache_dir)
    train_ds = data.make_dataset(
        fn_args.train_files,
        tf_transform_output,
        batch_size,
        shuffle=True,
        seed=hp.seed,
        repeat=True,
        cache_file=os.path.join(cache_dir, "train") if cache else None,
    )
    eval_ds = data.make_dataset(
        fn_args.eval_files,
        tf_transform_output,
        EVAL_BATCH_SIZE,
        cache_file=os.path.join(cache_dir, "eval") if cache else None,
    )

    model = prepare_model(hp, getattr(fn_args, "base_model", None))
    logging.info(
        "tiedflow: %s, %d params (%d conv), %dx%dx%d images, %d classes, %d steps%s",
        model.name,
        model.count_params(),
        model_lib.conv_parameter_count(model),
        *hp.input_shape,
        len(hp.class_names),
        steps,
        "" if hp.train_steps else " (automatic budget)",
    )
    try:
        training.fit(
            model,
            train_ds,
            eval_ds,
            hp,
            steps,
            steps_per_epoch,
            log_dir=os.path.join(fn_args.model_run_dir, "logs"),
        )
    finally:
        if cache:
            tf.io.gfile.rmtree(cache_dir)
    export.export_serving_model(model, tf_transform_output, hp, fn_args.serving_model_dir)
