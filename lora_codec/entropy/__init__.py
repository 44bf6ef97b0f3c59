"""Entropy coding: the native range coder behind a small, validated numpy API.

This package is the only importer of the compiled ``_native`` module. Every function
checks its arguments and raises ``ValueError`` naming the problem before native code runs.

Round trip with per-symbol logistic mixtures (means in 1/16 steps, log-scales and logits
in 1/16 natural-log units):

>>> import numpy as np
>>> from lora_codec import entropy
>>> symbols = np.array([10, 12, 200], dtype=np.int32)
>>> means = np.array([[160], [190], [3200]], dtype=np.int32)  # 10.0, 11.875, 200.0
>>> log_scales = np.full((3, 1), 16, dtype=np.int32)           # scale e^1
>>> logits = np.zeros((3, 1), dtype=np.int32)
>>> data = entropy.encode_mixture(symbols, means, log_scales, logits)
>>> entropy.decode_mixture(data, means, log_scales, logits).tolist()
[10, 12, 200]

Round trip with shared integer CDF tables (one table per symbol, chosen by index):

>>> cdfs = np.array([[0, 1 << 15, 1 << 16], [0, 1, 1 << 16]], dtype=np.int32)
>>> data = entropy.encode_with_tables([1, 0, 1], [0, 0, 1], cdfs, precision=16)
>>> entropy.decode_with_tables(data, [0, 0, 1], cdfs, precision=16).tolist()
[1, 0, 1]
"""

try:
    from . import _native  # noqa: F401  (built by `pip install .`, never at import time)
except ImportError as exc:  # e.g. importing the source tree, which holds no compiled module
    raise ImportError(
        "lora_codec's native range coder is not built here: install the package with "
        "`pip install .` and import it from outside the source tree"
    ) from exc

from .coder import (
    MAX_COMPONENTS,
    MAX_PRECISION,
    MIN_SUBPIXEL_BITS,
    MIXTURE_PRECISION,
    CorruptStreamError,
    decode_mixture,
    decode_with_tables,
    encode_mixture,
    encode_with_tables,
    mixture_cdf_bits,
    stream_capacity,
)
from .convolution import conv_layer
from .indexes import MAX_COLOURS, MIXER_START, MIXER_START_V5, decode_indexes, encode_indexes
from .low_bits import MAX_LOW_BITS, decode_low_bits, encode_low_bits
from .pixels import (MAX_TABLE_BITS, MIN_TABLE_BITS, PixelDecoder, PixelEncoder, PredictorWeights, engine_outputs,
                     predict_params)

__all__ = [
    "MAX_COLOURS",
    "MAX_LOW_BITS",
    "MAX_COMPONENTS",
    "MAX_PRECISION",
    "MAX_TABLE_BITS",
    "MIN_TABLE_BITS",
    "MIXER_START",
    "MIXER_START_V5",
    "MIN_SUBPIXEL_BITS",
    "MIXTURE_PRECISION",
    "CorruptStreamError",
    "conv_layer",
    "PixelDecoder",
    "PixelEncoder",
    "PredictorWeights",
    "decode_indexes",
    "decode_low_bits",
    "decode_mixture",
    "decode_with_tables",
    "encode_indexes",
    "encode_low_bits",
    "encode_mixture",
    "encode_with_tables",
    "engine_outputs",
    "mixture_cdf_bits",
    "predict_params",
    "stream_capacity",
]
