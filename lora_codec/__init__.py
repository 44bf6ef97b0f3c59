"""lora-codec: learned lossless image compression.

>>> import numpy as np, lora_codec
>>> image = (np.arange(48 * 40 * 3) % 251).astype(np.uint8).reshape(48, 40, 3)
>>> data = lora_codec.compress(image)
>>> bool((lora_codec.decompress(data) == image).all())
True

rc mode: an HEVC base layer plus the learned residual (quality searched unless given):

>>> data = lora_codec.compress(image, mode="rc", quality=40)
>>> bool((lora_codec.decompress(data) == image).all())
True
"""

from .codec import Codec, compress, decompress

__version__ = "0.1.0"
__all__ = ["Codec", "compress", "decompress", "__version__"]
