// Online context mixing for the low bits of 16-bit samples (mode "deep", format v13; smaller
// tables from v15).
//
// A 16-bit image is coded as its high image (its top 8 significant bits, an 8-bit image
// the learned model codes) and the K <= 8 bits below them. The high image is decoded
// first, so when a sample's low bits are coded its own high bits are known, and so are
// the high bits of every sample after it and the full values of the samples before it
// (raster order, planes interleaved). Predictions of the full value (MED, with the
// neighbours' errors as a bias, the gradient, N, W, the earlier plane's error carried
// over, midpoints towards the next samples' high bits) are placed against the interval that the low bits decided so far leave; those
// positions are the contexts of adaptive counters, mixed online by a gated logistic mixer.
// The bits are coded MSB first. Everything is integer arithmetic on a fixed schedule.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "binary_models.hpp"

namespace lora_codec {
namespace low_bits {

using binary::Counter;
using binary::CounterRates;
using binary::Mixer;
using binary::StretchTable;
using binary::hash_values;
using binary::squash;
using binary::update_counter;

inline constexpr int kMaxBits = 8;
inline constexpr int kPredictions = 12;
inline constexpr int kContexts = 15;
inline constexpr int kInputs = kContexts + 1;  // + a bias input
inline constexpr int kCounterLimit = 255;
// The counter tables' largest size: 2^kTableBits entries each (format v15; v13 and v14: 2^20).
// Fifteen tables of 2^16 four-byte counters (4 MiB) stay in the caches far better than
// fifteen of 2^20 (60 MiB), for a stream 0.004 % larger on 16-bit photographs.
inline constexpr int kTableBits = 16;
inline constexpr int kTableBitsV13 = 20;

// Predicts the low bits of each sample in coding order: `set_sample` before the first
// decision of a sample, then `p1` / `update` per decision, `bits` decisions a sample.
class LowBitsModel {
 public:
  // `max_table_bits`: kTableBits, or kTableBitsV13 for the streams of format v13 and v14.
  LowBitsModel(int64_t width, int64_t height, int planes, int bits, int max_table_bits)
      : width_(width), height_(height), planes_(planes), bits_(bits), mixer_(kMaxBits * 4 * 4), mixer_b_(kMaxBits * 10 * 10) {
    int table_bits = 12;
    while (table_bits < max_table_bits && (int64_t{1} << table_bits) < width * height * planes * bits / 4) ++table_bits;
    mask_ = (uint32_t{1} << table_bits) - 1;
    for (auto& t : tables_) t.assign(size_t{mask_} + 1, Counter{});
    errors_.assign(size_t(2 * width * planes), 0);
  }

  // Sets the predictions for plane c of pixel (y, x) from `high` (all decoded) and the
  // samples of `low` before it in coding order.
  void set_sample(const uint8_t* high, const uint8_t* low, int64_t y, int64_t x, int c) {
    const int64_t unit = int64_t{1} << bits_;
    base_ = int64_t{high[(y * width_ + x) * planes_ + c]} << bits_;
    const Neighbours a = neighbours(high, low, y, x, c);
    const int64_t med = median_predictor(a);
    // the earlier plane's error at this pixel, carried over
    const int64_t carried = c > 0 ? med + error(y, x, c - 1) : (a.w + a.n + 1) >> 1;
    auto centre = [&](int64_t dy, int64_t dx, int64_t otherwise) {
      const int64_t yy = y + dy, xx = x + dx;
      if (yy >= height_ || xx >= width_) return otherwise;
      return (int64_t{high[(yy * width_ + xx) * planes_ + c]} << bits_) + unit / 2;
    };
    predictions_ = {med,
                    a.w + a.n - a.nw,
                    a.n,
                    a.w,
                    (a.w + a.ne + 1) >> 1,
                    carried,
                    (a.w + centre(0, 1, a.w) + 1) >> 1,
                    (a.n + centre(1, 0, a.n) + 1) >> 1,
                    2 * a.n - a.nn,
                    2 * a.w - a.ww,
                    med + ((error(y, x - 1, c) + error(y - 1, x, c)) >> 1),
                    (a.w + a.n + centre(0, 1, a.w) + centre(1, 0, a.n) + 2) >> 2};
    med_ = med;
    slot_ = ((y & 1) * width_ + x) * planes_ + c;

    const int64_t texture = std::abs(a.w - a.nw) + std::abs(a.n - a.nw) + std::abs(a.n - a.ne);
    texture_ = texture < unit ? 0 : texture < 4 * unit ? 1 : texture < 16 * unit ? 2 : 3;
    plane_ = c;
    prefix_ = 0;
    done_ = 0;
  }

  // The probability (12 bits, 1..4095) that the next decision is a 1.
  int p1() {
    const int shift = bits_ - done_ - 1;  // the decision splits [lo, lo + 2^(shift+1)) at mid
    const int64_t mid = base_ + (int64_t{prefix_} << (shift + 1)) + (int64_t{1} << shift);
    std::array<uint32_t, kPredictions> q{};
    for (int i = 0; i < kPredictions; ++i)
      q[i] = static_cast<uint32_t>(std::clamp<int64_t>(((predictions_[i] - mid) * 2) >> shift, -5, 4) + 5);
    const uint32_t step = static_cast<uint32_t>(done_ * 4 + plane_);
    const uint32_t ctx[kContexts][4] = {
        {step, q[0]}, {step, q[1]}, {step, q[2]}, {step, q[3]}, {step, q[4]}, {step, q[5]},
        {step, q[6]}, {step, q[7]}, {step, q[8], q[9]}, {step, q[0], q[2], q[3]},
        {step, q[0], static_cast<uint32_t>(texture_)}, {step, q[6], q[7]},
        {step, q[10]}, {step, q[11]}, {step, q[10], q[11]},
    };
    static constexpr int kLengths[kContexts] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 4, 3, 3, 2, 2, 3};
    for (int i = 0; i < kContexts; ++i) {
      counter_[i] = &tables_[i][hash_values(ctx[i], kLengths[i], static_cast<uint32_t>(i + 1)) & mask_];
      int p = counter_[i]->p >> 4;
      p = p < 1 ? 1 : p > 4095 ? 4095 : p;
      inputs_[i] = stretch_(p);
    }
    inputs_[kContexts] = 256;
    const int d = (mixer_.mix(inputs_.data(), (done_ * 4 + texture_) * 4 + plane_) +
                   mixer_b_.mix(inputs_.data(), (done_ * 10 + static_cast<int>(q[0])) * 10 + static_cast<int>(q[6]))) >> 1;
    const int p = squash(d);
    return p < 1 ? 1 : p > 4095 ? 4095 : p;
  }

  // Learns the decision's outcome (after p1).
  void update(int bit) {
    for (int i = 0; i < kContexts; ++i) update_counter(*counter_[i], bit, kCounterLimit, rates_);
    mixer_.update(inputs_.data(), bit);
    mixer_b_.update(inputs_.data(), bit);
    prefix_ = prefix_ * 2 + static_cast<uint32_t>(bit);
    if (++done_ == bits_) errors_[slot_] = static_cast<int32_t>(base_ + prefix_ - med_);
  }

 private:
  struct Neighbours {
    int64_t w, n, nw, ne, ww, nn;
  };

  // The causal neighbours' full values in plane c; outside the image, the nearest of
  // them that exists (and the middle of the sample's own high interval at the start).
  Neighbours neighbours(const uint8_t* high, const uint8_t* low, int64_t y, int64_t x, int c) const {
    auto full = [&](int64_t dy, int64_t dx) -> int64_t {
      const int64_t yy = y - dy, xx = x + dx;
      if (yy < 0 || xx < 0 || xx >= width_) return -1;
      const int64_t i = (yy * width_ + xx) * planes_ + c;
      return int64_t{high[i]} << bits_ | low[i];
    };
    Neighbours a{full(0, -1), full(1, 0), full(1, -1), full(1, 1), full(0, -2), full(2, 0)};
    const int64_t own = (int64_t{high[(y * width_ + x) * planes_ + c]} << bits_) + (int64_t{1} << bits_) / 2;
    if (a.w < 0) a.w = a.n >= 0 ? a.n : own;
    if (a.n < 0) a.n = a.w;
    if (a.nw < 0) a.nw = a.n;
    if (a.ne < 0) a.ne = a.n;
    if (a.ww < 0) a.ww = a.w;
    if (a.nn < 0) a.nn = a.n;
    return a;
  }

  // The median predictor's error at (y, x) in plane c (rows y and y - 1 are kept), or 0
  // outside the image.
  int64_t error(int64_t y, int64_t x, int c) const {
    if (y < 0 || x < 0 || x >= width_) return 0;
    return errors_[size_t(((y & 1) * width_ + x) * planes_ + c)];
  }

  static int64_t median_predictor(const Neighbours& a) {
    const int64_t lo = std::min(a.w, a.n), hi = std::max(a.w, a.n);
    return a.nw >= hi ? lo : a.nw <= lo ? hi : a.w + a.n - a.nw;
  }

  int64_t width_, height_;
  int planes_, bits_;
  uint32_t mask_;
  std::array<std::vector<Counter>, kContexts> tables_;
  std::array<Counter*, kContexts> counter_{};
  std::array<int, Mixer<kInputs>::kStride> inputs_{};  // zero beyond kInputs
  Mixer<kInputs> mixer_, mixer_b_;
  StretchTable stretch_;
  CounterRates rates_;
  std::array<int64_t, kPredictions> predictions_{};
  std::vector<int32_t> errors_;  // the median predictor's errors, rows y and y - 1
  int64_t base_ = 0, med_ = 0, slot_ = 0;
  int texture_ = 0, plane_ = 0, done_ = 0;
  uint32_t prefix_ = 0;
};

}  // namespace low_bits
}  // namespace lora_codec
