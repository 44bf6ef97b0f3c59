"""Fixed inputs for the golden-bitstream tests (pure arithmetic, no RNG)."""

import numpy as np


def mixture_case(n: int = 120, k: int = 3):
    i = np.arange(n, dtype=np.int64)
    symbols = ((i * 37 + 11) % 256).astype(np.int32)
    means = np.stack([(symbols.astype(np.int64) * 16 + ((i * (c + 3)) % 41) - 20) for c in range(k)], 1)
    log_scales = np.stack([((i * (c + 5)) % 70) - 20 for c in range(k)], 1)
    logits = np.stack([((i * (c + 7)) % 33) - 16 for c in range(k)], 1)
    return symbols, means.astype(np.int32), log_scales.astype(np.int32), logits.astype(np.int32)


def table_case(n: int = 100):
    cdfs = np.array([[0, 100, 1000, 30000, 65536], [0, 16000, 32000, 48000, 65536], [0, 1, 2, 3, 65536]], np.int32)
    i = np.arange(n)
    return ((i * 7) % 4).astype(np.int32), ((i * 5) % 3).astype(np.int32), cdfs


def golden_image(height: int, width: int, planes: int, seed: int) -> np.ndarray:
    """A small photo-like image from integer arithmetic only (no RNG, stable forever):
    smooth shading, an edge and hash noise, so the learned mode beats stored pixels."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    out = np.empty((height, width, planes), np.uint8)
    for c in range(planes):
        shade = 60 + ((x * x * (3 + c) + y * y * 5 + x * y * (seed % 7)) >> 5) % 120 + 40 * (x > width // 2)
        noise = (((x * 1103515245 + y * 12345 + c * 777 + seed * 31) >> 8) % 11) - 5
        out[:, :, c] = np.clip(shade + noise, 0, 255).astype(np.uint8)
    return out


def golden_case(recipe: dict) -> np.ndarray:
    """The input image of a golden file, from the recipe in its manifest."""
    img = golden_image(*recipe["shape"], seed=recipe["seed"])
    if recipe.get("variant") == "grey_as_rgb":
        img = np.repeat(img[:, :, :1], 3, axis=2)
    elif recipe.get("variant") == "few_levels":  # a sparse histogram: multiples of 8, noisy
        y, x, c = np.indices(img.shape, dtype=np.int64)
        noise = (((x * 2654435761 + y * 40503 + c * 97) >> 9) % 41) - 20
        img = (np.clip(img.astype(np.int64) + noise, 0, 255) & 0xF8).astype(np.uint8)
    elif recipe.get("variant") == "few_colours":  # a chart-like drawing: 5 colours in blocks and lines
        y, x = np.mgrid[0:img.shape[0], 0:img.shape[1]].astype(np.int64)
        label = (((x // 7) + (y // 5) * 3 + recipe["seed"]) % 3) + 2 * ((x + 2 * y) % 13 == 0)
        colours = np.array([[250, 250, 250, 255], [30, 60, 200, 255], [200, 40, 40, 128], [0, 0, 0, 255],
                            [0, 0, 0, 0]], np.uint8)
        img = colours[np.minimum(label, 4)][:, :, :img.shape[2]]
    elif recipe.get("variant") == "icon":  # quantised to 16 levels of luma, each its pixels' mean colour
        levels = img.astype(np.int64) @ np.array([299, 587, 114]) * 16 // (1000 * 256)
        means = np.zeros((16, 3), np.int64)
        for level in np.unique(levels):
            means[level] = img[levels == level].astype(np.int64).mean(0).round()
        img = means[levels].astype(np.uint8)
    elif recipe.get("variant") == "repeats":  # a glyph-like hashed tile of 4 colours, repeated: matches
        y, x = np.mgrid[0:img.shape[0], 0:img.shape[1]].astype(np.int64)
        ty, tx = y % 9, (x + 3 * (y // 9)) % 11
        label = ((ty * 2654435761 + tx * 40503 + recipe["seed"]) >> 7) % 4
        colours = np.array([[255, 255, 240], [20, 20, 30], [120, 120, 130], [200, 30, 30]], np.uint8)
        img = colours[label][:, :, :img.shape[2]]
    elif recipe.get("variant") == "patch_copies":  # screen-like: one 20 x 24 patch copied twice
        img[24:44, 30:54] = img[2:22, 4:28]
        img[30:50, 2:26] = img[2:22, 4:28]
    elif recipe.get("variant") == "stripe_copies":  # rows of stripe 0 copied into stripe 1: one stripe
        img[300:360] = img[20:80]
        img[440:500] = img[100:160]
    elif recipe.get("variant") == "enlarged":  # nearest-neighbour enlargement 3 x 2: mode upscaled
        small = img[: img.shape[0] // 3, : img.shape[1] // 2]
        img = np.repeat(np.repeat(small, 3, axis=0), 2, axis=1)
    elif recipe.get("variant") == "ten_bit":  # 16-bit samples holding 10 bits, MSB-aligned: mode deep, 2 low bits
        y, x, c = np.indices(img.shape, dtype=np.int64)
        low = ((x * 2654435761 + y * 40503 + c * 97) >> 11) % 4
        img = (((img.astype(np.int64) << 2) | low) << 6).astype(np.uint16)
    elif recipe.get("variant") == "smooth_16":  # 12 significant bits of a smooth signal: mode deep, 4 low bits
        y, x, c = np.indices(img.shape, dtype=np.int64)
        wave = (x * 37 + y * 23 + c * 1000) % 4096
        img = ((np.minimum(wave, 4095 - wave) + img.astype(np.int64) * 4) << 4).astype(np.uint16)
    elif recipe.get("variant") == "widened":  # 8-bit samples widened to 16 bits (v * 257): mode deep, a table
        img = img.astype(np.uint16) * 257
    elif recipe.get("variant") == "noise":
        i = np.arange(img.size, dtype=np.int64)
        img = (((i * 1103515245 + 12345) >> 16) % 256).astype(np.uint8).reshape(img.shape)
    return np.ascontiguousarray(img)
