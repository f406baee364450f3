"""Weight sharing is real: one variable, one update, summed gradients, L2 once."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from trainer import model as model_lib

WIDTH, LAYERS, CLASSES = 8, 3, 10
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.random((n, 64), dtype=np.float32),
        rng.integers(0, CLASSES, size=n).astype(np.int64),
    )


def build(tie_mode, l2=1e-3):
    keras.utils.set_random_seed(1)
    return model_lib.build_model(8, WIDTH, LAYERS, tie_mode, l2, num_classes=CLASSES)


def tied_layers(model):
    return [l for l in model.layers if isinstance(l, model_lib.TiedConv2D)]


@pytest.mark.parametrize("tie_mode,banks", [("depth", 1), ("channel", LAYERS)])
def test_one_variable_per_bank(tie_mode, banks):
    model = build(tie_mode)
    shared = model_lib.shared_variables(model)
    assert len(shared) == banks
    # every tied layer convolves with a bank's variable itself, not a copy
    for layer in tied_layers(model):
        assert any(layer.kernel is var for var in shared)
    if tie_mode == "depth":
        assert all(layer.kernel is shared[0] for layer in tied_layers(model))
    # the model tracks each bank variable exactly once
    paths = [v.path for v in model.trainable_variables]
    for var in shared:
        assert sum(v is var for v in model.trainable_variables) == 1
        assert paths.count(var.path) == 1
    # and no tied layer has a kernel of its own
    for layer in tied_layers(model):
        assert [w.path for w in layer._trainable_variables] == [layer.bias.path]


def test_one_optimizer_step_updates_every_use():
    model = build("depth")
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=LOSS)
    before = model_lib.shared_variables(model)[0].numpy().copy()
    x, y = batch()
    model.train_on_batch(x, y)
    after = model_lib.shared_variables(model)[0].numpy()
    assert not np.allclose(before, after)
    for layer in tied_layers(model):
        np.testing.assert_array_equal(layer.kernel.numpy(), after)
    # each layer computes with the new value: its output is a conv with `after`
    layer = tied_layers(model)[1]
    inputs = tf.random.stateless_normal((2, 4, 4, WIDTH), seed=(1, 2))
    expected = tf.nn.conv2d(inputs, after, 1, "SAME") + layer.bias
    np.testing.assert_allclose(layer(inputs).numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


def copy_weights_to_untied(tied, untied):
    """Gives the untied twin the tied model's values: the shared bank in every conv."""
    shared = model_lib.shared_variables(tied)[0].numpy()
    for layer in untied.layers:
        if layer.name.startswith("conv_"):
            i = layer.name.split("_")[1]
            bias = tied.get_layer(f"tied_conv_{i}").bias.numpy()
            layer.set_weights([shared, bias])
        elif layer.weights:
            layer.set_weights(tied.get_layer(layer.name).get_weights())


def test_gradient_on_shared_bank_is_sum_over_its_uses():
    tied, untied = build("depth", l2=0.0), build("none", l2=0.0)
    copy_weights_to_untied(tied, untied)
    x, y = batch()
    np.testing.assert_allclose(tied(x).numpy(), untied(x).numpy(), rtol=1e-5, atol=1e-5)

    shared = model_lib.shared_variables(tied)[0]
    with tf.GradientTape() as tape:
        loss = LOSS(y, tied(x, training=True))
    grad_shared = tape.gradient(loss, shared).numpy()

    kernels = [untied.get_layer(f"conv_{i}").kernel for i in range(LAYERS)]
    with tf.GradientTape() as tape:
        loss = LOSS(y, untied(x, training=True))
    per_use = [g.numpy() for g in tape.gradient(loss, kernels)]

    np.testing.assert_allclose(grad_shared, np.sum(per_use, axis=0), rtol=1e-4, atol=1e-6)
    assert not np.allclose(grad_shared, per_use[0])  # really a sum of several uses


def test_channel_tying_gradient_is_sum_over_channels():
    """One 2D filter on every channel: its gradient sums the per-channel ones."""
    keras.utils.set_random_seed(3)
    bank = model_lib.SharedFilterBank((3, 3), name="bank")
    tied = model_lib.TiedConv2D(bank, depthwise=True)
    inputs = tf.random.stateless_normal((2, 5, 5, 4), seed=(3, 4))
    target = tf.random.stateless_normal((2, 5, 5, 4), seed=(5, 6))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum((tied(inputs) - target) ** 2)
    grad_shared = tape.gradient(loss, bank.kernel).numpy()

    per_channel = tf.Variable(np.tile(bank.kernel.numpy()[:, :, None, None], (1, 1, 4, 1)))
    with tf.GradientTape() as tape:
        out = tf.nn.depthwise_conv2d(inputs, per_channel, [1, 1, 1, 1], "SAME") + tied.bias
        loss = tf.reduce_sum((out - target) ** 2)
    grad_channels = tape.gradient(loss, per_channel).numpy()
    np.testing.assert_allclose(grad_shared, grad_channels.sum(axis=(2, 3)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("tie_mode", ["depth", "channel", "none"])
def test_l2_counts_each_variable_once(tie_mode):
    strength = 1e-2
    model = build(tie_mode, l2=strength)
    regularized = [v for v in model.trainable_variables if "kernel" in v.path]
    expected = strength * sum(float(np.sum(v.numpy() ** 2)) for v in regularized)
    assert len(model.losses) == len(regularized)
    np.testing.assert_allclose(float(sum(model.losses)), expected, rtol=1e-5)
    for var in model_lib.shared_variables(model):
        # the penalty's gradient on the bank is 2*strength*w: one term, not one per use
        with tf.GradientTape() as tape:
            penalty = tf.add_n(model.losses)
        np.testing.assert_allclose(
            tape.gradient(penalty, var).numpy(), 2 * strength * var.numpy(), rtol=1e-5, atol=1e-8
        )


def test_l2_zero_turns_it_off():
    assert build("depth", l2=0.0).losses == []


def expected_counts(tie_mode, w=WIDTH, n=LAYERS, classes=CLASSES, k=3):
    """The closed-form parameter counts (conv part, whole model) of each tie mode."""
    stem = k * k * w  # no bias: batch norm follows
    if tie_mode == "depth":
        conv = stem + k * k * w * w + n * w  # one bank + a bias per layer
    elif tie_mode == "channel":
        conv = stem + n * (k * k + w + w * w)  # per layer: 2D filter, bias, 1x1 mix
    else:
        conv = stem + n * (k * k * w * w + w)
    batch_norm = 4 * w * (n + 1)  # gamma, beta, moving mean and variance
    head = w * classes + classes
    return conv, conv + batch_norm + head


@pytest.mark.parametrize("tie_mode", ["depth", "channel", "none"])
def test_parameter_count_formula(tie_mode):
    model = build(tie_mode)
    conv, total = expected_counts(tie_mode)
    assert model_lib.conv_parameter_count(model) == conv
    assert model.count_params() == total


def test_tied_has_at_least_forty_percent_fewer_conv_params_at_default_width():
    def conv_params(mode):
        return model_lib.conv_parameter_count(model_lib.build_model(8, 32, 3, mode, num_classes=10))

    untied = conv_params("none")
    for mode in ("depth", "channel"):
        assert conv_params(mode) <= 0.6 * untied


def test_unknown_tie_mode_is_rejected():
    with pytest.raises(ValueError, match="tie_mode"):
        model_lib.build_model(tie_mode="rows", num_classes=10)
