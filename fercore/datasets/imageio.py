"""Image decoding for every loader: any mode PIL opens, to correct 8-bit values, or a clear refusal.

:func:`read_image` is the one place an image file becomes pixels. It decodes

* 8-bit greyscale and colour (``L``, ``RGB``, ``RGBX``, ``YCbCr``, ``CMYK``, ``1``) by PIL's
  conversions (grey = ITU-R 601-2 luma);
* 16-bit greyscale (``I;16``, ``I;16B``, ``I;16L``) and 32-bit integer (``I``) images with values in
  0..65535 by scaling 0..65535 to 0..255 (a 16-bit face no longer saturates to white);
* floating-point images (``F``): values in 0..1 scaled to 0..255, values in 0..255 kept;
* palette images (``P``, ``PA``) through their palette, transparency included;
* images with alpha (``LA``, ``La``, ``RGBA``, ``RGBa``, ``PA``, a palette's transparent colour)
  **composited on white**, as a viewer shows a transparent background on a page;
* multi-frame files (TIFF pages, GIF frames): the first frame.

Anything else (a mode PIL cannot convert, integer values outside 0..65535, floats outside 0..255
or not finite, a truncated or corrupt file) raises :class:`~fercore.datasets.base.DatasetFormatError`
naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

MODES = ("L", "RGB")
BACKGROUND = 255
"""Grey level transparent pixels are composited on (white)."""

_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")
_ALPHA = ("LA", "La", "RGBA", "RGBa", "PA")


class ImageDecodeError(ValueError):
    """Raised inside :func:`decode`; :func:`read_image` adds the file name."""


def _scale_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    if mode == "F":
        if not np.isfinite(values).all():
            raise ImageDecodeError("floating-point image with NaN or infinite values")
        low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
        if low < 0 or high > 255:
            raise ImageDecodeError(f"floating-point values {low:g}..{high:g} lie outside 0..1 and 0..255")
        scale = 255.0 if high <= 1.0 else 1.0
        return np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
    low, high = int(values.min(initial=0)), int(values.max(initial=0))
    if low < 0 or high > 65535:
        raise ImageDecodeError(f"{mode} values {low}..{high} lie outside the 16-bit range 0..65535")
    return np.rint(values.astype(np.float64) / 257.0).astype(np.uint8)


def _flatten_alpha(im: Image.Image) -> Image.Image:
    """An ``RGB`` or ``L`` image with any transparency composited on :data:`BACKGROUND`."""
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    elif im.mode == "P":
        return im.convert("RGB")
    if im.mode in ("La", "RGBa"):
        im = im.convert("RGBA")  # un-premultiply
    if im.mode in _ALPHA:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (BACKGROUND,) * 3 + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im


def decode(im: Image.Image, mode: str = "L") -> np.ndarray:
    """An open PIL image as uint8 ``(H, W)`` (``mode="L"``) or ``(H, W, 3)`` (``"RGB"``)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if getattr(im, "n_frames", 1) > 1:
        im.seek(0)
    im.load()
    if im.mode in _SIXTEEN_BIT or im.mode in ("I", "F"):
        gray = _scale_to_uint8(np.asarray(im), "F" if im.mode == "F" else im.mode)
        return gray if mode == "L" else np.repeat(gray[:, :, None], 3, axis=2)
    im = _flatten_alpha(im)
    try:
        out = im.convert(mode)
    except (ValueError, OSError) as e:
        raise ImageDecodeError(f"image mode {im.mode!r} cannot be converted to {mode} ({e})") from None
    return np.asarray(out, dtype=np.uint8).copy()


def read_image(path, mode: str = "L") -> np.ndarray:
    """An image file as uint8 grey ``(H, W)`` or colour ``(H, W, 3)``; errors name the file."""
    from fercore.datasets.base import format_error

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image not found")
    try:
        with Image.open(path) as im:
            return decode(im, mode)
    except ImageDecodeError as e:
        raise format_error(path, str(e)) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise format_error(path, f"unreadable image ({type(e).__name__}: {e})") from None
