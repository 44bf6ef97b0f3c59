"""What the learned head's adapters can take off the pixel stream at most: a long fit with a
large rank and large crops, the adapters' bits left out of the comparison.

    python docs/results/adapt_bound/adapt_bound.py CORE STEPS RANK CROP kodim01.png,kodim13.png

Prints, per image, the sections of the file at --steps 0 and at STEPS, and the change of the
pixel section and of the whole file.
"""
import os
import sys
import time
from pathlib import Path

import numpy as np

os.sched_setaffinity(0, {int(sys.argv[1])})
import torch  # noqa: E402

torch.set_num_threads(1)
from PIL import Image  # noqa: E402

from lora_codec import Codec  # noqa: E402
from lora_codec.container import unpack  # noqa: E402
from lora_codec.lora.options import AdaptOptions  # noqa: E402

KODAK = Path(__file__).resolve().parents[4] / "shared" / "data" / "kodak"
steps, rank, crop = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
codec = Codec()


def sections(data: bytes) -> dict[str, int]:
    return {tag.decode(): len(payload) for tag, payload in unpack(data).sections.items()}


for name in sys.argv[5].split(","):
    pixels = np.asarray(Image.open(KODAK / name).convert("RGB"), dtype=np.uint8).copy()
    plain = codec.compress(pixels, fallback=False)
    started = time.perf_counter()
    data = codec.compress(pixels, steps=steps, adaptation=AdaptOptions(rank=rank, crop=crop), fallback=False)
    seconds = time.perf_counter() - started
    a, b = sections(plain), sections(data)
    pix0 = sum(v for k, v in a.items() if k.startswith("P"))
    pix1 = sum(v for k, v in b.items() if k.startswith("P"))
    print(name, a, b, f"pixels {100 * (pix1 / pix0 - 1):+.2f} %  file {100 * (len(data) / len(plain) - 1):+.2f} %  "
          f"{seconds:.0f} s", flush=True)
