"""A convolutional network whose layers share (tie) filter weights.

The filters are a separate variable, created once by `SharedFilterBank`, and
handed to every `TiedConv2D` that uses it. Keras tracks the variable once, so
the optimizer updates it once per step with the sum of every use's gradient,
and its L2 penalty (attached where it is created) is counted once.

Tie modes:
- depth: one (k, k, width, width) filter bank used by `tied_layers` successive
  conv layers, each with its own bias and batch norm;
- channel: one (k, k) filter applied to every input channel (a depthwise conv
  whose per-channel filters are all the same variable), then a per-layer 1x1 mix;
- none: the same architecture with an ordinary, separate kernel per layer.
"""
from __future__ import annotations

import keras
from keras import layers, ops

NUM_CLASSES = 10
KERNEL_SIZE = 3


def l2_regularizer(strength: float):
    return keras.regularizers.L2(strength) if strength > 0 else None


@keras.saving.register_keras_serializable(package="tiedflow")
class SharedFilterBank(layers.Layer):
    """Owns one filter variable that several TiedConv2D layers use."""

    def __init__(self, kernel_shape, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.kernel_shape = tuple(int(d) for d in kernel_shape)
        self.l2 = float(l2)
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_shape, initializer="glorot_uniform",
            regularizer=l2_regularizer(self.l2), trainable=True)
        self.built = True

    def call(self, inputs):  # not called: the bank is used through TiedConv2D.
        return inputs

    def get_config(self):
        return {**super().get_config(), "kernel_shape": self.kernel_shape, "l2": self.l2}


@keras.saving.register_keras_serializable(package="tiedflow")
class TiedConv2D(layers.Layer):
    """A 'same' conv that uses the bank's kernel and keeps its own bias.

    With `depthwise=True` the bank holds one (k, k) filter that is applied to
    every input channel.
    """

    def __init__(self, bank: SharedFilterBank, depthwise: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.bank = bank
        self.depthwise = depthwise

    def build(self, input_shape):
        channels = input_shape[-1] if self.depthwise else self.bank.kernel_shape[-1]
        self.bias = self.add_weight(name="bias", shape=(channels,), initializer="zeros")

    def call(self, inputs):
        kernel = self.bank.kernel
        if self.depthwise:
            channels = ops.shape(inputs)[-1]
            kernel = ops.tile(ops.reshape(kernel, (KERNEL_SIZE, KERNEL_SIZE, 1, 1)),
                              (1, 1, channels, 1))
            out = ops.depthwise_conv(inputs, kernel, padding="same")
        else:
            out = ops.conv(inputs, kernel, padding="same")
        return out + self.bias

    def get_config(self):
        return {**super().get_config(), "bank": keras.saving.serialize_keras_object(self.bank),
                "depthwise": self.depthwise}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["bank"] = keras.saving.deserialize_keras_object(config["bank"])
        return cls(**config)


def build_model(image_size: int = 8, width: int = 32, tied_layers: int = 3,
                tie_mode: str = "depth", l2: float = 1e-4,
                num_classes: int = NUM_CLASSES) -> keras.Model:
    """Builds the CNN; input is the flat scaled image `image_xf`, output logits."""
    from trainer.preprocessing import IMAGE_KEY

    inputs = keras.Input(shape=(image_size * image_size,), name=IMAGE_KEY)
    x = layers.Reshape((image_size, image_size, 1))(inputs)
    x = layers.Conv2D(width, KERNEL_SIZE, padding="same", use_bias=False,
                      kernel_regularizer=l2_regularizer(l2), name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU()(x)

    if tie_mode == "depth":
        bank = SharedFilterBank((KERNEL_SIZE, KERNEL_SIZE, width, width), l2=l2,
                                name="shared_filters")
    elif tie_mode == "channel":
        bank = SharedFilterBank((KERNEL_SIZE, KERNEL_SIZE), l2=l2, name="shared_filters")
    elif tie_mode != "none":
        raise ValueError(f"tie_mode must be depth, channel or none, got {tie_mode!r}")

    for i in range(tied_layers):
        if tie_mode == "depth":
            x = TiedConv2D(bank, name=f"tied_conv_{i}")(x)
        elif tie_mode == "channel":
            x = TiedConv2D(bank, depthwise=True, name=f"tied_conv_{i}")(x)
            x = layers.Conv2D(width, 1, use_bias=False, kernel_regularizer=l2_regularizer(l2),
                              name=f"mix_{i}")(x)
        else:
            x = layers.Conv2D(width, KERNEL_SIZE, padding="same",
                              kernel_regularizer=l2_regularizer(l2), name=f"conv_{i}")(x)
        x = layers.BatchNormalization(name=f"bn_{i}")(x)
        x = layers.ReLU()(x)
        if i == tied_layers // 2 and image_size >= 8:
            x = layers.MaxPooling2D(2, name=f"pool_{i}")(x)

    x = layers.GlobalAveragePooling2D()(x)
    logits = layers.Dense(num_classes, kernel_regularizer=l2_regularizer(l2), name="logits")(x)
    return keras.Model(inputs, logits, name=f"tied_cnn_{tie_mode}")


def conv_parameter_count(model: keras.Model) -> int:
    """Trainable parameters of the conv part (stem, tied or untied convs, mixes)."""
    total = 0
    for var in model.trainable_variables:
        path = var.path
        if any(tag in path for tag in ("stem_conv", "shared_filters", "tied_conv", "conv_", "mix_")):
            total += int(ops.size(var))
    return total
