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
    """A .lcz file with header bytes replaced and its CRC recomputed: the header CRC of
    the fixed layout (versions 1 to 16), the file's CRC of the compact one (17 on)."""
    raw = bytearray(data)
    compact = raw[8] >= 17
    raw[offset : offset + len(value)] = value
    if compact:
        raw[-4:] = struct.pack("<I", zlib.crc32(bytes(raw[:-4])))
    else:
        raw[34:38] = struct.pack("<I", zlib.crc32(bytes(raw[:34])))
    return bytes(raw)


def leb128(n: int) -> bytes:
    """The unsigned LEB128 form of ``n`` (docs/format.md), written here from the spec."""
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n >> 7 else 0))
        n >>= 7
        if not n:
            return bytes(out)


def with_size(data: bytes, width: int, height: int) -> bytes:
    """A .lcz file whose header claims ``width`` x ``height`` pixels, its CRC recomputed
    (in the compact layout, LEB128 sizes less one from byte 11; the fixed layout's are
    32-bit at byte 14)."""
    if data[8] < 17:
        return with_header_bytes(data, 14, struct.pack("<II", width, height))
    pos = 11
    for _ in range(2):  # skip the two numbers
        while data[pos] & 0x80:
            pos += 1
        pos += 1
    raw = data[:11] + leb128(width - 1) + leb128(height - 1) + data[pos:-4]
    return raw + struct.pack("<I", zlib.crc32(raw))


def fixed_layout(data: bytes, version: int = 16) -> bytes:
    """The same file in the fixed layout of ``version`` (16 by default), whose header
    fields sit at fixed offsets (docs/format.md): version 8, flags 9, mode 10, colour 11,
    bit depth 12, section count 13, width 14, height 18."""
    from lora_codec import container

    return container.pack(container.unpack(data), version=version)


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
