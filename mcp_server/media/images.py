"""Pillow: an image within the limits passes through byte for byte; a larger one is downscaled and re-encoded.

Pillow is imported inside the functions that use it, so importing this module costs nothing.
"""

from __future__ import annotations

import base64
import math
import struct
from io import BytesIO
from typing import TYPE_CHECKING

from mcp_server.errors import InputError
from mcp_server.media.formats import ImageFormat
from mcp_server.media.messages import format_size
from mcp_server.media.model import ImagePart, Limits

if TYPE_CHECKING:
    from PIL import Image

_MIME: dict[ImageFormat, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
_PIL_FORMAT: dict[ImageFormat, str] = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "gif": "GIF"}
_JPEG_QUALITY = 90
_SHRINK_ATTEMPTS = 8


def prepare_image(data: bytes, kind: ImageFormat, limits: Limits, label: str) -> tuple[ImagePart, list[str]]:
    """Decode an image; pass it through unchanged if within limits, else shrink it (runs in a worker thread).

    The size is read from the header first: an image over `limits.max_decode_pixels` is refused before a pixel is
    decoded (a 500 KB PNG can declare 13000x13000 pixels, 500 MB decoded).
    """
    from PIL import Image

    try:
        with Image.open(BytesIO(data), formats=[_PIL_FORMAT[kind]]) as img:
            width, height = img.size
            check_pixels(width, height, limits, label)
            if len(data) > limits.max_image_bytes or width * height > limits.max_image_pixels:
                return _shrink_image(img, kind, limits)
            img.load()  # decode now so a truncated file fails here, with a clear message, not upstream
            notes = _frame_notes(img, kind)
    except Image.DecompressionBombError as e:
        raise InputError(f"{label} has too many pixels to decode safely; scale it down before sending") from e
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as e:
        raise InputError(f"{label} looks like a {kind.upper()} image but cannot be decoded; it may be truncated") from e
    mime = _MIME[kind]
    part = ImagePart(
        url=data_url(mime, data),
        mime=mime,
        width=width,
        height=height,
        original_width=width,
        original_height=height,
        resized=False,
        page=None,
        byte_size=len(data),
    )
    return part, notes


def check_pixels(width: int, height: int, limits: Limits, label: str) -> None:
    """Refuse an image whose declared size is over the decoding cap, naming both."""
    if width * height > limits.max_decode_pixels:
        raise InputError(
            f"{label} is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), over the "
            f"{limits.max_decode_pixels / 1e6:.0f} megapixels this server decodes; scale it down or crop it first"
        )


def _shrink_image(img: Image.Image, kind: ImageFormat, limits: Limits) -> tuple[ImagePart, list[str]]:
    from PIL import ImageOps

    original = _upright_size(img)
    notes = _frame_notes(img, kind)
    use_png = kind == "gif" or img.mode in ("P", "PA") or _has_alpha(img)
    target = fit_pixels(img.size, limits.max_image_pixels)
    if kind == "jpeg":  # let libjpeg decode at a reduced scale instead of building the full bitmap
        img.draft("RGB", target)
    # Re-encoding drops EXIF, so the orientation is applied now or a phone photo arrives lying on its side.
    with (
        _reduced(img, target) as small,
        ImageOps.exif_transpose(small) as upright,
        upright.convert(_target_mode(upright)) as flat,
    ):
        size = fit_pixels(flat.size, limits.max_image_pixels)
        encoded, size = encode_within(flat, size, use_png, limits.max_image_bytes)
    mime = "image/png" if use_png else "image/jpeg"
    part = ImagePart(
        url=data_url(mime, encoded),
        mime=mime,
        width=size[0],
        height=size[1],
        original_width=original[0],
        original_height=original[1],
        resized=True,
        page=None,
        byte_size=len(encoded),
    )
    return part, notes


def _reduced(img: Image.Image, target: tuple[int, int]) -> Image.Image:
    """`img` decoded and shrunk by the largest whole factor that keeps it at least `target`, with the full-size
    bitmap freed at once: the copies that follow (upright, mode, resize) are then made of the small image, so peak
    memory is about one decoded bitmap, not four."""
    img.load()
    if img.mode in _NOT_REDUCIBLE or img.mode == "I":
        converted = _eight_bit(img) if img.mode.startswith("I") else img.convert(_target_mode(img))
        img.close()
        img = converted
    factor = max(1, min(img.size[0] // max(target[0], 1), img.size[1] // max(target[1], 1)))
    small = img.reduce(factor) if factor > 1 else img.copy()
    img.close()  # prepare_image's `with` closes it again, harmlessly
    return small


_NOT_REDUCIBLE = ("1", "P", "I;16", "I;16B", "I;16L", "I;16N")


def _eight_bit(img: Image.Image) -> Image.Image:
    """A 16-bit grey image as 8-bit grey, scaled (a plain convert clips everything over 255 to white)."""
    with img.convert("I") as wide:
        return wide.point(lambda value: value * (1 / 257)).convert("L")


def _frame_notes(img: Image.Image, kind: ImageFormat) -> list[str]:
    # Only GIFs are read for a frame count: counting frames of the other formats can mean decoding them.
    frames = getattr(img, "n_frames", 1) if kind == "gif" else 1
    return [f"only the first of the GIF's {frames} frames was sent"] if frames > 1 else []


def _upright_size(img: Image.Image) -> tuple[int, int]:
    # Orientations 5-8 are quarter turns: the image as displayed is the stored one with its sides swapped.
    width, height = img.size
    return (height, width) if img.getexif().get(0x0112) in (5, 6, 7, 8) else (width, height)


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "RGBa", "La") or "transparency" in img.info


def _target_mode(img: Image.Image) -> str:
    if _has_alpha(img) or img.mode == "PA":
        return "RGBA"
    return "L" if img.mode in ("L", "1") or img.mode.startswith("I;16") else "RGB"


def fit_pixels(size: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """`size` scaled down, aspect kept, to at most `max_pixels` pixels; unchanged when it already fits."""
    width, height = size
    if width * height <= max_pixels:
        return size
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def encode_within(
    img: Image.Image, size: tuple[int, int], use_png: bool, max_bytes: int
) -> tuple[bytes, tuple[int, int]]:
    """Encode at `size`, stepping down until the bytes fit."""
    from PIL import Image

    for _ in range(_SHRINK_ATTEMPTS):
        if size == img.size:
            encoded = _encode(img, use_png)
        else:
            with img.resize(size, Image.Resampling.LANCZOS) as scaled:
                encoded = _encode(scaled, use_png)
        if len(encoded) <= max_bytes:
            return encoded, size
        # Encoded size grows roughly with the pixel count; aim a little under so one more step usually suffices.
        factor = 0.9 * math.sqrt(max_bytes / len(encoded))
        size = max(1, math.floor(size[0] * factor)), max(1, math.floor(size[1] * factor))
    raise InputError(f"the image could not be made smaller than {format_size(max_bytes)}; crop or compress it first")


def _encode(img: Image.Image, use_png: bool) -> bytes:
    buffer = BytesIO()
    if use_png:
        img.save(buffer, "PNG")
    else:
        img.save(buffer, "JPEG", quality=_JPEG_QUALITY)
    return buffer.getvalue()


def data_url(mime: str, data: bytes) -> str:
    """A `data:` URL carrying `data` as base64."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
