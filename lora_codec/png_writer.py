"""Writing a decoded image as a PNG file: its pixels (8 or 16 bits per sample) and the
metadata that travelled with them (:mod:`lora_codec.metadata`).

Pillow (libpng through imagecodecs at 16 bits, where Pillow has no colour) lays out the
file and chooses each row's filter, with the pixel data stored; libdeflate (through
imagecodecs) then deflates that data, as small as zlib's level 6 in a third of the time.

>>> import io
>>> import numpy as np
>>> from PIL import Image
>>> pixels = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
>>> png = encode_png(pixels, "RGB", {"text": {"Title": "a test"}})
>>> img = Image.open(io.BytesIO(png))
>>> np.array_equal(np.asarray(img), pixels), img.text["Title"]
(True, 'a test')
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, PngImagePlugin

from .png_chunks import PNG_SIGNATURE, chunk_spans, png_chunk, png_chunks

# The written PNG's pixel data: deflated by libdeflate (through imagecodecs) at this level,
# in IDAT chunks of at most _IDAT_BYTES. Against zlib at level 6 (Pillow's default, what
# decompress used before) the files are as large and take a third of the time to write
# (docs/results.md, "Speed").
PNG_DEFLATE_LEVEL = 6
_IDAT_BYTES = 1 << 18


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
    return _deflated(buf, after_header=_signalling_chunks(meta, len(colour), 8))


def _signalling_chunks(meta: dict | None, planes: int, bit_depth: int) -> list[bytes]:
    """The signalling chunks of ``meta``, to go right after the header, where the PNG
    specification wants them (before PLTE and IDAT); Pillow would drop most of them.
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
    return [png_chunk(kind.encode("latin-1"), data) for kind, data in chunks.items()]


def _encode_png16(pixels: np.ndarray, colour: str, meta: dict | None) -> bytes:
    """A 16-bit PNG: imagecodecs writes the pixels (Pillow has no 16-bit colour), and the
    metadata chunks Pillow writes for ``meta`` go between its header and its pixels."""
    import imagecodecs

    others = {k: v for k, v in (meta or {}).items() if k != "png_chunks"}
    carrier = png_chunks(encode_png(np.zeros((1, 1, 1), np.uint8), "L", others)) if others else []
    extra = [png_chunk(*c) for c in carrier if c[0] not in (b"IHDR", b"IDAT", b"IEND")]
    samples = np.ascontiguousarray(pixels[:, :, 0] if colour == "L" else pixels)
    stored = io.BytesIO(imagecodecs.png_encode(samples, level=0))
    return _deflated(stored, after_header=_signalling_chunks(meta, len(colour), 16) + extra)


def _deflated(stored: io.BytesIO, after_header: list[bytes] | None = None) -> bytes:
    """The PNG file in ``stored`` with its pixel data (filtered rows, as its writer chose
    the filters, and stored uncompressed: level 0) deflated at :data:`PNG_DEFLATE_LEVEL`;
    its other chunks are kept as they are, in their order, and the whole chunks
    ``after_header`` go right after its header. ``stored`` is closed (its memory freed)
    before the deflating."""
    import imagecodecs

    chunks: list[bytes | None] = []  # None: where the pixel data goes
    with stored.getbuffer() as png:
        pixel_spans = []
        for kind, start, length in chunk_spans(png):
            if kind == b"IDAT":
                if not pixel_spans:
                    chunks.append(None)
                pixel_spans.append((start, length))
            else:
                chunks.append(bytes(png[start - 8 : start + length + 4]))  # length, type, data, CRC
        raw, filled, inflate = bytearray(sum(n for _, n in pixel_spans)), 0, zlib.decompressobj()  # stored: no larger
        for start, length in pixel_spans:
            piece = inflate.decompress(png[start : start + length])
            raw[filled : filled + len(piece)] = piece
            filled += len(piece)
    stored.close()
    if not inflate.eof:
        raise ValueError("the PNG's pixel data ends early")
    del raw[filled:]
    if imagecodecs.DEFLATE.available:
        data = imagecodecs.deflate_encode(raw, level=PNG_DEFLATE_LEVEL)
    else:  # a build of imagecodecs without libdeflate: zlib, as Pillow would
        data = zlib.compress(raw, PNG_DEFLATE_LEVEL)
    del raw
    idat = b"".join(png_chunk(b"IDAT", data[i : i + _IDAT_BYTES]) for i in range(0, len(data), _IDAT_BYTES))
    chunks[1:1] = after_header or []
    return PNG_SIGNATURE + b"".join(idat if c is None else c for c in chunks)
