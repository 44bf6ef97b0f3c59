"""How an image's pixel streams are laid out: the encoder's tests for exact repeats,
which decide whether the streams read the match model and whether they are one stripe.

The bit refinement's match model (format v11) predicts a pixel from an earlier one with
the same causal neighbourhood. Photographs almost never repeat exactly, so there it gains
a few hundredths of a per cent and costs about 7 % of the decoding time; from format
version 16 the header's no-match flag codes without it, which the encoder sets where
:func:`repeat_shares` finds fewer repeats than :data:`MATCH_MODEL_FROM`.

Stripes of 256 rows decode on parallel threads, so each stripe's match model sees only
its own rows. Screen content that repeats a patch in another stripe loses the copy. From
format version 12 the header's one-stripe flag codes each colour group as a single
stream instead; the encoder tries that only where :func:`repeat_shares` finds enough
such copies, and keeps it only where it pays (:data:`ONE_STRIPE_GAIN`).

>>> import numpy as np
>>> tile = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
>>> image = np.zeros((512, 64, 3), np.uint8)
>>> image[32:96], image[320:384] = tile, tile  # one copy in each stripe of 256 rows
>>> shares = repeat_shares(image, [(0, 256), (256, 512)])
>>> shares.anywhere >= MATCH_MODEL_FROM, round(shares.across, 3)
(True, 0.122)
>>> repeat_shares(image, [(0, 512)]).across  # in one stripe no copy lies across
0.0
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# Code with the match model only when at least this share of the pixels repeat an earlier
# pixel and its neighbourhood (:func:`repeat_shares`). Measured on Kodak and the
# validation split: below it the match model saved at most 0.07 % of a file (0.01 % on
# average), above it up to 0.4 % on photographs and half the file on screenshots.
MATCH_MODEL_FROM = 0.1

# Try one stripe when at least this share of the pixels repeats across stripes only.
TRY_ONE_STRIPE = 0.02
# Keep one stripe only when the file is at least this much smaller (a single stream
# decodes on one thread, however many cores there are).
ONE_STRIPE_GAIN = 0.02

# The match model's key: W, WW, N, NW and NE (pixel_match.hpp), then the pixel itself.
_NEIGHBOURS = ((0, -1), (0, -2), (-1, 0), (-1, -1), (-1, 1), (0, 0))
# One key in this many is looked at (by value, so that a copy is sampled where its
# original is).
_SAMPLE = 8


def neighbourhood_keys(pixels: np.ndarray, rows: tuple[int, int] | None = None) -> np.ndarray:
    """A 64-bit hash per pixel (raster order) of its causal neighbours in every plane and
    of its own value (outside the image: 256), for the rows ``rows = (y0, y1)`` (default:
    all). The work arrays hold only those rows and the one above them."""
    y0, y1 = rows if rows is not None else (0, pixels.shape[0])
    image = pixels.reshape(pixels.shape[0], pixels.shape[1], -1)
    width, planes = image.shape[1], image.shape[2]
    height = y1 - y0
    padded = np.full((height + 1, width + 3, planes), 256, np.uint64)
    padded[1:, 2:-1] = image[y0:y1]
    if y0 > 0:
        padded[0, 2:-1] = image[y0 - 1]
    key = np.zeros((height, width), np.uint64)
    multiplier = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        for dy, dx in _NEIGHBOURS:
            window = padded[1 + dy : 1 + dy + height, 2 + dx : 2 + dx + width]
            for c in range(planes):
                key ^= window[:, :, c]
                key *= multiplier
                key ^= key >> np.uint64(29)
    return key.reshape(-1)


class RepeatShares(NamedTuple):
    """Shares of an image's pixels whose neighbourhood and value repeat an earlier pixel's."""

    anywhere: float  # anywhere above or before them
    across: float  # in an earlier stripe only (not earlier in their own)


def repeat_shares(pixels: np.ndarray, stripes: list[tuple[int, int]]) -> RepeatShares:
    """The shares of pixels whose neighbourhood and value (:func:`neighbourhood_keys`)
    occur earlier in the image, and earlier only in another stripe: the copies a match
    model confined to its stripe cannot follow. Estimated on the pixels whose key is 0
    modulo :data:`_SAMPLE` (a copy's pixels are sampled where their original's are); the
    keys are made a stripe at a time, so the work memory is a stripe's and an eighth of
    the image's keys."""
    total = pixels.shape[0] * pixels.shape[1]
    if total == 0 or not stripes:
        return RepeatShares(0.0, 0.0)
    kept, stripe_of = [], []
    for number, bounds in enumerate(stripes):
        keys = neighbourhood_keys(pixels, bounds)
        keys = keys[keys % np.uint64(_SAMPLE) == 0]
        kept.append(keys)
        stripe_of.append(np.full(keys.size, number, np.uint64))
    keys, stripe = np.concatenate(kept), np.concatenate(stripe_of)
    first_seen = _first_index(keys)
    with np.errstate(over="ignore"):
        own = keys ^ (stripe * np.uint64(0xD6E8FEB86659FD93))
    first_in_stripe = _first_index(own)
    index = np.arange(keys.size)
    seen_before = first_seen < index

    def share(sampled: np.ndarray) -> float:  # of all pixels, from the sampled ones
        return min(1.0, float(np.count_nonzero(sampled)) * _SAMPLE / total)

    return RepeatShares(share(seen_before), share((first_in_stripe == index) & seen_before))


def _first_index(keys: np.ndarray) -> np.ndarray:
    """For every position, the first position holding the same key."""
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first[inverse.reshape(-1)]
