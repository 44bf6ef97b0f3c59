"""Reading images into arrays and writing them back, with the documented mode rules.

* L, LA, RGB and RGBA are coded exactly as they are, with 8 bits per sample, and with 16
  from PNG and TIFF files (read by imagecodecs: Pillow would rescale 16-bit colour to 8
  bits) and uint16 arrays.
* P (palette) becomes RGBA if it has transparency, else RGB; "1" (bilevel) becomes L.
* Float, 32-bit, CMYK and other modes are refused with a clear error, and so are other
  files whose samples Pillow would rescale to 8 bits (16-bit PPM; PPM with a maximum
  other than 255): nothing is ever truncated silently.
* Animated and multi-page files are refused: no frame is ever dropped silently.
* Only regular files are read (a FIFO, socket or device is refused, never waited on).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import secrets
import stat
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

EXACT_MODES = ("L", "LA", "RGB", "RGBA")
# Pillow's own decompression-bomb threshold; ``max_pixels`` raises or lowers it per call.
DEFAULT_MAX_PIXELS = 89_478_485


class ImageError(ValueError):
    """An input that is not a usable image."""


def check_max_pixels(max_pixels) -> int:
    """``max_pixels`` as a positive int, or a TypeError/ValueError naming the problem."""
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)):
        raise TypeError(f"max_pixels must be an integer, got {type(max_pixels).__name__}")
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
    return int(max_pixels)


def check_size(width: int, height: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Refuse images the container cannot hold, or larger than ``max_pixels`` (before
    decoding them)."""
    from .container import MAX_PIXELS, MAX_SIDE

    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImageError(f"image of {width}x{height} pixels is too large "
                         f"(limit {MAX_SIDE} px a side and {MAX_PIXELS} pixels)")
    if width * height > max_pixels:
        raise ImageError(f"image of {width}x{height} = {width * height} pixels is over the limit of "
                         f"{max_pixels} pixels (raise it with --max-pixels / max_pixels= if you trust the file)")


def regular_file(path: str | os.PathLike) -> Path:
    """``path`` if it names a regular file (symlinks followed), else a one-line error:
    a FIFO, socket or device would block or never end."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except NotADirectoryError:
        raise ImageError(f"{path}: no such file") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    if stat.S_ISDIR(mode):
        raise ImageError(f"{path}: is a directory")
    if not stat.S_ISREG(mode):
        raise ImageError(f"{path}: not a regular file (a FIFO, socket or device is not read)")
    return path


def _tile_rawmodes(img: Image.Image) -> list[tuple[object, str]]:
    """(tile, the raw mode Pillow decodes it from: "" if none is named) of each tile."""
    out = []
    for tile in getattr(img, "tile", None) or []:
        args = tile.args if hasattr(tile, "args") else tile[3]
        out.append((tile, args if isinstance(args, str) else (args[0] if isinstance(args, tuple) and args
                                                               and isinstance(args[0], str) else "")))
    return out


def _sample_layout_problem(img: Image.Image) -> str | None:
    """Why Pillow would not give this file's samples exactly as 8-bit values, or None."""
    for tile, rawmode in _tile_rawmodes(img):
        args = tile.args if hasattr(tile, "args") else tile[3]
        if ";16" in rawmode or ";32" in rawmode or rawmode.startswith(("I", "F")):
            return f"{rawmode.split(';')[0] or img.mode} with 16 or more bits per sample"
        codec = tile.codec_name if hasattr(tile, "codec_name") else tile[0]
        if codec == "ppm" and isinstance(args, tuple) and len(args) > 1 and args[1] != 255:
            return f"PNM with samples up to {args[1]} (only 255 is coded exactly)"
    return None


@contextlib.contextmanager
def pillow_limit(max_pixels: int):
    """Pillow's bomb check at our limit, its warning silenced (our check gives one line),
    and so are its warnings of metadata it cannot parse (a corrupt EXIF directory is
    left out; the pixels are read as ever). Both are process-wide settings: a batch that
    reads files on several threads holds this around all of them, so that each file's
    own use of it (the same limit) finds and leaves the same state."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max(max_pixels, 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _from_pil(img: Image.Image, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, str]:
    check_size(img.width, img.height, max_pixels)
    frames = getattr(img, "n_frames", 1)
    if frames > 1:
        raise ImageError(f"the image has {frames} frames (animated or multi-page); only single images are "
                         "coded, so it is refused rather than cut to its first frame")
    sizes = img.info.get("sizes") if img.format == "ICO" else None
    if sizes and len(sizes) > 1:
        raise ImageError(f"the icon holds {len(sizes)} sizes; only single images are coded, so it is refused "
                         "rather than cut to one of them")
    mode = img.mode
    if mode in ("L", "RGB") and "transparency" in img.info:  # a colour key: kept as an exact alpha plane
        img = img.convert("LA" if mode == "L" else "RGBA")
    elif mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode == "1":
        img = img.convert("L")
    elif mode not in EXACT_MODES:
        raise ImageError(f"unsupported image mode {mode} (supported: L, LA, RGB, RGBA, P, 1, "
                         "and grey, grey + alpha, RGB and RGBA at 16 bits)")
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr), img.mode


def from_array(array: np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, str]:
    """(H, W), (H, W, 1|2|3|4) uint8 or uint16 arrays."""
    arr = np.asarray(array)
    if arr.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"image arrays must be uint8 or uint16, got {arr.dtype}")
    arr = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ImageError(f"image arrays must be (H, W) or (H, W, 1-4), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageError("the image is empty")
    check_size(arr.shape[1], arr.shape[0], max_pixels)
    return np.ascontiguousarray(arr), EXACT_MODES[arr.shape[2] - 1]


def read_image(source, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, str]:
    """A path, PIL image or array -> ((H, W, C) uint8 array, colour type)."""
    pixels, colour, _ = read_image_with_metadata(source, max_pixels)
    return pixels, colour


def read_image_with_metadata(source, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, str, dict]:
    """:func:`read_image` plus the image's metadata (:mod:`lora_codec.metadata`); a path
    may be ``"-"`` for an image on standard input."""
    from .metadata import from_pil

    max_pixels = check_max_pixels(max_pixels)
    if isinstance(source, np.ndarray):
        return (*from_array(source, max_pixels), {})
    if isinstance(source, Image.Image):
        if source.mode in ("I;16", "I;16L", "I;16B"):
            return (*from_array(np.asarray(source).astype(np.uint16), max_pixels), from_pil(source))
        problem = _sample_layout_problem(source)
        if problem:
            raise ImageError(f"unsupported image: {problem}; lora-codec codes 8 bits per sample and "
                             "never truncates")
        return (*_from_pil(source, max_pixels), from_pil(source))
    if isinstance(source, str) and source == "-":
        return _read_stream(io.BytesIO(sys.stdin.buffer.read()), "<stdin>", max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        raise TypeError("an image must be a path, a PIL image or a uint8 numpy array, not bytes "
                        "(for an encoded image in memory, pass PIL.Image.open(io.BytesIO(data)))")
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"an image must be a path, a PIL image or a uint8 numpy array, "
                        f"got {type(source).__name__}")
    path = regular_file(source)
    return _read_stream(path, str(path), max_pixels)


def _read_stream(source, path: str, max_pixels: int) -> tuple[np.ndarray, str, dict]:
    """Decode an image file (a path or a binary file object) named ``path`` in messages."""
    from .metadata import from_pil

    try:
        with pillow_limit(max_pixels), Image.open(source) as img:
            check_size(img.width, img.height, max_pixels)
            problem = _sample_layout_problem(img)
            if problem and is_sixteen_bit(img):
                return (*_read_sixteen_bit(img, source, max_pixels), from_pil(img, source))
            if problem:
                raise ImageError(f"{path}: unsupported image: {problem}; lora-codec codes 8 or 16 bits per sample "
                                 "and never truncates")
            img.load()
            return (*_from_pil(img, max_pixels), from_pil(img, source))
    except ImageError as exc:
        text = str(exc)
        raise ImageError(text if text.startswith(path) else f"{path}: {text}") from None
    except UnidentifiedImageError:
        from .container import MAGIC

        head = _file_head(source, len(MAGIC))
        if head == MAGIC:
            raise ImageError(f"{path}: already a lora-codec (.lcz) file; decompress it to get the image") from None
        if head[:4] == MAGIC[:4]:  # the line-ending bytes changed, as a text-mode transfer does
            raise ImageError(f"{path}: a lora-codec (.lcz) file with a damaged signature (was it transferred "
                             "in text mode?), not an image") from None
        if _starts_like_tiff(source):
            raise ImageError(f"{path}: a TIFF layout Pillow cannot read (planar, CIELab, or 16-bit with extra "
                             "samples, for example)") from None
        raise ImageError(f"{path}: not an image (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: over the limit of {max_pixels} pixels (raise it with --max-pixels / "
                         "max_pixels= if you trust the file)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: truncated or corrupt image ({exc})") from None


def _file_head(source, n: int) -> bytes:
    """The first ``n`` bytes of a file (a path or a binary file object; b"" if unreadable)."""
    if isinstance(source, io.BytesIO):
        return bytes(source.getbuffer()[:n])  # without copying the whole file
    try:
        with open(source, "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def _starts_like_tiff(source) -> bool:
    """Whether a file (a path or a binary file object) begins as a TIFF does."""
    return _file_head(source, 4) in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")


def is_sixteen_bit(img: Image.Image) -> bool:
    """Whether the file is a PNG or TIFF of unsigned 16-bit samples (which imagecodecs
    reads exactly)."""
    rawmodes = [rawmode for _, rawmode in _tile_rawmodes(img)]
    return (img.format in ("PNG", "TIFF") and bool(rawmodes)
            and all(r.split(";")[1:2] in (["16"], ["16B"], ["16L"], ["16N"]) for r in rawmodes))


def _read_sixteen_bit(img: Image.Image, source, max_pixels: int) -> tuple[np.ndarray, str]:
    """The 16-bit samples of an opened PNG or TIFF, decoded by imagecodecs."""
    import imagecodecs

    frames = getattr(img, "n_frames", 1)
    if frames > 1:
        raise ImageError(f"the image has {frames} frames (animated or multi-page); only single images are "
                         "coded, so it is refused rather than cut to its first frame")
    if "transparency" in img.info:
        raise ImageError("a 16-bit image with a transparent colour key is not supported "
                         "(an alpha channel is)")
    invert, orientation = _tiff_sixteen_bit_reading(img) if img.format == "TIFF" else (False, 1)
    data = source.getvalue() if isinstance(source, io.BytesIO) else Path(source).read_bytes()
    decode = imagecodecs.png_decode if img.format == "PNG" else imagecodecs.tiff_decode
    try:
        arr = decode(data)
    except Exception as exc:  # imagecodecs' errors have no common base class
        raise ImageError(f"truncated or corrupt image ({str(exc).splitlines()[0] if str(exc) else exc})") from None
    if arr.dtype == np.uint16 and invert:
        arr = arr.copy()
        colour = arr if arr.ndim == 2 else arr[:, :, :1]  # the grey plane; alpha is never inverted
        np.subtract(65535, colour, out=colour)
    arr = orient(arr, orientation)
    if arr.dtype != np.uint16 or arr.shape[:2] != (img.height, img.width):
        raise ImageError(f"unsupported image: {arr.dtype} samples of shape {arr.shape}")
    return from_array(arr, max_pixels)


_TIFF_PHOTOMETRIC, _TIFF_ORIENTATION, _TIFF_EXTRA_SAMPLES = 262, 274, 338


def _tiff_sixteen_bit_reading(img: Image.Image) -> tuple[bool, int]:
    """How a 16-bit TIFF's raw samples become the image Pillow shows for the same file
    at 8 bits: (invert the grey plane, TIFF orientation to apply). Refuses layouts whose
    samples a PNG cannot hold with the same meaning."""
    tags = img.tag_v2
    photometric = tags.get(_TIFF_PHOTOMETRIC, 1)
    if photometric not in (0, 1, 2):
        raise ImageError(f"unsupported image: a 16-bit TIFF of photometric interpretation {photometric} "
                         "(grey and RGB are coded)")
    extra = tags.get(_TIFF_EXTRA_SAMPLES, ())
    if 1 in (extra if isinstance(extra, tuple) else (extra,)):
        raise ImageError("unsupported image: a 16-bit TIFF with premultiplied (associated) alpha, which a PNG "
                         "cannot store as it is")
    orientation = tags.get(_TIFF_ORIENTATION, 1)
    return photometric == 0, orientation if orientation in range(1, 9) else 1


def orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels as shown under a TIFF/EXIF orientation (1 to 8): the transposition that
    Pillow's TIFF reader (``ImageOps.exif_transpose``) applies to 8-bit images.

    >>> orient(np.array([[1, 2, 3], [4, 5, 6]]), 6).tolist()
    [[4, 1], [5, 2], [6, 3]]
    """
    flips = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
             5: lambda a: a.swapaxes(0, 1), 6: lambda a: a[::-1].swapaxes(0, 1),
             7: lambda a: a[::-1, ::-1].swapaxes(0, 1), 8: lambda a: a[:, ::-1].swapaxes(0, 1)}
    return np.ascontiguousarray(flips[orientation](pixels))


def to_pil(pixels: np.ndarray, colour: str) -> Image.Image:
    arr = pixels[:, :, 0] if colour == "L" else pixels
    return Image.fromarray(np.ascontiguousarray(arr), mode=colour)


def atomic_write(path: str | Path, data: bytes, force: bool, like: os.stat_result | None = None) -> None:
    """Write ``data`` to a temporary file beside ``path``, sync it, rename it into place,
    and sync the directory.

    Refuses to replace an existing file unless ``force``; leaves nothing behind on error.
    ``like`` (the ``os.stat`` of the file the data came from) gives the new file that
    file's permission bits and access and modification times, as gzip, xz and zstd do: a
    private photograph's .lcz stays private, and a decoded file keeps the original's date.
    A replaced file's permissions are never widened (the new file gets the bits both
    allow).
    """
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path}: already exists (use --force to overwrite)")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory")
    if path.exists() and not path.is_file():
        raise FileExistsError(f"{path}: is not a regular file (a device, FIFO or socket); not replaced")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"no such directory (to write {path.name} in)", str(folder))
    fd, tmp = _create_temporary(folder, path.name, private=like is not None)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        mode = None if like is None else _permissions(like.st_mode)
        if force and path.is_file():  # the replaced file's permissions stay (a private 0600 file stays private)
            replaced = _permissions(path.stat().st_mode)
            mode = replaced if mode is None else mode & replaced
        _take_over(tmp, mode, like)
        if force:
            os.replace(tmp, path)
        else:
            _link_no_clobber(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_directory(folder)


def _sync_directory(folder: Path) -> None:
    """Make the new name in ``folder`` durable: the data was synced before the rename, and
    without this a power loss could still lose the directory's entry for it. A platform or
    file system that cannot sync a directory is not an error."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _permissions(st_mode: int) -> int:
    """The read, write and execute bits of a mode (never set-id or sticky bits)."""
    return stat.S_IMODE(st_mode) & 0o777


def _take_over(tmp: str, mode: int | None, like: os.stat_result | None) -> None:
    """Give the temporary file its final permission bits and the source's times. A file
    system that keeps neither (FAT, some network shares) is not an error."""
    with contextlib.suppress(OSError):
        if mode is not None:
            os.chmod(tmp, mode)
        if like is not None:
            os.utime(tmp, ns=(like.st_atime_ns, like.st_mtime_ns))


def _create_temporary(folder: Path, name: str, private: bool = False) -> tuple[int, str]:
    """A new hidden ``.NAME.XXXX.part`` file beside the output, created with the usual
    permissions (0666 less the umask, as any new file; mkstemp would give 0600), or 0600
    when ``private`` (its final permissions are set before it is renamed)."""
    for _ in range(100):
        tmp = folder / f".{name[:200]}.{secrets.token_hex(4)}.part"  # within NAME_MAX for any legal name
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666), str(tmp)
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: cannot create a temporary file")


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


def encode_png(pixels: np.ndarray, colour: str, meta: dict | None = None) -> bytes:
    """A PNG of the pixels, with the metadata ``meta`` if given."""
    from .png_writer import encode_png as encode

    return encode(pixels, colour, meta)
