"""Image files to 8-bit grayscale arrays of the size the model reads."""
from __future__ import annotations

import numpy as np

from ingestion.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def to_uint8_image(image, size: int) -> np.ndarray:
    """Converts a PIL image of any size and mode to a (size, size) uint8 array."""
    from PIL import Image

    gray = image.convert("L")
    if gray.size != (size, size):
        gray = gray.resize((size, size), Image.BILINEAR)
    return np.asarray(gray, dtype=np.uint8)


def load_image_file(path: str, size: int) -> np.ndarray:
    """Reads one image file; raises DataError naming the file if it is unusable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return to_uint8_image(image, size)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{path}: not a readable image ({err})") from None
