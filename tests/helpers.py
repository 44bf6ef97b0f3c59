"""Small synthetic images for the tests (the tests never read Kodak or training data)."""

import struct
import zlib

import numpy as np


def smooth_image(height: int, width: int, planes: int = 3, seed: int = 0) -> np.ndarray:
    """A photo-like image: smooth gradients, an edge and mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    out = np.empty((height, width, planes), np.uint8)
    for c in range(planes):
        base = 100 + 60 * np.sin(x / (7.0 + 3 * c)) + 40 * np.cos(y / 11.0) + 30 * (x > width // 2)
        out[:, :, c] = np.clip(base + rng.normal(0, 3, (height, width)), 0, 255).astype(np.uint8)
    return out


def palette_image(height: int, width: int, planes: int, colours: int, seed: int) -> np.ndarray:
    """An image of at most ``colours`` random colours placed at random."""
    rng = np.random.default_rng(seed)
    table = rng.integers(0, 256, (colours, planes), dtype=np.uint8)
    return np.ascontiguousarray(table[rng.integers(0, colours, (height, width))])


def with_header_bytes(data: bytes, offset: int, value: bytes) -> bytes:
    """A .lcz file with header bytes replaced and the header CRC recomputed."""
    raw = bytearray(data)
    raw[offset : offset + len(value)] = value
    raw[34:38] = struct.pack("<I", zlib.crc32(bytes(raw[:34])))
    return bytes(raw)


def with_header_flags(data: bytes, flags: int) -> bytes:
    """A .lcz file with these header flags (byte 9) and the header CRC recomputed."""
    return with_header_bytes(data, 9, bytes([flags]))


def info_after_compressing(tmp_path, image: np.ndarray, capsys) -> str:
    """What ``lora-codec info`` prints about ``image`` compressed (and verified) by the
    command line."""
    from PIL import Image

    from lora_codec.cli import main

    src, out = tmp_path / "in.png", tmp_path / "in.lcz"
    Image.fromarray(image).save(src)
    assert main(["compress", str(src), "-o", str(out), "--quiet", "--verify"]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    return capsys.readouterr().out
