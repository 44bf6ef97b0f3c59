"""The lossy HEVC base layer of rc mode (x265 and libde265 through pillow-heif).

:func:`encode` compresses the colour planes (L or RGB) with HEVC intra at a given quality,
4:4:4 chroma, and returns the HEIF bytes plus the reconstruction that a decoder will see;
:func:`decode` turns the bytes back into that reconstruction. The section payload
(:func:`pack` / :func:`unpack`) records the quality and the CRC32 of the reconstruction,
so a decoder whose HEVC stack reconstructs differently raises an error instead of
decoding wrong pixels.

>>> import numpy as np
>>> planes = (np.arange(24 * 32 * 3) % 199).astype(np.uint8).reshape(24, 32, 3)
>>> layer = encode(planes, quality=50)
>>> again = unpack(layer.pack(), planes.shape)
>>> again.quality, bool((again.reconstruction == layer.reconstruction).all())
(50, True)
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np

PAYLOAD_VERSION = 1
_HEAD = struct.Struct("<BBI")  # version, quality, CRC32 of the reconstruction
QUALITY_RANGE = (1, 100)


class BaseLayerError(ValueError):
    """The base layer cannot be decoded to the reconstruction the encoder used."""


@dataclass(frozen=True)
class BaseLayer:
    quality: int
    heif: bytes
    reconstruction: np.ndarray  # (H, W, C) uint8, C in {1, 3}

    @property
    def packed_size(self) -> int:
        return _HEAD.size + len(self.heif)

    def pack(self) -> bytes:
        crc = zlib.crc32(memoryview(np.ascontiguousarray(self.reconstruction)).cast("B")) & 0xFFFFFFFF
        return _HEAD.pack(PAYLOAD_VERSION, self.quality, crc) + self.heif


def _pillow_heif():
    try:
        import pillow_heif
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise RuntimeError("rc mode needs pillow-heif (pip install pillow-heif)") from exc
    return pillow_heif


def _decode_heif(data: bytes, planes: int) -> np.ndarray:
    pillow_heif = _pillow_heif()
    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        array = np.asarray(heif)
    except Exception as exc:  # libheif raises its own error types
        raise BaseLayerError(f"the HEVC base layer does not decode ({exc})") from None
    if array.ndim == 2:
        array = array[:, :, None]
    if array.dtype != np.uint8 or array.shape[2] < planes:
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
    pillow_heif.from_pillow(image).save(buf, quality=int(quality), chroma=444)
    data = buf.getvalue()
    recon = _decode_heif(data, planes.shape[2])
    if recon.shape != planes.shape:
        raise BaseLayerError(f"HEVC changed the image size: {planes.shape} -> {recon.shape}")
    return BaseLayer(int(quality), data, recon)


def quality_of(payload: bytes) -> int | None:
    """The HEVC quality recorded in a section payload (None if it is too short to say)."""
    return payload[1] if len(payload) >= _HEAD.size else None


def unpack(payload: bytes, shape: tuple[int, int, int]) -> BaseLayer:
    """The base layer of a section payload, checked against the reconstruction's CRC."""
    if len(payload) < _HEAD.size:
        raise BaseLayerError("the base layer section is truncated")
    version, quality, crc = _HEAD.unpack_from(payload, 0)
    if version != PAYLOAD_VERSION:
        raise BaseLayerError(f"unsupported base layer version {version}")
    data = payload[_HEAD.size :]
    recon = _decode_heif(data, shape[2])
    if recon.shape != tuple(shape):
        raise BaseLayerError(f"the base layer is {recon.shape[1]}x{recon.shape[0]}, the image {shape[1]}x{shape[0]}")
    if zlib.crc32(memoryview(recon).cast("B")) & 0xFFFFFFFF != crc:
        raise BaseLayerError("this HEVC decoder reconstructs the base layer differently from the encoder's "
                             "(reconstruction CRC mismatch); the file cannot be decoded exactly here")
    return BaseLayer(int(quality), data, recon)
