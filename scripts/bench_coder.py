"""Benchmark: the native range coder against constriction's, on the same 1 M symbols.

Ours codes each symbol under its own discretized logistic (integer mean, log-scale);
constriction's queue RangeEncoder codes the same symbols under per-symbol
QuantizedGaussian(0, 255) with matching means and standard deviations. Each timing is the
median of --repeats runs. The last line is ``ratio encode=X decode=Y`` (ours / theirs).

    python scripts/bench_coder.py [--symbols 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _median_seconds(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import constriction

    from lora_codec import entropy

    rng = np.random.default_rng(0)
    n = args.symbols
    mean_px = rng.uniform(20, 235, n)
    log_scale_q = rng.integers(-16, 64, n).astype(np.int32)       # scale e^-1 .. e^4
    scale = np.exp(log_scale_q / 16)
    symbols = np.clip(np.round(mean_px + rng.logistic(0, scale)), 0, 255).astype(np.int32)
    means_q = np.round(mean_px * 16).astype(np.int32)[:, None]
    scales_q = log_scale_q[:, None]
    logits = np.zeros((n, 1), np.int32)

    enc_s, data = _median_seconds(lambda: entropy.encode_mixture(symbols, means_q, scales_q, logits), args.repeats)
    dec_s, back = _median_seconds(lambda: entropy.decode_mixture(data, means_q, scales_q, logits), args.repeats)
    assert np.array_equal(back, symbols)

    model = constriction.stream.model.QuantizedGaussian(0, 255)
    stds = np.maximum(scale * np.pi / np.sqrt(3), 0.5)  # the logistic's standard deviation

    def c_encode():
        coder = constriction.stream.queue.RangeEncoder()
        coder.encode(symbols, model, mean_px, stds)
        return coder.get_compressed()

    c_enc_s, compressed = _median_seconds(c_encode, args.repeats)

    def c_decode():
        coder = constriction.stream.queue.RangeDecoder(compressed)
        return coder.decode(model, mean_px, stds)

    c_dec_s, c_back = _median_seconds(c_decode, args.repeats)
    assert np.array_equal(c_back, symbols)

    print(f"symbols: {n}, repeats: {args.repeats} (median)")
    print(f"lora-codec    encode {n / enc_s / 1e6:7.2f} M/s  decode {n / dec_s / 1e6:7.2f} M/s  "
          f"{8 * len(data) / n:.4f} bits/symbol")
    print(f"constriction  encode {n / c_enc_s / 1e6:7.2f} M/s  decode {n / c_dec_s / 1e6:7.2f} M/s  "
          f"{32 * len(compressed) / n:.4f} bits/symbol")
    print(f"ratio encode={c_enc_s / enc_s:.2f} decode={c_dec_s / dec_s:.2f}")


if __name__ == "__main__":
    main()
