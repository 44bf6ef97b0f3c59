"""Reading images into arrays and writing them back, with the documented mode rules.

* L, LA, RGB and RGBA are coded exactly as they are.
* P (palette) becomes RGBA if it has transparency, else RGB; "1" (bilevel) becomes L.
* 16-bit, float, CMYK and other modes are refused with a clear error.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

EXACT_MODES = ("L", "LA", "RGB", "RGBA")


class ImageError(ValueError):
    """An input that is not a usable image."""


def check_size(width: int, height: int) -> None:
    """Refuse images the container cannot hold (before decoding them)."""
    from .bitstream import MAX_PIXELS, MAX_SIDE

    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImageError(f"image of {width}x{height} pixels is too large "
                         f"(limit {MAX_SIDE} px a side and {MAX_PIXELS} pixels)")


def _from_pil(img: Image.Image) -> tuple[np.ndarray, str]:
    check_size(img.width, img.height)
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode == "1":
        img = img.convert("L")
    elif mode not in EXACT_MODES:
        raise ImageError(f"unsupported image mode {mode} (supported: L, LA, RGB, RGBA, P, 1; "
                         "16-bit and float images are not supported yet)")
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr), img.mode


def from_array(array: np.ndarray) -> tuple[np.ndarray, str]:
    """(H, W), (H, W, 1|2|3|4) uint8 arrays."""
    arr = np.asarray(array)
    if arr.dtype != np.uint8:
        raise ImageError(f"image arrays must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ImageError(f"image arrays must be (H, W) or (H, W, 1-4), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageError("the image is empty")
    check_size(arr.shape[1], arr.shape[0])
    return np.ascontiguousarray(arr), EXACT_MODES[arr.shape[2] - 1]


def read_image(source) -> tuple[np.ndarray, str]:
    """A path, PIL image or array -> ((H, W, C) uint8 array, colour type)."""
    if isinstance(source, np.ndarray):
        return from_array(source)
    if isinstance(source, Image.Image):
        return _from_pil(source)
    path = Path(source)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory")
    try:
        with Image.open(path) as img:
            check_size(img.width, img.height)
            img.load()
            return _from_pil(img)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{path}: refused by Pillow's decompression-bomb check ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(f"{path}: truncated or corrupt image ({exc})") from None


def to_pil(pixels: np.ndarray, colour: str) -> Image.Image:
    arr = pixels[:, :, 0] if colour == "L" else pixels
    return Image.fromarray(np.ascontiguousarray(arr), mode=colour)


def atomic_write(path: str | Path, data: bytes, force: bool) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place.

    Refuses to replace an existing file unless ``force``; leaves nothing behind on error.
    """
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path}: already exists (use --force to overwrite)")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if force:
            os.replace(tmp, path)
        else:
            _link_no_clobber(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _link_no_clobber(tmp: str, path: Path) -> None:
    """Move ``tmp`` to ``path`` atomically, failing if ``path`` appeared meanwhile."""
    try:
        os.link(tmp, path)  # fails with FileExistsError instead of replacing
    except FileExistsError:
        raise FileExistsError(f"{path}: already exists (use --force to overwrite)") from None
    except OSError:  # a file system without hard links: check, then rename
        if path.exists():
            raise FileExistsError(f"{path}: already exists (use --force to overwrite)") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def encode_png(pixels: np.ndarray, colour: str) -> bytes:
    import io

    buf = io.BytesIO()
    to_pil(pixels, colour).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()
