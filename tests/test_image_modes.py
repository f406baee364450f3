"""Every mode and bit depth PIL reads is converted faithfully to 1 or 3 channels of
0-255: each checked against a reference conversion computed here with NumPy from
the values PIL decodes in the file's own mode (not against PIL's `convert`)."""

import io

import numpy as np
import pytest
from PIL import Image

from ingestion import images
from ingestion.errors import DataError

RNG = np.random.default_rng(7)
H, W = 6, 9


def _luma(rgb):
    """ITU-R 601-2 luma, the usual definition of gray."""
    rgb = rgb.astype(np.float64)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _over_white(colour, alpha):
    a = alpha.astype(np.float64)[..., None] / 255.0
    return colour.astype(np.float64) * a + 255.0 * (1 - a)


def _ycbcr_to_rgb(ycc):
    y, cb, cr = (ycc[..., i].astype(np.float64) for i in range(3))
    return np.stack(
        [
            y + 1.402 * (cr - 128),
            y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
            y + 1.772 * (cb - 128),
        ],
        axis=-1,
    )


def _palette_image(alpha=None):
    image = Image.fromarray(RNG.integers(0, 5, (H, W), dtype=np.uint8), "P")
    rgb = [10, 20, 30, 200, 100, 0, 0, 255, 0, 255, 255, 255, 90, 0, 160]
    if alpha is None:
        image.putpalette(rgb)
    else:
        image.putpalette([v for i in range(5) for v in (*rgb[3 * i : 3 * i + 3], alpha[i])], "RGBA")
    return image


def _reference(image):
    """(expected values as float, colour) from PIL's decoded values in the file's mode."""
    mode = image.mode
    values = np.asarray(image)
    if mode == "1":
        return values.astype(np.float64) * 255, False
    if mode == "L":
        return values.astype(np.float64), False
    if mode.startswith("I;16"):
        return values.astype(np.float64) * 255 / 65535, False
    if mode == "I":
        return np.clip(values.astype(np.float64), 0, 65535) * 255 / 65535, False
    if mode == "F":
        return np.clip(values.astype(np.float64), 0, 1) * 255, False
    if mode == "LA":
        return _over_white(values[..., :1], values[..., 1])[..., 0], False
    if mode == "RGB":
        return values.astype(np.float64), True
    if mode == "RGBA":
        return _over_white(values[..., :3], values[..., 3]), True
    if mode == "CMYK":
        c, k = values[..., :3].astype(np.float64), values[..., 3:].astype(np.float64)
        return (255 - c) * (255 - k) / 255, True
    if mode == "YCbCr":
        return np.clip(_ycbcr_to_rgb(values), 0, 255), True
    if mode == "P":
        palette = np.array(image.getpalette("RGBA"), dtype=np.float64).reshape(-1, 4)
        if "transparency" in image.info and isinstance(image.info["transparency"], int):
            palette[image.info["transparency"], 3] = 0
        elif "transparency" in image.info:
            trns = np.frombuffer(image.info["transparency"], dtype=np.uint8)
            palette[: len(trns), 3] = trns
        else:
            palette[:, 3] = 255
        rgba = palette[values]
        return _over_white(rgba[..., :3], rgba[..., 3]), True
    raise AssertionError(f"no reference for mode {mode}")


def _save(image, fmt, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def _u8(shape):
    return RNG.integers(0, 256, shape, dtype=np.uint8)


CASES = {
    "1 (PNG)": lambda: _save(Image.fromarray(_u8((H, W)) > 127), "PNG"),
    "L (PNG)": lambda: _save(Image.fromarray(_u8((H, W))), "PNG"),
    "L (JPEG)": lambda: _save(Image.fromarray(_u8((H, W))), "JPEG"),
    "P (GIF)": lambda: _save(_palette_image(), "GIF"),
    "P (PNG)": lambda: _save(_palette_image(), "PNG"),
    "P with a transparent index (PNG)": lambda: _save(_palette_image(), "PNG", transparency=1),
    "P with alpha per entry (PNG)": lambda: _save(_palette_image([255, 0, 128, 40, 200]), "PNG"),
    "P with a transparent index (GIF)": lambda: _save(_palette_image(), "GIF", transparency=2),
    "LA (PNG)": lambda: _save(Image.fromarray(_u8((H, W, 2)), "LA"), "PNG"),
    "RGB (PNG)": lambda: _save(Image.fromarray(_u8((H, W, 3))), "PNG"),
    "RGB (BMP)": lambda: _save(Image.fromarray(_u8((H, W, 3))), "BMP"),
    "RGB (WebP lossless)": lambda: _save(Image.fromarray(_u8((H, W, 3))), "WEBP", lossless=True),
    "RGBA (PNG)": lambda: _save(Image.fromarray(_u8((H, W, 4)), "RGBA"), "PNG"),
    "CMYK (TIFF)": lambda: _save(Image.fromarray(_u8((H, W, 4)), "CMYK"), "TIFF"),
    "CMYK (JPEG)": lambda: _save(Image.fromarray(_u8((H, W, 4)), "CMYK"), "JPEG", quality=95),
    "I;16 (16-bit PNG)": lambda: _save(
        Image.frombytes("I;16", (W, H), RNG.integers(0, 65536, (H, W)).astype("<u2").tobytes()),
        "PNG",
    ),
    "I;16 (16-bit TIFF)": lambda: _save(
        Image.frombytes("I;16", (W, H), RNG.integers(0, 65536, (H, W)).astype("<u2").tobytes()),
        "TIFF",
    ),
    "I (32-bit TIFF)": lambda: _save(
        Image.fromarray(RNG.integers(-100, 70000, (H, W)).astype(np.int32)), "TIFF"
    ),
    "F (float TIFF)": lambda: _save(
        Image.fromarray(RNG.uniform(-0.1, 1.1, (H, W)).astype(np.float32)), "TIFF"
    ),
}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("case", list(CASES))
def test_file_modes_convert_like_the_reference(case, channels):
    data = CASES[case]()
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        expected, colour = _reference(image)
    pixels, found_colour = images.decode(data, case, 10**6)
    assert found_colour == colour
    got = images.convert(pixels, H, W, channels).astype(np.float64)
    if channels == 1 and colour:
        expected = _luma(expected)
    if channels == 3 and not colour:
        expected = np.repeat(expected[..., None], 3, axis=-1)
    expected = expected.reshape(got.shape)
    assert got.shape == (H, W, channels)
    assert np.abs(got - expected).max() <= 1.0, (case, got[..., 0], expected[..., 0])


def test_ycbcr_converts_like_the_reference():
    """JPEG decodes YCbCr to RGB itself; an image held as YCbCr (PIL's draft mode of a
    JPEG) goes through the same conversion."""
    ycc = _u8((H, W, 3))
    image = Image.fromarray(ycc, "YCbCr")
    pixels, colour = images.to_pixels(image)
    assert colour
    assert np.abs(pixels.astype(np.float64) - np.clip(_ycbcr_to_rgb(ycc), 0, 255)).max() <= 2


def test_16_bit_keeps_more_than_the_low_byte():
    """65535 is white and 32768 mid-gray, not what PIL's own 'L' conversion gives (clipped)."""
    data = _save(Image.frombytes("I;16", (2, 1), np.array([65535, 32768], "<u2").tobytes()), "PNG")
    pixels, _ = images.decode(data, "x", 100)
    assert pixels[0, :, 0].tolist() == [255, 128]


def test_image_over_the_pixel_limit_is_refused_by_name_before_decoding():
    data = _save(Image.new("L", (300, 200)), "PNG")
    with pytest.raises(DataError) as err:
        images.decode(data, "big.png", max_pixels=50_000)
    assert str(err.value) == (
        "big.png: image of 300x200 = 60000 pixels is larger than "
        "max_pixels (50000); raise it with --set max_pixels=60000, or "
        "leave the file out"
    )


def test_pixel_limit_above_pils_bomb_guard_is_ours_to_decide():
    """PIL refuses over 2x its MAX_IMAGE_PIXELS with its own error; the setting decides."""
    width = int((2 * 89_478_485) ** 0.5) + 10  # PIL's default MAX_IMAGE_PIXELS
    data = _save(Image.new("1", (width, width)), "PNG")  # small file, huge declared size
    with pytest.raises(DataError, match=f"image of {width}x{width} = "):
        images.decode(data, "bomb.png", max_pixels=4096 * 4096)
