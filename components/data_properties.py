"""What ImageExampleGen learned from the data, read back from its Examples artifact.

Class names and image shape are custom properties of the Examples artifact
(names.CLASS_NAMES_PROPERTY, IMAGE_SHAPE_PROPERTY), written when the data is
read. The executors downstream (Trainer, Evaluator, EvaluationReport) read them
here at run time, so one compiled pipeline serves any data set: on Kubeflow the
data is a run parameter, unknown when the pipeline is built.
"""

from __future__ import annotations

import json

from names import CLASS_NAMES_PROPERTY, IMAGE_SHAPE_PROPERTY, SPLIT_EXAMPLES_PROPERTY


def parse_class_names(text: str) -> list[str]:
    """The JSON list of class names (index = class id); ValueError if malformed."""
    names = json.loads(text)
    if not isinstance(names, list) or len(names) < 2:
        raise ValueError(f"{CLASS_NAMES_PROPERTY} must list at least two classes, got {text!r}")
    return [str(n) for n in names]


def parse_image_shape(text: str) -> tuple[int, int, int]:
    """'H,W,C' -> (H, W, C); ValueError if malformed."""
    try:
        shape = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1 or shape[2] not in (1, 3):
        raise ValueError(f"{IMAGE_SHAPE_PROPERTY} must be 'H,W,C' with C 1 or 3, got {text!r}")
    return shape  # type: ignore[return-value]


def _string(artifact, name: str) -> str | None:
    if not artifact.has_custom_property(name):
        return None
    return artifact.get_string_custom_property(name)


def class_names(examples) -> list[str]:
    """The class names recorded on an Examples artifact (a TFX Artifact)."""
    text = _string(examples, CLASS_NAMES_PROPERTY)
    if text is None:
        raise ValueError(
            f"the Examples artifact {examples.uri} has no "
            f"{CLASS_NAMES_PROPERTY!r} property (written by ImageExampleGen)"
        )
    return parse_class_names(text)


def image_shape(examples) -> tuple[int, int, int]:
    """(H, W, C) of the raw `pixels` recorded on an Examples artifact."""
    text = _string(examples, IMAGE_SHAPE_PROPERTY)
    if text is None:
        raise ValueError(
            f"the Examples artifact {examples.uri} has no "
            f"{IMAGE_SHAPE_PROPERTY!r} property (written by ImageExampleGen)"
        )
    return parse_image_shape(text)


def split_examples(examples, split: str) -> int:
    """How many examples ImageExampleGen wrote to `split`, as recorded on the
    Examples artifact (no need to read the split to count it)."""
    name = SPLIT_EXAMPLES_PROPERTY.format(split=split)
    if not examples.has_custom_property(name):
        raise ValueError(
            f"the Examples artifact {examples.uri} has no {name!r} "
            "property (written by ImageExampleGen)"
        )
    count = examples.get_int_custom_property(name)
    if count < 1:
        raise ValueError(
            f"the Examples artifact {examples.uri} has {count} examples in its {split!r} split"
        )
    return count


def training_settings(examples) -> dict:
    """The data's settings as the Trainer's custom_config carries them
    (trainer.hparams.DATA_SETTINGS)."""
    height, width, channels = image_shape(examples)
    return {
        "image_height": height,
        "image_width": width,
        "image_channels": channels,
        "class_names": class_names(examples),
        "train_examples": split_examples(examples, "train"),
    }
