// The causal per-pixel predictor, integer-exact (see lora_codec/models/predictor.py for
// the training form and docs/design.md for the definition).
//
// For each pixel in raster order and each plane of the colour group, a two-stage integer
// network maps the causal context (neighbours, earlier planes, neighbours' prediction
// errors, UNet features) to the parameters of a logistic mixture, which the range coder
// then uses. The same code runs when encoding (all pixels known) and decoding (pixels
// filled in as they are decoded), so both sides compute identical integers.
#pragma once

#include <algorithm>
#include <cstring>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "distributions.hpp"
#include "layout.hpp"
#include "simd.hpp"

namespace lora_codec {

// The input layout is generated (scripts/gen_layout.py -> layout.hpp), shared with Python.
inline constexpr int kNeighbours = layout::kNeighbours;
inline constexpr int kResiduals = layout::kMedResiduals;
inline constexpr int kErrorNeighbours = layout::kErrorNeighbours;
inline constexpr int kGradients = layout::kGradients;
inline constexpr int kPad = layout::kPadValue;
inline constexpr int kMaxPlanes = 3;
inline constexpr int kMaxStageInputs = 192;  // bounds the int16 input buffers of the two stages
// Q2 inputs times Q8 weights: back to Q2 hidden activations, or to Q4 outputs.
inline constexpr int kHiddenShift = layout::kPredWFrac;
inline constexpr int kOutShift = layout::kPredInFrac + layout::kPredWFrac - layout::kPredOutFrac;

// A (rows x cols) int16 matrix laid out for multiply-add instructions: for each group of 4
// rows and each pair of columns, the 8 values w[4g + r][2p + t] (r = 0..3, t = 0, 1).
// Missing rows and columns are zeros. With `wide` (the AVX2 kernel), `w8` holds the
// matrix instead, in groups of 8 rows: for each pair of columns p and each group g, the
// 16 values w[8g + r][2p + t], so that one pass over the pairs feeds every group. A one-row matrix is kept instead as a
// plain row `row`, zero-padded to a multiple of kChunk, for `dot16`.
struct PackedMatrix {
  int rows = 0, cols = 0, groups = 0, pairs = 0;
  bool wide = false;
  std::vector<int16_t> w, w8, row;
};

// One plane role's integer weights: row-major matrices, Q8 weights, Q10 biases. When every
// weight fits in int16, `pack_weights` also keeps packed copies for `matvec16`.
struct PlaneWeights {
  int in_a = 0, hidden_a = 0, in_b = 0, hidden_b = 0, components = 0;
  std::vector<int32_t> w_a, b_a, w_m, b_m, w_b, b_b, w_o, b_o;
  bool packed = false;
  PackedMatrix p_a, p_m, p_b, p_o;
};

// kind 0: the MED-anchored predictor (formats 1-2, rc models); kind 1: the learned head over
// the online engine (engine_predictor.hpp).
struct PredictorWeights {
  int features = 0;
  int kind = 0;
  Kernel kernel = Kernel::kInt64;  // the kernel the loops run (pack_weights sets it)
  std::vector<PlaneWeights> planes;  // role 0, 1, 2
};

// Kind 1's extra inputs: the engine's predictions (relative to its final one), energy
// and max-error in stage A; energy and |max-error| in stage B.
inline constexpr int kEngineInputs = layout::kEngineInputs;
inline constexpr int kEngineStats = layout::kEngineStats;

// Sizes of the two stages' inputs for plane role c.
inline int stage_a_inputs(int kind, int c, int features) {
  return kind == 0 ? kNeighbours + kResiduals + layout::kCrossA * c + features
                   : kNeighbours + kEngineInputs + layout::kCrossA * c + features;
}
inline int stage_b_inputs(int kind, int c, int hidden_a) {
  return kind == 0 ? hidden_a + kErrorNeighbours + kGradients + layout::kCrossB * c
                   : hidden_a + kErrorNeighbours + kGradients + kEngineStats + layout::kCrossB * c;
}

// A view of an image being coded: planes interleaved (H, W, C) uint8, errors (H, W, C)
// int16 in Q2, features (rows, W, F) int16 for rows [feature_row0, feature_row0 + rows).
// In rc mode `guide` is the lossy reconstruction (H, W, C) uint8, else null.
struct PlaneView {
  uint8_t* pixels;
  int16_t* errors;
  const int16_t* features;
  int64_t height, width, planes, feature_row0;
  const uint8_t* guide = nullptr;
};

struct MixtureParams {
  int32_t mean[kMaxComponents], log_scale[kMaxComponents], logit[kMaxComponents];
  // The online engine's own predictions of the sub-pixel (levels 0..255, kind 1 only):
  // its weighted predictor and its first NLMS predictor.
  static constexpr int kHints = 2;
  int hints = 0;
  int32_t hint[kHints] = {};
};

namespace detail {

inline int64_t round_shift(int64_t acc, int s) { return floor_shift(acc + (int64_t{1} << (s - 1)), s); }

using simd::dot_scalar;  // the int64 path's dot product

// The same sum for int16 rows and inputs zero-padded to n, a multiple of kChunk, with
// |x| <= kNarrowMax: |w x| <= 32767 * 4095 < 2^27, so a chunk of 16 products sums exactly
// in int32 (< 2^31) and the chunks in int64. The compiler turns the chunk into
// multiply-add vector instructions; the result is the same integer on every path.
inline constexpr int kChunk = 16;
inline constexpr int32_t kNarrowMax = 4095;
inline int padded(int n) { return (n + kChunk - 1) / kChunk * kChunk; }

inline int64_t dot16(const int16_t* w, const int16_t* x, int n) {
  int64_t acc = 0;
#if defined(__SSE2__)
  // pmaddwd gives 4 int32 lanes of 2 products per 8 inputs; a lane may take 16 products
  // (< 2^31), so up to 4 chunks of 16 inputs add up in the lanes before each reduction.
  for (int k0 = 0; k0 < n; k0 += 4 * kChunk) {
    __m128i s = _mm_setzero_si128();
    const int k1 = std::min(n, k0 + 4 * kChunk);
    for (int k = k0; k < k1; k += 8)
      s = _mm_add_epi32(s, _mm_madd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + k)),
                                          _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + k))));
    // Lanes are < 2^31 each; sum them in 64 bits.
    alignas(16) int32_t lanes[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(lanes), s);
    acc += int64_t{lanes[0]} + lanes[1] + lanes[2] + lanes[3];
  }
#else
  for (int k = 0; k < n; k += kChunk) {
    int32_t part = 0;
    for (int t = 0; t < kChunk; ++t) part += int32_t{w[k + t]} * int32_t{x[k + t]};
    acc += part;
  }
#endif
  return acc;
}

// Copies n inputs into `out` (int16, zero-padded to padded(n)); false if one is outside
// +-kNarrowMax (then the caller takes the int64 path).
inline bool narrow(const int32_t* x, int n, int16_t* out) {
  bool ok = true;
  int i = 0;
#if defined(__SSE2__)
  // 8 at a time: a saturating pack (exact when every value is in range) and a range test.
  const __m128i hi = _mm_set1_epi32(kNarrowMax), lo = _mm_set1_epi32(-kNarrowMax);
  __m128i bad = _mm_setzero_si128();
  for (; i + 8 <= n; i += 8) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i + 4));
    bad = _mm_or_si128(bad, _mm_or_si128(_mm_cmpgt_epi32(a, hi), _mm_cmplt_epi32(a, lo)));
    bad = _mm_or_si128(bad, _mm_or_si128(_mm_cmpgt_epi32(b, hi), _mm_cmplt_epi32(b, lo)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm_packs_epi32(a, b));
  }
  ok = _mm_movemask_epi8(bad) == 0;
#endif
  for (; i < n; ++i) {
    ok &= x[i] >= -kNarrowMax && x[i] <= kNarrowMax;
    out[i] = static_cast<int16_t>(x[i]);
  }
  for (i = n; i < padded(n); ++i) out[i] = 0;
  return ok;
}

inline PackedMatrix pack_matrix(const std::vector<int32_t>& w, int rows, int cols, bool wide) {
  PackedMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.groups = (rows + 3) / 4;
  m.pairs = (cols + 1) / 2;
  auto at = [&](int r, int k) { return static_cast<int16_t>(w[static_cast<size_t>(r * cols + k)]); };
  if (rows == 1) {
    m.row.assign(static_cast<size_t>(padded(cols)), 0);
    for (int k = 0; k < cols; ++k) m.row[static_cast<size_t>(k)] = at(0, k);
    return m;
  }
  m.wide = wide;
  if (wide) {  // only the layout the chosen kernel reads
    const int groups8 = (rows + 7) / 8;
    m.w8.assign(static_cast<size_t>(groups8) * m.pairs * 16, 0);
    for (int r = 0; r < rows; ++r)
      for (int k = 0; k < cols; ++k) m.w8[static_cast<size_t>(((k / 2) * groups8 + r / 8) * 16 + (r % 8) * 2 + k % 2)] = at(r, k);
    return m;
  }
  m.w.assign(static_cast<size_t>(m.groups) * m.pairs * 8, 0);
  for (int r = 0; r < rows; ++r)
    for (int k = 0; k < cols; ++k) m.w[static_cast<size_t>(((r / 4) * m.pairs + k / 2) * 8 + (r % 4) * 2 + k % 2)] = at(r, k);
  return m;
}

#if defined(LORA_CODEC_AVX2_KERNELS)
// matvec16 with 8 rows per multiply-add, G groups of 8 rows at once: each pair of inputs
// is broadcast once and meets every group's weights. The int32 lanes are the SSE2
// kernel's (one row each, at most 16 products before widening), so the integers are too.
template <int G>
__attribute__((target("avx2"))) inline void matvec16_avx2_groups(const PackedMatrix& m, const int16_t* x, int64_t* y) {
  __m256i lo[G], hi[G];
  for (int g = 0; g < G; ++g) lo[g] = hi[g] = _mm256_setzero_si256();
  const int16_t* w = m.w8.data();
  for (int p0 = 0; p0 < m.pairs; p0 += 8) {
    __m256i s[G];
    for (int g = 0; g < G; ++g) s[g] = _mm256_setzero_si256();
    const int p1 = std::min(m.pairs, p0 + 8);
    for (int p = p0; p < p1; ++p) {
      int32_t v;  // (x[2p], x[2p + 1]) as one int32, little-endian
      std::memcpy(&v, x + 2 * p, 4);
      const __m256i b = _mm256_set1_epi32(v);
      for (int g = 0; g < G; ++g)
        s[g] = _mm256_add_epi32(
            s[g], _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + (p * G + g) * 16)), b));
    }
    for (int g = 0; g < G; ++g) {
      lo[g] = _mm256_add_epi64(lo[g], _mm256_cvtepi32_epi64(_mm256_castsi256_si128(s[g])));
      hi[g] = _mm256_add_epi64(hi[g], _mm256_cvtepi32_epi64(_mm256_extracti128_si256(s[g], 1)));
    }
  }
  for (int g = 0; g < G; ++g) {
    if (8 * g + 8 <= m.rows) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + 8 * g), lo[g]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + 8 * g + 4), hi[g]);
      continue;
    }
    alignas(32) int64_t out[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(out), lo[g]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(out + 4), hi[g]);
    for (int r = 0; 8 * g + r < m.rows; ++r) y[8 * g + r] = out[r];
  }
}

// Up to 64 rows: validate() bounds every layer of a head to that.
__attribute__((target("avx2"))) inline void matvec16_avx2(const PackedMatrix& m, const int16_t* x, int64_t* y) {
  switch ((m.rows + 7) / 8) {
    case 1: return matvec16_avx2_groups<1>(m, x, y);
    case 2: return matvec16_avx2_groups<2>(m, x, y);
    case 3: return matvec16_avx2_groups<3>(m, x, y);
    case 4: return matvec16_avx2_groups<4>(m, x, y);
    case 5: return matvec16_avx2_groups<5>(m, x, y);
    case 6: return matvec16_avx2_groups<6>(m, x, y);
    case 7: return matvec16_avx2_groups<7>(m, x, y);
    default: return matvec16_avx2_groups<8>(m, x, y);
  }
}
#endif

// A layer's outputs from its sums: out[r] = clamp(round_shift(bias[r] + acc[r], kShift), lo,
// hi), and their int16 copies into out16 when it is given (then -32768 <= lo <= hi <= 32767).
// For any sums whose rounded value fits in int64.
template <int kShift>
inline void requantize_scalar(const int64_t* acc, const int32_t* bias, int n, int32_t lo, int32_t hi, int32_t* out,
                              int16_t* out16) {
  for (int r = 0; r < n; ++r) {
    out[r] = static_cast<int32_t>(std::clamp<int64_t>(round_shift(bias[r] + acc[r], kShift), lo, hi));
    if (out16) out16[r] = static_cast<int16_t>(out[r]);
  }
}

#if defined(LORA_CODEC_AVX2_KERNELS)
// requantize_scalar 4 rows at a time. AVX2 shifts 64-bit lanes only logically, so the
// floor of v / 2^kShift is taken as ~((~v) >> kShift) where v < 0 (~v = -v - 1 >= 0) and
// as v >> kShift elsewhere: an exact floor for every int64.
template <int kShift>
__attribute__((target("avx2"))) inline void requantize_avx2(const int64_t* acc, const int32_t* bias, int n, int32_t lo,
                                                            int32_t hi, int32_t* out, int16_t* out16) {
  const __m256i round = _mm256_set1_epi64x(int64_t{1} << (kShift - 1));
  const __m256i top = _mm256_set1_epi64x(hi), bottom = _mm256_set1_epi64x(lo), zero = _mm256_setzero_si256();
  const __m256i evens = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  int r = 0;
  for (; r + 4 <= n; r += 4) {
    const __m256i b = _mm256_cvtepi32_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bias + r)));
    const __m256i v = _mm256_add_epi64(_mm256_add_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + r)), b), round);
    const __m256i sign = _mm256_cmpgt_epi64(zero, v);  // all ones where v < 0
    __m256i q = _mm256_xor_si256(_mm256_srli_epi64(_mm256_xor_si256(v, sign), kShift), sign);
    q = _mm256_blendv_epi8(q, top, _mm256_cmpgt_epi64(q, top));
    q = _mm256_blendv_epi8(q, bottom, _mm256_cmpgt_epi64(bottom, q));
    const __m128i low = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(q, evens));  // 4 x int32
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + r), low);
    if (out16) _mm_storel_epi64(reinterpret_cast<__m128i*>(out16 + r), _mm_packs_epi32(low, low));
  }
  requantize_scalar<kShift>(acc + r, bias + r, n - r, lo, hi, out + r, out16 ? out16 + r : nullptr);
}
#endif

// requantize_scalar, on AVX2 when `avx2`.
template <int kShift>
inline void requantize(const int64_t* acc, const int32_t* bias, int n, int32_t lo, int32_t hi, int32_t* out,
                       int16_t* out16, bool avx2) {
#if defined(LORA_CODEC_AVX2_KERNELS)
  if (avx2) return requantize_avx2<kShift>(acc, bias, n, lo, hi, out, out16);
#endif
  (void)avx2;
  requantize_scalar<kShift>(acc, bias, n, lo, hi, out, out16);
}

// y[r] = sum_k w[r][k] x[k] for r < m.rows, exactly, for int16 inputs (zero-padded to an
// even count; to a multiple of kChunk for a one-row matrix) with |x| <= kNarrowMax and |w| <= 32767: each int32 lane sums at most 16
// products (< 2^31) before it is widened into int64.
inline void matvec16(const PackedMatrix& m, const int16_t* x, int64_t* y) {
  if (!m.row.empty()) {  // one row: x is zero-padded to a multiple of kChunk
    y[0] = dot16(m.row.data(), x, static_cast<int>(m.row.size()));
    return;
  }
#if defined(LORA_CODEC_AVX2_KERNELS)
  if (m.wide) {
    matvec16_avx2(m, x, y);
    return;
  }
#endif
#if defined(__SSE2__)
  auto pair = [x](int p) {  // (x[2p], x[2p + 1]) as one int32, little-endian
    int32_t v;
    std::memcpy(&v, x + 2 * p, 4);
    return v;
  };
  for (int g = 0; g < m.groups; ++g) {
    const int16_t* wg = m.w.data() + static_cast<size_t>(g) * m.pairs * 8;
    __m128i lo = _mm_setzero_si128(), hi = _mm_setzero_si128();
    for (int p0 = 0; p0 < m.pairs; p0 += 8) {
      __m128i s = _mm_setzero_si128();
      const int p1 = std::min(m.pairs, p0 + 8);
      for (int p = p0; p < p1; ++p)
        s = _mm_add_epi32(s, _mm_madd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wg + p * 8)),
                                            _mm_set1_epi32(pair(p))));
      const __m128i sign = _mm_srai_epi32(s, 31);
      lo = _mm_add_epi64(lo, _mm_unpacklo_epi32(s, sign));
      hi = _mm_add_epi64(hi, _mm_unpackhi_epi32(s, sign));
    }
    alignas(16) int64_t out[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(out), lo);
    _mm_store_si128(reinterpret_cast<__m128i*>(out + 2), hi);
    for (int r = 0; r < 4 && 4 * g + r < m.rows; ++r) y[4 * g + r] = out[r];
  }
#else
  for (int r = 0; r < m.rows; ++r) {
    int64_t acc = 0;
    for (int k = 0; k < m.cols; ++k) acc += int64_t{m.w[static_cast<size_t>(((r / 4) * m.pairs + k / 2) * 8 + (r % 4) * 2 + k % 2)]} * x[k];
    y[r] = acc;
  }
#endif
}


inline int32_t pixel(const PlaneView& v, int64_t i, int64_t j, int64_t c) {
  if (i < 0 || j < 0 || j >= v.width) return kPad;
  return v.pixels[(i * v.width + j) * v.planes + c];
}

inline int32_t error(const PlaneView& v, int64_t i, int64_t j, int64_t c) {
  if (i < 0 || j < 0 || j >= v.width) return 0;
  return v.errors[(i * v.width + j) * v.planes + c];
}

// The reconstruction as the neighbour residuals read it: 128 outside the image, like pixels.
inline int32_t guide_padded(const PlaneView& v, int64_t i, int64_t j, int64_t c) {
  if (i < 0 || j < 0 || j >= v.width) return kPad;
  return v.guide[(i * v.width + j) * v.planes + c];
}

// The reconstruction as the texture inputs read it: coordinates clamp to the image.
inline int32_t guide_clamped(const PlaneView& v, int64_t i, int64_t j, int64_t c) {
  i = std::clamp<int64_t>(i, 0, v.height - 1);
  j = std::clamp<int64_t>(j, 0, v.width - 1);
  return v.guide[(i * v.width + j) * v.planes + c];
}

inline int32_t med(int32_t n, int32_t w, int32_t nw) {
  const int32_t hi = std::max(n, w), lo = std::min(n, w);
  return nw >= hi ? lo : (nw <= lo ? hi : n + w - nw);
}

inline int32_t iabs(int32_t v) { return v < 0 ? -v : v; }

}  // namespace detail

// Stage A of a head: the hidden layer `h_a` and the mean `ref_q4 + m`, clamped to the
// pixel range (Q4), for the inputs `in_a` (Q2).
inline int32_t mean_stage(const PlaneWeights& pw, const int32_t* in_a, int32_t ref_q4, int32_t* h_a) {
  using namespace detail;
  int64_t acc_m;
  alignas(32) int16_t x16[2 * kMaxStageInputs];
  if (pw.packed && narrow(in_a, pw.in_a, x16)) {
    int64_t acc[64];
    matvec16(pw.p_a, x16, acc);
    requantize<kHiddenShift>(acc, pw.b_a.data(), pw.hidden_a, 0, layout::kPredHiddenMax, h_a, x16 + pw.in_a,
                             pw.p_a.wide);
    for (int k = pw.in_a + pw.hidden_a; k < padded(pw.in_a + pw.hidden_a); ++k) x16[k] = 0;  // pad for dot16
    matvec16(pw.p_m, x16, acc);
    acc_m = pw.b_m[0] + acc[0];
  } else {
    for (int h = 0; h < pw.hidden_a; ++h) {
      const int64_t acc = pw.b_a[h] + dot_scalar(&pw.w_a[h * pw.in_a], in_a, pw.in_a);
      h_a[h] = static_cast<int32_t>(std::clamp<int64_t>(round_shift(acc, kHiddenShift), 0, layout::kPredHiddenMax));
    }
    acc_m = pw.b_m[0] + dot_scalar(pw.w_m.data(), in_a, pw.in_a) + dot_scalar(pw.w_m.data() + pw.in_a, h_a, pw.hidden_a);
  }
  const int64_t m = std::clamp<int64_t>(round_shift(acc_m, kOutShift), -layout::kMeanOffsetMax, layout::kMeanOffsetMax);
  return static_cast<int32_t>(std::clamp<int64_t>(int64_t{ref_q4} + m, 0, 255 * 16));
}

// Stage B of a head: per component a mean offset from `mu`, a log-scale and a logit.
inline void shape_stage(const PlaneWeights& pw, const int32_t* in_b, int32_t mu, MixtureParams& out) {
  using namespace detail;
  int32_t h_b[64];
  alignas(32) int16_t x16[kMaxStageInputs], h16[64];
  int64_t sums[64];
  if (pw.packed && narrow(in_b, pw.in_b, x16)) {
    matvec16(pw.p_b, x16, sums);
  } else {
    for (int h = 0; h < pw.hidden_b; ++h) sums[h] = dot_scalar(&pw.w_b[h * pw.in_b], in_b, pw.in_b);
  }
  requantize<kHiddenShift>(sums, pw.b_b.data(), pw.hidden_b, 0, layout::kPredHiddenMax, h_b, h16, pw.p_b.wide);
  if (pw.packed) {
    for (int k = pw.hidden_b; k < padded(pw.hidden_b); ++k) h16[k] = 0;  // pad, as narrow() did
    matvec16(pw.p_o, h16, sums);
  }
  const int K = pw.components;
  int32_t val[3 * kMaxComponents];
  if (!pw.packed)
    for (int o = 0; o < 3 * K; ++o) sums[o] = dot_scalar(&pw.w_o[o * pw.hidden_b], h_b, pw.hidden_b);
  requantize<kOutShift>(sums, pw.b_o.data(), 3 * K, -layout::kOutputMax, layout::kOutputMax, val, nullptr,
                        pw.p_o.wide);
  for (int k = 0; k < K; ++k) out.mean[k] = std::clamp<int32_t>(mu + val[k], -32 * 16, 287 * 16);
  for (int k = 0; k < K; ++k) out.log_scale[k] = std::clamp<int32_t>(val[K + k], tables::kLogScaleMin, tables::kLogScaleMax);
  for (int k = 0; k < K; ++k) out.logit[k] = val[2 * K + k];
}

// Computes the mixture for plane c at (i, j) and the state the later planes need.
// `cross_a`/`cross_b` carry the earlier planes' inputs of this pixel.
class PixelPredictor {
 public:
  explicit PixelPredictor(const PredictorWeights& w) : w_(w) {}

  // Fills `out` and returns mu (Q4) for plane c; `cross_a`, `cross_b` hold 4c and c values.
  int32_t predict(const PlaneView& v, int64_t i, int64_t j, int64_t c, const int32_t* cross_a,
                  const int32_t* cross_b, MixtureParams& out, int32_t& ref_out) const {
    using namespace detail;
    const PlaneWeights& pw = w_.planes[c];
    const auto& off = layout::kNeighbourOffsets;
    int32_t nb[kNeighbours];
    for (int k = 0; k < kNeighbours; ++k) nb[k] = pixel(v, i + off[k][0], j + off[k][1], c);
    int32_t in_a[kNeighbours + kResiduals + kMaxPlanes * 4 + 64];
    int n = 0;
    int32_t ref;
    if (v.guide == nullptr) {
      ref = med(nb[2], nb[0], nb[4]);  // MED of N, W, NW
      for (int k = 0; k < kNeighbours; ++k) in_a[n++] = (nb[k] - ref) * 4;
      for (const auto& r : layout::kMedResidualIndex) in_a[n++] = (nb[r[0]] - med(nb[r[1]], nb[r[2]], nb[r[3]])) * 4;
    } else {  // rc mode: residuals against the reconstruction, and its local texture
      ref = guide_clamped(v, i, j, c);
      for (int k = 0; k < kNeighbours; ++k) in_a[n++] = (nb[k] - guide_padded(v, i + off[k][0], j + off[k][1], c)) * 4;
      const int32_t gN = guide_clamped(v, i - 1, j, c), gW = guide_clamped(v, i, j - 1, c);
      const int32_t gNW = guide_clamped(v, i - 1, j - 1, c);
      in_a[n++] = (ref - med(gN, gW, gNW)) * 4;
      in_a[n++] = (guide_clamped(v, i, j + 1, c) - ref) * 4;
      in_a[n++] = (guide_clamped(v, i + 1, j, c) - ref) * 4;
    }
    ref_out = ref;
    for (int k = 0; k < 4 * c; ++k) in_a[n++] = cross_a[k];
    const int16_t* f = v.features + ((i - v.feature_row0) * v.width + j) * w_.features;
    for (int k = 0; k < w_.features; ++k) in_a[n++] = f[k];

    int32_t h_a[64];
    const int32_t mu = mean_stage(pw, in_a, ref * 16, h_a);

    int32_t in_b[64 + kErrorNeighbours + kGradients + kMaxPlanes];
    n = 0;
    for (int h = 0; h < pw.hidden_a; ++h) in_b[n++] = h_a[h];
    for (const auto& e : layout::kErrorOffsets) in_b[n++] = iabs(error(v, i + e[0], j + e[1], c));
    for (const auto& g : layout::kGradientIndex) in_b[n++] = iabs(nb[g[0]] - nb[g[1]]) * 4;
    for (int k = 0; k < c; ++k) in_b[n++] = cross_b[k];

    shape_stage(pw, in_b, mu, out);
    return mu;
  }

  // Visits every pixel of rows [row0, row1) in order; `code(c, params)` returns the pixel
  // value of plane c (encoding: reads it; decoding: decodes and returns it). Before each
  // row, `stop()` may end the visit early (a decoder whose stream is corrupt or exhausted).
  template <class CodeFn>
  void run(PlaneView& v, int64_t row0, int64_t row1, CodeFn&& code) const {
    run(v, row0, row1, code, [] { return false; });
  }

  template <class CodeFn, class StopFn>
  void run(PlaneView& v, int64_t row0, int64_t row1, CodeFn&& code, StopFn&& stop) const {
    using namespace detail;
    MixtureParams params;
    for (int64_t i = row0; i < row1; ++i) {
      if (stop()) return;
      for (int64_t j = 0; j < v.width; ++j) {
        int32_t cross_a[4 * kMaxPlanes], cross_b[kMaxPlanes];
        for (int64_t c = 0; c < v.planes; ++c) {
          int32_t ref = 0;
          const int32_t mu = predict(v, i, j, c, cross_a, cross_b, params, ref);
          const int32_t x = code(c, params, i, j);
          const int64_t idx = (i * v.width + j) * v.planes + c;
          v.pixels[idx] = static_cast<uint8_t>(x);
          const int32_t e = static_cast<int32_t>(std::clamp<int64_t>(floor_shift(int64_t{x} * 16 - mu, 2), -layout::kInputClamp, layout::kInputClamp));
          v.errors[idx] = static_cast<int16_t>(e);
          cross_a[4 * c + 0] = (x - ref) * 4;
          cross_a[4 * c + 1] = (x - pixel(v, i, j - 1, c)) * 4;
          cross_a[4 * c + 2] = (x - pixel(v, i - 1, j, c)) * 4;
          cross_a[4 * c + 3] = e;
          cross_b[c] = iabs(e);
        }
      }
    }
  }

 private:
  const PredictorWeights& w_;
};

// Sets the kernel the loops run, and keeps the int16 copies of the heads' weights
// (PlaneWeights::packed) for it when every weight fits; with the int64 kernel, none (the
// int16 kernels must agree with it).
inline void pack_weights(PredictorWeights& w, Kernel kernel) {
  w.kernel = kernel;
  for (PlaneWeights& p : w.planes) {
    auto fits = [](const std::vector<int32_t>& v) {
      return std::all_of(v.begin(), v.end(), [](int32_t x) { return x >= -32767 && x <= 32767; });
    };
    p.packed = kernel != Kernel::kInt64 && fits(p.w_a) && fits(p.w_m) && fits(p.w_b) && fits(p.w_o) &&
               p.in_a + p.hidden_a <= kMaxStageInputs && p.in_b <= kMaxStageInputs;
    if (!p.packed) continue;
#if defined(LORA_CODEC_AVX2_KERNELS)
    const bool wide = kernel == Kernel::kAvx2;
#else
    const bool wide = false;  // no AVX2 kernel in this build: the portable one reads `w`
#endif
    p.p_a = detail::pack_matrix(p.w_a, p.hidden_a, p.in_a, wide);
    p.p_m = detail::pack_matrix(p.w_m, 1, p.in_a + p.hidden_a, wide);
    p.p_b = detail::pack_matrix(p.w_b, p.hidden_b, p.in_b, wide);
    p.p_o = detail::pack_matrix(p.w_o, 3 * p.components, p.hidden_b, wide);
  }
}

inline void validate(const PredictorWeights& w, int64_t planes) {
  if (planes < 1 || planes > kMaxPlanes) throw std::invalid_argument("planes must be 1..3");
  if (w.kind != 0 && w.kind != 1) throw std::invalid_argument("unknown predictor kind");
  if (static_cast<int64_t>(w.planes.size()) < planes) throw std::invalid_argument("too few plane roles in weights");
  for (int64_t c = 0; c < planes; ++c) {
    const PlaneWeights& p = w.planes[c];
    const bool ok = p.in_a == stage_a_inputs(w.kind, static_cast<int>(c), w.features) &&
                    p.in_b == stage_b_inputs(w.kind, static_cast<int>(c), p.hidden_a) &&
                    p.hidden_a > 0 && p.hidden_a <= 64 && p.hidden_b > 0 && p.hidden_b <= 64 &&
                    w.features >= 0 && w.features <= 64 &&
                    p.components > 0 && p.components <= kMaxComponents &&
                    p.w_a.size() == size_t(p.hidden_a * p.in_a) && p.b_a.size() == size_t(p.hidden_a) &&
                    p.w_m.size() == size_t(p.in_a + p.hidden_a) && p.b_m.size() == 1 &&
                    p.w_b.size() == size_t(p.hidden_b * p.in_b) && p.b_b.size() == size_t(p.hidden_b) &&
                    p.w_o.size() == size_t(3 * p.components * p.hidden_b) &&
                    p.b_o.size() == size_t(3 * p.components);
    if (!ok) throw std::invalid_argument("inconsistent predictor weights for plane role " + std::to_string(c));
  }
}

}  // namespace lora_codec
