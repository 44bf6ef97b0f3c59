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

import numpy as np
from PIL import Image, PngImagePlugin

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
    >>> png = _PNG_SIGNATURE + _png_chunk(b"IHDR", bytes(13)) + _png_chunk(b"cICP", bytes([9, 16, 0, 1]))
    >>> png_signalling(io.BytesIO(png + _png_chunk(b"IDAT", b"") + _png_chunk(b"IEND", b"")))
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
    if fh.read(len(_PNG_SIGNATURE)) != _PNG_SIGNATURE:
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


def encode_png(pixels: np.ndarray, colour: str, meta: dict | None = None) -> bytes:
    """A PNG of the pixels (8 or 16 bits per sample), carrying ``meta`` (ICC, EXIF, XMP,
    text, gAMA, cHRM, sRGB, pHYs, and the signalling chunks cICP, mDCv, cLLi, sBIT, bKGD, tIME)."""
    if pixels.dtype == np.uint16:
        return _encode_png16(pixels, colour, meta)
    arr = pixels[:, :, 0] if colour == "L" else pixels
    img = Image.fromarray(np.ascontiguousarray(arr), mode=colour)
    meta = meta or {}
    options: dict = {"compress_level": 0}  # stored: the pixel data is deflated by _deflated()
    info = PngImagePlugin.PngInfo()
    if "srgb" in meta:
        info.add(b"sRGB", bytes([int(meta["srgb"]) & 0xFF]))
    if "gamma" in meta:
        info.add(b"gAMA", struct.pack(">I", int(round(float(meta["gamma"]) * 100000))))
    if "chromaticity" in meta:
        info.add(b"cHRM", struct.pack(">8I", *(int(round(float(v) * 100000)) for v in meta["chromaticity"])))
    for key, value in (meta.get("text") or {}).items():
        info.add_itxt(key, value)
    if "xmp" in meta:
        info.add_itxt("XML:com.adobe.xmp", meta["xmp"])
    options["pnginfo"] = info
    if "icc" in meta:
        options["icc_profile"] = meta["icc"]
    if "exif" in meta:
        options["exif"] = meta["exif"]
    if "dpi" in meta:
        options["dpi"] = tuple(meta["dpi"])
    buf = io.BytesIO()
    img.save(buf, format="PNG", **options)
    del img  # Pillow's copy of the pixels
    return _with_signalling(_deflated(buf), meta, len(colour), 8)


def _with_signalling(png: bytes, meta: dict | None, planes: int, bit_depth: int) -> bytes:
    """``png`` with the signalling chunks of ``meta`` right after its header, where the
    PNG specification wants them (before PLTE and IDAT); Pillow would drop most of them.
    sBIT and bKGD go only where they fit the written image: one count per plane, none
    over its bit depth (a palette or colour-keyed image is written with other planes);
    a background of one grey or three colour samples, each under 2 ** bit depth."""
    chunks = dict((meta or {}).get("png_chunks") or {})
    sbit = chunks.get("sBIT")
    if sbit is not None and not (len(sbit) == planes and all(1 <= v <= bit_depth for v in sbit)):
        del chunks["sBIT"]
    background = chunks.get("bKGD")  # grey (1 or 2 planes) or RGB (3 or 4) samples, 16 bits each
    if background is not None and not (len(background) == (2 if planes <= 2 else 6) and all(
            v < 1 << bit_depth for v in struct.unpack(f">{len(background) // 2}H", background))):
        del chunks["bKGD"]
    if not chunks:
        return png
    header_end = len(_PNG_SIGNATURE) + 12 + 13
    return png[:header_end] + b"".join(_png_chunk(k.encode("latin-1"), v) for k, v in chunks.items()) + png[header_end:]


def _encode_png16(pixels: np.ndarray, colour: str, meta: dict | None) -> bytes:
    """A 16-bit PNG: imagecodecs writes the pixels (Pillow has no 16-bit colour), and the
    metadata chunks Pillow writes for ``meta`` go between its header and its pixels."""
    import imagecodecs

    png = _deflated(io.BytesIO(imagecodecs.png_encode(np.ascontiguousarray(pixels[:, :, 0] if colour == "L" else pixels),
                                                      level=0)))
    if not meta:
        return png
    others = {k: v for k, v in meta.items() if k != "png_chunks"}
    carrier = _png_chunks(encode_png(np.zeros((1, 1, 1), np.uint8), "L", others)) if others else []
    chunks = _png_chunks(png)
    extra = [c for c in carrier if c[0] not in (b"IHDR", b"IDAT", b"IEND")]
    png = _PNG_SIGNATURE + b"".join(_png_chunk(*c) for c in chunks[:1] + extra + chunks[1:])
    return _with_signalling(png, meta, len(colour), 16)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The written PNG's pixel data: deflated by libdeflate (through imagecodecs) at this level,
# in IDAT chunks of at most _IDAT_BYTES. Against zlib at level 6 (Pillow's default, what
# decompress used before) the files are as large and take a third of the time to write
# (docs/results.md, "Speed").
PNG_DEFLATE_LEVEL = 6
_IDAT_BYTES = 1 << 18


def _deflated(stored: io.BytesIO) -> bytes:
    """The PNG file in ``stored`` with its pixel data (filtered rows, as its writer chose
    the filters, and stored uncompressed: level 0) deflated at :data:`PNG_DEFLATE_LEVEL`;
    its other chunks are kept as they are, in their order. ``stored`` is closed (its
    memory freed) before the deflating."""
    import imagecodecs

    chunks: list[bytes | None] = []  # None: where the pixel data goes
    with stored.getbuffer() as png:
        pos, sizes = len(_PNG_SIGNATURE), []
        while pos < len(png):
            (length,) = struct.unpack_from(">I", png, pos)
            if png[pos + 4 : pos + 8] == b"IDAT":
                if not sizes:
                    chunks.append(None)
                sizes.append((pos + 8, length))
            else:
                chunks.append(bytes(png[pos : pos + 12 + length]))
            pos += 12 + length
        raw, filled, inflate = bytearray(sum(n for _, n in sizes)), 0, zlib.decompressobj()  # stored: no larger
        for start, length in sizes:
            piece = inflate.decompress(png[start : start + length])
            raw[filled : filled + len(piece)] = piece
            filled += len(piece)
    stored.close()
    if not inflate.eof:
        raise ValueError("the PNG's pixel data ends early")
    del raw[filled:]
    data = imagecodecs.deflate_encode(raw, level=PNG_DEFLATE_LEVEL)
    del raw
    idat = b"".join(_png_chunk(b"IDAT", data[i : i + _IDAT_BYTES]) for i in range(0, len(data), _IDAT_BYTES))
    return _PNG_SIGNATURE + b"".join(idat if c is None else c for c in chunks)


def _png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of each chunk of a PNG file."""
    out, pos = [], len(_PNG_SIGNATURE)
    while pos < len(png):
        (length,) = struct.unpack_from(">I", png, pos)
        out.append((png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
