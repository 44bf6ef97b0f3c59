// Which integer kernels the native loops use, chosen once at run time, and the small
// int32 vector kernels of the online stages (the mixers' and NLMS predictors' dot
// products, the mixers' weight updates).
//
// Every kernel computes the same integers as the portable code: products are exact in
// their lanes and sums of integers do not depend on their order. The module is built for
// plain x86-64, so it loads on any CPU; AVX2 code lives in functions compiled for AVX2
// alone and runs only where the CPU has it.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define LORA_CODEC_AVX2_KERNELS 1
#endif

namespace lora_codec {

static_assert((int64_t{-5} >> 1) == -3, ">> must shift arithmetically (floor division by 2^s)");

// The kernels in use, widest last: kInt64 is the portable reference (no int16 head
// weights, no vector code), kSse2 the int16 head on SSE2, kAvx2 everything on AVX2.
enum class Kernel { kInt64, kSse2, kAvx2 };

// The widest kernel this CPU runs, capped by `request` ("int64", "sse2", "avx2", or empty
// for no cap); `source` names where the request came from, for the error.
inline Kernel choose_kernel(const std::string& request, const std::string& source = "LORA_CODEC_KERNEL") {
  if (request == "int64") return Kernel::kInt64;
  if (!request.empty() && request != "sse2" && request != "avx2")
    throw std::invalid_argument(source + " must be int64, sse2 or avx2");
#if defined(LORA_CODEC_AVX2_KERNELS)
  if (request != "sse2" && __builtin_cpu_supports("avx2")) return Kernel::kAvx2;
#endif
  return Kernel::kSse2;
}

// Rounds an int32 vector length up to whole AVX2 vectors: arrays the kernels below read
// are this long, zero-padded where the weights are.
inline constexpr int padded8(int n) { return (n + 7) / 8 * 8; }

namespace simd {

// sum_i w[i] x[i] in int64 for i < n.
inline int64_t dot_scalar(const int32_t* w, const int32_t* x, int n) {
  int64_t acc = 0;
  for (int i = 0; i < n; ++i) acc += int64_t{w[i]} * x[i];
  return acc;
}

// w[i] = clamp(w[i] + ((x[i] * err + round) >> shift), -limit, limit) for i < n, where
// every x[i] * err + round fits in int32.
inline void mix_update_scalar(int32_t* w, const int32_t* x, int n, int32_t err, int32_t round, int shift,
                              int32_t limit) {
  for (int i = 0; i < n; ++i) {
    const int32_t v = w[i] + ((x[i] * err + round) >> shift);
    w[i] = v < -limit ? -limit : (v > limit ? limit : v);
  }
}

// w[i] = clamp(w[i] + floor(g x[i] / 2^32), -limit, limit) for i < n, where |g| < 2^41,
// |x[i]| < 2^13 and |w[i]| <= limit <= 2^20 (the NLMS step).
inline void nlms_update_scalar(int32_t* w, const int32_t* x, int n, int64_t g, int32_t limit) {
  for (int i = 0; i < n; ++i) {
    const int64_t v = int64_t{w[i]} + ((g * x[i]) >> 32);
    w[i] = static_cast<int32_t>(v < -limit ? -limit : (v > limit ? limit : v));
  }
}

// Clamps x[i] to +-limit for i < n and returns sum x[i]^2 (limit < 2^15).
inline int64_t clamp_norm_scalar(int32_t* x, int n, int32_t limit) {
  int64_t norm = 0;
  for (int i = 0; i < n; ++i) {
    x[i] = x[i] < -limit ? -limit : (x[i] > limit ? limit : x[i]);
    norm += int64_t{x[i]} * x[i];
  }
  return norm;
}

#if defined(LORA_CODEC_AVX2_KERNELS)
// dot_scalar over padded8(n) entries: 32 x 32 -> 64-bit products of the even and odd
// lanes, summed in int64.
__attribute__((target("avx2"))) inline int64_t dot_avx2(const int32_t* w, const int32_t* x, int n) {
  __m256i acc = _mm256_setzero_si256();
  for (int i = 0; i < n; i += 8) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    acc = _mm256_add_epi64(acc, _mm256_mul_epi32(a, b));
    acc = _mm256_add_epi64(acc, _mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32)));
  }
  alignas(32) int64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

// mix_update_scalar over padded8(n) entries (the low 32 bits of each product, as in int32).
__attribute__((target("avx2"))) inline void mix_update_avx2(int32_t* w, const int32_t* x, int n, int32_t err,
                                                            int32_t round, int shift, int32_t limit) {
  const __m256i e = _mm256_set1_epi32(err), r = _mm256_set1_epi32(round);
  const __m256i hi = _mm256_set1_epi32(limit), lo = _mm256_set1_epi32(-limit);
  const __m128i s = _mm_cvtsi32_si128(shift);
  for (int i = 0; i < n; i += 8) {
    __m256i* wp = reinterpret_cast<__m256i*>(w + i);
    const __m256i d = _mm256_sra_epi32(
        _mm256_add_epi32(_mm256_mullo_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)), e), r), s);
    _mm256_storeu_si256(wp, _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(_mm256_loadu_si256(wp), d), lo), hi));
  }
}

// nlms_update_scalar over padded8(n) entries. With g = gh 2^16 + gl (0 <= gl < 2^16),
// floor(g x / 2^32) = floor((gh x + floor(gl x / 2^16)) / 2^16): gl x fits in int32, gh x
// (< 2^39) takes 64-bit lanes, and the last floor is a logical shift after a bias of
// 2^62, whose shifted value 2^46 leaves the low 32 bits alone.
__attribute__((target("avx2"))) inline void nlms_update_avx2(int32_t* w, const int32_t* x, int n, int64_t g,
                                                             int32_t limit) {
  const __m256i gh = _mm256_set1_epi32(static_cast<int32_t>(g >> 16)), gl = _mm256_set1_epi32(static_cast<int32_t>(g & 0xFFFF));
  const __m256i low = _mm256_set1_epi64x(0xFFFFFFFFll), bias = _mm256_set1_epi64x((int64_t{1} << 62) - (1 << 13));
  const __m256i hi = _mm256_set1_epi32(limit), lo = _mm256_set1_epi32(-limit), half = _mm256_set1_epi32(1 << 13);
  for (int i = 0; i < n; i += 8) {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    // floor(gl x / 2^16) + 2^13, in [0, 2^14]: non-negative, so it widens by masking.
    const __m256i c = _mm256_add_epi32(_mm256_srai_epi32(_mm256_mullo_epi32(xv, gl), 16), half);
    const __m256i even = _mm256_add_epi64(_mm256_add_epi64(_mm256_mul_epi32(xv, gh), _mm256_and_si256(c, low)), bias);
    const __m256i odd = _mm256_add_epi64(
        _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(xv, 32), gh), _mm256_srli_epi64(c, 32)), bias);
    const __m256i step = _mm256_blend_epi32(_mm256_srli_epi64(even, 16), _mm256_slli_epi64(_mm256_srli_epi64(odd, 16), 32), 0xAA);
    __m256i* wp = reinterpret_cast<__m256i*>(w + i);
    _mm256_storeu_si256(wp, _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(_mm256_loadu_si256(wp), step), lo), hi));
  }
}

// clamp_norm_scalar over padded8(n) entries.
__attribute__((target("avx2"))) inline int64_t clamp_norm_avx2(int32_t* x, int n, int32_t limit) {
  const __m256i hi = _mm256_set1_epi32(limit), lo = _mm256_set1_epi32(-limit);
  __m256i acc = _mm256_setzero_si256();
  for (int i = 0; i < n; i += 8) {
    __m256i* xp = reinterpret_cast<__m256i*>(x + i);
    const __m256i v = _mm256_min_epi32(_mm256_max_epi32(_mm256_loadu_si256(xp), lo), hi);
    _mm256_storeu_si256(xp, v);
    acc = _mm256_add_epi64(acc, _mm256_mul_epi32(v, v));
    const __m256i odd = _mm256_srli_epi64(v, 32);
    acc = _mm256_add_epi64(acc, _mm256_mul_epi32(odd, odd));
  }
  alignas(32) int64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif

// nlms_update_scalar, on AVX2 when `avx2` (then w and x hold padded8(n) entries, x zero
// beyond n).
inline void nlms_update(int32_t* w, const int32_t* x, int n, int64_t g, int32_t limit, bool avx2) {
#if defined(LORA_CODEC_AVX2_KERNELS)
  if (avx2) return nlms_update_avx2(w, x, n, g, limit);
#endif
  (void)avx2;
  nlms_update_scalar(w, x, n, g, limit);
}

// clamp_norm_scalar, on AVX2 when `avx2` (then x holds padded8(n) entries, zero beyond n).
inline int64_t clamp_norm(int32_t* x, int n, int32_t limit, bool avx2) {
#if defined(LORA_CODEC_AVX2_KERNELS)
  if (avx2) return clamp_norm_avx2(x, n, limit);
#endif
  (void)avx2;
  return clamp_norm_scalar(x, n, limit);
}

// dot_scalar, on AVX2 when `avx2` (then w and x hold padded8(n) entries and w is zero
// beyond n).
inline int64_t dot(const int32_t* w, const int32_t* x, int n, bool avx2) {
#if defined(LORA_CODEC_AVX2_KERNELS)
  if (avx2) return dot_avx2(w, x, n);
#endif
  (void)avx2;
  return dot_scalar(w, x, n);
}

// mix_update_scalar, on AVX2 when `avx2` (then w and x hold padded8(n) entries, x zero
// beyond n).
inline void mix_update(int32_t* w, const int32_t* x, int n, int32_t err, int32_t round, int shift, int32_t limit,
                       bool avx2) {
#if defined(LORA_CODEC_AVX2_KERNELS)
  if (avx2) return mix_update_avx2(w, x, n, err, round, shift, limit);
#endif
  (void)avx2;
  mix_update_scalar(w, x, n, err, round, shift, limit);
}

}  // namespace simd
}  // namespace lora_codec
