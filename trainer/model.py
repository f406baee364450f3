"""A convolutional network whose layers share (tie) filter weights.

The filters are a separate variable, created once by `SharedFilterBank`, and
handed to every `TiedConv2D` that uses it. Keras tracks the variable once, so
the optimizer updates it once per step with the sum of every use's gradient,
and its L2 penalty (attached where it is created) is counted once.

Tie modes:
- depth: one (k, k, width, width) filter bank used by `tied_layers` successive
  conv layers, each with its own bias and batch norm;
- channel: per layer, one (k, k) filter applied to every input channel (a
  depthwise conv whose per-channel filters are all the same variable), then a
  1x1 conv that mixes the channels;
- none: the same architecture as depth with an ordinary, separate kernel per
  layer (the untied twin used for comparison).

`TiedCNN` is a functional model that rebuilds itself from its hyperparameters:
a tied layer's config cannot point at another layer's variable, so saving the
graph layer by layer would give each layer its own copy of the bank on load.
Rebuilding from hyperparameters recreates the sharing, then the weights load.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from names import IMAGE_KEY, NUM_CLASSES
from trainer.hparams import TIE_MODES

KERNEL_SIZE = 3
HEAD_LAYER = "logits"
# L2 with Adam keeps shrinking the kernels in front of batch norm, so the
# activations' scale drifts during training; Keras' default momentum (0.99)
# lags behind and a short run serves with stale statistics.
BN_MOMENTUM = 0.9


def l2_regularizer(strength: float):
    return keras.regularizers.L2(strength) if strength > 0 else None


class SharedFilterBank(layers.Layer):
    """Owns one filter variable that one or more TiedConv2D layers use."""

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


class TiedConv2D(layers.Layer):
    """A 'same' conv that uses the bank's kernel and keeps only its own bias.

    With `depthwise=True` the bank holds one (k, k) filter that is applied to
    every input channel. Built by TiedCNN, never from a config of its own.
    """

    def __init__(self, bank: SharedFilterBank, depthwise: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.bank = bank
        self.depthwise = depthwise

    @property
    def kernel(self):
        """The variable this layer convolves with: the bank's, not a copy."""
        return self.bank.kernel

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
        return {**super().get_config(), "bank": self.bank.name, "depthwise": self.depthwise}


@keras.saving.register_keras_serializable(package="tiedflow")
class TiedCNN(keras.Model):
    """Stem conv, `tied_layers` (tied or untied) convs with BN, GAP, Dense logits.

    Input is the flat scaled image `image_xf`; output is logits.
    """

    def __init__(self, image_size: int = 8, width: int = 32, tied_layers: int = 3,
                 tie_mode: str = "depth", l2: float = 1e-4,
                 num_classes: int = NUM_CLASSES, name: str | None = None, **kwargs):
        if tie_mode not in TIE_MODES:
            raise ValueError(f"tie_mode must be one of {', '.join(TIE_MODES)}, got {tie_mode!r}")
        inputs, logits, banks = _graph(image_size, width, tied_layers, tie_mode, l2, num_classes)
        super().__init__(inputs, logits, name=name or f"tied_cnn_{tie_mode}", **kwargs)
        self.hparams = dict(image_size=image_size, width=width, tied_layers=tied_layers,
                            tie_mode=tie_mode, l2=l2, num_classes=num_classes)
        self.banks = banks

    def get_config(self):
        return {"name": self.name, **self.hparams}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


def _graph(image_size, width, tied_layers, tie_mode, l2, num_classes):
    inputs = keras.Input(shape=(image_size * image_size,), name=IMAGE_KEY)
    x = layers.Reshape((image_size, image_size, 1))(inputs)
    x = layers.Conv2D(width, KERNEL_SIZE, padding="same", use_bias=False,
                      kernel_regularizer=l2_regularizer(l2), name="stem_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    x = layers.ReLU()(x)

    banks = []
    if tie_mode == "depth":
        banks.append(SharedFilterBank((KERNEL_SIZE, KERNEL_SIZE, width, width), l2=l2,
                                      name="shared_filters"))
    for i in range(tied_layers):
        if tie_mode == "depth":
            x = TiedConv2D(banks[0], name=f"tied_conv_{i}")(x)
        elif tie_mode == "channel":
            banks.append(SharedFilterBank((KERNEL_SIZE, KERNEL_SIZE), l2=l2,
                                          name=f"shared_filters_{i}"))
            x = TiedConv2D(banks[-1], depthwise=True, name=f"tied_conv_{i}")(x)
            x = layers.Conv2D(width, 1, use_bias=False, kernel_regularizer=l2_regularizer(l2),
                              name=f"mix_{i}")(x)
        else:
            x = layers.Conv2D(width, KERNEL_SIZE, padding="same",
                              kernel_regularizer=l2_regularizer(l2), name=f"conv_{i}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn_{i}")(x)
        x = layers.ReLU()(x)
        if i == tied_layers // 2 and image_size >= 8:
            x = layers.MaxPooling2D(2, name=f"pool_{i}")(x)

    x = layers.GlobalAveragePooling2D()(x)
    logits = layers.Dense(num_classes, kernel_regularizer=l2_regularizer(l2),
                          name=HEAD_LAYER)(x)
    return inputs, logits, banks


def build_model(image_size: int = 8, width: int = 32, tied_layers: int = 3,
                tie_mode: str = "depth", l2: float = 1e-4,
                num_classes: int = NUM_CLASSES) -> TiedCNN:
    """Builds the CNN; input is the flat scaled image `image_xf`, output logits."""
    return TiedCNN(image_size, width, tied_layers, tie_mode, l2, num_classes)


def shared_variables(model: keras.Model) -> list:
    """The filter variables of the model's shared banks (one per bank)."""
    return [bank.kernel for bank in getattr(model, "banks", [])]


def conv_parameter_count(model: keras.Model) -> int:
    """Parameters of the conv part (stem, banks, tied biases, mixes, untied convs).

    Counted over unique variables, so a bank used by several layers counts once.
    """
    seen, total = set(), 0
    conv_layers = [l for l in model.layers
                   if isinstance(l, (layers.Conv2D, TiedConv2D))]
    for layer in conv_layers:
        own = list(layer.weights)
        if isinstance(layer, TiedConv2D):
            own.append(layer.kernel)
        for var in own:
            if id(var) not in seen:
                seen.add(id(var))
                total += int(ops.size(var))
    return total


def feature_layers(model: keras.Model) -> list:
    """Every layer with weights except the classification head."""
    return [l for l in model.layers if l.weights and l.name != HEAD_LAYER]


def freeze_features(model: keras.Model) -> None:
    """Freezes the filters (and their biases and batch norms): only the head trains.

    Frozen batch norms run in inference mode, as fine-tuning needs.
    """
    for layer in feature_layers(model):
        layer.trainable = False
    for bank in getattr(model, "banks", []):
        bank.trainable = False
