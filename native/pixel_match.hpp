// The pixel streams' match model (format v11): repeated patches of screen content.
//
// Before each pixel of a stripe, the hash of its causal neighbours W, WW, N, NW and NE (all
// planes, exact values) looks up the last earlier pixel of the stripe whose neighbours
// hashed the same, and the table then points to this pixel. That pixel's values predict
// this one's; while they keep being right, the pointer moves on with the pixels, so a copy
// of an earlier patch is predicted pixel after pixel (the match ends at the first wrong
// pixel, and a new one may be looked up at once). The bit refinement takes the prediction
// as one more input. Integer only; encoder and decoder update identical state, and the
// pointer only ever reads pixels already coded.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "predictor.hpp"

namespace lora_codec {

class PixelMatch {
 public:
  static constexpr int kTableBits = 18;

  // The predicted value of sub-pixel (i, j, c) of `v` (-1: no match), and in `*length` the
  // number of pixels the match has been right for. Sub-pixels are asked in coding order
  // (plane 0 first), so the state moves on at plane 0.
  int32_t predict(const PlaneView& v, int64_t c, int64_t i, int64_t j, int* length) {
    if (c == 0) step(v, i * v.width + j, i, j);
    *length = length_;
    return pointer_ >= 0 ? v.pixels[pointer_ * v.planes + c] : -1;
  }

 private:
  void step(const PlaneView& v, int64_t pos, int64_t i, int64_t j) {
    const int64_t planes = v.planes;
    if (table_.empty()) table_.assign(size_t{1} << kTableBits, 0);
    if (pointer_ >= 0) {  // the last pixel against its prediction
      if (std::equal(v.pixels + (pos - 1) * planes, v.pixels + pos * planes, v.pixels + pointer_ * planes)) {
        ++pointer_;
        length_ = std::min(length_ + 1, 1 << 16);
      } else {
        pointer_ = -1;
        length_ = 0;
      }
    }
    if (i < 1 || j < 2 || j + 1 >= v.width) return;  // the neighbours must all be in the stripe
    uint32_t h = 0x811C9DC5u;  // FNV-1a over the neighbours' values
    for (int64_t q : {pos - 1, pos - 2, pos - v.width, pos - v.width - 1, pos - v.width + 1})
      for (int64_t p = 0; p < planes; ++p) h = (h ^ v.pixels[q * planes + p]) * 0x01000193u;
    h = (h ^ (h >> 15)) * 0x2C1B3C6Du;
    const size_t slot = h >> (32 - kTableBits);
    if (pointer_ < 0 && table_[slot] != 0) pointer_ = static_cast<int64_t>(table_[slot]) - 1;
    table_[slot] = static_cast<uint32_t>(pos + 1);
  }

  std::vector<uint32_t> table_;  // pixel position + 1 (0: empty)
  int64_t pointer_ = -1;
  int length_ = 0;
};

}  // namespace lora_codec
