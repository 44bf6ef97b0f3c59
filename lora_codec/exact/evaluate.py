"""The exact evaluation of the UNet decoder and the rc guide network on integers.

Every layer is an integer convolution in the native module (``entropy.conv_layer``), so
the result does not depend on thread count or instruction set, and decoding needs no
torch (``tests/test_determinism.py``, ``tests/test_structure.py``). The causal predictor
itself runs in the native module too.
"""

from __future__ import annotations

import numpy as np

from .. import grids as g
from ..entropy import conv_layer
from .integers import DecoderIntegers, GuideIntegers


def _pixel_shuffle(x: np.ndarray) -> np.ndarray:
    """(4C, H, W) to (C, 2H, 2W), as torch's pixel_shuffle with factor 2."""
    c4, h, w = x.shape
    return x.reshape(c4 // 4, 2, 2, h, w).transpose(0, 3, 1, 4, 2).reshape(c4 // 4, 2 * h, 2 * w)


def decode_features(ints: DecoderIntegers, z: np.ndarray, levels: int, height: int, width: int) -> np.ndarray:
    """Exact UNet decoder: integer z (Cz, h, w) to features (height, width, F) int16."""
    z = np.asarray(z, dtype=np.int32)
    h = conv_layer(z, ints.inp_w, ints.inp_b, shift=g.DEC_W_FRAC - g.DEC_ACT_FRAC, lo=0, hi=g.DEC_ACT_MAX)
    for _ in range(levels):  # Q4 activations times Q7 weights, back to Q4
        h = _pixel_shuffle(conv_layer(h, ints.up_w, ints.up_b, shift=g.DEC_W_FRAC, lo=0, hi=g.DEC_ACT_MAX))
    h = np.ascontiguousarray(h[:, :height, :width])  # the head is 1x1: crop first
    u = conv_layer(h, ints.head_w, ints.head_b, shift=g.DEC_ACT_FRAC + g.DEC_W_FRAC - g.PRED_IN_FRAC,
                   lo=-g.FEATURE_MAX, hi=g.FEATURE_MAX)
    return np.ascontiguousarray(u.transpose(1, 2, 0).astype(np.int16))


def feature_reach(levels: int) -> int:
    """How many latent cells away (in rows or columns) a latent value can change the
    features of :func:`decode_features` with ``levels`` up-convolutions (3x3, each
    followed by a pixel shuffle; the input and head layers are 1x1)."""
    reach = 0
    for pixel in range(1 << levels):  # the pixels of latent cell 0
        lo = hi = pixel
        for _ in range(levels):  # the positions one level down that the 3x3 reads
            lo, hi = lo // 2 - 1, hi // 2 + 1
        reach = max(reach, -lo, hi)
    return reach


def decode_features_near(ints: DecoderIntegers, z: np.ndarray, levels: int, height: int, width: int,
                         zero: np.ndarray) -> np.ndarray:
    """:func:`decode_features` of ``z``, given ``zero``, the features of an all-zero latent
    of the same shape: recomputes only windows around z's non-zero cells, which reach
    :func:`feature_reach` cells, and takes the rest from ``zero``. The same integers.

    >>> from lora_codec.exact.integers import DecoderIntegers
    >>> rng = np.random.default_rng(0)
    >>> ints = DecoderIntegers(inp_w=rng.integers(-99, 99, (4, 2, 1, 1)), inp_b=rng.integers(-99, 99, 4),
    ...                        up_w=rng.integers(-99, 99, (16, 4, 3, 3)), up_b=rng.integers(-99, 99, 16),
    ...                        head_w=rng.integers(-99, 99, (3, 4, 1, 1)), head_b=rng.integers(-99, 99, 3))
    >>> z = np.zeros((2, 16, 16), np.int32); z[1, 5, 9] = 3
    >>> zero = decode_features(ints, np.zeros_like(z), 2, 64, 64)
    >>> bool(np.array_equal(decode_features_near(ints, z, 2, 64, 64, zero), decode_features(ints, z, 2, 64, 64)))
    True
    """
    z = np.asarray(z, dtype=np.int32)
    cells = np.argwhere(z.any(axis=0))
    if len(cells) == 0:
        return zero
    rows, cols = z.shape[1:]
    reach, cell = feature_reach(levels), 1 << levels

    def box(y0: int, y1: int, x0: int, x1: int, pad: int) -> tuple[int, int, int, int]:
        return max(0, y0 - pad), min(rows, y1 + pad), max(0, x0 - pad), min(cols, x1 + pad)

    def area(boxes: list) -> int:
        return sum((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in boxes)

    (ymin, xmin), (ymax, xmax) = cells.min(axis=0), cells.max(axis=0) + 1
    around = [(int(y), int(y) + 1, int(x), int(x) + 1) for y, x in cells]  # each cell alone, or one box of all
    sites = min([(ymin, ymax, xmin, xmax)], around, key=lambda b: area([box(*s, 2 * reach) for s in b]))
    if area([box(*s, 2 * reach) for s in sites]) >= rows * cols:
        return decode_features(ints, z, levels, height, width)
    out = zero.copy()
    for site in sites:
        wy0, wy1, wx0, wx1 = box(*site, 2 * reach)  # every latent the pasted part reads
        py0, py1, px0, px1 = box(*site, reach)      # every feature the site's latents change
        window = decode_features(ints, z[:, wy0:wy1, wx0:wx1], levels, min(height, wy1 * cell) - wy0 * cell,
                                 min(width, wx1 * cell) - wx0 * cell)
        ys, xs = slice(py0 * cell, min(height, py1 * cell)), slice(px0 * cell, min(width, px1 * cell))
        out[ys, xs] = window[ys.start - wy0 * cell : ys.stop - wy0 * cell, xs.start - wx0 * cell : xs.stop - wx0 * cell]
    return out


def guide_features(ints: GuideIntegers, reconstruction: np.ndarray, row0: int, row1: int) -> np.ndarray:
    """Exact guide network on rows [row0, row1) of a reconstruction (H, W, C) uint8:
    features (row1 - row0, W, F) int16. Reads :data:`grids.GUIDE_HALO` rows on each side,
    so a band gets the same numbers as the whole image."""
    height = reconstruction.shape[0]
    s0, s1 = max(0, row0 - g.GUIDE_HALO), min(height, row1 + g.GUIDE_HALO)
    slab = np.asarray(reconstruction[s0:s1], dtype=np.int32)
    if slab.shape[2] == 1:
        slab = np.repeat(slab, 3, axis=2)
    x = slab.transpose(2, 0, 1) - 128
    h = conv_layer(x, ints.conv1_w, ints.conv1_b, shift=g.DEC_W_FRAC - g.DEC_ACT_FRAC, lo=0, hi=g.DEC_ACT_MAX)
    h = conv_layer(h, ints.conv2_w, ints.conv2_b, shift=g.DEC_W_FRAC, lo=0, hi=g.DEC_ACT_MAX)
    h = np.ascontiguousarray(h[:, row0 - s0 : row1 - s0])  # the head is 1x1
    u = conv_layer(h, ints.head_w, ints.head_b, shift=g.DEC_ACT_FRAC + g.DEC_W_FRAC - g.PRED_IN_FRAC,
                   lo=-g.FEATURE_MAX, hi=g.FEATURE_MAX)
    return np.ascontiguousarray(u.transpose(1, 2, 0).astype(np.int16))


def combine_features(unet: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """Exact counterpart of :func:`lora_codec.models.guide.combine_features` (int16)."""
    total = unet.astype(np.int32) + guide.astype(np.int32)
    return np.clip(total, -g.FEATURE_MAX, g.FEATURE_MAX).astype(np.int16)
