"""A file decodes to identical pixels in fresh processes under every thread count and
instruction-set setting (the exact integer path at work)."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

import lora_codec
from lora_codec import base_layer, container
from lora_codec.codec import Codec

from helpers import smooth_image

DECODE = """
import hashlib, sys, torch
threads = int(sys.argv[2])
torch.set_num_threads(threads)
import lora_codec
pixels = lora_codec.Codec(threads=threads).decompress(open(sys.argv[1], 'rb').read())  # stripes on threads
print(hashlib.sha256(pixels.tobytes()).hexdigest())
"""

VARIANTS = [
    ({"OMP_NUM_THREADS": "1"}, 1),
    ({}, 2),
    ({"ATEN_CPU_CAPABILITY": "default"}, 2),
    ({"ATEN_CPU_CAPABILITY": "avx2"}, 1),
    ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, 2),
    ({"ONEDNN_MAX_CPU_ISA": "SSE41"}, 1),
    ({"LORA_CODEC_SCALAR_HEAD": "1"}, 1),  # the portable int64 kernels (older switch)
    # Files are written with the widest kernel (AVX2 where the CPU has it: head, mixers, NLMS).
    ({"LORA_CODEC_KERNEL": "sse2"}, 1),
    ({"LORA_CODEC_KERNEL": "int64"}, 2),
    ({"LORA_CODEC_HEAD_KERNEL": "sse2"}, 1),  # the variable's older name
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("det")
    img = smooth_image(400, 280, planes=3, seed=5)  # two stripes (256 and 144 rows)
    base = folder / "base.lcz"
    base.write_bytes(lora_codec.compress(img))
    # An adapted file: adapters are kept only if they pay, so force them in.
    codec = Codec()
    from lora_codec.lora.fit import adapt_to_image
    from lora_codec.lora.options import AdaptOptions

    result = adapt_to_image(codec.model, img, "RGB", 3, AdaptOptions(seed=1))
    adapted = folder / "adapted.lcz"
    adapted.write_bytes(codec.encode_adapted(img, result))
    rc = folder / "rc.lcz"
    rc_result = adapt_to_image(codec.rc_model, img, "RGB", 3, AdaptOptions(seed=1),
                               guide=base_layer.encode(img, 40).reconstruction)
    rc.write_bytes(codec.encode_adapted(img, rc_result, mode="rc", quality=40))
    fast = folder / "fast.lcz"  # pixel streams without the bit refinement (format v10's fast flag)
    fast.write_bytes(lora_codec.compress(img, fast=True))
    # Copies of a patch within each stripe: the pixel streams' match model at work (format v11).
    copies_img = img.copy()
    for (y, x), source in (((90, 150), 10), ((180, 20), 10), ((336, 150), 262), ((330, 10), 262)):
        copies_img[y : y + 60, x : x + 100] = img[source : source + 60, 20:120]
    copies = folder / "copies.lcz"
    copies.write_bytes(lora_codec.compress(copies_img))
    assert container.unpack(copies.read_bytes()).header.flags == 0
    # Copies across the stripes: coded in one stripe (format v12's flag).
    across_img = img.copy()
    for y, x in ((90, 150), (180, 20), (300, 160), (320, 10)):
        across_img[y : y + 60, x : x + 100] = img[10:70, 20:120]
    across = folder / "one_stripe.lcz"
    across.write_bytes(lora_codec.compress(across_img))
    assert container.unpack(across.read_bytes()).header.flags == container.FLAG_ONE_STRIPE
    # Mode indexed: repeated glyph-like tiles of 4 colours (its match model, format v11).
    yy, xx = np.mgrid[0:120, 0:150]
    glyphs = ((yy % 9) * 2654435761 + ((xx + 3 * (yy // 9)) % 11) * 40503) >> 7 & 3
    indexed_img = np.array([[250, 250, 240], [20, 20, 30], [120, 120, 130], [200, 30, 30]], np.uint8)[glyphs]
    indexed = folder / "indexed.lcz"
    indexed.write_bytes(lora_codec.compress(indexed_img))
    # Mode deep: 10-bit samples in 16 (format v13), a high and a low image; the low bits of
    # the two stripes coded apart (format v14).
    deep_img = ((img.astype(np.uint16) << 2) | (np.arange(img.size, dtype=np.uint16).reshape(img.shape) % 4)) << 6
    deep = folder / "deep.lcz"
    deep.write_bytes(lora_codec.compress(deep_img))
    assert container.unpack(deep.read_bytes()).header.mode == "deep"
    from lora_codec.coding import depth

    assert depth.unpack(container.unpack(deep.read_bytes()).sections[depth.TAG])[2][0] == depth.LOW_MODELLED_STRIPES
    images = {"base": img, "adapted": img, "rc": img, "fast": img, "copies": copies_img, "one_stripe": across_img,
              "indexed": indexed_img, "deep": deep_img}
    return images, {"base": base, "adapted": adapted, "rc": rc, "fast": fast, "copies": copies, "one_stripe": across,
                    "indexed": indexed, "deep": deep}


@pytest.mark.parametrize("env, threads", VARIANTS)
@pytest.mark.parametrize("kind", ["base", "adapted", "rc", "fast", "copies", "one_stripe", "indexed", "deep"])
def test_fresh_process_decodes_identically(files, env, threads, kind):
    images, paths = files
    img = images[kind]
    full_env = {k: v for k, v in os.environ.items() if k not in {"ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA",
                                                                       "LORA_CODEC_SCALAR_HEAD", "LORA_CODEC_HEAD_KERNEL",
                                                                       "LORA_CODEC_KERNEL"}}
    full_env.update(env)
    # Run outside the checkout, so the child imports the installed package (with its
    # compiled _native), not the source tree.
    out = subprocess.run([sys.executable, "-c", DECODE, str(paths[kind]), str(threads)], env=full_env,
                         cwd=paths[kind].parent, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()


@pytest.mark.parametrize("variable", ["LORA_CODEC_KERNEL", "LORA_CODEC_HEAD_KERNEL"])
def test_unknown_kernel_is_refused_in_one_line(files, variable):
    _, paths = files
    env = {k: v for k, v in os.environ.items() if k not in {"LORA_CODEC_KERNEL", "LORA_CODEC_HEAD_KERNEL"}}
    env[variable] = "avx9"
    out = subprocess.run([sys.executable, "-m", "lora_codec", "decompress", str(paths["base"]), "-o", "out.png"],
                         env=env, cwd=paths["base"].parent, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and f"{variable} must be" in out.stderr
    assert not (paths["base"].parent / "out.png").exists()
