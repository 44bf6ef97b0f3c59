"""Which integer kernels the native loops run: the widest this CPU has, capped by the
environment variable ``LORA_CODEC_KERNEL`` (``int64``, ``sse2`` or ``avx2``).

Every kernel computes the same integers, so a file's bytes and its decoded pixels do not
depend on the choice; the cap exists so that tests can check exactly that.

>>> from lora_codec.entropy import kernels
>>> kernels.kernel_in_use() in kernels.KERNELS
True
"""

from __future__ import annotations

from . import _native

# Narrowest first: the portable int64 reference, the int16 head on SSE2, every loop on AVX2.
KERNELS = ("int64", "sse2", "avx2")


def kernel_in_use() -> str:
    """The kernel a native loop started now would run (reads ``LORA_CODEC_KERNEL``)."""
    return _native.kernel_in_use()
