"""The coding modes, as data: adding a mode is one entry here plus its code in the
container's table (:data:`lora_codec.container.MODES`)."""

from __future__ import annotations

from dataclasses import dataclass

from .. import container


@dataclass(frozen=True)
class Mode:
    name: str
    model_file: str                    # the shipped model the mode codes with by default ("": none)
    base_layer: bool = False           # a lossy HEVC base layer per group, coded first
    stored: bool = False               # the pixels stored (zlib), the fallback no file is ever worse than
    indexed: bool = False              # palette + context-mixed indexes (images of few colours)
    enlarged: bool = False             # an enlargement: its original's own file inside, and the line maps
    deep: bool = False                 # 16-bit samples: the files of their 8-bit parts inside
    qualities: tuple[int, ...] = ()    # HEVC qualities the per-image search tries, low to high
    summary: str = ""


MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode("learned", "engine3.safetensors", summary="the learned head over the online engine (default)"),
        Mode("rc", "engine3.safetensors", base_layer=True, qualities=(1, 5, 10, 20, 30),
             summary="HEVC base layer + the online engine and learned head reading its reconstruction"),
        Mode("stored", "", stored=True, summary="the pixels, zlib-compressed (chosen when smaller)"),
        Mode("indexed", "", indexed=True,
             summary="palette + online context mixing of the indexes (few colours; chosen when smaller)"),
        Mode("upscaled", "", enlarged=True,
             summary="a nearest-neighbour enlargement: its original's own file, without the repeated lines, "
                     "and where they were (chosen when smaller)"),
        Mode("deep", "", deep=True,
             summary="16-bit samples: their top 8 bits an 8-bit image coded as any image is, the bits "
                     "below modelled under it (every 16-bit image)"),
    )
}
assert set(MODES) == set(container.MODES), "every container mode needs a Mode entry"


def mode(name: str) -> Mode:
    """The mode called ``name``, or a ValueError listing the modes."""
    if not isinstance(name, str) or name not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {name!r}")
    return MODES[name]
