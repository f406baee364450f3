"""Optimizers, seeds and the fit loop: plain functions the Trainer's run_fn calls.

A step is one parameter update. `adam` and `minibatch-sgd` take `batch_size`
examples per step; `sgd` is plain stochastic gradient descent, one example per
step, so it needs far more steps for the same number of epochs.
"""

from __future__ import annotations

import math
import random

import keras
import numpy as np
import tensorflow as tf

from names import EPOCH_LOG_PREFIX
from trainer.hparams import HParams


class EpochLog(keras.callbacks.Callback):
    """Logs one line per epoch (absl INFO): the run's progress display reads them."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        from absl import logging

        logs = logs or {}
        parts = [f"{EPOCH_LOG_PREFIX}{epoch + 1}/{self.epochs}:"]
        for key, label in (
            ("loss", "loss"),
            ("accuracy", "accuracy"),
            ("val_accuracy", "eval accuracy"),
        ):
            if key in logs:
                parts.append(f"{label} {float(logs[key]):.4f}")
        logging.info(" ".join(parts))


def set_seeds(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds: same config and data, same metrics."""
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


# The automatic budget (`train_steps=0`): epochs over the training split,
# more when there are few examples or large images, within these bounds.
AUTO_EPOCHS = (8, 80)
AUTO_REFERENCE_EXAMPLES = 1500  # a split this size at 8x8 trains AUTO_EPOCHS[0] epochs
AUTO_MAX_STEPS = 20000
AUTO_SIZE_POWER = 1.6  # fitted to the two measurements in auto_epochs' docstring


def auto_epochs(n_train: int, image_shape) -> int:
    """Epochs for `n_train` examples of `image_shape` (H, W, C).

    Fewer examples need more passes (augmentation keeps them from being
    memorized); larger images carry more to learn per example. Measured:
    1,437 digits at 8x8 are at 0.99+ after about 10 epochs; 800 28x28
    handwritten digits need about 60-80 with augmentation."""
    side = (int(image_shape[0]) * int(image_shape[1])) ** 0.5
    few = (AUTO_REFERENCE_EXAMPLES / max(1, n_train)) ** 0.5
    epochs = AUTO_EPOCHS[0] * few * (side / 8.0) ** AUTO_SIZE_POWER
    return int(min(AUTO_EPOCHS[1], max(AUTO_EPOCHS[0], round(epochs))))


def auto_steps(n_train: int, image_shape, batch_size: int) -> int:
    """Parameter updates of the automatic budget (at least one epoch)."""
    per_epoch = max(1, math.ceil(n_train / batch_size))
    return int(min(AUTO_MAX_STEPS, auto_epochs(n_train, image_shape) * per_epoch))


def batch_size_for(hp: HParams) -> int:
    return 1 if hp.optimizer == "sgd" else hp.batch_size


def make_optimizer(hp: HParams, train_steps: int) -> keras.optimizers.Optimizer:
    lr = hp.learning_rate
    if hp.lr_decay:
        lr = keras.optimizers.schedules.CosineDecay(
            hp.learning_rate, decay_steps=train_steps, alpha=0.05
        )
    clipping = {"global_clipnorm": hp.clip_norm} if hp.clip_norm > 0 else {}
    if hp.optimizer == "adam":
        return keras.optimizers.Adam(
            learning_rate=lr, beta_1=hp.beta_1, beta_2=hp.beta_2, **clipping
        )
    if hp.optimizer in ("sgd", "minibatch-sgd"):
        return keras.optimizers.SGD(learning_rate=lr, momentum=hp.momentum, **clipping)
    raise ValueError(f"optimizer must be adam, sgd or minibatch-sgd, got {hp.optimizer!r}")


def compile_model(model: keras.Model, hp: HParams, train_steps: int) -> None:
    model.compile(
        optimizer=make_optimizer(hp, train_steps),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def epochs_for(train_steps: int, steps_per_epoch: int) -> int:
    """Keras epochs `fit` runs for `train_steps` updates: each reads the eval
    split once, and the training split once when it is a full pass."""
    return max(1, math.ceil(train_steps / max(1, min(train_steps, steps_per_epoch))))


def fit(
    model: keras.Model,
    train_ds: tf.data.Dataset,
    eval_ds: tf.data.Dataset | None,
    hp: HParams,
    train_steps: int,
    steps_per_epoch: int,
    log_dir: str | None = None,
    verbose: int = 0,
):
    """Compiles and fits for about `train_steps` updates; returns the Keras History.

    `train_ds` must repeat. The eval split is scored after every epoch (the
    TensorBoard curves); with early stopping, training stops once its loss
    has not improved for `early_stopping_patience` epochs and the best
    weights are kept.
    """
    compile_model(model, hp, train_steps)
    epochs = epochs_for(train_steps, steps_per_epoch)
    steps_per_epoch = max(1, min(train_steps, steps_per_epoch))
    callbacks = [EpochLog(epochs)]
    if log_dir:
        callbacks.append(
            keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch", write_graph=False)
        )
    if hp.early_stopping_patience > 0 and eval_ds is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=hp.early_stopping_patience,
                restore_best_weights=True,
                verbose=1,
            )
        )
    return model.fit(
        train_ds,
        validation_data=eval_ds,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=verbose,
    )
