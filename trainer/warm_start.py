"""Transfer learning: start from the weights of the last pushed (blessed) model.

The exported SavedModel carries a copy of the Keras model in
`assets.extra/model.keras` (TF Serving's folder for files the SavedModel
loader ignores), so every pushed copy of it can seed a new training run.
On a first run the base model dir does not exist: train from scratch.
"""
from __future__ import annotations

import os

import keras
import tensorflow as tf

KERAS_MODEL_PATH = os.path.join("assets.extra", "model.keras")


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
    return bool(base_model_dir) and tf.io.gfile.exists(keras_model_path(base_model_dir))


def load_base_weights(model: keras.Model, base_model_dir: str) -> list[str]:
    """Copies the base model's weights into `model`, layer by layer.

    Layers match by name and weight shapes. Returns the names of the copied
    layers; raises ValueError if no filter layer matches (the base model was
    built with another width or tie mode).
    """
    base = keras.saving.load_model(_local_copy(keras_model_path(base_model_dir)), compile=False)
    base_layers = {layer.name: layer for layer in base.layers}
    copied = []
    for layer in model.layers:
        source = base_layers.get(layer.name)
        if not layer.weights or source is None:
            continue
        ours, theirs = layer.get_weights(), source.get_weights()
        if [w.shape for w in ours] != [w.shape for w in theirs]:
            continue
        layer.set_weights(theirs)
        copied.append(layer.name)
    if not any(name.startswith(("tied_conv", "conv_")) for name in copied):
        raise ValueError(
            f"warm start: the base model in {base_model_dir} does not fit this model "
            f"(it is {base.name} with {base.count_params()} params); use the same "
            "'width', 'tied_layers' and 'tie_mode', or set warm_start=false")
    return copied


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
