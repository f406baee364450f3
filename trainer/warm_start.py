"""Transfer learning: start from the weights of another model, keeping what fits.

The exported SavedModel carries a copy of the Keras model in
`assets.extra/model.keras` (TF Serving's folder for files the SavedModel
loader ignores), so every pushed copy of it can seed a new training run, also
one on another data set: the conv filters (stem, shared bank, tied or untied
convs, their batch norms) do not depend on the image size or the classes, so
they are kept whenever their shapes fit; the stem only when the channel counts
match (its kernel has one slice per input channel). The head is kept only for
the same classes (names from the base model's prediction.json); otherwise a
new one is trained, never a head whose class ids meant something else.

Loading runs no code from the file: Keras loads with safe_mode, and only a
model whose top-level class is the project's own registered TiedCNN is
accepted (Keras would otherwise import any module a config names).
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile

import keras
import tensorflow as tf

from names import CLASS_NAMES_KEY, PREDICTION_SETTINGS_FILE
from trainer.model import HEAD_LAYER, TiedCNN

KERAS_MODEL_PATH = os.path.join("assets.extra", "model.keras")
ACCEPTED_CLASS = "tiedflow>TiedCNN"  # keras.saving's registered name of TiedCNN
STEM_LAYERS = ("stem_conv", "stem_bn")


def keras_model_path(saved_model_dir: str) -> str:
    return os.path.join(saved_model_dir, KERAS_MODEL_PATH)


def save_keras_copy(model: keras.Model, saved_model_dir: str) -> str:
    """Writes the Keras model beside an exported SavedModel; returns its path."""
    path = keras_model_path(saved_model_dir)
    tf.io.gfile.makedirs(os.path.dirname(path))
    if _is_remote(path):  # Keras writes local files only.
        import tempfile

        local = os.path.join(tempfile.mkdtemp(), "model.keras")
        model.save(local)
        tf.io.gfile.copy(local, path, overwrite=True)
    else:
        model.save(path)
    return path


def has_base_model(base_model_dir: str | None) -> bool:
    return bool(base_model_dir) and tf.io.gfile.exists(keras_model_path(str(base_model_dir)))


def load_keras_model(path: str) -> TiedCNN:
    """Loads a `.keras` file written by `save_keras_copy`, running no code from it."""
    local = _local_copy(path)
    try:
        with zipfile.ZipFile(local) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as err:
        raise ValueError(f"{path}: not a Keras model file ({err})") from None
    if config.get("registered_name") != ACCEPTED_CLASS:
        raise ValueError(
            f"{path}: holds a {config.get('registered_name') or config.get('class_name')!r}"
            f" model; only tiedflow's own {ACCEPTED_CLASS} is loaded"
        )
    code = _code_in(config)
    if code:
        raise ValueError(
            f"{path}: layer {code!r} carries Python code (a Lambda layer or a "
            "serialized lambda); refused, nothing from the file is run"
        )
    return keras.saving.load_model(local, compile=False, safe_mode=True)


def _code_in(config) -> str | None:
    """The name of the first layer or object in a Keras config that carries code
    (a Lambda layer, a serialized lambda), or None. Keras's safe mode
    refuses these too; naming them here says which one."""
    if isinstance(config, list):
        return next((found for item in config if (found := _code_in(item))), None)
    if not isinstance(config, dict):
        return None
    if config.get("class_name") in ("Lambda", "TFOpLambda", "__lambda__"):
        inner = config.get("config")
        return (inner.get("name") if isinstance(inner, dict) else None) or config["class_name"]
    return next((found for value in config.values() if (found := _code_in(value))), None)


def base_class_names(base_model_dir: str) -> list | None:
    """The class names the base model was exported with (None if not recorded)."""
    path = os.path.join(base_model_dir, PREDICTION_SETTINGS_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        names = json.load(f).get(CLASS_NAMES_KEY)
    return [str(n) for n in names] if names else None


@dataclasses.dataclass
class Transfer:
    """What a warm start took from the base model."""

    kept: list  # layer names whose weights were copied
    new: list  # layers with weights trained from their initial values
    notes: list  # why a part was not kept

    def describe(self) -> str:
        text = f"kept {', '.join(self.kept) or 'nothing'}"
        if self.new:
            text += f"; new {', '.join(self.new)}"
        if self.notes:
            text += f" ({'; '.join(self.notes)})"
        return text


def transfer_weights(
    model: keras.Model, base: keras.Model, same_classes: bool | None = None
) -> Transfer:
    """Copies the base model's weights into `model` where they fit.

    Layers match by name and weight shapes. The stem (conv and its batch norm)
    only moves as a whole; the head only for the same classes (`same_classes`
    False forces a new head; None: decided by shape alone). Raises ValueError
    if no conv filter layer fits (another width, depth or tie mode)."""
    base_layers = {layer.name: layer for layer in base.layers}
    kept, new, notes = [], [], []
    ours = {layer.name: layer for layer in model.layers if layer.weights}

    def fits(name: str) -> bool:
        source = base_layers.get(name)
        return source is not None and [tuple(w.shape) for w in ours[name].weights] == [
            tuple(w.shape) for w in source.weights
        ]

    stem_fits = all(name in ours and fits(name) for name in STEM_LAYERS)
    if not stem_fits:
        notes.append("stem: other input channels")
    head_fits = HEAD_LAYER in ours and fits(HEAD_LAYER) and same_classes is not False
    if not head_fits:
        notes.append("head: other classes")
    for name, layer in ours.items():
        if name == "augment":
            continue
        allowed = (name not in STEM_LAYERS or stem_fits) and (name != HEAD_LAYER or head_fits)
        if allowed and fits(name):
            layer.set_weights(base_layers[name].get_weights())
            kept.append(name)
        else:
            new.append(name)
    if not any(name.startswith(("tied_conv", "conv_")) for name in kept):
        raise ValueError(
            f"warm start: the base model does not fit this model (it is {base.name} with "
            f"{base.count_params()} params); use the same 'width', 'tied_layers' and "
            "'tie_mode', or set warm_start=false"
        )
    return Transfer(kept, new, notes)


def load_base_weights(
    model: keras.Model, base_model_dir: str, class_names: list | None = None
) -> Transfer:
    """Copies what fits of the model exported in `base_model_dir` into `model`."""
    base = load_keras_model(keras_model_path(base_model_dir))
    base_names = base_class_names(base_model_dir)
    same = None if base_names is None or class_names is None else base_names == list(class_names)
    return transfer_weights(model, base, same)


def _local_copy(path: str) -> str:
    """Keras reads local files only; copies a remote file to a temp dir."""
    if not _is_remote(path):
        return path
    import tempfile

    local = os.path.join(tempfile.mkdtemp(), os.path.basename(path))
    tf.io.gfile.copy(path, local)
    return local


def _is_remote(path: str) -> bool:
    return "://" in path
