"""Writes the golden .lcz files that pin the file format and the default model
(tests/golden/v<VERSION>-<MODEL ID>/).

Each file is decoded by ``tests/test_golden.py``, which checks the sha256 of the decoded
pixels against ``manifest.json``; the folder of the current version and default model is
also re-encoded byte for byte. Run only when deliberately changing the format or the
default model, and keep the older folders: they prove that old files still decode.

    python scripts/make_golden.py
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from lora_codec import container
from lora_codec.codec import Codec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from golden_inputs import golden_image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def cases(codec: Codec) -> dict[str, tuple[np.ndarray, bytes]]:
    from lora_codec.lora.fit import adapt_to_image
    from lora_codec.lora.options import AdaptOptions

    out = {}
    for name, shape in {"learned_L": (16, 24, 1), "learned_RGB": (24, 40, 3), "learned_RGBA": (20, 28, 4)}.items():
        img = golden_image(*shape, seed=len(name))
        out[name] = img, codec.compress(img)
    img = golden_image(32, 32, 3, seed=7)
    adapters = adapt_to_image(codec.model, img, "RGB", 3, AdaptOptions(seed=1, crop=32, batch=1))
    out["learned_RGB_adapters"] = img, codec.encode_adapted(img, adapters)
    img = golden_image(24, 40, 3, seed=9)
    out["rc_RGB"] = img, codec.compress(img, mode="rc", quality=40)
    return out


def main() -> int:
    codec = Codec()
    folder = ROOT / "tests" / "golden" / f"v{container.VERSION}-{codec.model.model_id.hex()}"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, (img, data) in cases(codec).items():
        (folder / f"{name}.lcz").write_bytes(data)
        manifest[name] = {"shape": list(img.shape), "pixels_sha256": hashlib.sha256(img.tobytes()).hexdigest(),
                          "file_sha256": hashlib.sha256(data).hexdigest()}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(manifest)} files to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
