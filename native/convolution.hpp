// Integer convolutions for the exact UNet decoder and the rc guide network.
//
// One layer: zero-padded k x k convolution ("same" size) of integer inputs (C, H, W) with
// integer weights (O, C, k, k), plus an integer bias, then floor((acc + 2^(s-1)) / 2^s)
// clamped to [lo, hi]. Every value is an integer, so the result is the same on every
// machine. When |x| <= 4095 and |w| <= 32767 the products go through the int16 chunks of
// predictor.hpp (dot16: 16 products sum exactly in int32); otherwise through int64.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "predictor.hpp"

namespace lora_codec {

inline void conv_layer(const int32_t* x, int64_t channels, int64_t height, int64_t width, const int32_t* w,
                       int64_t outputs, int64_t k, const int64_t* bias, int shift, int64_t lo, int64_t hi,
                       int32_t* out) {
  using namespace detail;
  if (k < 1 || k % 2 == 0 || shift < 0 || shift > 62) throw std::invalid_argument("bad convolution shape or shift");
  const int64_t r = k / 2, patch = channels * k * k;
  const int stride = padded(static_cast<int>(patch));
  bool narrow_ok = std::all_of(x, x + channels * height * width, [](int32_t v) { return v >= -kNarrowMax && v <= kNarrowMax; }) &&
                   std::all_of(w, w + outputs * patch, [](int32_t v) { return v >= -32767 && v <= 32767; });
  std::vector<int16_t> w16;
  if (narrow_ok) {
    w16.assign(static_cast<size_t>(outputs * stride), 0);
    for (int64_t o = 0; o < outputs; ++o)
      for (int64_t p = 0; p < patch; ++p) w16[static_cast<size_t>(o * stride + p)] = static_cast<int16_t>(w[o * patch + p]);
  }
  std::vector<int16_t> p16(static_cast<size_t>(stride), 0);
  std::vector<int32_t> p32(static_cast<size_t>(patch), 0);
  const int64_t plane = height * width;
  for (int64_t i = 0; i < height; ++i) {
    for (int64_t j = 0; j < width; ++j) {
      int64_t n = 0;  // the patch, channel-major then row, column (the weights' order)
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t di = -r; di <= r; ++di)
          for (int64_t dj = -r; dj <= r; ++dj, ++n) {
            const int64_t y = i + di, xx = j + dj;
            const int32_t v = (y < 0 || y >= height || xx < 0 || xx >= width) ? 0 : x[c * plane + y * width + xx];
            if (narrow_ok) p16[static_cast<size_t>(n)] = static_cast<int16_t>(v);
            else p32[static_cast<size_t>(n)] = v;
          }
      for (int64_t o = 0; o < outputs; ++o) {
        int64_t acc = bias[o];
        if (narrow_ok) {
          acc += dot16(&w16[static_cast<size_t>(o * stride)], p16.data(), stride);
        } else {
          for (int64_t p = 0; p < patch; ++p) acc += int64_t{w[o * patch + p]} * p32[static_cast<size_t>(p)];
        }
        const int64_t v = shift == 0 ? acc : floor_shift(acc + (int64_t{1} << (shift - 1)), shift);
        out[o * plane + i * width + j] = static_cast<int32_t>(std::clamp(v, lo, hi));
      }
    }
  }
}

}  // namespace lora_codec
