"""The Trainer's entry point: a thin run_fn over plain, testable functions."""
from __future__ import annotations

import math
import os

import keras
import tensorflow_transform as tft
from absl import logging

from trainer import data, export, model as model_lib, training, warm_start
from trainer.hparams import HParams

EVAL_BATCH_SIZE = 256


def prepare_model(hp: HParams, base_model_dir: str | None = None) -> keras.Model:
    """Builds the model; with warm_start, loads the base model's weights.

    Without a base model (a first run) it trains from scratch and freezes
    nothing: frozen random filters would learn nothing.
    """
    model = model_lib.build_model(hp.image_size, hp.width, hp.tied_layers, hp.tie_mode, hp.l2)
    if not hp.warm_start:
        return model
    if not warm_start.has_base_model(base_model_dir):
        logging.info("tiedflow: warm start requested but no pushed model yet; from scratch")
        return model
    copied = warm_start.load_base_weights(model, base_model_dir)
    logging.info("tiedflow: warm start from %s (%d layers)", base_model_dir, len(copied))
    if hp.freeze_filters:
        model_lib.freeze_features(model)
        logging.info("tiedflow: filters frozen; %d trainable params",
                     sum(int(v.shape.num_elements()) for v in model.trainable_variables))
    return model


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (`trainer.task.run_fn`)."""
    if not fn_args.train_steps:
        raise ValueError("the Trainer needs train_args.num_steps (its train_steps knob)")
    hp = HParams.from_custom_config(fn_args.custom_config or {},
                                    train_steps=int(fn_args.train_steps))
    training.set_seeds(hp.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    raw_spec = tf_transform_output.raw_feature_spec()

    batch_size = training.batch_size_for(hp)
    train_ds = data.make_dataset(fn_args.train_files, raw_spec, batch_size,
                                 shuffle=True, seed=hp.seed, repeat=True)
    eval_ds = data.make_dataset(fn_args.eval_files, raw_spec, EVAL_BATCH_SIZE)
    n_train = data.count_examples(fn_args.train_files)

    model = prepare_model(hp, getattr(fn_args, "base_model", None))
    logging.info("tiedflow: %s, %d params (%d conv), %d steps", model.name,
                 model.count_params(), model_lib.conv_parameter_count(model), hp.train_steps)
    training.fit(model, train_ds, eval_ds, hp, hp.train_steps, math.ceil(n_train / batch_size),
                 log_dir=os.path.join(fn_args.model_run_dir, "logs"))
    export.export_serving_model(model, tf_transform_output, hp, fn_args.serving_model_dir)
