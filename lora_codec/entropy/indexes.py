"""Planes of palette indexes under the native online context-mixing model
(``native/index_model.hpp``): validated numpy in, bytes out.

>>> import numpy as np
>>> from lora_codec import entropy
>>> plane = (np.arange(6 * 9).reshape(6, 9) // 7 % 3).astype(np.uint16)
>>> data = entropy.encode_indexes(plane, colours=3)
>>> bool((entropy.decode_indexes(data, 6, 9, colours=3) == plane).all())
True
"""

from __future__ import annotations

import numpy as np

from . import _native
from .coder import CorruptStreamError

MAX_COLOURS = 1 << 16
# The mixers' starting weights in 32nds of 1.0 (native/index_model.hpp): from format v18,
# and in formats v5 to v17.
MIXER_START, MIXER_START_V5, MAX_MIXER_START = 3, 8, 32


def _check_colours(colours: int) -> int:
    if isinstance(colours, bool) or not isinstance(colours, (int, np.integer)) or not 1 <= colours <= MAX_COLOURS:
        raise ValueError(f"colours must be an integer in [1, {MAX_COLOURS}], got {colours!r}")
    return int(colours)


def _check_mixer_start(mixer_start: int) -> int:
    if isinstance(mixer_start, bool) or not isinstance(mixer_start, (int, np.integer)) \
            or not 0 <= mixer_start <= MAX_MIXER_START:
        raise ValueError(f"mixer_start must be an integer in [0, {MAX_MIXER_START}], got {mixer_start!r}")
    return int(mixer_start)


def encode_indexes(plane, colours: int, match: bool = True, mixer_start: int = MIXER_START) -> bytes:
    """A framed stream coding the (H, W) plane of indexes, each in [0, colours); with
    the match model (format v11+) unless ``match`` is False (format v5 to v10), its
    mixers starting at ``mixer_start`` 32nds (:data:`MIXER_START` from format v18,
    :data:`MIXER_START_V5` before)."""
    colours = _check_colours(colours)
    mixer_start = _check_mixer_start(mixer_start)
    arr = np.asarray(plane)
    if arr.ndim != 2 or arr.dtype.kind not in "iu":
        raise ValueError(f"plane must be a 2-D integer array, got {arr.dtype} of shape {arr.shape}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= colours):
        raise ValueError(f"an index is outside [0, {colours})")
    return _native.encode_indexes(np.ascontiguousarray(arr, dtype=np.uint16), colours, bool(match), mixer_start)


def decode_indexes(data: bytes, height: int, width: int, colours: int, match: bool = True,
                   mixer_start: int = MIXER_START) -> np.ndarray:
    """The (height, width) uint16 plane a stream of :func:`encode_indexes` codes (with
    the same ``match`` and ``mixer_start``); raises :class:`CorruptStreamError` when the
    stream is inconsistent or too short."""
    colours = _check_colours(colours)
    mixer_start = _check_mixer_start(mixer_start)
    if height < 0 or width < 0:
        raise ValueError(f"bad plane shape {height}x{width}")
    plane, corrupt = _native.decode_indexes(bytes(data), int(height), int(width), colours, bool(match),
                                            mixer_start)
    if corrupt:
        raise CorruptStreamError("the index stream is corrupt or truncated")
    return plane
