// Integer-only distributions for the range coder.
//
// * CdfTable: a caller-supplied integer CDF, C[0] = 0 < C[1] < ... < C[A] = 2^prec.
// * LogisticMixture: K discretized logistics given by integer parameters
//     mean       Q4 (1/16 of a symbol step),
//     log_scale  Q4 natural log of the scale, clamped to [kLogScaleMin, kLogScaleMax],
//     logit      Q4 natural-log mixture weight.
//   Its CDF is evaluated from the fixed-point tables in tables.hpp, with no floating
//   point anywhere, and mapped to frequencies out of 2^24 with every symbol >= 1:
//     C(x) = x + floor(F(x - 1/2) * (2^24 - A) / 2^30),  C(0) = 0,  C(A) = 2^24.
#pragma once

#include <algorithm>
#include <cstdint>

#include "tables.hpp"

namespace lora_codec {

inline constexpr int kMixturePrecision = 24;
inline constexpr int kMaxComponents = 16;
inline constexpr int kMeanFrac = 4;
inline constexpr int kWeightBits = 15;

// floor(x / 2^s) for any sign: >> on a negative number is an arithmetic shift on every
// compiler this builds with (GCC, Clang, MSVC; C++20 requires it), and the build fails
// where it would not be.
static_assert((int64_t{-5} >> 1) == -3 && (int64_t{-1} >> 40) == -1, ">> must shift arithmetically");
inline int64_t floor_shift(int64_t x, int s) { return x >> s; }

// sigmoid(t) * 2^30 for t given in Q12.
inline uint64_t sigmoid_q30(int64_t t_q12) {
  constexpr int64_t lim = int64_t{tables::kSigmoidHalf} << 4;
  if (t_q12 <= -lim) return tables::kSigmoid[0];
  if (t_q12 >= lim) return tables::kSigmoid[2 * tables::kSigmoidHalf];
  const int64_t shifted = t_q12 + lim;  // >= 0
  const int64_t idx = shifted >> 4;
  const int64_t frac = shifted & 15;
  const int64_t lo = tables::kSigmoid[idx];
  const int64_t hi = tables::kSigmoid[idx + 1];
  return static_cast<uint64_t>(lo + (((hi - lo) * frac) >> 4));
}

// Largest symbol x with C(x) <= v under a non-decreasing cumulative C (C(0) = 0 <= v <
// C(alphabet)), and C(x), C(x + 1). Gallops outwards from `guess`, then bisects: few
// evaluations of C for a good prediction.
template <class Cumulative>
int64_t find_symbol(uint32_t v, int64_t alphabet, int64_t guess, Cumulative&& cumulative, uint32_t& c_lo,
                    uint32_t& c_hi) {
  const uint32_t c_guess = cumulative(guess);
  int64_t lo, hi;
  uint32_t clo, chi;
  if (c_guess <= v) {
    lo = guess; clo = c_guess;
    for (int64_t step = 1;; step <<= 1) {
      hi = lo + step;
      if (hi >= alphabet) { hi = alphabet; chi = cumulative(hi); break; }
      chi = cumulative(hi);
      if (chi > v) break;
      lo = hi; clo = chi;
    }
  } else {
    hi = guess; chi = c_guess;
    for (int64_t step = 1;; step <<= 1) {
      lo = hi - step;
      if (lo <= 0) { lo = 0; clo = 0; break; }
      clo = cumulative(lo);
      if (clo <= v) break;
      hi = lo; chi = clo;
    }
  }
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) >> 1;
    const uint32_t cm = cumulative(mid);
    if (cm <= v) { lo = mid; clo = cm; } else { hi = mid; chi = cm; }
  }
  c_lo = clo;
  c_hi = chi;
  return lo;
}

struct LogisticMixture {
  int k = 0;  // components kept: those of non-zero weight, in their order
  int64_t mean[kMaxComponents];
  int64_t inv_scale[kMaxComponents];
  uint64_t weight[kMaxComponents];
  int top = 0;           // the heaviest component's index among the parameters given to set()
  int64_t top_mean = 0;  // and its mean

  // Builds the mixture from integer parameters (log-scales are clamped, as documented).
  // Weights are exp(logit - max logit) from a table, renormalised to sum exactly 2^15
  // (the rounding remainder goes to the heaviest component).
  void set(int components, const int32_t* means, const int32_t* log_scales, const int32_t* logits) {
    k = components;
    int32_t best = logits[0];
    top = 0;
    for (int i = 1; i < k; ++i) {
      if (logits[i] > best) { best = logits[i]; top = i; }
    }
    uint64_t sum = 0;
    for (int i = 0; i < k; ++i) {
      mean[i] = means[i];
      const int32_t ls = std::clamp<int32_t>(log_scales[i], tables::kLogScaleMin, tables::kLogScaleMax);
      inv_scale[i] = tables::kInvScale[ls - tables::kLogScaleMin];
      const int64_t d = static_cast<int64_t>(best) - logits[i];
      weight[i] = d < tables::kWeightTable ? tables::kMixWeight[d] : 0;
      sum += weight[i];
    }
    top_mean = mean[top];
    if (k == 1) {
      weight[0] = uint64_t{1} << kWeightBits;
      return;
    }
    uint64_t total = 0;
    for (int i = 0; i < k; ++i) {  // weight <= 2^15 and sum <= 2^19: a 32-bit division
      weight[i] = static_cast<uint32_t>(weight[i] << kWeightBits) / static_cast<uint32_t>(sum);
      total += weight[i];
    }
    weight[top] += (uint64_t{1} << kWeightBits) - total;
    // A component of weight 0 adds 0 to every CDF value: drop it, so that cdf_q30 sums
    // the same integers over fewer terms (about one component in nine, measured).
    int kept = 0;
    for (int i = 0; i < k; ++i) {
      if (weight[i] == 0) continue;
      mean[kept] = mean[i];
      inv_scale[kept] = inv_scale[i];
      weight[kept] = weight[i];
      ++kept;
    }
    k = kept;
  }

  // Mixture CDF (Q30) at boundary b given in Q4.
  uint64_t cdf_q30(int64_t b_q4) const {
    uint64_t acc = 0;
    for (int i = 0; i < k; ++i) {
      const int64_t t = floor_shift((b_q4 - mean[i]) * inv_scale[i],
                                    kMeanFrac + tables::kInvScaleBits - 12);
      acc += weight[i] * sigmoid_q30(t);
    }
    return acc >> kWeightBits;
  }

  // Cumulative frequency C(x) for 0 <= x <= alphabet.
  uint32_t cumulative(int64_t x, int64_t alphabet) const {
    if (x <= 0) return 0;
    if (x >= alphabet) return uint32_t{1} << kMixturePrecision;
    const uint64_t spare = (uint64_t{1} << kMixturePrecision) - alphabet;
    const uint64_t f = cdf_q30(x * 16 - 8);
    return static_cast<uint32_t>(x + ((f * spare) >> 30));
  }

  // Largest symbol x with C(x) <= v, and C(x), C(x + 1).
  int64_t find(uint32_t v, int64_t alphabet, uint32_t& c_lo, uint32_t& c_hi) const {
    return find_symbol(v, alphabet, guess(alphabet), [&](int64_t x) { return cumulative(x, alphabet); }, c_lo, c_hi);
  }

  // The heaviest component's mean, rounded to a symbol: where a search starts.
  int64_t guess(int64_t alphabet) const { return std::clamp<int64_t>(floor_shift(top_mean + 8, 4), 0, alphabet - 1); }
};

template <class Encoder>
inline void encode_mixture_symbol(Encoder& enc, const LogisticMixture& mix, int64_t x, int64_t alphabet) {
  const uint32_t lo = mix.cumulative(x, alphabet);
  const uint32_t hi = mix.cumulative(x + 1, alphabet);
  enc.encode(lo, hi - lo, kMixturePrecision);
}

template <class Decoder>
inline int64_t decode_mixture_symbol(Decoder& dec, const LogisticMixture& mix, int64_t alphabet) {
  const uint32_t v = dec.peek(kMixturePrecision);
  uint32_t lo, hi;
  const int64_t x = mix.find(v, alphabet, lo, hi);
  dec.consume(lo, hi - lo);
  return x;
}

// Largest x with cdf[x] <= v, for a strictly increasing table of alphabet + 1 entries.
inline int64_t find_in_table(const int32_t* cdf, int64_t alphabet, uint32_t v) {
  const int32_t* it = std::upper_bound(cdf, cdf + alphabet + 1, static_cast<int32_t>(v));
  return (it - cdf) - 1;
}

}  // namespace lora_codec
