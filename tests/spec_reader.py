"""A minimal .lcz container reader written from docs/format.md alone (it imports nothing
from lora_codec), so that a test can check the spec against real files."""

import struct
import zlib

MAGIC = bytes([0x89, 0x4C, 0x43, 0x5A, 0x0D, 0x0A, 0x1A, 0x0A])


class SpecError(ValueError):
    pass


def read(data: bytes) -> dict:
    """The header fields and the sections {tag: payload} of a .lcz file."""
    if data[:8] != MAGIC:
        raise SpecError("magic")
    if len(data) > 8 and data[8] >= 17:
        return _read_compact(data)
    if len(data) < 38:
        raise SpecError("short header")
    header = {
        "version": data[8], "flags": data[9], "mode": data[10], "colour": data[11], "bit_depth": data[12],
        "sections": data[13], "width": struct.unpack("<I", data[14:18])[0],
        "height": struct.unpack("<I", data[18:22])[0], "model_id": data[22:30],
        "pixel_crc": struct.unpack("<I", data[30:34])[0],
    }
    if struct.unpack("<I", data[34:38])[0] != zlib.crc32(data[0:34]):
        raise SpecError("header crc")
    _check(header)
    pos, sections = 38, {}
    for _ in range(header["sections"]):
        tag = data[pos : pos + 4]
        length, crc = struct.unpack("<II", data[pos + 4 : pos + 12])
        payload = data[pos + 12 : pos + 12 + length]
        if len(payload) != length or zlib.crc32(payload) != crc or tag in sections:
            raise SpecError(f"section {tag!r}")
        pos += 12 + length
        if not (ord("a") <= tag[0] <= ord("z")):  # ancillary sections are skipped
            sections[tag] = payload
    if pos != len(data):
        raise SpecError("trailing bytes")
    return {"header": header, "sections": sections}


# Version 17's model numbers (docs/format.md).
MODELS = {n: bytes.fromhex(h) for n, h in enumerate(
    ["0adcc6740d702fdd", "b786a683f51f073d", "504cd0fa25851d00", "9d16e6feea080739", "2804b4201f0f2a04"], 1)}

# Version 17's one-byte section codes and the tags they stand for (docs/format.md).
CODES = {1: b"ZCOL", 2: b"PCOL", 3: b"ZALP", 4: b"PALP", 5: b"LORA", 6: b"HEVC", 7: b"HALP", 8: b"XFRM",
         9: b"RAWP", 10: b"IPAL", 11: b"IIDX", 12: b"UPSC", 13: b"DEEP", 128: b"meta"}


def _read_compact(data: bytes) -> dict:
    """Version 17 on: the compact layout."""
    if len(data) < 22 or struct.unpack("<I", data[-4:])[0] != zlib.crc32(data[:-4]):
        raise SpecError("file crc")
    end = len(data) - 4
    width, pos = _leb128(data[:end], 11)
    height, pos = _leb128(data[:end], pos)
    mode = data[10] & 0x0F
    model_id = bytes(8)
    if mode in (0, 1):  # the model's number in the format's table, or 0 and its id
        model_id = MODELS[data[pos]] if data[pos] else data[pos + 1 : pos + 9]
        pos += 1 if data[pos] else 9
    header = {
        "version": data[8], "flags": data[9], "mode": mode, "colour": data[10] >> 4,
        "bit_depth": 16 if mode == 5 else 8, "sections": data[pos + 4], "width": width + 1,
        "height": height + 1, "model_id": model_id, "pixel_crc": struct.unpack("<I", data[pos : pos + 4])[0],
    }
    _check(header)
    pos, sections = pos + 5, {}
    for _ in range(header["sections"]):
        code = data[pos]
        length, pos = _leb128(data[:end], pos + 1)
        payload = data[pos : pos + length]
        if len(payload) != length or CODES.get(code) in sections:
            raise SpecError(f"section code {code}")
        pos += length
        if code < 128:  # ancillary sections (codes 128 and up) are skipped
            sections[CODES[code]] = payload
    if pos != end:
        raise SpecError("trailing bytes")
    return {"header": header, "sections": sections}


def _check(header: dict) -> None:
    # bit 1 (fast) from version 10, bit 2 (one stripe) from version 12, bit 3 (no match) from 16
    known = (0x01 | (0x02 if header["version"] >= 10 else 0) | (0x04 if header["version"] >= 12 else 0)
             | (0x08 if header["version"] >= 16 else 0))
    if header["version"] not in range(1, 20) or header["flags"] & ~known & 0xFF:
        raise SpecError("version or reserved flags")
    side = 1 << 18 if header["version"] >= 19 else 1 << 16  # pixels a side: 2^18 from version 19
    if not (1 <= header["width"] <= side and 1 <= header["height"] <= side) or \
            header["width"] * header["height"] > 1 << 28:
        raise SpecError("image size")
    if header["mode"] == 4 and header["version"] < 12:  # mode 4 (upscaled) from version 12
        raise SpecError("mode")
    if header["mode"] == 5 and header["version"] < 13:  # mode 5 (deep) from version 13
        raise SpecError("mode")
    if header["bit_depth"] != (16 if header["mode"] == 5 else 8):  # 16 in mode 5, and only there
        raise SpecError("bit depth")
    if header["flags"] & 0x0E and header["mode"] not in (0, 1):
        raise SpecError("the fast, one-stripe or no-match flag in a mode without pixel streams")
    if header["flags"] & 0x0A == 0x0A:
        raise SpecError("the no-match flag beside the fast flag (no bit refinement to match in)")


def _leb128(data: bytes, at: int, limit: int = 9) -> tuple[int, int]:
    """(the unsigned LEB128 number at ``data[at:]``, the position after it); at most
    ``limit`` bytes."""
    n, shift = 0, 0
    for i, byte in enumerate(data[at : at + limit]):
        n |= (byte & 0x7F) << shift
        if byte < 0x80:
            return n, at + i + 1
        shift += 7
    raise SpecError("varint")


def stream_capacity(stream: bytes) -> int:
    """len(coded bytes) + n of a framed (version 2) stream."""
    n, at = _leb128(stream, 0)
    return len(stream) - at + n


def _luma(colour: tuple[int, ...]) -> int:
    return 299 * colour[0] + 587 * colour[1] + 114 * colour[2] if len(colour) >= 3 else colour[0]


def _packed(colour: tuple[int, ...]) -> int:
    v = 0
    for x in colour:
        v = v * 256 + x
    return v


def _rice_palette(data: bytes, k: int, planes: int) -> list[tuple[int, ...]]:
    """The colours of a Rice-coded palette (version 18, m = 1), in index order."""
    if k > 256:
        raise SpecError("Rice palette size")
    bits = [(byte >> (7 - b)) & 1 for byte in data for b in range(8)]
    at = 0

    def read(n: int) -> int:
        nonlocal at
        if at + n > len(bits):
            raise SpecError("Rice palette truncated")
        v = 0
        for b in bits[at:at + n]:
            v = 2 * v + b
        at += n
        return v

    colours = [[read(8) for _ in range(planes)]]
    pivot = 1 if planes >= 3 else 0
    d = [[0] * (k - 1) for _ in range(planes)]
    for c in range(planes if k > 1 else 0):
        r = read(3)
        for i in range(k - 1):
            q = 0
            while read(1):
                q += 1
            v = (q << r) | read(r)
            if v > 255:
                raise SpecError("Rice palette number")
            if c == pivot:
                d[c][i] = v if v < 128 else 127 - v
            else:
                d[c][i] = v // 2 if v % 2 == 0 else -(v + 1) // 2
    if len(bits) - at >= 8 or any(bits[at:]):
        raise SpecError("Rice palette padding")
    for i in range(k - 1):
        step = [d[c][i] + (d[pivot][i] if planes >= 3 and c in (0, 2) else 0) for c in range(planes)]
        colours.append([(colours[-1][c] + step[c]) % 256 for c in range(planes)])
    result = [tuple(colour) for colour in colours]
    ranked = sorted(result, key=lambda colour: (_luma(colour), _packed(colour)))
    if len(set(result)) != k or ranked != result:
        raise SpecError("Rice palette order")
    return result


def indexed_palette(payload: bytes, planes: int, version: int) -> list[tuple[int, ...]]:
    """The colours of an ``IPAL`` section (mode 3) in index order, as docs/format.md
    defines them: value-sorted colours from planar differences, ranked by luma. The
    differences are zlib'd before version 11; from it they are coded by mode 3's model,
    whose native code is normative, so that part is read with it. k is a u32 before
    version 17, from it LEB128 k - 1; from version 18 LEB128 2 (k - 1) + m, where m = 1
    means Golomb-Rice codes in index order."""
    if version >= 18:
        head, at = _leb128(payload, 0)
        if head % 2:
            return _rice_palette(payload[at:], head // 2 + 1, planes)
        k = head // 2 + 1
    elif version >= 17:
        k, at = _leb128(payload, 0)
        k += 1
    else:
        (k,), at = struct.unpack("<I", payload[:4]), 4
    if version >= 11:
        from lora_codec import entropy

        start = entropy.MIXER_START if version >= 18 else entropy.MIXER_START_V5
        raw = entropy.decode_indexes(payload[at:], planes, k, 256, mixer_start=start).astype("uint8").tobytes()
    else:
        raw = zlib.decompress(payload[at:])
    if not 1 <= k <= 65536 or len(raw) != k * planes:
        raise SpecError("palette size")
    columns = []
    for c in range(planes):
        value, column = 0, []
        for d in raw[c * k:(c + 1) * k]:
            value = (value + d) % 256
            column.append(value)
        columns.append(column)
    colours = list(zip(*columns))

    if any(_packed(a) >= _packed(b) for a, b in zip(colours, colours[1:])):
        raise SpecError("palette order")
    return sorted(colours, key=lambda colour: (_luma(colour), _packed(colour)))


def deep_parts(payload: bytes, version: int, height: int) -> dict:
    """The fields of a ``DEEP`` section (mode 5) of a file of format ``version`` and
    ``height`` rows, as docs/format.md defines them; the embedded high image's file is
    read with :func:`read`, the low bits' code is returned as it is, with its method byte
    checked, and for method 2 its streams, one per stripe."""
    payload_version, shift, low_bits, has_table, length = struct.unpack("<BBBBI", payload[:8])
    if payload_version != 1 or has_table not in (0, 1):
        raise SpecError("DEEP payload")
    pos = 8 + 256 * has_table
    table = payload[8:pos] if has_table else None
    high, low = payload[pos : pos + length], payload[pos + length :]
    methods = (0, 1, 2) if version >= 14 else (0, 1)  # method 2 (stripes) from version 14
    if len(high) != length or bool(low) != bool(low_bits) or (low and low[0] not in methods):
        raise SpecError("DEEP parts")
    streams = None
    if low and low[0] == 2:
        # stripes of 256 rows, a last one of fewer than 128 rows joined to the one before
        count = max(1, (height + 255) // 256 - (1 if height > 256 and height % 256 and height % 256 < 128 else 0))
        streams, at = [], 1
        for _ in range(count - 1):  # each stream but the last after its length (unsigned LEB128)
            n, at = _leb128(low, at)
            streams.append(low[at : at + n])
            at += n
        streams.append(low[at:])
        if any(len(x) == 0 for x in streams):
            raise SpecError("DEEP low-bit stripes")
    return {"shift": shift, "low_bits": low_bits, "table": table, "high": read(high), "low": low or None,
            "low_streams": streams}
