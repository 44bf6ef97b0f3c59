// Integer convolutions for the exact UNet decoder and the rc guide network.
//
// One layer: zero-padded k x k convolution ("same" size) of integer inputs (C, H, W) with
// integer weights (O, C, k, k), plus an integer bias, then floor((acc + 2^(s-1)) / 2^s)
// clamped to [lo, hi]. Every value is an integer, so the result is the same on every
// machine. When |x| <= 4095 and |w| <= 32767 the products go through the int16 matrix
// kernels of predictor.hpp (at most 16 products sum in an int32 lane); otherwise through
// int64.
#pragma once

#include <algorithm>
#include <cstring>
#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "predictor.hpp"

namespace lora_codec {

// The input (C, H, W) as type T, channels last, with a zero border of r on every side: a
// pixel's k x k patch is then k runs of k * C contiguous values.
template <class T>
inline std::vector<T> channels_last_padded(const int32_t* x, int64_t channels, int64_t height, int64_t width,
                                           int64_t r) {
  const int64_t padded_width = width + 2 * r;
  std::vector<T> xs(static_cast<size_t>((height + 2 * r) * padded_width * channels), T{0});
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t i = 0; i < height; ++i)
      for (int64_t j = 0; j < width; ++j)
        xs[static_cast<size_t>(((i + r) * padded_width + j + r) * channels + c)] =
            static_cast<T>(x[(c * height + i) * width + j]);
  return xs;
}

// The weights (O, C, k, k) in the patches' order (O, k, k, C); the sums are the same
// integers in any order.
inline std::vector<int32_t> weights_channels_last(const int32_t* w, int64_t outputs, int64_t channels, int64_t k) {
  const int64_t patch = channels * k * k;
  std::vector<int32_t> out(static_cast<size_t>(outputs * patch));
  for (int64_t o = 0; o < outputs; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t di = 0; di < k; ++di)
        for (int64_t dj = 0; dj < k; ++dj)
          out[static_cast<size_t>(o * patch + (di * k + dj) * channels + c)] = w[o * patch + (c * k + di) * k + dj];
  return out;
}

// `kernel` picks the vector code (every kernel gives the same integers). With int16
// operands (and a kernel other than int64) the outputs go through matvec16 (predictor.hpp)
// in blocks of up to 32; otherwise through int64 products. Both read each pixel's patch
// from the channels-last copy of the input and buffer a row of outputs, which are then
// written plane by plane: storing straight into (O, H, W) would touch `outputs` lines a
// plane apart for every pixel.
inline void conv_layer(const int32_t* x, int64_t channels, int64_t height, int64_t width, const int32_t* w,
                       int64_t outputs, int64_t k, const int64_t* bias, int shift, int64_t lo, int64_t hi,
                       int32_t* out, Kernel kernel = Kernel::kInt64) {
  using namespace detail;
  if (k < 1 || k % 2 == 0 || shift < 0 || shift > 62) throw std::invalid_argument("bad convolution shape or shift");
  const int64_t patch = channels * k * k, plane = height * width, r = k / 2, padded_width = width + 2 * r;
  const int64_t run = k * channels;
  const bool narrow_ok =
      kernel != Kernel::kInt64 &&
      std::all_of(x, x + channels * plane, [](int32_t v) { return v >= -kNarrowMax && v <= kNarrowMax; }) &&
      std::all_of(w, w + outputs * patch, [](int32_t v) { return v >= -32767 && v <= 32767; });
  const std::vector<int32_t> ordered = weights_channels_last(w, outputs, channels, k);
  std::vector<int64_t> row(static_cast<size_t>(width * outputs));

  // Runs `sums(patch, acc)` on every pixel's patch (acc: that pixel's `outputs` sums),
  // then writes the rounded, clamped outputs of each row.
  auto convolve = [&](const auto& xs, auto& buffer, auto&& sums) {
    using T = typename std::decay_t<decltype(xs)>::value_type;
    for (int64_t i = 0; i < height; ++i) {
      for (int64_t j = 0; j < width; ++j) {
        for (int64_t di = 0; di < k; ++di)
          std::memcpy(buffer.data() + di * run, xs.data() + ((i + di) * padded_width + j) * channels,
                      static_cast<size_t>(run) * sizeof(T));
        sums(buffer.data(), row.data() + j * outputs);
      }
      for (int64_t o = 0; o < outputs; ++o)
        for (int64_t j = 0; j < width; ++j) {
          const int64_t acc = bias[o] + row[static_cast<size_t>(j * outputs + o)];
          const int64_t v = shift == 0 ? acc : floor_shift(acc + (int64_t{1} << (shift - 1)), shift);
          out[o * plane + i * width + j] = static_cast<int32_t>(std::clamp(v, lo, hi));
        }
    }
  };

  if (!narrow_ok) {
    const std::vector<int32_t> xs = channels_last_padded<int32_t>(x, channels, height, width, r);
    std::vector<int32_t> p32(static_cast<size_t>(patch));
    convolve(xs, p32, [&](const int32_t* p, int64_t* acc) {
      for (int64_t o = 0; o < outputs; ++o) acc[o] = dot_scalar(ordered.data() + o * patch, p, static_cast<int>(patch));
    });
    return;
  }
#if defined(LORA_CODEC_AVX2_KERNELS)
  const bool wide = kernel == Kernel::kAvx2;
#else
  const bool wide = false;
#endif
  constexpr int64_t kBlock = 32;  // 4 groups of 8 rows: more would spill registers
  std::vector<PackedMatrix> blocks;
  for (int64_t o0 = 0; o0 < outputs; o0 += kBlock) {
    const int64_t rows = std::min(kBlock, outputs - o0);
    const std::vector<int32_t> part(ordered.begin() + o0 * patch, ordered.begin() + (o0 + rows) * patch);
    blocks.push_back(pack_matrix(part, static_cast<int>(rows), static_cast<int>(patch), wide));
  }
  const std::vector<int16_t> xs = channels_last_padded<int16_t>(x, channels, height, width, r);
  std::vector<int16_t> p16(static_cast<size_t>(padded(static_cast<int>(patch))), 0);  // zero-padded for matvec16
  convolve(xs, p16, [&](const int16_t* p, int64_t* acc) {
    for (size_t b = 0; b < blocks.size(); ++b) matvec16(blocks[b], p, acc + static_cast<int64_t>(b) * kBlock);
  });
}

}  // namespace lora_codec
