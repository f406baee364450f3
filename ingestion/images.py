"""Image files and pixel arrays to 8-bit arrays of the size and channels the model reads."""

from __future__ import annotations

import os

import numpy as np

from ingestion.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# PIL modes without colour; every other mode is converted as colour.
GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def is_image_name(path: str) -> bool:
    """An image file by its suffix, and not hidden (macOS, editors and Jupyter
    leave `.DS_Store`, `._x.png`, `.ipynb_checkpoints/` in real folders)."""
    name = os.path.basename(path.rstrip("/"))
    return not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)


def _to_8bit(image):
    """16-bit, 32-bit and float grayscale scaled to 0-255 (PIL's own 'L' conversion
    clips them): 16-bit and 'I' (unless every value fits 8 bits) from 0-65535, float
    from 0-1; values outside are clipped."""
    from PIL import Image

    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I") else 1.0
        if image.mode == "I" and values.max(initial=0) <= 255:
            top = 255.0
        return Image.fromarray(np.clip(np.rint(values * 255.0 / top), 0, 255).astype(np.uint8))
    return image


def to_pixels(image) -> tuple[np.ndarray, bool]:
    """A loaded PIL image of any mode as (uint8 H x W x C, C 1 or 3, whether it is
    colour): transparency composited over white, 16-bit and float scaled."""
    from PIL import Image

    colour = image.mode not in GRAY_MODES
    if image.mode in ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    image = _to_8bit(image)
    pixels = np.asarray(image.convert("RGB" if colour else "L"), dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return pixels, colour


def decode(data: bytes, where: str, max_pixels: int) -> tuple[np.ndarray, bool]:
    """(uint8 array H x W x C at the file's own size and C 1 or 3, whether it is colour).

    Raises DataError naming `where` for anything PIL cannot read, and, from the
    header before decoding, for an image larger than `max_pixels` (the setting
    decides, not PIL's bomb guard)."""
    import io

    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # the size is checked here, against the setting
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise DataError(
                    f"{where}: image of {width}x{height} = {width * height} pixels "
                    f"is larger than max_pixels ({max_pixels}); raise it with "
                    f"--set max_pixels={width * height}, or leave the file out"
                )
            image.load()
            return to_pixels(image)
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(f"{where}: not a readable image (no image format PIL knows)") from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as err:
        raise DataError(f"{where}: not a readable image ({err})") from None


def convert(pixels: np.ndarray, height: int, width: int, channels: int) -> np.ndarray:
    """Resizes (bilinear) and converts to `channels` (1: luminance, 3: gray copied)."""
    from PIL import Image

    if pixels.shape[2] != channels:
        if channels == 1:
            image = Image.fromarray(pixels if pixels.shape[2] == 3 else pixels[:, :, 0])
            pixels = np.asarray(image.convert("L"), dtype=np.uint8)[:, :, None]
        else:
            pixels = np.repeat(pixels[:, :, :1], 3, axis=2)
    if pixels.shape[:2] != (height, width):
        mode_pixels = pixels[:, :, 0] if channels == 1 else pixels
        image = Image.fromarray(mode_pixels).resize((width, height), Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
    return pixels


def to_uint8_image(image, size: int) -> np.ndarray:
    """A PIL image of any size and mode as a (size, size) uint8 grayscale array."""
    from PIL import Image

    gray = image.convert("L")
    if gray.size != (size, size):
        gray = gray.resize((size, size), Image.BILINEAR)
    return np.asarray(gray, dtype=np.uint8)


def load_image_file(
    path: str, size, channels: int = 1, max_pixels: int = 4096 * 4096
) -> np.ndarray:
    """One image file as (H, W) uint8 (channels 1) or (H, W, 3), `size` an int
    (square) or (H, W); raises DataError naming the file if it is unusable."""
    height, width = (size, size) if isinstance(size, int) else size
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror})") from None
    pixels, _ = decode(data, path, max_pixels)
    pixels = convert(pixels, height, width, channels)
    return pixels[:, :, 0] if channels == 1 else pixels
