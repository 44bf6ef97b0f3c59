// Match models (format v11): repeated content predicted by where it occurred before.
//
// `MatchPointer` is the mechanism both match models share: a table of positions keyed by
// the hash of a position's causal neighbourhood. Before each position the caller says
// whether the last prediction was right: if so the pointer moves on by one position, so
// a copy of earlier content is predicted position after position, else the match ends.
// With no match on, the table entry of this position's hash starts one at the position
// it holds; the entry is then set to this position. The pointer only ever names
// positions already coded. Integer only; encoder and decoder update identical state.
//
// `PixelMatch` is the pixel streams' model (read by the bit refinement): a pixel's
// neighbours W, WW, N, NW and NE, all planes, exact values. Mode indexed's model is in
// index_model.hpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "predictor.hpp"

namespace lora_codec {

class MatchPointer {
 public:
  // A table of 2^table_bits positions (1 <= table_bits <= 31).
  explicit MatchPointer(int table_bits) : bits_(table_bits) {}

  // Moves on to position `pos`: `last_right` says whether the previous position was as
  // predicted (ignored with no match on).
  void follow(bool last_right) {
    if (pointer_ < 0) return;
    if (last_right) {
      ++pointer_;
      length_ = std::min(length_ + 1, 1 << 16);
    } else {
      pointer_ = -1;
      length_ = 0;
    }
  }

  // Position `pos`, whose neighbourhood hashes to `hash` (its top bits index the table).
  void look_up(uint32_t hash, int64_t pos) {
    if (table_.empty()) table_.assign(size_t{1} << bits_, 0);
    const size_t slot = hash >> (32 - bits_);
    if (pointer_ < 0 && table_[slot] != 0) pointer_ = static_cast<int64_t>(table_[slot]) - 1;
    table_[slot] = static_cast<uint32_t>(pos + 1);
  }

  int64_t pointer() const { return pointer_; }  // the predicting position, -1 for none
  int length() const { return length_; }        // how many positions it has been right for

 private:
  int bits_;
  std::vector<uint32_t> table_;  // position + 1 (0: empty), allocated on first use
  int64_t pointer_ = -1;
  int length_ = 0;
};

class PixelMatch {
 public:
  static constexpr int kTableBits = 18;

  // The predicted value of sub-pixel (i, j, c) of `v` (-1: no match), and in `*length` the
  // number of pixels the match has been right for. Sub-pixels are asked in coding order
  // (plane 0 first), so the state moves on at plane 0.
  int32_t predict(const PlaneView& v, int64_t c, int64_t i, int64_t j, int* length) {
    if (c == 0) step(v, i * v.width + j, i, j);
    *length = match_.length();
    return match_.pointer() >= 0 ? v.pixels[match_.pointer() * v.planes + c] : -1;
  }

 private:
  void step(const PlaneView& v, int64_t pos, int64_t i, int64_t j) {
    const int64_t planes = v.planes;
    const int64_t p = match_.pointer();
    match_.follow(p >= 0 && std::equal(v.pixels + (pos - 1) * planes, v.pixels + pos * planes, v.pixels + p * planes));
    if (i < 1 || j < 2 || j + 1 >= v.width) return;  // the neighbours must all be in the stripe
    uint32_t h = 0x811C9DC5u;  // FNV-1a over the neighbours' values
    for (int64_t q : {pos - 1, pos - 2, pos - v.width, pos - v.width - 1, pos - v.width + 1})
      for (int64_t k = 0; k < planes; ++k) h = (h ^ v.pixels[q * planes + k]) * 0x01000193u;
    match_.look_up((h ^ (h >> 15)) * 0x2C1B3C6Du, pos);
  }

  MatchPointer match_{kTableBits};
};

}  // namespace lora_codec
