"""Pillow: an image within the limits passes through byte for byte; a larger one is downscaled and re-encoded.

Pillow is imported inside the functions that use it, so importing this module costs nothing.
"""

from __future__ import annotations

import base64
import math
import struct
from io import BytesIO
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import InputError
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
    Image = _pil()

    try:
        with Image.open(BytesIO(data), formats=[_PIL_FORMAT[kind]]) as img:
            width, height = img.size
            check_pixels(width, height, limits, label)
            if len(data) > limits.max_image_bytes or width * height > limits.max_image_pixels:
                return _shrink_image(img, kind, limits)
            img.load()  # decode now so a truncated file fails here, with a clear message, not upstream
            notes = _frame_notes(img, kind)
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


def header_pixels(data: bytes, kind: ImageFormat) -> int:
    """Width times height from the image's header, nothing decoded; 0 when the header cannot be read (prepare_image
    then says why)."""
    Image = _pil()
    try:
        with Image.open(BytesIO(data), formats=[_PIL_FORMAT[kind]]) as img:
            width, height = img.size
    except (OSError, ValueError, SyntaxError, EOFError, struct.error):
        return 0
    return int(width) * int(height)


def _pil() -> Any:
    """Pillow's Image module, its own decompression-bomb check off: `check_pixels` is stricter (50 Mpx, not 89 and
    179), runs on the same header, and names the size and the cap instead of warning on stderr."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    return Image


def check_pixels(width: int, height: int, limits: Limits, label: str) -> None:
    """Refuse an image whose declared size is over the decoding cap, naming both."""
    if width * height > limits.max_decode_pixels:
        raise InputError(
            f"{label} is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), over the "
            f"{limits.max_decode_pixels / 1e6:.0f} megapixels this server decodes; scale it down or crop it first"
        )


def _shrink_image(img: Image.Image, kind: ImageFormat, limits: Limits) -> tuple[ImagePart, list[str]]:
    orientation = img.getexif().get(_ORIENTATION)
    original = _upright_size(img)
    notes = _frame_notes(img, kind)
    use_png = kind == "gif" or img.mode in ("P", "PA") or _has_alpha(img)
    target = fit_pixels(img.size, limits.max_image_pixels)
    if kind == "jpeg":  # let libjpeg decode at a reduced scale instead of building the full bitmap
        img.draft("RGB", target)
    # Re-encoding drops EXIF, so the orientation is applied now or a phone photo arrives lying on its side.
    with (
        _reduced(img, target) as small,
        _upright(small, orientation) as upright,
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
    """`img` decoded and shrunk by the largest whole factor that keeps it at least `target`, converted to a mode
    Pillow can resample, and the full-size bitmap freed at once.

    The work goes in strips of a few MB: Pillow's reduce and convert make a full-size copy of their input (RGBA is
    premultiplied first), which for a 50 Mpx image is 200 MB more; a strip at a time, peak memory is the decoded
    image plus the small result.
    """
    from PIL import Image

    img.load()
    width, height = img.size
    factor = max(1, min(width // max(target[0], 1), height // max(target[1], 1)))
    mode = _resample_mode(img)
    out = Image.new(mode, (math.ceil(width / factor), math.ceil(height / factor)))
    rows = max(factor, _STRIP_BYTES // max(width * 4, 1) // factor * factor)
    for top in range(0, height, rows):
        with img.crop((0, top, width, min(top + rows, height))) as strip:
            flat = strip if strip.mode == mode else _to_mode(strip, mode)
            small = flat.reduce(factor) if factor > 1 else flat
            out.paste(small, (0, top // factor))
    img.close()  # frees the decoded bitmap now; prepare_image's `with` closes it again, harmlessly
    return out


_STRIP_BYTES = 4 * 1024 * 1024


def _resample_mode(img: Image.Image) -> str:
    """The mode the image is reduced in: its own where Pillow resamples it, else the nearest full-colour one."""
    if img.mode in ("L", "LA", "RGB", "RGBA"):
        return img.mode
    return _target_mode(img)


def _to_mode(img: Image.Image, mode: str) -> Image.Image:
    if img.mode.startswith("I"):  # 16-bit grey: a plain convert clips everything over 255 to white
        with img.convert("I") as wide:
            return wide.point(lambda value: value * (1 / 257)).convert(mode)
    return img.convert(mode)


def _frame_notes(img: Image.Image, kind: ImageFormat) -> list[str]:
    # Only GIFs are read for a frame count: counting frames of the other formats can mean decoding them.
    frames = getattr(img, "n_frames", 1) if kind == "gif" else 1
    return [f"only the first of the GIF's {frames} frames was sent"] if frames > 1 else []


_ORIENTATION = 0x0112  # EXIF tag


def _upright(img: Image.Image, orientation: int | None) -> Image.Image:
    """`img` turned as EXIF orientation `orientation` says it is displayed (the same table ImageOps uses)."""
    from PIL import Image

    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation or 1)
    return img.transpose(method) if method is not None else img.copy()


def _upright_size(img: Image.Image) -> tuple[int, int]:
    # Orientations 5-8 are quarter turns: the image as displayed is the stored one with its sides swapped.
    width, height = img.size
    return (height, width) if img.getexif().get(_ORIENTATION) in (5, 6, 7, 8) else (width, height)


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
