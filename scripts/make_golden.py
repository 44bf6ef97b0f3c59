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
from golden_inputs import golden_case  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


# name -> (recipe of the input image, with "fast" for files coded without the bit
# refinement; mode; whether the file can be re-encoded byte for byte on another machine:
# not with adapters, trained in float, nor with x265's base layer)
RECIPES = {
    "learned_L": ({"shape": [40, 48, 1], "seed": 9}, "learned", True),
    "learned_RGB": ({"shape": [40, 48, 3], "seed": 11}, "learned", True),
    "learned_RGBA": ({"shape": [40, 48, 4], "seed": 12}, "learned", True),
    "grey_as_RGB": ({"shape": [40, 48, 3], "seed": 5, "variant": "grey_as_rgb"}, "learned", True),
    "few_levels_RGB": ({"shape": [40, 48, 3], "seed": 6, "variant": "few_levels"}, "learned", True),
    "indexed_RGBA": ({"shape": [40, 48, 4], "seed": 3, "variant": "few_colours"}, "learned", True),
    "learned_RGB_stripes": ({"shape": [600, 16, 3], "seed": 13}, "learned", True),  # stripes of 256 and 344 rows
    "stored_noise": ({"shape": [40, 40, 3], "seed": 1, "variant": "noise"}, "learned", True),
    "learned_RGB_adapters": ({"shape": [32, 32, 3], "seed": 7}, "adapters", False),
    "rc_RGB": ({"shape": [48, 64, 3], "seed": 9}, "rc", False),
    "fast_RGB_stripes": ({"shape": [600, 16, 3], "seed": 13, "fast": True}, "learned", True),  # version 10
    "fast_rc_RGB": ({"shape": [48, 64, 3], "seed": 9, "fast": True}, "rc", False),
    "indexed_repeats_RGB": ({"shape": [45, 66, 3], "seed": 4, "variant": "repeats"}, "learned", True),  # version 11
    "learned_copies_RGB": ({"shape": [52, 60, 3], "seed": 8, "variant": "patch_copies"}, "learned", True),  # v11
    "one_stripe_copies_RGB": ({"shape": [600, 24, 3], "seed": 14, "variant": "stripe_copies"}, "learned", True),  # v12
    "upscaled_RGB": ({"shape": [48, 40, 3], "seed": 15, "variant": "enlarged"}, "learned", True),  # v12, mode 4
    "deep_ten_bit_RGB": ({"shape": [40, 48, 3], "seed": 16, "variant": "ten_bit"}, "learned", True),  # v13, mode 5
    "deep_widened_L": ({"shape": [40, 48, 1], "seed": 17, "variant": "widened"}, "learned", True),  # v13, mode 5
    "deep_smooth_RGB_stripes": ({"shape": [600, 16, 3], "seed": 18, "variant": "smooth_16"}, "learned", True),  # v14
    # v15: 160 x 160 x 3 samples of 4 low bits want 76,800 counters a table, capped at 2^16 (2^17 before)
    "deep_smooth_RGB_large": ({"shape": [160, 160, 3], "seed": 19, "variant": "smooth_16"}, "learned", True),
    # v18: a palette of 16 colours written as Golomb-Rice codes
    "indexed_icon_RGB": ({"shape": [16, 16, 3], "seed": 20, "variant": "icon"}, "learned", True),
    # v19: a side over 65,536 pixels (one row of 65,600)
    "learned_wide_L": ({"shape": [1, 65600, 1], "seed": 21}, "learned", True),
}


def cases(codec: Codec) -> dict[str, tuple[np.ndarray, bytes, dict, bool]]:
    from lora_codec.lora.fit import adapt_to_image
    from lora_codec.lora.options import AdaptOptions

    out = {}
    for name, (recipe, mode, reencode) in RECIPES.items():
        img = golden_case(recipe)
        if mode == "adapters":
            adapters = adapt_to_image(codec.model, img, "RGB", 3, AdaptOptions(seed=1, crop=32, batch=1))
            data = codec.encode_adapted(img, adapters)
        elif mode == "rc":
            data = codec.compress(img, mode="rc", quality=40, fast=recipe.get("fast", False))
        else:
            data = codec.compress(img, fast=recipe.get("fast", False))
        out[name] = img, data, recipe, reencode
    return out


def main() -> int:
    codec = Codec()
    folder = ROOT / "tests" / "golden" / f"v{container.VERSION}-{codec.model.model_id.hex()}"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, (img, data, recipe, reencode) in cases(codec).items():
        (folder / f"{name}.lcz").write_bytes(data)
        manifest[name] = {"shape": list(img.shape), "pixels_sha256": hashlib.sha256(img.tobytes()).hexdigest(),
                          "file_sha256": hashlib.sha256(data).hexdigest(), "recipe": recipe, "reencode": reencode}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(manifest)} files to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
