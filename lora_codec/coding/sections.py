"""Which section holds what: the groups' streams, base layers and adapters in a container,
and the per-section sizes that ``info`` reports."""

from __future__ import annotations

from .. import base_layer, container, metadata
from ..container import Container, Header
from .groups import GroupCode

SECTION_TAGS = {"colour": (b"ZCOL", b"PCOL"), "alpha": (b"ZALP", b"PALP")}
BASE_LAYER_TAGS = {"colour": b"HEVC", "alpha": b"HALP"}
ADAPTER_TAG = b"LORA"


def sections_of(groups: dict[str, GroupCode], adapters: bytes | None,
                extra: dict[bytes, bytes] | None = None) -> dict[bytes, bytes]:
    """The sections of a file, in the order they are written; ``extra`` holds ancillary
    sections (metadata), written last."""
    sections: dict[bytes, bytes] = {}
    if adapters is not None:
        sections[ADAPTER_TAG] = adapters
    for group, code in groups.items():
        if code.base is not None:
            sections[BASE_LAYER_TAGS[group]] = code.base.packed
        ztag, ptag = SECTION_TAGS[group]
        sections[ztag] = code.z
        sections[ptag] = code.pixels
    sections.update(extra or {})
    return sections


def file_size(groups: dict[str, GroupCode], adapters: bytes | None) -> int:
    """Bytes of the file these sections make, without packing it."""
    lengths = [len(adapters)] if adapters is not None else []
    for code in groups.values():
        lengths += ([code.base.packed_size] if code.base is not None else []) + [len(code.z), len(code.pixels)]
    return container.packed_size(lengths)


def pack(header: Header, groups: dict[str, GroupCode], adapters: bytes | None,
         extra: dict[bytes, bytes] | None = None) -> bytes:
    flags = (header.flags & ~container.FLAG_ADAPTERS) | (container.FLAG_ADAPTERS if adapters is not None else 0)
    header = Header(**{**header.__dict__, "flags": flags})
    return container.pack(Container(header, sections_of(groups, adapters, extra)))


def section_stats(data: bytes) -> dict:
    """Geometry, mode, model id and bits per section of a .lcz file (for ``info``)."""
    c = container.unpack(data)
    h = c.header
    subpixels = h.width * h.height * h.planes
    parts = {"adapter": 0, "z": 0, "pixels": 0, "base layer": 0, "metadata": 0}
    sizes = {}
    for tag, payload in c.sections.items():
        sizes[tag.decode("ascii", "replace")] = len(payload)
        if tag == ADAPTER_TAG:
            parts["adapter"] += len(payload)
        elif tag in BASE_LAYER_TAGS.values():
            parts["base layer"] += len(payload)
        elif tag == metadata.TAG:
            parts["metadata"] += len(payload)
        elif tag.startswith(b"Z"):
            parts["z"] += len(payload)
        else:
            parts["pixels"] += len(payload)
    total = len(data)
    parts["container"] = total - sum(parts.values())
    qualities = {}
    for group, tag in BASE_LAYER_TAGS.items():
        if tag in c.sections and base_layer.quality_of(c.sections[tag]) is not None:
            qualities[group] = base_layer.quality_of(c.sections[tag])
    try:
        items = metadata.describe(metadata.unpack(c.sections[metadata.TAG])) if metadata.TAG in c.sections else {}
    except metadata.MetadataError:
        items = {"(unreadable)": len(c.sections[metadata.TAG])}
    return {
        "width": h.width, "height": h.height, "colour": h.colour, "planes": h.planes, "bit_depth": h.bit_depth,
        "metadata": items,
        "hevc_quality": qualities,
        "mode": h.mode, "model_id": h.model_id.hex(), "format_version": h.version,
        "fast": bool(h.flags & container.FLAG_FAST),
        "one_stripe": bool(h.flags & container.FLAG_ONE_STRIPE),
        "no_match": bool(h.flags & container.FLAG_NO_MATCH),
        "bytes": total, "bpsp": 8 * total / subpixels,
        "sections": sizes,
        "split_bytes": parts,
        "split_bpsp": {k: 8 * v / subpixels for k, v in parts.items()},
    }
