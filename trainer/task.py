"""The Trainer's entry point: a thin run_fn over plain, testable functions."""
from __future__ import annotations

import math
import os

import keras
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from trainer import data, export, model as model_lib
from trainer.hparams import HParams


def make_optimizer(hp: HParams, train_steps: int) -> keras.optimizers.Optimizer:
    lr = hp.learning_rate
    if hp.lr_decay:
        lr = keras.optimizers.schedules.CosineDecay(hp.learning_rate, decay_steps=train_steps,
                                                    alpha=0.05)
    if hp.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=lr, beta_1=hp.beta_1, beta_2=hp.beta_2)
    return keras.optimizers.SGD(learning_rate=lr, momentum=0.9 if hp.optimizer == "minibatch-sgd" else 0.0)


def train(model: keras.Model, train_ds: tf.data.Dataset, eval_ds: tf.data.Dataset,
          hp: HParams, train_steps: int, steps_per_epoch: int, log_dir: str | None = None):
    """Compiles and fits; returns the Keras History."""
    model.compile(optimizer=make_optimizer(hp, train_steps),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    callbacks = []
    if log_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch"))
    if hp.early_stopping_patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", patience=hp.early_stopping_patience,
            restore_best_weights=True))
    epochs = max(1, math.ceil(train_steps / steps_per_epoch))
    return model.fit(train_ds, validation_data=eval_ds, epochs=epochs,
                     steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=2)


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (`trainer.task.run_fn`)."""
    hp = HParams.from_custom_config(fn_args.custom_config or {})
    keras.utils.set_random_seed(hp.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    feature_spec = tf_transform_output.transformed_feature_spec()

    train_ds = data.make_dataset(fn_args.train_files, feature_spec, hp.batch_size,
                                 shuffle=True, seed=hp.seed, repeat=True)
    eval_ds = data.make_dataset(fn_args.eval_files, feature_spec, hp.batch_size)
    n_train = data.count_examples(fn_args.train_files)
    train_steps = int(fn_args.train_steps or hp.train_steps)
    steps_per_epoch = max(1, min(train_steps, math.ceil(n_train / hp.batch_size)))

    model = model_lib.build_model(hp.image_size, hp.width, hp.tied_layers, hp.tie_mode, hp.l2)
    logging.info("tiedflow: %s, %d params (%d conv), %d steps", model.name,
                 model.count_params(), model_lib.conv_parameter_count(model), train_steps)
    train(model, train_ds, eval_ds, hp, train_steps, steps_per_epoch,
          log_dir=os.path.join(fn_args.model_run_dir, "logs"))
    model.save(os.path.join(fn_args.model_run_dir, "model.keras"))
    export.export_serving_model(model, tf_transform_output, hp.image_size,
                                fn_args.serving_model_dir)
