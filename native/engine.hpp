// The online-adaptive prediction engine: integer-only predictors that learn while coding.
//
// For every sub-pixel, in raster order with the planes of a pixel interleaved, `predict()`
// gives integer predictions and error statistics from causal data only, and `update(v)`
// then learns from the true value. Encoder and decoder run the same integer code on the
// same values, so their states stay identical; nothing here is floating point.
//
// Per plane:
//  1. JPEG-XL's self-correcting weighted predictor (libjxl context_predict.h, default
//     parameters): four sub-predictors weighted by their recent errors, and its
//     max-error property;
//  2. the clamped gradient (MED);
//  3. two normalised-LMS predictors (Q16 weights, steps 1500/4096 and 400/4096) over 16
//     causal neighbours, the earlier planes of the same pixel and their residuals, and
//     predictions 1 and 2;
//  4. a blend of 1-3, each weighted by 1 / (its recent local absolute error)^2;
//  5. for planes after the first, a sign-LMS correction from the earlier planes' residuals;
//  6. CALIC-style bias cancellation: per context (energy, texture bits, the previous
//     plane's residual sign), the running mean error is added back;
//  7. an error-energy estimate (a weighted sum of the neighbours' absolute errors).
//
// In rc mode (`attach_guide`) the engine also reads the lossy reconstruction g of the
// whole image: the NLMS predictors get 7 more inputs (g at the sub-pixel, g's errors at
// W, N, NW and NE, and g's steps to S and E) and the blend a fifth sub-predictor (g
// corrected by the mean of its errors at W and N). For R and B, g's estimate is its own
// R - G (or B - G) plus the true G, so that the reconstruction's luma error cancels. How
// far to trust g is learned online, per image and per region, like everything else here.
//
// Three-plane groups are predicted as G, R - G, B - G (the caller passes them in the
// order G, R, B); the outputs are in the pixel domain again. Only the last 4 rows of state
// are kept, so memory does not grow with the image height.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "distributions.hpp"
#include "simd.hpp"

namespace lora_codec {

namespace engine_detail {

// Division rounding half away from zero, for d > 0.
inline int64_t round_div(int64_t n, int64_t d) { return n >= 0 ? (n + d / 2) / d : -((-n + d / 2) / d); }
inline int32_t clamp32(int64_t v, int64_t lo, int64_t hi) { return static_cast<int32_t>(v < lo ? lo : (v > hi ? hi : v)); }
inline int floor_log2(uint64_t x) { return 63 - __builtin_clzll(x); }
inline int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

}  // namespace engine_detail

// What the engine says about one sub-pixel, in the pixel domain, Q4 (1/16 of a level).
struct EngineOutput {
  int32_t pred_q4;     // final prediction (after bias cancellation), in [0, 255 * 16]
  int32_t wp_q4;       // the weighted predictor alone
  int32_t grad_q4;     // the clamped gradient
  int32_t lms_q4[2];   // the two NLMS predictors
  int32_t blend_q4;    // the blend, before bias cancellation
  int32_t energy;      // error energy, about 4 x the expected |error| in Q4, in [0, 4095]
  int32_t wp_maxerr;   // the weighted predictor's max-error property (Q3, signed)
};

class OnlineEngine {
 public:
  static constexpr int kMaxPlanes = 3;
  static constexpr int kOwn = 16;                    // own-plane neighbours
  static constexpr int kGuideIn = 7;                 // NLMS inputs from the lossy reconstruction (rc)
  static constexpr int kMaxIn = kOwn + 5 * 2 + 2 + kGuideIn;  // NLMS inputs of the third plane
  static constexpr int kSub = 5;                     // WP, gradient, NLMS 0, NLMS 1, guide (rc only)
  static constexpr int kRows = 4;                    // rows of state kept
  static constexpr int kEnergyMax = 4095;
  static constexpr int kEnergyContexts = 24;
  static constexpr int kBiasContexts = 6 * 16 * 3;
  static constexpr int kBiasLimit = 512;

  // `planes` of `width` pixels; for 3 planes the caller's order is G, R, B. `kernel`
  // picks the NLMS predictors' vector code (every kernel gives the same integers).
  OnlineEngine(int64_t width, int planes, Kernel kernel = Kernel::kInt64)
      : w_(width), p_(planes), avx2_(kernel == Kernel::kAvx2) {
    for (int c = 0; c < p_; ++c) {
      const size_t n = static_cast<size_t>(kRows * w_);
      img_[c].assign(n, 0);
      err_[c].assign(n, 0);
      suberr_[c].assign(n * kSub, 0);
      wp_[c].init(w_);
      for (int k = 0; k < 2; ++k) lms_[c][k].init(inputs(c), kLmsStep[k]);
      bias_sum_[c].assign(kBiasContexts, 0);
      bias_count_[c].assign(kBiasContexts, 0);
      std::fill(std::begin(s2_weight_[c]), std::end(s2_weight_[c]), 0);
      maxv_[c] = (p_ == 3 && c > 0) ? 510 : 255;
    }
    for (int i = 0; i < 64; ++i) recip_[i] = (1 << 17) / (i < 1 ? 1 : i);
    int t = 0;
    for (int e = 0; e <= kEnergyMax; ++e) {
      while (t + 1 < kEnergyContexts && e >= kEnergyThresholds[t + 1]) ++t;
      energy_context_[e] = static_cast<uint8_t>(t);
    }
  }

  // rc mode: the lossy reconstruction (rows, width, planes) uint8 in coding order, indexed
  // like the rows being coded; null for none. Set before the first sub-pixel.
  void attach_guide(const uint8_t* guide, int64_t rows) {
    const bool had = guide_ != nullptr;
    if (started_ && had != (guide != nullptr))
      throw std::invalid_argument("the reconstruction must be given for every row or for none");
    guide_ = guide;
    guide_rows_ = rows;
    subs_ = guide ? kSub : kSub - 1;
    if (had != (guide != nullptr))
      for (int c = 0; c < p_; ++c)
        for (int k = 0; k < 2; ++k) lms_[c][k].init(inputs(c), kLmsStep[k]);
  }

  // Predictions for the next sub-pixel (row y, column x, plane c, in coding order).
  // `same_pixel` holds this pixel's already coded values of planes 0..c-1.
  const EngineOutput& predict(int64_t y, int64_t x, int c, const int32_t* same_pixel) {
    using namespace engine_detail;
    started_ = true;
    y_ = y; x_ = x; c_ = c;
    inside_ = inside();
    offset_ = (p_ == 3 && c > 0) ? same_pixel[0] - 255 : 0;  // transformed -> pixel domain
    const int32_t* im = img_[c].data();
    int32_t nb[kOwn];
    gather(im, nb);
    const int32_t W = nb[0], N = nb[1], NW = nb[2], NE = nb[3], NN = nb[5];
    int32_t maxerr = 0;
    const int32_t wp = static_cast<int32_t>(wp_[c].predict(x, y, N, W, NE, NW, NN, &maxerr) * 2);
    const int32_t grad = std::clamp(N + W - NW, std::min(N, W), std::max(N, W)) * 16;
    // NLMS inputs: deviations (Q4) from the local mean.
    const int32_t base = 4 * (W + N + NW + NE);
    int n = 0;
    for (int k = 0; k < kOwn; ++k) in_[n++] = nb[k] * 16 - base;
    for (int p = 0; p < c; ++p) {
      int32_t pn[kOwn];
      gather(img_[p].data(), pn);
      const int32_t cur = img_[p][at(y, x)];
      const int32_t pb = 4 * (pn[0] + pn[1] + pn[2] + pn[3]);
      in_[n++] = cur * 16 - pb;
      in_[n++] = pn[0] * 16 - pb;
      in_[n++] = pn[1] * 16 - pb;
      in_[n++] = pn[3] * 16 - pb;
      in_[n++] = clamp32(err_[p][at(y, x)], -4080, 4080);
    }
    in_[n++] = wp - base;
    in_[n++] = grad - base;
    int32_t guided = 0;
    if (guide_) {
      const int32_t g0 = guide_value(y, x, c);
      auto err_at = [&](int dx, int dy) -> int32_t {
        const int64_t yy = y + dy, xx = x + dx;
        if (yy < 0 || xx < 0 || xx >= w_) return 0;
        return (im[at(yy, xx)] - guide_value(yy, xx, c)) * 16;
      };
      const int32_t eW = err_at(-1, 0), eN = err_at(0, -1);
      in_[n++] = g0 * 16 - base;
      in_[n++] = eW;
      in_[n++] = eN;
      in_[n++] = err_at(-1, -1);
      in_[n++] = err_at(1, -1);
      in_[n++] = (guide_value(y + 1, x, c) - g0) * 16;
      in_[n++] = (guide_value(y, x + 1, c) - g0) * 16;
      guided = g0 * 16 + static_cast<int32_t>(floor_shift(int64_t{eW} + eN, 1));
    }
    for (int k = n; k < padded8(n); ++k) in_[k] = 0;  // the vector kernels read whole vectors
    norm_ = simd::clamp_norm(in_, n, 8191, avx2_);
    const int32_t hi = maxv_[c] * 16 + 2048;
    sub_[0] = wp;
    sub_[1] = grad;
    for (int k = 0; k < 2; ++k) sub_[2 + k] = clamp32(base + lms_[c][k].predict(in_, avx2_), -2048, hi);
    sub_[4] = clamp32(guided, -2048, hi);
    // Blend: weights ~ 2^34 / s^2 from a 6-bit-mantissa reciprocal table, one division.
    const int32_t* se = suberr_[c].data();
    int64_t wsum = 0, psum = 0;
    for (int i = 0; i < subs_; ++i) {
      int64_t s = 8 + 2 * sub_error(se, 0, -1, i) + 2 * sub_error(se, -1, 0, i) + sub_error(se, -1, -1, i) +
                  sub_error(se, -1, 1, i) + sub_error(se, 0, -2, i) + sub_error(se, -2, 0, i);
      if (c > 0) s += suberr_[c - 1][at(y, x) * kSub + i];
      int sh = floor_log2(static_cast<uint64_t>(s)) - 5;
      if (sh < 0) sh = 0;
      const int64_t r = recip_[s >> sh];
      const int64_t wt = ((r * r) >> (2 * sh)) + 1;
      wsum += wt;
      psum += wt * sub_[i];
    }
    int32_t blend = static_cast<int32_t>(round_div(psum, wsum));
    // Sign-LMS correction from the earlier planes' residuals at this pixel.
    for (int p = 0; p < c; ++p) s2_in_[p] = clamp32(err_[p][at(y, x)], -4080, 4080);
    if (c > 0) {
      int64_t s = 0;
      for (int p = 0; p < c; ++p) s += static_cast<int64_t>(s2_weight_[c][p]) * s2_in_[p];
      blend += static_cast<int32_t>(floor_shift(s, 16));
    }
    blend_ = blend;
    // Error energy from the causal final errors.
    const int32_t* e = err_[c].data();
    int64_t energy = 4 * final_error(e, 0, -1) + 4 * final_error(e, -1, 0) + 2 * final_error(e, -1, -1) +
                     2 * final_error(e, -1, 1) + 2 * final_error(e, -2, 0) + 2 * final_error(e, 0, -2);
    int32_t prev_res = 0;
    if (c > 0) {
      prev_res = err_[c - 1][at(y, x)];
      energy += abs64(prev_res);
    }
    energy += (abs64(N - NW) + abs64(W - NW)) * 8;
    energy = std::min<int64_t>(energy >> 2, kEnergyMax);
    // Bias cancellation context: energy level, 4 texture bits, previous plane's residual.
    int tex = (N * 16 > blend) | (W * 16 > blend) << 1 | (NW * 16 > blend) << 2 | (NE * 16 > blend) << 3;
    int ctx = (energy_context_[energy] >> 2) * 16 + tex;
    if (c > 0) ctx += 6 * 16 * (prev_res > 8 ? 2 : (prev_res < -8 ? 1 : 0));
    bias_ctx_ = ctx;
    int32_t pred = blend;
    if (bias_count_[c][ctx] > 0) pred += static_cast<int32_t>(round_div(bias_sum_[c][ctx], bias_count_[c][ctx]));
    pred = clamp32(pred, 0, maxv_[c] * 16);
    pred_ = pred;

    const int32_t shift = offset_ * 16;
    out_.pred_q4 = clamp32(pred + shift, 0, 255 * 16);
    out_.wp_q4 = clamp32(wp + shift, -2048, 255 * 16 + 2048);
    out_.grad_q4 = clamp32(grad + shift, -2048, 255 * 16 + 2048);
    out_.lms_q4[0] = clamp32(sub_[2] + shift, -2048, 255 * 16 + 2048);
    out_.lms_q4[1] = clamp32(sub_[3] + shift, -2048, 255 * 16 + 2048);
    out_.blend_q4 = clamp32(blend + shift, -2048, 255 * 16 + 2048);
    out_.energy = static_cast<int32_t>(energy);
    out_.wp_maxerr = maxerr;
    return out_;
  }

  // Learns from the true pixel value `value` (0..255) of the sub-pixel just predicted.
  void update(int32_t value) {
    using namespace engine_detail;
    const int c = c_;
    const size_t pos = at(y_, x_);
    const int32_t v = value - offset_;  // the transformed value
    img_[c][pos] = v;
    const int32_t vq4 = v * 16;
    err_[c][pos] = vq4 - pred_;
    int32_t* se = &suberr_[c][pos * kSub];
    for (int i = 0; i < subs_; ++i) se[i] = std::min<int32_t>(std::abs(vq4 - sub_[i]), 8191);
    wp_[c].update(v, x_, y_);
    const int64_t inv = (int64_t{1} << 46) / (norm_ + (int64_t{1} << 18));
    for (int k = 0; k < 2; ++k) lms_[c][k].update(in_, inv, clamp32(vq4 - sub_[2 + k], -4095, 4095), avx2_);
    if (c > 0) {
      const int32_t e = vq4 - blend_;
      const int sg = (e > 0) - (e < 0);
      for (int p = 0; p < c; ++p) {
        const int sx = (s2_in_[p] > 0) - (s2_in_[p] < 0);
        s2_weight_[c][p] = clamp32(int64_t{s2_weight_[c][p]} + sg * sx * 64, -(1 << 17), 1 << 17);
      }
    }
    const int b = bias_ctx_;
    bias_sum_[c][b] += vq4 - blend_;
    if (++bias_count_[c][b] >= kBiasLimit) {
      bias_sum_[c][b] = static_cast<int32_t>(floor_shift(bias_sum_[c][b], 1));
      bias_count_[c][b] >>= 1;
    }
  }

 private:
  static constexpr int kLmsStep[2] = {1500, 400};
  static constexpr int kEnergyThresholds[kEnergyContexts] = {0,   3,   6,   9,   12,  16,  21,  27,
                                                             34,  43,  54,  68,  86,  108, 136, 171,
                                                             215, 271, 341, 430, 542, 683, 860, 1084};

  // JPEG-XL's self-correcting weighted predictor (libjxl weighted::State, defaults).
  struct WeightedPredictor {
    static constexpr int kExtra = 3;
    static constexpr int kRound = ((1 << kExtra) >> 1) - 1;
    static constexpr int kP1 = 16, kP2 = 10, kP3a = 7, kP3b = 7, kP3c = 7;
    static constexpr uint32_t kWeights[4] = {0xd, 0xc, 0xc, 0xc};
    int64_t xs = 0;
    std::vector<uint32_t> pe[4];
    std::vector<int32_t> err;
    int64_t prediction[4] = {0, 0, 0, 0};
    int64_t pred = 0;
    uint32_t divlookup[64];

    void init(int64_t width) {
      xs = width;
      for (auto& p : pe) p.assign(static_cast<size_t>((width + 2) * 2), 0);
      err.assign(static_cast<size_t>((width + 2) * 2), 0);
      for (int i = 0; i < 64; ++i) divlookup[i] = (1u << 24) / (i + 1);
    }
    uint32_t error_weight(uint64_t x, uint32_t maxweight) const {
      int shift = engine_detail::floor_log2(x + 1) - 5;
      if (shift < 0) shift = 0;
      return 4 + ((maxweight * divlookup[x >> shift]) >> shift);
    }
    int64_t weighted_average(const int64_t* p, uint32_t* w) const {
      uint32_t ws = 0;
      for (int i = 0; i < 4; ++i) ws += w[i];
      const uint32_t lw = engine_detail::floor_log2(ws);
      ws = 0;
      for (int i = 0; i < 4; ++i) {
        w[i] >>= lw - 4;
        ws += w[i];
      }
      int64_t sum = (ws >> 1) - 1;
      for (int i = 0; i < 4; ++i) sum += p[i] * w[i];
      return floor_shift(sum * divlookup[ws - 1], 24);
    }
    // The prediction in Q3; `maxerr` gets the max-error property.
    int64_t predict(int64_t x, int64_t y, int64_t N, int64_t W, int64_t NE, int64_t NW, int64_t NN, int32_t* maxerr) {
      using engine_detail::abs64;
      const size_t cur = (y & 1) ? 0 : static_cast<size_t>(xs + 2);
      const size_t prev = (y & 1) ? static_cast<size_t>(xs + 2) : 0;
      const size_t pn = prev + static_cast<size_t>(x);
      const size_t pne = x < xs - 1 ? pn + 1 : pn;
      const size_t pnw = x > 0 ? pn - 1 : pn;
      uint32_t weights[4];
      for (int i = 0; i < 4; ++i) weights[i] = error_weight(pe[i][pn] + pe[i][pne] + pe[i][pnw], kWeights[i]);
      N <<= kExtra; W <<= kExtra; NE <<= kExtra; NW <<= kExtra; NN <<= kExtra;
      const int64_t teW = x == 0 ? 0 : err[cur + static_cast<size_t>(x) - 1];
      const int64_t teN = err[pn], teNW = err[pnw], teNE = err[pne];
      const int64_t sumWN = teN + teW;
      int64_t m = teW;
      if (abs64(teN) > abs64(m)) m = teN;
      if (abs64(teNW) > abs64(m)) m = teNW;
      if (abs64(teNE) > abs64(m)) m = teNE;
      *maxerr = static_cast<int32_t>(std::clamp<int64_t>(m, -(1 << 20), 1 << 20));
      prediction[0] = W + NE - N;
      prediction[1] = N - floor_shift((sumWN + teNE) * kP1, 5);
      prediction[2] = W - floor_shift((sumWN + teNW) * kP2, 5);
      prediction[3] = N - floor_shift(teNW * kP3a + teN * kP3b + teNE * kP3c, 5);
      pred = weighted_average(prediction, weights);
      if (((teN ^ teW) | (teN ^ teNW)) <= 0) {
        const int64_t mx = std::max(W, std::max(NE, N)), mn = std::min(W, std::min(NE, N));
        pred = std::max(mn, std::min(mx, pred));
      }
      return pred;
    }
    void update(int64_t value, int64_t x, int64_t y) {
      const size_t cur = (y & 1) ? 0 : static_cast<size_t>(xs + 2);
      const size_t prev = (y & 1) ? static_cast<size_t>(xs + 2) : 0;
      value <<= kExtra;
      err[cur + static_cast<size_t>(x)] = static_cast<int32_t>(pred - value);
      for (int i = 0; i < 4; ++i) {
        const uint32_t e = static_cast<uint32_t>((engine_detail::abs64(prediction[i] - value) + kRound) >> kExtra);
        pe[i][cur + static_cast<size_t>(x)] = e;
        pe[i][prev + static_cast<size_t>(x) + 1] += e;
      }
    }
  };

  // Normalised LMS with Q16 weights: prediction sum(w x) >> 16; after each sample
  // w += (step / 2^12) * err * x / (|x|^2 + 2^18), all in integers (bounds below).
  struct Nlms {
    int n = 0, step = 0;
    int32_t w[padded8(kMaxIn)];  // zero beyond n
    void init(int inputs, int step_) {
      n = inputs;
      step = step_;
      std::fill(std::begin(w), std::end(w), 0);
    }
    // x: padded8(kMaxIn) entries; |w| <= 2^20, |x| <= 2^13, n <= 35: |sum| < 2^39.
    int64_t predict(const int32_t* x, bool avx2) const {
      return floor_shift(simd::dot(w, x, n, avx2), 16);
    }
    // err: Q4, |err| <= 4095; inv = 2^46 / (|x|^2 + 2^18) <= 2^28; x as for predict,
    // zero beyond n.
    void update(const int32_t* x, int64_t inv, int32_t err, bool avx2) {
      const int64_t g = floor_shift(int64_t{err} * step * inv, 10);  // |g| <= 2^41, |g x| <= 2^54
      simd::nlms_update(w, x, n, g, 1 << 20, avx2);
    }
  };

  int inputs(int c) const { return kOwn + 5 * c + 2 + (guide_ ? kGuideIn : 0); }

  // The reconstruction's estimate of the (transformed) value at (y, x) of plane c, clamped
  // to the image: for R and B, their difference from the reconstruction's G, plus 255.
  int32_t guide_value(int64_t y, int64_t x, int c) const {
    y = std::clamp<int64_t>(y, 0, guide_rows_ - 1);
    x = std::clamp<int64_t>(x, 0, w_ - 1);
    const uint8_t* g = guide_ + (y * w_ + x) * p_;
    return (p_ == 3 && c > 0) ? int32_t{g[c]} - g[0] + 255 : g[c];
  }

  size_t at(int64_t y, int64_t x) const { return static_cast<size_t>((y & (kRows - 1)) * w_ + x); }

  // Whether the error neighbours (up 2 rows, 2 columns left, 1 right) are all inside.
  bool inside() const { return y_ >= 2 && x_ >= 2 && x_ + 1 < w_; }

  int64_t sub_error(const int32_t* se, int dy, int dx, int i) const {
    const int64_t y = y_ + dy, x = x_ + dx;
    if (!inside_ && (y < 0 || x < 0 || x >= w_)) return 0;
    return se[at(y, x) * kSub + i];
  }

  int64_t final_error(const int32_t* e, int dy, int dx) const {
    const int64_t y = y_ + dy, x = x_ + dx;
    if (!inside_ && (y < 0 || x < 0 || x >= w_)) return 0;
    return engine_detail::abs64(e[at(y, x)]);
  }

  // 16 causal neighbours W N NW NE WW NN NWW NNW NNE NEE NNWW NNEE WWW NNN NWWW NEEE, with
  // libjxl-like fallbacks at the borders (W <- N <- 0, N <- W, NW <- W, NE <- N, ...).
  void gather(const int32_t* im, int32_t* nb) const {
    const int64_t x = x_, y = y_, w = w_;
    auto v = [&](int dx, int dy) { return im[at(y + dy, x + dx)]; };
    if (x >= 3 && x + 3 < w && y >= 3) {
      nb[0] = v(-1, 0); nb[1] = v(0, -1); nb[2] = v(-1, -1); nb[3] = v(1, -1);
      nb[4] = v(-2, 0); nb[5] = v(0, -2); nb[6] = v(-2, -1); nb[7] = v(-1, -2);
      nb[8] = v(1, -2); nb[9] = v(2, -1); nb[10] = v(-2, -2); nb[11] = v(2, -2);
      nb[12] = v(-3, 0); nb[13] = v(0, -3); nb[14] = v(-3, -1); nb[15] = v(3, -1);
      return;
    }
    const int32_t W = x > 0 ? v(-1, 0) : (y > 0 ? v(0, -1) : 0);
    const int32_t N = y > 0 ? v(0, -1) : W;
    const int32_t NW = (x > 0 && y > 0) ? v(-1, -1) : W;
    const int32_t NE = (y > 0 && x + 1 < w) ? v(1, -1) : N;
    const int32_t WW = x > 1 ? v(-2, 0) : W;
    const int32_t NN = y > 1 ? v(0, -2) : N;
    const int32_t NWW = (y > 0 && x > 1) ? v(-2, -1) : NW;
    const int32_t NNW = (y > 1 && x > 0) ? v(-1, -2) : NW;
    const int32_t NNE = (y > 1 && x + 1 < w) ? v(1, -2) : NE;
    const int32_t NEE = (y > 0 && x + 2 < w) ? v(2, -1) : NE;
    const int32_t NNWW = (y > 1 && x > 1) ? v(-2, -2) : NWW;
    const int32_t NNEE = (y > 1 && x + 2 < w) ? v(2, -2) : NEE;
    const int32_t WWW = x > 2 ? v(-3, 0) : WW;
    const int32_t NNN = y > 2 ? v(0, -3) : NN;
    const int32_t NWWW = (y > 0 && x > 2) ? v(-3, -1) : NWW;
    const int32_t NEEE = (y > 0 && x + 3 < w) ? v(3, -1) : NEE;
    nb[0] = W; nb[1] = N; nb[2] = NW; nb[3] = NE; nb[4] = WW; nb[5] = NN; nb[6] = NWW; nb[7] = NNW;
    nb[8] = NNE; nb[9] = NEE; nb[10] = NNWW; nb[11] = NNEE; nb[12] = WWW; nb[13] = NNN; nb[14] = NWWW;
    nb[15] = NEEE;
  }

  int64_t w_;
  int p_;
  bool avx2_;
  const uint8_t* guide_ = nullptr;
  int64_t guide_rows_ = 0;
  int subs_ = kSub - 1;
  bool started_ = false;
  int64_t y_ = 0, x_ = 0;
  int c_ = 0;
  bool inside_ = false;  // inside() at (y_, x_)
  int32_t offset_ = 0;
  int32_t maxv_[kMaxPlanes] = {255, 255, 255};
  std::vector<int32_t> img_[kMaxPlanes];     // transformed values, 4-row ring
  std::vector<int32_t> err_[kMaxPlanes];     // final errors (Q4), 4-row ring
  std::vector<int32_t> suberr_[kMaxPlanes];  // |errors| (Q4) of each sub-predictor, 4-row ring
  WeightedPredictor wp_[kMaxPlanes];
  Nlms lms_[kMaxPlanes][2];
  std::vector<int32_t> bias_sum_[kMaxPlanes];
  std::vector<int32_t> bias_count_[kMaxPlanes];
  int32_t s2_weight_[kMaxPlanes][kMaxPlanes] = {};
  int32_t s2_in_[kMaxPlanes] = {};
  int32_t recip_[64];
  uint8_t energy_context_[kEnergyMax + 1];
  int32_t in_[padded8(kMaxIn)] = {};  // NLMS inputs; beyond the plane's count, stale values under zero weights
  int32_t sub_[kSub];
  int64_t norm_ = 0;
  int32_t blend_ = 0, pred_ = 0;
  int bias_ctx_ = 0;
  EngineOutput out_{};
};

}  // namespace lora_codec
