"""Image metadata kept beside the pixels: ICC profile, EXIF, XMP and the PNG chunks users
care about (text, gamma, chromaticities, sRGB intent, physical pixel size).

They travel in the ancillary ``meta`` section (docs/format.md): one version byte, then a
zlib-compressed UTF-8 JSON object whose binary values (ICC, EXIF) are base64. The
pixels never depend on it, so a reader that does not know it still decodes the image.

>>> from PIL import Image
>>> img = Image.new("RGB", (2, 2))
>>> img.info["icc_profile"] = b"not a real profile"
>>> meta = from_pil(img)
>>> unpack(pack(meta)) == meta, sorted(meta)
(True, ['icc'])
"""

from __future__ import annotations

import base64
import io
import json
import struct
import warnings
import zlib

from PIL import Image

from .png_chunks import PNG_SIGNATURE, png_chunk

TAG = b"meta"
VERSION = 1
_BINARY = ("icc", "exif")


class MetadataError(ValueError):
    """A metadata section that cannot be read."""


def from_pil(img: Image.Image, source=None) -> dict:
    """The metadata of an opened image (an empty dict if it has none); ``source``, the
    file it was opened from (a path or a binary file object), gives a PNG's signalling
    chunks (Pillow does not read them)."""
    info = img.info
    meta: dict = {}
    source = source if source is not None else getattr(img, "filename", None) or None
    if img.format == "PNG" and source is not None:
        chunks = png_signalling(source)
        if chunks:
            meta["png_chunks"] = chunks
    if info.get("icc_profile"):
        meta["icc"] = bytes(info["icc_profile"])
    exif = info.get("exif") or (_exif_of_tiff_tags(img) if img.format == "TIFF" else None)
    if exif:
        meta["exif"] = bytes(exif)
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if xmp:
        meta["xmp"] = xmp.decode("utf-8", "replace") if isinstance(xmp, (bytes, bytearray)) else str(xmp)
    text = {k: v for k, v in (getattr(img, "text", None) or {}).items()
            if isinstance(v, str) and k != "XML:com.adobe.xmp"}
    if text:
        meta["text"] = text
    if isinstance(info.get("gamma"), (int, float)):
        meta["gamma"] = float(info["gamma"])
    chroma = info.get("chromaticity")
    if isinstance(chroma, (tuple, list)) and len(chroma) == 8:
        meta["chromaticity"] = [float(v) for v in chroma]
    if isinstance(info.get("srgb"), int):
        meta["srgb"] = int(info["srgb"])
    dpi = info.get("dpi")
    if isinstance(dpi, (tuple, list)) and len(dpi) == 2:
        meta["dpi"] = [float(dpi[0]), float(dpi[1])]
    return meta


# PNG chunks that say how to show the samples, kept as they are: coding-independent code
# points (the colour space and transfer of HDR images), mastering display colour volume,
# content light level, the significant bits of each plane (a 12-bit scan stored in 16
# bits), the background colour (a palette's index read as its colour, a 1- to 4-bit grey
# level scaled to 8 bits: on the decoded PNG's scale), and the time of the image's last
# change. Pillow does not keep them.
SIGNALLING_CHUNKS = ("cICP", "mDCv", "cLLi", "sBIT", "bKGD", "tIME")
_ANYWHERE_CHUNKS = ("tIME",)  # may follow the pixels


def png_signalling(source) -> dict[str, bytes]:
    """The signalling chunks (:data:`SIGNALLING_CHUNKS`) of a PNG file, a path or a
    binary file object, read from the chunks before its first IDAT.

    >>> import io
    >>> png = PNG_SIGNATURE + png_chunk(b"IHDR", bytes(13)) + png_chunk(b"cICP", bytes([9, 16, 0, 1]))
    >>> png_signalling(io.BytesIO(png + png_chunk(b"IDAT", b"") + png_chunk(b"IEND", b"")))
    {'cICP': b'\\t\\x10\\x00\\x01'}
    """
    if isinstance(source, io.BytesIO):  # read in place, and left where it was
        position = source.seek(0, io.SEEK_CUR)
        try:
            source.seek(0)
            return _signalling_in(source)
        finally:
            source.seek(position)
    try:
        with open(source, "rb") as fh:
            return _signalling_in(fh)
    except OSError:
        return {}


def _signalling_in(fh) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    if fh.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
        return found
    after_pixels = False
    depth, colour_type, palette = 8, 0, b""
    while True:
        head = fh.read(8)
        if len(head) < 8:
            return found
        length, kind = struct.unpack(">I", head[:4])[0], head[4:].decode("latin-1")
        if kind == "IEND" or length > 1 << 31:
            return found
        if kind == "IDAT":
            after_pixels = True
        if kind in SIGNALLING_CHUNKS and kind not in found and length <= 1 << 16 and (
                not after_pixels or kind in _ANYWHERE_CHUNKS):
            data = fh.read(length)
            if len(data) < length:
                return found
            if kind == "bKGD":
                data = _background_as_decoded(data, depth, colour_type, palette)
            if data is not None:
                found[kind] = data
            fh.seek(4, io.SEEK_CUR)
        elif kind == "IHDR" and length == 13:
            header = fh.read(13)
            if len(header) == 13:
                depth, colour_type = header[8], header[9]
            fh.seek(4, io.SEEK_CUR)
        elif kind == "PLTE" and length <= 3 * 256:
            palette = fh.read(length)
            fh.seek(4, io.SEEK_CUR)
        else:
            fh.seek(length + 4, io.SEEK_CUR)


def _background_as_decoded(data: bytes, depth: int, colour_type: int, palette: bytes) -> bytes | None:
    """A bKGD chunk's background on the scale of the decoded image, or None if it has
    none: a palette's index becomes its colour (the image is decoded as RGB or RGBA), and
    a 1-, 2- or 4-bit grey level is scaled to 8 bits as the pixels are (``v * 255 /
    (2 ** depth - 1)``).

    >>> _background_as_decoded(bytes([1]), 8, 3, bytes([0, 0, 0, 10, 20, 30]))
    b'\\x00\\n\\x00\\x14\\x00\\x1e'
    >>> _background_as_decoded(bytes([0, 3]), 2, 0, b"")  # 2-bit white
    b'\\x00\\xff'
    """
    if colour_type == 3:
        if len(data) != 1 or 3 * data[0] + 3 > len(palette):
            return None
        return struct.pack(">3H", *palette[3 * data[0] : 3 * data[0] + 3])
    if colour_type == 0 and depth < 8:  # grey + alpha has 8 or 16 bits
        top = (1 << depth) - 1
        if len(data) != 2 or struct.unpack(">H", data)[0] > top:
            return None
        return struct.pack(">H", struct.unpack(">H", data)[0] * 255 // top)
    return data


# A TIFF's descriptive tags, which an EXIF block holds the same way: ImageDescription,
# Make, Model, Software, DateTime, Artist, HostComputer, Copyright.
_TIFF_DESCRIPTIVE_TAGS = (270, 271, 272, 305, 306, 315, 316, 33432)
_EXIF_SUB_IFDS = (0x8769, 0x8825)  # the Exif and GPS directories


def _exif_of_tiff_tags(img: Image.Image) -> bytes | None:
    """A TIFF's descriptive tags and Exif and GPS directories as an EXIF block (a PNG
    keeps them in its eXIf chunk), or None if it has none. Orientation is not among
    them: the pixels are read already turned (Pillow does it for 8-bit TIFFs, the 16-bit
    reader in the same way)."""
    tags = img.getexif()
    descriptive = {tag: tags[tag] for tag in _TIFF_DESCRIPTIVE_TAGS if isinstance(tags.get(tag), str) and tags[tag]}
    directories = {}
    for tag in _EXIF_SUB_IFDS:
        try:
            with warnings.catch_warnings():  # Pillow warns of a directory it cannot parse
                warnings.simplefilter("ignore")
                directory = dict(tags.get_ifd(tag)) if tag in tags else {}
        except _EXIF_ERRORS:  # a directory Pillow cannot parse is left out
            directory = {}
        if directory:
            directories[tag] = directory
    for kept in (directories, {}):  # directories that cannot be written again are left out
        if not descriptive and not kept:
            return None
        exif = Image.Exif()
        exif.update(descriptive)
        for tag, directory in kept.items():
            exif.get_ifd(tag).update(directory)
        try:
            return exif.tobytes()
        except _EXIF_ERRORS:
            continue
    return None


_EXIF_ERRORS = (OSError, ValueError, KeyError, TypeError, struct.error, SyntaxError)


def pack(meta: dict) -> bytes:
    """The ``meta`` section's payload; a malformed item is refused here, so that no file
    is written that :func:`unpack` would refuse."""
    _check_items(meta, "metadata")
    doc = {k: _to_json(k, v) for k, v in meta.items()}
    return bytes([VERSION]) + zlib.compress(json.dumps(doc, sort_keys=True).encode("utf-8"), 9)


def unpack(payload: bytes) -> dict:
    """Inverse of :func:`pack`; raises :class:`MetadataError` on anything malformed."""
    if not payload or payload[0] != VERSION:
        raise MetadataError("unsupported metadata section version")
    try:
        doc = json.loads(zlib.decompressobj().decompress(payload[1:], 1 << 26).decode("utf-8"))
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        meta = {k: _from_json(k, v) for k, v in doc.items()}
    except (ValueError, zlib.error, UnicodeDecodeError, TypeError) as exc:
        raise MetadataError(f"corrupt metadata section ({exc})") from None
    return _check_items(meta, "corrupt metadata section:")


def _to_json(key: str, value):
    """An item as the JSON document holds it: binary values (and the PNG chunks' data) as
    base64 text."""
    if key in _BINARY:
        return base64.b64encode(value).decode("ascii")
    if key == "png_chunks":
        return {k: base64.b64encode(v).decode("ascii") for k, v in value.items()}
    return value


def _from_json(key: str, value):
    """Inverse of :func:`_to_json` (a malformed value is left for :func:`_check_items`)."""
    if key in _BINARY:
        return base64.b64decode(value, validate=True)
    if key == "png_chunks" and isinstance(value, dict):
        return {k: base64.b64decode(v, validate=True) for k, v in value.items()}
    return value


def _check_items(meta: dict, what: str) -> dict:
    """``meta``, if every item is well formed; else a :class:`MetadataError`."""
    for key, value in meta.items():
        if not _well_formed(key, value):
            raise MetadataError(f"{what} item {key!r} is malformed")
    return meta


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _well_formed(key: str, value) -> bool:
    """Whether an item has the type :func:`from_pil` gives it (unknown items are kept as they are)."""
    if key == "xmp":
        return isinstance(value, str)
    if key == "text":
        return isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) and "\0" not in k for k, v in value.items())
    if key == "gamma":
        return _is_number(value)
    if key in ("chromaticity", "dpi"):
        return isinstance(value, list) and len(value) == (8 if key == "chromaticity" else 2) and all(
            _is_number(v) for v in value)
    if key == "srgb":
        return isinstance(value, int) and not isinstance(value, bool)
    if key == "png_chunks":
        return isinstance(value, dict) and all(k in SIGNALLING_CHUNKS and isinstance(v, bytes) for k, v in value.items())
    return True


def describe(meta: dict) -> dict[str, int]:
    """Item name -> size in bytes, for ``info``."""
    out = {}
    for key, value in meta.items():
        if key == "text":
            out.update({f"text:{k}": len(v.encode("utf-8")) for k, v in value.items()})
        elif key == "png_chunks":
            out.update({f"png:{k}": len(v) for k, v in value.items()})
        else:
            out[key] = len(value) if isinstance(value, (bytes, str)) else len(json.dumps(value))
    return out
