"""Optimizers, seeds, TensorBoard logs and early stopping of the fit loop."""

from __future__ import annotations

import glob

import keras
import numpy as np
import pytest
import tensorflow as tf

from ingestion.examples import to_arrays
from ingestion.split import digits_splits
from trainer import data, training
from trainer import model as model_lib
from trainer.hparams import HParams


@pytest.fixture(scope="module")
def digits():
    splits = digits_splits()
    return to_arrays(splits["train"]), to_arrays(splits["eval"])


def fit(hp, digits, log_dir=None):
    (tx, ty), (ex, ey) = digits
    training.set_seeds(hp.seed)
    batch = training.batch_size_for(hp)
    model = model_lib.build_model(
        8, hp.width, hp.tied_layers, hp.tie_mode, hp.l2, num_classes=10, augment=hp.augment
    )
    history = training.fit(
        model,
        data.from_arrays(tx, ty, batch, shuffle=True, seed=hp.seed, repeat=True),
        data.from_arrays(ex, ey, 256),
        hp,
        hp.train_steps,
        int(np.ceil(len(ty) / batch)),
        log_dir=log_dir,
        verbose=0,
    )
    return model, history


def test_optimizers():
    adam = training.make_optimizer(HParams(optimizer="adam", beta_1=0.8, lr_decay=False), 10)
    assert isinstance(adam, keras.optimizers.Adam) and adam.beta_1 == 0.8
    sgd = training.make_optimizer(HParams(optimizer="sgd", lr_decay=False), 10)
    mini = training.make_optimizer(HParams(optimizer="minibatch-sgd", momentum=0.9), 10)
    assert type(sgd) is keras.optimizers.SGD and type(mini) is keras.optimizers.SGD
    assert mini.momentum == 0.9
    # plain SGD updates once per example, mini-batch SGD once per batch
    assert training.batch_size_for(HParams(optimizer="sgd", batch_size=64)) == 1
    assert training.batch_size_for(HParams(optimizer="minibatch-sgd", batch_size=64)) == 64
    # the cosine schedule decays the learning rate over the run
    decayed = training.make_optimizer(HParams(learning_rate=0.1, lr_decay=True), 100)
    assert float(decayed.learning_rate) == pytest.approx(0.1)
    decayed.iterations.assign(100)
    assert float(decayed.learning_rate) == pytest.approx(0.005)
    with pytest.raises(ValueError, match="optimizer"):
        training.make_optimizer(HParams(optimizer="rmsprop"), 10)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "minibatch-sgd"])
def test_clip_norm_bounds_every_optimizers_update(optimizer):
    """clip_norm scales the gradients to that global norm before the step; 0 is off."""

    def step(clip_norm: float) -> float:
        opt = training.make_optimizer(
            HParams(optimizer=optimizer, learning_rate=0.1, lr_decay=False, clip_norm=clip_norm), 10
        )
        weight = keras.Variable([0.0, 0.0])
        opt.apply_gradients([(keras.ops.convert_to_tensor([30.0, 40.0]), weight)])  # norm 50
        return float(keras.ops.norm(weight))

    clipped, free = step(0.5), step(0.0)
    if optimizer == "adam":  # Adam's first step is lr * sign: clipping keeps the direction
        assert clipped == pytest.approx(free, rel=1e-3)
    else:
        assert clipped == pytest.approx(0.1 * 0.5, rel=1e-4)  # lr x the clipped norm
        assert free == pytest.approx(0.1 * 50, rel=1e-4)


def eval_accuracy(model, digits):
    (ex, ey) = digits[1]
    return float(np.mean(np.argmax(model.predict(ex, verbose=0), axis=-1) == ey))


@pytest.mark.parametrize(
    "optimizer,lr,steps,least",
    [("adam", 1e-2, 100, 0.9), ("minibatch-sgd", 0.1, 100, 0.6), ("sgd", 0.05, 1500, 0.25)],
)
def test_each_optimizer_learns(optimizer, lr, steps, least, digits):
    """Chance is 0.1; plain SGD (one example per step) is the slowest learner."""
    model, _ = fit(
        HParams(optimizer=optimizer, learning_rate=lr, width=16, train_steps=steps), digits
    )
    assert eval_accuracy(model, digits) >= least


def test_same_seed_same_metrics(digits):
    hp = HParams(width=8, train_steps=40)
    first, h1 = fit(hp, digits)
    second, h2 = fit(hp, digits)
    assert h1.history == h2.history
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    _, h3 = fit(HParams(width=8, train_steps=40, seed=7), digits)
    assert h3.history["loss"] != h1.history["loss"]


def test_tensorboard_logs_train_and_eval_curves(digits, tmp_path):
    fit(HParams(width=8, train_steps=50), digits, log_dir=str(tmp_path))
    tags = {}
    for split in ("train", "validation"):
        files = glob.glob(str(tmp_path / split / "events.out.tfevents.*"))
        assert files, f"no {split} event file"
        tags[split] = {
            v.tag
            for f in files
            for e in tf.compat.v1.train.summary_iterator(f)
            for v in e.summary.value
        }
    assert {"epoch_loss", "epoch_accuracy"} <= tags["train"]
    assert {"epoch_loss", "epoch_accuracy"} <= tags["validation"]


def test_early_stopping_stops_and_keeps_best_weights(digits):
    hp = HParams(
        width=8, train_steps=2000, early_stopping_patience=1, learning_rate=0.05, lr_decay=False
    )
    model, history = fit(hp, digits)
    epochs = len(history.history["loss"])
    steps_per_epoch = int(np.ceil(len(digits[0][1]) / hp.batch_size))
    assert epochs < hp.train_steps / steps_per_epoch  # stopped before the budget
    best = min(history.history["val_loss"])
    (ex, ey) = digits[1]
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    restored = model.evaluate(ex, ey, verbose=0, return_dict=True)["loss"]
    assert restored == pytest.approx(best, rel=1e-3, abs=1e-3)
    assert history.history["val_loss"][-1] > best  # the last epoch was worse


def test_config_and_hparams_agree_on_training_defaults():
    from pipeline.config import ConfigError, PipelineConfig

    # The data's shape and classes are not taken from the config (image_size and
    # channels there are ingestion settings): the Trainer's executor fills them in.
    assert HParams.from_config(PipelineConfig(image_size=28, channels=3)) == HParams()
    hp = HParams.from_config(
        PipelineConfig().with_overrides(
            ["optimizer=minibatch-sgd", "momentum=0.9", "tie_mode=channel", "l2=0"]
        )
    )
    assert (hp.optimizer, hp.momentum, hp.tie_mode, hp.l2) == ("minibatch-sgd", 0.9, "channel", 0)
    for bad, knob in [
        ("momentum=1.5", "momentum"),
        ("optimizer=rmsprop", "optimizer"),
        ("tie_mode=rows", "tie_mode"),
        ("l2=-1", "l2"),
    ]:
        with pytest.raises(ConfigError, match=knob):
            PipelineConfig().with_overrides([bad])
