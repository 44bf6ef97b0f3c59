"""The lossy HEVC base layer of rc mode (x265 and libde265 through pillow-heif).

:func:`encode` compresses the colour planes (L or RGB) with HEVC intra at a given quality,
4:4:4 chroma, and returns the HEIF bytes plus the reconstruction that a decoder will see;
:func:`decode` turns the bytes back into that reconstruction. The section payload
(:func:`pack` / :func:`unpack`) records the quality and the CRC32 of the reconstruction,
so a decoder whose HEVC stack reconstructs differently raises an error instead of
decoding wrong pixels. Payload version 2 (format 7 and later) deflates the HEIF container's boxes
in front of the HEVC data (ftyp, meta: about 380 bytes) against a fixed dictionary,
:data:`HEIF_DICTIONARY`, to about 80 bytes; version 1 stores the HEIF file as it is.

>>> import numpy as np
>>> planes = (np.arange(24 * 32 * 3) % 199).astype(np.uint8).reshape(24, 32, 3)
>>> layer = encode(planes, quality=50)
>>> again = unpack(layer.pack(), planes.shape)
>>> again.quality, bool((again.reconstruction == layer.reconstruction).all())
(50, True)
>>> len(layer.pack()) < len(layer.pack(version=1)) - 200
True
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

PAYLOAD_VERSION = 2           # written
PAYLOAD_VERSIONS = (1, 2)     # read (which one a file holds follows from its format version)
_HEAD = struct.Struct("<BBI")  # version, quality, CRC32 of the reconstruction
_PREFIX_LENGTH = struct.Struct("<H")
QUALITY_RANGE = (1, 100)
# The deflate dictionary of payload version 2: the HEIF boxes in front of the HEVC data
# (up to the ``mdat`` box's type) of pillow-heif 1.x encodes of a 64x64 grey L image and
# a 64x64 grey RGB image at quality 1, 4:4:4. Part of the format: never change it.
HEIF_DICTIONARY = base64.b64decode(
    "AAAAHGZ0eXBoZWl4AAAAAG1pZjFoZWl4bWlhZgAAAU5tZXRhAAAAAAAAACFoZGxyAAAAAAAAAABwaWN0AAAAAAAAAAAAAAAA"
    "AAAAACJpbG9jAAAAAERAAAEAAQAAAAABcgABAAAAAAAAAA0AAAAjaWluZgAAAAAAAQAAABVpbmZlAgAAAAABAABodmMxAAAA"
    "AA5waXRtAAAAAAABAAAAzmlwcnAAAACvaXBjbwAAAHJodmNDAQQIAAAAn/gAAAAAHvAA/Pz4+AAADwNgAAEAF0ABDAH//wQI"
    "AAADAJ/4AAADAAAeugJAYQABACZCAQEECAAAAwCf+AAAAwAAHsCCBBZbqSSmubAgAAADAyAAAAMAIWIAAQAHRAHBcrAiQAAA"
    "ABNjb2xybmNseAABAA0ABoAAAAAUaXNwZQAAAAAAAABAAAAAQAAAAA5waXhpAAAAAAEIAAAAF2lwbWEAAAAAAAAAAQABBIEC"
    "AwQAAAAVbWRhdAAAABxmdHlwaGVpeAAAAABtaWYxaGVpeG1pYWYAAAFVbWV0YQAAAAAAAAAhaGRscgAAAAAAAAAAcGljdAAA"
    "AAAAAAAAAAAAAAAAAAAiaWxvYwAAAABEQAABAAEAAAAAAXkAAQAAAAAAAAAOAAAAI2lpbmYAAAAAAAEAAAAVaW5mZQIAAAAA"
    "AQAAaHZjMQAAAAAOcGl0bQAAAAAAAQAAANVpcHJwAAAAtmlwY28AAAB3aHZjQwEECAAAAJ44AAAAAB7wAPz/+PgAAA8DYAAB"
    "ABdAAQwB//8ECAAAAwCeOAAAAwAAHroCQGEAAQAqQgEBBAgAAAMAnjgAAAMAAB6QBBAgst1JJTXNwENBgQAAAwAZAAADAAEI"
    "YgABAAhEAcFyhgwCJAAAABNjb2xybmNseAABAA0ABoAAAAAUaXNwZQAAAAAAAABAAAAAQAAAABBwaXhpAAAAAAMICAgAAAAX"
    "aXBtYQAAAAAAAAABAAEEgQIDBAAAABZtZGF0")
HEIF_DICTIONARY_SHA256 = "edeeb72b985fecae3d5593bffeb154f986f1318bc55d07734661ffa0ba0bc3d3"


class BaseLayerError(ValueError):
    """The base layer cannot be decoded to the reconstruction the encoder used."""


@dataclass(frozen=True)
class BaseLayer:
    quality: int
    heif: bytes
    reconstruction: np.ndarray  # (H, W, C) uint8, C in {1, 3}

    @cached_property
    def packed(self) -> bytes:
        """The section payload as this build writes it (computed once)."""
        return self.pack()

    @property
    def packed_size(self) -> int:
        return len(self.packed)

    def pack(self, version: int = PAYLOAD_VERSION) -> bytes:
        """The section payload in payload ``version`` (1: the HEIF file as it is; 2: its
        container boxes deflated against :data:`HEIF_DICTIONARY`)."""
        crc = zlib.crc32(memoryview(np.ascontiguousarray(self.reconstruction)).cast("B")) & 0xFFFFFFFF
        head = _HEAD.pack(version, self.quality, crc)
        if version == 1:
            return head + self.heif
        if version != 2:
            raise ValueError(f"base layer payload version must be in {PAYLOAD_VERSIONS}, got {version}")
        cut = _hevc_start(self.heif)
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, HEIF_DICTIONARY)
        boxes = deflate.compress(self.heif[:cut]) + deflate.flush()
        if len(boxes) > 0xFFFF:  # its length is a u16; libheif's boxes deflate to about 80 bytes
            raise BaseLayerError(f"the HEIF boxes deflate to {len(boxes)} bytes, over the format's 65535")
        return head + _PREFIX_LENGTH.pack(len(boxes)) + boxes + self.heif[cut:]


def _hevc_start(heif: bytes) -> int:
    """The offset just after the type of the top-level ``mdat`` box (where its data starts)."""
    pos = 0
    while pos + 8 <= len(heif):
        size, kind = struct.unpack_from(">I4s", heif, pos)
        if kind == b"mdat":
            return pos + 8
        if size < 8:
            break
        pos += size
    raise ValueError("the HEIF file has no mdat box")


def _inflate_heif(payload: bytes) -> bytes:
    """The HEIF file of a version-2 payload body (after the head)."""
    if len(payload) < _PREFIX_LENGTH.size:
        raise BaseLayerError("the base layer section is truncated")
    (n,) = _PREFIX_LENGTH.unpack_from(payload, 0)
    body = payload[_PREFIX_LENGTH.size :]
    if n > len(body):
        raise BaseLayerError("the base layer section is truncated")
    inflate = zlib.decompressobj(-15, HEIF_DICTIONARY)
    try:
        boxes = inflate.decompress(body[:n], 1 << 16)
    except zlib.error as exc:
        raise BaseLayerError(f"the base layer's container boxes do not inflate ({exc})") from None
    if not inflate.eof or inflate.unconsumed_tail or inflate.unused_data:
        raise BaseLayerError("the base layer's container boxes are corrupt")
    return boxes + body[n:]


def _pillow_heif():
    try:
        import pillow_heif
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise RuntimeError("rc mode needs pillow-heif (pip install pillow-heif)") from exc
    return pillow_heif


def _one_line(exc: Exception) -> str:
    """An exception's message on one line (libheif's end in a newline), or its type's name."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _decode_heif(data: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    """The (H, W, C) reconstruction of a HEIF file, checked to be ``shape`` before any
    pixel is decoded (a forged layer costs no more work than the image it claims)."""
    pillow_heif = _pillow_heif()
    height, width, planes = shape
    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        if tuple(heif.size) != (width, height):
            raise BaseLayerError(f"the base layer is {heif.size[0]}x{heif.size[1]}, the image {width}x{height}")
        array = np.asarray(heif)
    except BaseLayerError:
        raise
    except Exception as exc:  # libheif raises its own error types
        raise BaseLayerError(f"the HEVC base layer does not decode ({_one_line(exc)})") from None
    if array.ndim == 2:
        array = array[:, :, None]
    if array.dtype != np.uint8 or array.shape[:2] != (height, width) or array.shape[2] < planes:
        raise BaseLayerError(f"the HEVC base layer decodes to {array.dtype} {array.shape}")
    return np.ascontiguousarray(array[:, :, :planes])


def encode(planes: np.ndarray, quality: int) -> BaseLayer:
    """HEVC-code (H, W, C) uint8 planes, C in {1, 3}, at ``quality`` in [1, 100]."""
    from PIL import Image

    if planes.dtype != np.uint8 or planes.ndim != 3 or planes.shape[2] not in (1, 3):
        raise ValueError("the base layer codes (H, W, 1 or 3) uint8 planes")
    if not QUALITY_RANGE[0] <= int(quality) <= QUALITY_RANGE[1]:
        raise ValueError(f"HEVC quality must be in {QUALITY_RANGE}, got {quality}")
    pillow_heif = _pillow_heif()
    image = Image.fromarray(planes[:, :, 0] if planes.shape[2] == 1 else planes)
    buf = io.BytesIO()
    height, width = planes.shape[:2]
    try:
        pillow_heif.from_pillow(image).save(buf, quality=int(quality), chroma=444)
    except Exception as exc:  # x265 refuses some sizes (e.g. a side over 4216 with the other under 32)
        raise BaseLayerError(f"the HEVC encoder cannot code a {width}x{height} image; use the default mode "
                             f"({_one_line(exc)})") from None
    data = buf.getvalue()
    try:
        recon = _decode_heif(data, planes.shape)
    except BaseLayerError as exc:  # e.g. a side over 65528: encoded, but libde265 refuses it
        raise BaseLayerError(f"the HEVC base layer of a {width}x{height} image does not decode here; "
                             f"use the default mode ({exc})") from None
    return BaseLayer(int(quality), data, recon)


def quality_of(payload: bytes) -> int | None:
    """The HEVC quality recorded in a section payload (None if it is too short to say)."""
    return payload[1] if len(payload) >= _HEAD.size else None


def unpack(payload: bytes, shape: tuple[int, int, int], version: int = PAYLOAD_VERSION) -> BaseLayer:
    """The base layer of a section payload of payload ``version`` (the one the file's
    format holds), checked against the reconstruction's CRC."""
    if len(payload) < _HEAD.size:
        raise BaseLayerError("the base layer section is truncated")
    found, quality, crc = _HEAD.unpack_from(payload, 0)
    if found != version:
        raise BaseLayerError(f"the base layer has payload version {found}, the file's format holds {version}")
    data = payload[_HEAD.size :] if version == 1 else _inflate_heif(payload[_HEAD.size :])
    recon = _decode_heif(data, tuple(shape))
    if zlib.crc32(memoryview(recon).cast("B")) & 0xFFFFFFFF != crc:
        raise BaseLayerError("this HEVC decoder reconstructs the base layer differently from the encoder's "
                             "(reconstruction CRC mismatch); the file cannot be decoded exactly here")
    return BaseLayer(int(quality), data, recon)
