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
#include <vector>

#include "predictor.hpp"

namespace lora_codec {

// The k x k patch of (i, j), channel-major then row, column (the weights' order), zero
// outside the image, into `out`.
template <class T>
inline void gather_patch(const int32_t* x, int64_t channels, int64_t height, int64_t width, int64_t k, int64_t i,
                         int64_t j, T* out) {
  const int64_t r = k / 2, plane = height * width;
  const bool inside = i >= r && i + r < height && j >= r && j + r < width;
  int64_t n = 0;
  for (int64_t c = 0; c < channels; ++c) {
    const int32_t* xc = x + c * plane;
    for (int64_t di = -r; di <= r; ++di) {
      const int64_t y = i + di;
      if (inside) {
        const int32_t* row = xc + y * width + j - r;
        for (int64_t t = 0; t < k; ++t) out[n++] = static_cast<T>(row[t]);
        continue;
      }
      for (int64_t dj = -r; dj <= r; ++dj) {
        const int64_t xx = j + dj;
        out[n++] = (y < 0 || y >= height || xx < 0 || xx >= width) ? T{0} : static_cast<T>(xc[y * width + xx]);
      }
    }
  }
}

// `kernel` picks the vector code (every kernel gives the same integers). With int16
// operands the outputs go through matvec16 (predictor.hpp) in blocks of up to 64, one
// patch per pixel; otherwise, or under the int64 kernel, through int64 products.
inline void conv_layer(const int32_t* x, int64_t channels, int64_t height, int64_t width, const int32_t* w,
                       int64_t outputs, int64_t k, const int64_t* bias, int shift, int64_t lo, int64_t hi,
                       int32_t* out, Kernel kernel = Kernel::kInt64) {
  using namespace detail;
  if (k < 1 || k % 2 == 0 || shift < 0 || shift > 62) throw std::invalid_argument("bad convolution shape or shift");
  const int64_t patch = channels * k * k, plane = height * width;
  const bool narrow_ok =
      kernel != Kernel::kInt64 &&
      std::all_of(x, x + channels * plane, [](int32_t v) { return v >= -kNarrowMax && v <= kNarrowMax; }) &&
      std::all_of(w, w + outputs * patch, [](int32_t v) { return v >= -32767 && v <= 32767; });
  auto emit = [&](int64_t o, int64_t at, int64_t acc) {
    const int64_t v = shift == 0 ? acc : floor_shift(acc + (int64_t{1} << (shift - 1)), shift);
    out[o * plane + at] = static_cast<int32_t>(std::clamp(v, lo, hi));
  };
  if (!narrow_ok) {
    std::vector<int32_t> p32(static_cast<size_t>(patch), 0);
    for (int64_t i = 0; i < height; ++i)
      for (int64_t j = 0; j < width; ++j) {
        gather_patch(x, channels, height, width, k, i, j, p32.data());
        for (int64_t o = 0; o < outputs; ++o)
          emit(o, i * width + j, bias[o] + dot_scalar(w + o * patch, p32.data(), static_cast<int>(patch)));
      }
    return;
  }
#if defined(LORA_CODEC_AVX2_KERNELS)
  const bool wide = kernel == Kernel::kAvx2;
#else
  const bool wide = false;
#endif
  // The input as int16, channels last, with a zero border of r: a pixel's patch is then k
  // runs of k * channels contiguous values, and the weights are reordered to match (the
  // sum is the same integer in any order).
  const int64_t r = k / 2, padded_width = width + 2 * r, run = k * channels;
  std::vector<int16_t> xs(static_cast<size_t>((height + 2 * r) * padded_width * channels), 0);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t i = 0; i < height; ++i)
      for (int64_t j = 0; j < width; ++j)
        xs[static_cast<size_t>(((i + r) * padded_width + j + r) * channels + c)] =
            static_cast<int16_t>(x[c * plane + i * width + j]);
  constexpr int64_t kBlock = 32;  // 4 groups of 8 rows: more would spill registers
  std::vector<PackedMatrix> blocks;
  for (int64_t o0 = 0; o0 < outputs; o0 += kBlock) {
    const int64_t rows = std::min(kBlock, outputs - o0);
    std::vector<int32_t> part(static_cast<size_t>(rows * patch));
    for (int64_t o = 0; o < rows; ++o)
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t di = 0; di < k; ++di)
          for (int64_t dj = 0; dj < k; ++dj)
            part[static_cast<size_t>(o * patch + di * run + dj * channels + c)] = w[(o0 + o) * patch + (c * k + di) * k + dj];
    blocks.push_back(pack_matrix(part, static_cast<int>(rows), static_cast<int>(patch), wide));
  }
  std::vector<int16_t> p16(static_cast<size_t>(padded(static_cast<int>(patch))), 0);  // zero-padded
  // One row of outputs at a time, channels last, then written out channel by channel:
  // storing straight into (O, H, W) would touch `outputs` lines a plane apart per pixel.
  std::vector<int64_t> row(static_cast<size_t>(width * outputs));
  for (int64_t i = 0; i < height; ++i) {
    for (int64_t j = 0; j < width; ++j) {
      for (int64_t di = 0; di < k; ++di)
        std::memcpy(p16.data() + di * run, xs.data() + ((i + di) * padded_width + j) * channels,
                    static_cast<size_t>(run) * sizeof(int16_t));
      for (size_t b = 0; b < blocks.size(); ++b)
        matvec16(blocks[b], p16.data(), row.data() + j * outputs + static_cast<int64_t>(b) * kBlock);
    }
    for (int64_t o = 0; o < outputs; ++o)
      for (int64_t j = 0; j < width; ++j) emit(o, i * width + j, bias[o] + row[static_cast<size_t>(j * outputs + o)]);
  }
}

}  // namespace lora_codec
