// Online context mixing for a plane of palette indexes (mode "indexed", format v5).
//
// Images of few colours (charts, text, screenshots, GIF-like palettes) are coded as one
// plane of indexes into their palette. Each index is coded MSB first as a path through a
// binary tree; every binary decision is predicted by adaptive counters found in hashed
// tables under several contexts of the causal neighbours' indexes, and the counters'
// stretched probabilities are combined by a gated online logistic mixer (as in lpaq and
// paq8px) and refined by an adaptive probability map. Everything is integer arithmetic
// on a fixed schedule, so the encoder and decoder stay in lockstep on every machine.
//
// From format v11 a match model joins them (as in lpaq and paq8px): the last earlier pixel
// whose 8 nearest causal neighbours were this one's predicts its index, and the pixels
// after it the next indexes for as long as they are right. The prediction is one more
// mixer input, through counters by match length, and its state picks the second mixer's
// weights. Repeated glyphs, icons and patches then cost little.
//
// Tree branches that lead only to indexes >= the palette size are never coded, so a
// decoder can never produce an index outside the palette.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <vector>

#include "binary_models.hpp"
#include "match_model.hpp"

namespace lora_codec {
namespace index_model {

using binary::Bucket;
using binary::Counter;
using binary::CounterRates;
using binary::Mixer;
using binary::StretchTable;
using binary::hash_values;
using binary::squash;
using binary::update_counter;

inline constexpr int kContexts = 16;
inline constexpr int kInputs = kContexts + 2;  // + a bias input + the match model's
inline constexpr int kCounterLimit = 255;
// The mixers' starting weight of every input, in 32nds of 1.0: 8 (1/4) in formats v5 to
// v17, 3 from v18, which lets the first few hundred decisions of a small image lean less
// on counters that have seen little (16 x 16 icons' indexes 11 % smaller).
inline constexpr int kMixerStartV5 = 8, kMixerStart = 3, kMaxMixerStart = 32;

// Predicts the binary decisions of each index in raster order; `set_pixel` before the
// first decision of a pixel, then `p1` / `update` per decision.
class IndexModel {
 public:
  // `match`: with the match model (format v11+). Without it the model is format v5's
  // exactly: the match input stays 0, so no weight moves, and the second mixer's weights
  // are chosen as before. `mixer_start`: the mixers' starting weights in 32nds
  // (kMixerStartV5 or kMixerStart, 0..kMaxMixerStart).
  IndexModel(int64_t width, int64_t height, int colours, bool match, int mixer_start = kMixerStart)
      : width_(width), colours_(colours), mixer_a_(16 * 16, start_weight(mixer_start)),
        mixer_b_(16 * 6 * 3, start_weight(mixer_start)), match_(match),
        matches_(table_bits(width * height) + 2) {
    bits_ = 0;
    while ((1 << bits_) < colours) ++bits_;
    table_mask_ = (uint32_t{1} << table_bits(width * height)) - 1;
    for (auto& t : tables_) t.assign(size_t{table_mask_} + 1, Bucket{});
    apm_.resize(size_t{kApmContexts} * 33);
    for (int c = 0; c < kApmContexts; ++c)
      for (int j = 0; j < 33; ++j) apm_[size_t(c) * 33 + j] = static_cast<uint16_t>(squash((j - 16) * 128) * 16);
  }

  // Bits coded per index (0 for a one-colour palette).
  int bits() const { return bits_; }

  // Sets the contexts of pixel (y, x) from the indexes already coded in `plane`.
  void set_pixel(const uint16_t* plane, int64_t y, int64_t x) {
    const uint32_t none = 0xFFFF;
    auto at = [&](int64_t dy, int64_t dx) -> uint32_t {
      const int64_t yy = y - dy, xx = x + dx;
      if (yy < 0 || xx < 0 || xx >= width_) return none;
      return plane[yy * width_ + xx];
    };
    const uint32_t w = at(0, -1), n = at(1, 0), nw = at(1, -1), ne = at(1, 1), ww = at(0, -2), nn = at(2, 0),
                   nne = at(2, 1), nww = at(1, -2), nnw = at(2, -1), nee = at(1, 2), www = at(0, -3),
                   nnn = at(3, 0);
    auto clampi = [&](int64_t v) -> uint32_t {
      return static_cast<uint32_t>(v < 0 ? 0 : v >= colours_ ? colours_ - 1 : v);
    };
    auto val = [&](uint32_t v) -> int64_t { return v == none ? 0 : int64_t{v}; };
    const uint32_t grad = clampi(val(w) + val(n) - val(nw));
    const uint32_t ctx[kContexts][10] = {
        {0},
        {w},
        {n},
        {w, n},
        {w, n, nw},
        {w, n, ne},
        {w, n, nw, ne},
        {w, n, nw, ne, ww, nn},
        {n, ne, nn, nne, nee},
        {w, ww, nw, nww, www},
        {w, n, nw, ne, ww, nn, nne, nww, nnw, nee},
        {grad},
        {grad, w == n, n == ne, w == nw},
        {n, nn, nnn, w},
        {w >> 2, n >> 2, nw >> 2, ne >> 2},
        {clampi(val(w) + val(ne) - val(n)), static_cast<uint32_t>((val(w) + val(n) + 1) >> 1)},
    };
    static constexpr int kLengths[kContexts] = {1, 1, 1, 2, 3, 3, 4, 6, 5, 5, 10, 1, 4, 4, 4, 2};
    for (int i = 0; i < kContexts; ++i) hashes_[i] = hash_values(ctx[i], kLengths[i], static_cast<uint32_t>(i + 1));
    const int eq = (w == n) | ((n == nw) << 1) | ((n == ne) << 2) | ((w == ww) << 3);
    mixer_select_ = eq;
    distinct_ = 1 + (n != w) + (nw != w && nw != n) + (ne != w && ne != n && ne != nw) + (w == none);
    apm_select_ = w == none ? 0 : static_cast<int>(w & 63) + 1;
    prefix_ = 1;
    done_ = 0;
    if (match_) find_match(plane, y * width_ + x, {w, ww, www, n, nw, ne, nn, nee});
  }

  // True when the next decision can only be 0 (its 1-branch holds no palette index).
  bool forced_zero() const {
    const int remaining = bits_ - done_ - 1;
    const uint32_t value_prefix = (prefix_ << 1 | 1) ^ (uint32_t{1} << (done_ + 1));
    return (int64_t{value_prefix} << remaining) >= colours_;
  }

  // Passes a decision that forced_zero() says is 0; nothing is learned from it.
  void skip_zero() {
    if (done_ % 4 == 0) enter_step();
    node_ = node_ * 2;
    prefix_ = prefix_ * 2;
    ++done_;
  }

  // The probability (12 bits, 1..4095) that the next decision is a 1.
  int p1() {
    if (done_ % 4 == 0) enter_step();
    for (int i = 0; i < kContexts; ++i) {
      const Counter& c = bucket_[i]->c[node_];
      int p = c.p >> 4;
      p = p < 1 ? 1 : p > 4095 ? 4095 : p;
      inputs_[i] = stretch_(p);
    }
    inputs_[kContexts] = 256;
    expected_ = -1;
    inputs_[kContexts + 1] = 0;
    if (match_value_ >= 0 && (static_cast<uint32_t>(match_value_) >> (bits_ - done_) | (uint32_t{1} << done_)) == prefix_) {
      expected_ = (match_value_ >> (bits_ - 1 - done_)) & 1;
      match_slot_ = std::min(matches_.length(), 15) * 16 + (done_ & 15);
      int p = match_counters_[match_slot_].p >> 4;
      p = p < 1 ? 1 : p > 4095 ? 4095 : p;
      inputs_[kContexts + 1] = expected_ ? stretch_(p) : -stretch_(p);
    }
    const int state = expected_ < 0 ? 0 : (matches_.length() < 16 ? 1 : 2);  // 0 without the match model
    const int d = (mixer_a_.mix(inputs_.data(), mixer_select_ * 16 + done_) +
                   mixer_b_.mix(inputs_.data(), (state * 6 + distinct_) * 16 + done_)) >> 1;
    mixed_ = squash(d);
    // Adaptive probability map over (decision, W's index): interpolate between buckets.
    const int pos = (d + 2048) * 32;
    apm_low_ = pos >> 12;
    apm_w_ = pos & 4095;
    apm_ctx_ = ((apm_select_ * 16 + done_) % kApmContexts) * 33;
    const int refined = (apm_[apm_ctx_ + apm_low_] * (4096 - apm_w_) + apm_[apm_ctx_ + apm_low_ + 1] * apm_w_) >> 16;
    int p = (mixed_ + refined + 1) >> 1;
    return p < 1 ? 1 : p > 4095 ? 4095 : p;
  }

  // Learns the decision's outcome (after p1).
  void update(int bit) {
    for (int i = 0; i < kContexts; ++i) update_counter(bucket_[i]->c[node_], bit, kCounterLimit, rates_);
    mixer_a_.update(inputs_.data(), bit);
    mixer_b_.update(inputs_.data(), bit);
    if (expected_ >= 0) update_counter(match_counters_[match_slot_], bit == expected_, kCounterLimit, rates_);
    const int target = bit ? 65535 : 0;
    uint16_t& a = apm_[apm_ctx_ + apm_low_ + (apm_w_ >> 11)];
    a = static_cast<uint16_t>(a + ((target - a) >> 6));
    node_ = node_ * 2 + bit;
    prefix_ = prefix_ * 2 + static_cast<uint32_t>(bit);
    ++done_;
  }

 private:
  static int32_t start_weight(int mixer_start) {
    if (mixer_start < 0 || mixer_start > kMaxMixerStart) throw std::invalid_argument("mixer_start");
    return mixer_start * ((int32_t{1} << binary::kMixerShift) / 32);
  }

  // At each 4-bit step of the tree: the buckets of the step's nodes under every context.
  void enter_step() {
    const uint32_t step_key = prefix_ * 0x2545F491u + static_cast<uint32_t>(done_);
    for (int i = 0; i < kContexts; ++i) {
      const uint32_t h = (hashes_[i] ^ step_key) * 0x9E3779B1u;
      bucket_[i] = &tables_[i][(h >> 7) & table_mask_];
    }
    node_ = 1;
  }

  static constexpr int kApmContexts = 65 * 16;

  // The context tables' size: 2^8 to 2^18 buckets, about one for every two pixels.
  static int table_bits(int64_t pixels) {
    int bits = 8;
    while (bits < 18 && (int64_t{1} << bits) < pixels / 2) ++bits;
    return bits;
  }

  // The match model (match_model.hpp): the last earlier pixel whose causal neighbourhood
  // `key` was the same as this one's predicts this pixel's index.
  void find_match(const uint16_t* plane, int64_t pos, std::initializer_list<uint32_t> key) {
    const int64_t p = matches_.pointer();
    matches_.follow(p >= 0 && plane[pos - 1] == plane[p]);
    matches_.look_up(hash_values(key.begin(), static_cast<int>(key.size()), 99u), pos);
    match_value_ = matches_.pointer() >= 0 ? plane[matches_.pointer()] : -1;
  }

  int64_t width_;
  int colours_;
  int bits_;
  uint32_t table_mask_;
  std::array<std::vector<Bucket>, kContexts> tables_;
  std::array<uint32_t, kContexts> hashes_{};
  std::array<Bucket*, kContexts> bucket_{};
  std::array<int, Mixer<kInputs>::kStride> inputs_{};  // zero beyond kInputs
  Mixer<kInputs> mixer_a_, mixer_b_;
  std::vector<uint16_t> apm_;
  StretchTable stretch_;
  CounterRates rates_;
  int mixer_select_ = 0, distinct_ = 0, apm_select_ = 0, mixed_ = 2048;
  int apm_low_ = 0, apm_w_ = 0, apm_ctx_ = 0;
  uint32_t prefix_ = 1;
  int node_ = 1, done_ = 0;
  bool match_;
  MatchPointer matches_;
  int match_value_ = -1, expected_ = -1, match_slot_ = 0;
  std::array<Counter, 256> match_counters_{};
};

}  // namespace index_model
}  // namespace lora_codec
