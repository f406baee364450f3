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
  1x1 conv that mixes the channels; on colour input the stem ties across
  channels too (`ChannelTiedConv2D`: each stem filter is one (k, k) kernel
  applied to every input channel), as the tied-weights literature describes;
- none: the same architecture as depth with an ordinary, separate kernel per
  layer (the untied twin used for comparison).

The input is the flat image (H*W*C, from the data) and the head has one logit
per class; pooling follows the image size (`pool_plan`), and `augment` adds
training-only augmentation (trainer.augmentation) in front of the stem.

`TiedCNN` is a functional model that rebuilds itself from its hyperparameters:
a tied layer's config cannot point at another layer's variable, so saving the
graph layer by layer would give each layer its own copy of the bank on load.
Rebuilding from hyperparameters recreates the sharing, then the weights load.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

from names import IMAGE_KEY
from trainer import augmentation
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
            name="kernel",
            shape=self.kernel_shape,
            initializer="glorot_uniform",
            regularizer=l2_regularizer(self.l2),
            trainable=True,
        )
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
            kernel = ops.tile(
                ops.reshape(kernel, (KERNEL_SIZE, KERNEL_SIZE, 1, 1)), (1, 1, channels, 1)
            )
            out = ops.depthwise_conv(inputs, kernel, padding="same")
        else:
            out = ops.conv(inputs, kernel, padding="same")
        return out + self.bias

    def get_config(self):
        return {**super().get_config(), "bank": self.bank.name, "depthwise": self.depthwise}


class ChannelTiedConv2D(layers.Layer):
    """A 'same' conv whose every filter is one (k, k) kernel applied to each input
    channel (and summed): the stem of `tie_mode=channel` on colour images.

    Its kernel is (k, k, 1, filters), whatever the number of input channels."""

    def __init__(self, filters: int, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.l2 = float(l2)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(KERNEL_SIZE, KERNEL_SIZE, 1, self.filters),
            initializer="glorot_uniform",
            regularizer=l2_regularizer(self.l2),
        )

    def call(self, inputs):
        kernel = ops.tile(self.kernel, (1, 1, ops.shape(inputs)[-1], 1))
        return ops.conv(inputs, kernel, padding="same")

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "l2": self.l2}


def pool_plan(image_shape) -> tuple[int, bool]:
    """(max-pools after the stem, whether to pool after the middle conv layer).

    Pooling follows the image size: halve after the stem until the side is
    below 16 (28 -> 14, 32 -> 16 -> 8), then once in the middle of the conv
    stack if the side is still 8 or more, so the last layers see about 4-7
    pixels a side whatever the input size."""
    side = min(int(image_shape[0]), int(image_shape[1]))
    stem_pools = 0
    while side >= 16:
        side //= 2
        stem_pools += 1
    return stem_pools, side >= 8


@keras.saving.register_keras_serializable(package="tiedflow")
class TiedCNN(keras.Model):
    """Augmentation (training only), stem conv, `tied_layers` (tied or untied)
    convs with BN, GAP, Dense logits.

    Input is the flat scaled image `image_xf` (H*W*C, row-major); output is logits.
    `image_size` (square, one channel) is read from configs saved before
    `image_shape` existed.
    """

    def __init__(
        self,
        image_shape=(8, 8, 1),
        width: int = 32,
        tied_layers: int = 3,
        tie_mode: str = "depth",
        l2: float = 1e-4,
        num_classes: int = 0,
        augment: bool = False,
        name: str | None = None,
        image_size: int | None = None,
        **kwargs,
    ):
        if tie_mode not in TIE_MODES:
            raise ValueError(f"tie_mode must be one of {', '.join(TIE_MODES)}, got {tie_mode!r}")
        if image_size is not None:
            image_shape = (image_size, image_size, 1)
        image_shape = tuple(int(d) for d in image_shape)
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ValueError(f"image_shape must be (height, width, channels), got {image_shape}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        inputs, logits, banks = _graph(
            image_shape, width, tied_layers, tie_mode, l2, num_classes, augment
        )
        super().__init__(inputs, logits, name=name or f"tied_cnn_{tie_mode}", **kwargs)
        self.hparams: dict[str, Any] = dict(
            image_shape=list(image_shape),
            width=width,
            tied_layers=tied_layers,
            tie_mode=tie_mode,
            l2=l2,
            num_classes=num_classes,
            augment=augment,
        )
        self.banks = banks

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.hparams["image_shape"])

    @property
    def num_classes(self) -> int:
        return int(self.hparams["num_classes"])

    def get_config(self):
        return {"name": self.name, **self.hparams}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


def _graph(image_shape, width, tied_layers, tie_mode, l2, num_classes, augment):
    height, width_px, channels = image_shape
    inputs = keras.Input(shape=(height * width_px * channels,), name=IMAGE_KEY)
    x = layers.Reshape(image_shape)(inputs)
    if augment:
        x = augmentation.Augment(augmentation.strength_for(image_shape), name="augment")(x)
    if tie_mode == "channel" and channels > 1:
        x = ChannelTiedConv2D(width, l2=l2, name="stem_conv")(x)
    else:
        x = layers.Conv2D(
            width,
            KERNEL_SIZE,
            padding="same",
            use_bias=False,
            kernel_regularizer=l2_regularizer(l2),
            name="stem_conv",
        )(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    x = layers.ReLU()(x)
    stem_pools, middle_pool = pool_plan(image_shape)
    for i in range(stem_pools):
        x = layers.MaxPooling2D(2, name=f"stem_pool_{i}")(x)

    banks = []
    if tie_mode == "depth":
        banks.append(
            SharedFilterBank((KERNEL_SIZE, KERNEL_SIZE, width, width), l2=l2, name="shared_filters")
        )
    for i in range(tied_layers):
        if tie_mode == "depth":
            x = TiedConv2D(banks[0], name=f"tied_conv_{i}")(x)
        elif tie_mode == "channel":
            banks.append(
                SharedFilterBank((KERNEL_SIZE, KERNEL_SIZE), l2=l2, name=f"shared_filters_{i}")
            )
            x = TiedConv2D(banks[-1], depthwise=True, name=f"tied_conv_{i}")(x)
            x = layers.Conv2D(
                width, 1, use_bias=False, kernel_regularizer=l2_regularizer(l2), name=f"mix_{i}"
            )(x)
        else:
            x = layers.Conv2D(
                width,
                KERNEL_SIZE,
                padding="same",
                kernel_regularizer=l2_regularizer(l2),
                name=f"conv_{i}",
            )(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn_{i}")(x)
        x = layers.ReLU()(x)
        if i == tied_layers // 2 and middle_pool:
            x = layers.MaxPooling2D(2, name=f"pool_{i}")(x)

    x = layers.GlobalAveragePooling2D()(x)
    logits = layers.Dense(num_classes, kernel_regularizer=l2_regularizer(l2), name=HEAD_LAYER)(x)
    return inputs, logits, banks


def build_model(
    image_shape=(8, 8, 1),
    width: int = 32,
    tied_layers: int = 3,
    tie_mode: str = "depth",
    l2: float = 1e-4,
    *,
    num_classes: int,
    augment: bool = False,
) -> TiedCNN:
    """Builds the CNN; input is the flat scaled image `image_xf`, output logits.

    `image_shape` is (height, width, channels), or an int for a square
    one-channel image."""
    if isinstance(image_shape, int):
        image_shape = (image_shape, image_shape, 1)
    return TiedCNN(image_shape, width, tied_layers, tie_mode, l2, num_classes, augment)


def from_hparams(hp) -> TiedCNN:
    """The model an HParams (with the data's shape and classes filled in) describes."""
    return build_model(
        hp.input_shape,
        hp.width,
        hp.tied_layers,
        hp.tie_mode,
        hp.l2,
        num_classes=len(hp.class_names),
        augment=hp.augment,
    )


def shared_variables(model: keras.Model) -> list:
    """The filter variables of the model's shared banks (one per bank)."""
    return [bank.kernel for bank in getattr(model, "banks", [])]


def conv_parameter_count(model: keras.Model) -> int:
    """Parameters of the conv part (stem, banks, tied biases, mixes, untied convs).

    Counted over unique variables, so a bank used by several layers counts once.
    """
    seen, total = set(), 0
    conv_layers = [
        l for l in model.layers if isinstance(l, (layers.Conv2D, TiedConv2D, ChannelTiedConv2D))
    ]
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
