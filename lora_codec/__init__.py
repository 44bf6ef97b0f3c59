"""lora-codec: learned lossless image compression.

>>> import numpy as np, lora_codec
>>> image = (np.arange(48 * 40 * 3) % 251).astype(np.uint8).reshape(48, 40, 3)
>>> data = lora_codec.compress(image)
>>> bool((lora_codec.decompress(data) == image).all())
True

rc mode: an HEVC base layer plus the learned residual (quality chosen by a classifier
unless given, or searched with ``quality="search"``):

>>> data = lora_codec.compress(image, mode="rc", quality=40)
>>> bool((lora_codec.decompress(data) == image).all())
True
"""

__version__ = "0.1.0"
__all__ = ["Codec", "compress", "decompress", "read_metadata", "__version__"]


def __getattr__(name: str):
    """``Codec``, ``compress`` and ``decompress`` load torch and the models, so they are
    imported on first use (``lora-codec --help`` and the container stay light)."""
    if name in ("Codec", "compress", "decompress", "read_metadata"):
        from . import codec

        return getattr(codec, name)
    raise AttributeError(f"module 'lora_codec' has no attribute {name!r}")
