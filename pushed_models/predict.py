"""`tiedflow predict`: label image files with a pushed model, or abstain.

Uses the SavedModel's `serving_images` signature, so the Transform graph
exported with the model scales the pixels exactly as in training. Images of
any size and mode are converted to the model's input (its height, width and
channels: grayscale or RGB) first. Classes are shown by the names the model
was exported with (prediction.json). A file that cannot be read is reported
and skipped; the others still run.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence

import numpy as np

from ingestion.errors import DataError
from ingestion.images import load_image_file
from ingestion.settings import IngestSettings
from ingestion.terminal_text import terminal_safe
from names import (
    ABSTAIN_BELOW_KEY,
    CLASS_NAMES_KEY,
    IMAGES_SIGNATURE,
    PREDICTION_SETTINGS_FILE,
    PROBABILITIES_KEY,
)
from pushed_models.versions import model_dirs

SIGNATURE = IMAGES_SIGNATURE
# For models exported before the threshold travelled with them.
DEFAULT_ABSTAIN_BELOW = 0.5
DEFAULT_MAX_PIXELS = IngestSettings.max_pixels


@dataclasses.dataclass
class Prediction:
    file: str
    label: str | None  # the class name; None when abstained or failed
    probability: float | None  # the top class's probability
    abstained: bool
    error: str | None
    top_label: str | None = None  # the best guess's name, also when abstaining
    class_id: int | None = None  # the id of `label`

    def to_json(self) -> str:
        fields = ("file", "label", "class_id", "probability", "abstained", "error")
        return json.dumps({k: getattr(self, k) for k in fields})

    def to_text(self, threshold: float) -> str:
        if self.error:
            return f"{self.file}: ERROR {self.error}"
        if self.abstained:
            return (
                f"{self.file}: abstained (best guess {self.top_label} at "
                f"{self.probability:.3f} < {threshold:.2f})"
            )
        return f"{self.file}: {self.label} ({self.probability:.3f})"


def resolve_model_dir(output_dir: str | None = None, model: str | None = None, warn=None) -> str:
    """The SavedModel to use: `model` (a SavedModel or a serving dir of versions)
    or the newest complete version under `<output_dir>/serving`. Half-written
    version folders are skipped and passed to `warn(text)`."""
    warn = warn or (lambda text: None)
    where = model or os.path.join(output_dir or ".", "serving")
    dirs, broken = model_dirs(where)
    for item in broken:
        warn(item.describe())
    if dirs:
        return dirs[0]
    if model:
        raise DataError(f"--model {model}: no SavedModel there (nor complete version folders)")
    raise DataError(f"no pushed model under {where}: run `tiedflow run` first or pass --model DIR")


def load_image(path: str, shape, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """One image file as a uint8 (H, W, C) array of the model's input `shape`,
    converted as ingestion converts training images (any mode and bit depth,
    transparency over white; resized bilinearly); DataError names the file."""
    height, width, channels = shape
    return load_image_file(path, (height, width), channels, max_pixels).reshape(
        height, width, channels
    )


class Predictor:
    """The loaded `serving_images` signature, its input image shape and class names."""

    def __init__(self, model_dir: str):
        import tensorflow as tf

        loaded = tf.saved_model.load(model_dir)
        if SIGNATURE not in loaded.signatures:
            raise DataError(f"{model_dir}: the SavedModel has no {SIGNATURE!r} signature")
        self._loaded = loaded  # keeps the variables alive
        self._fn = loaded.signatures[SIGNATURE]
        spec = self._fn.structured_input_signature[1]["images"]
        dims = [int(d) for d in spec.shape[1:]]
        # (H, W) from models exported before colour: one channel.
        self.image_shape = tuple(dims) if len(dims) == 3 else (dims[0], dims[1], 1)
        self.model_dir = model_dir
        self.settings = read_prediction_settings(model_dir)
        self._needs_channel_axis = len(dims) == 2

    @property
    def class_names(self) -> list:
        """Names by class id (the ids as text for a model exported without them)."""
        names = self.settings.get(CLASS_NAMES_KEY)
        return [str(n) for n in names] if names else []

    def class_name(self, class_id: int) -> str:
        names = self.class_names
        return names[class_id] if 0 <= class_id < len(names) else str(class_id)

    @property
    def abstain_below(self) -> float:
        """The threshold the model was pushed with (`--set abstain_below=P`)."""
        return float(self.settings.get(ABSTAIN_BELOW_KEY, DEFAULT_ABSTAIN_BELOW))

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        if self._needs_channel_axis:
            images = images[..., 0]
        out = self._fn(images=tf.constant(images, dtype=tf.uint8))
        return out[PROBABILITIES_KEY].numpy()


def predict_files(
    predictor: Predictor, paths: Sequence[str], abstain_below: float
) -> list[Prediction]:
    """One Prediction per path, in order; unreadable files carry an error."""
    results: list[Prediction] = []
    images, good = [], []
    for path in paths:
        try:
            images.append(load_image(path, predictor.image_shape))
            good.append(len(results))
            results.append(Prediction(path, None, None, False, None))
        except DataError as err:
            message = str(err)
            if message.startswith(f"{path}: "):  # the file is named once, in `file`
                message = message[len(path) + 2 :]
            results.append(Prediction(path, None, None, False, message))
    if images:
        probs = predictor.probabilities(np.stack(images))
        for index, row in zip(good, probs):
            top = int(np.argmax(row))
            p = float(row[top])
            abstained = p < abstain_below
            result = results[index]
            result.top_label = predictor.class_name(top)
            result.probability, result.abstained = round(p, 6), abstained
            result.label = None if abstained else result.top_label
            result.class_id = None if abstained else top
    return results


def run(
    paths: Sequence[str],
    output_dir: str | None = None,
    model: str | None = None,
    abstain_below: float | None = None,
    as_json: bool = False,
    out=None,
) -> int:
    """Prints one line per image; returns 0, or 2 if any file failed."""
    import sys

    out = out or sys.stdout
    if abstain_below is not None and not 0 <= abstain_below <= 1:
        raise DataError(f"--abstain-below {abstain_below}: must be in [0, 1]")
    predictor = Predictor(
        resolve_model_dir(
            output_dir,
            model,
            warn=lambda text: print(
                terminal_safe(f"tiedflow predict: warning: {text}"), file=sys.stderr
            ),
        )
    )
    threshold = predictor.abstain_below if abstain_below is None else abstain_below
    results = predict_files(predictor, paths, threshold)
    for result in results:  # file and class names from others: escaped (JSON escapes itself)
        print(result.to_json() if as_json else terminal_safe(result.to_text(threshold)), file=out)
    failed = sum(1 for r in results if r.error)
    if failed:
        print(
            f"tiedflow predict: {failed} of {len(results)} file(s) could not be read",
            file=sys.stderr,
        )
        return 2
    return 0


def read_prediction_settings(model_dir: str) -> dict:
    """The settings exported with the model ({} for a model without them)."""
    import tensorflow as tf

    path = os.path.join(model_dir, PREDICTION_SETTINGS_FILE)
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        try:
            return json.load(f)
        except ValueError as err:
            raise DataError(f"{path}: not valid JSON ({err}); re-export the model") from None
