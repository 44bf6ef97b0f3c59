// The online stage after the network's mixture: per-context calibration of the CDF.
//
// The learned head gives a distribution for every sub-pixel; on a given image it may be
// too wide, too narrow or skewed. If it were right, the probability integral transform
// u = F(x) of the coded values (randomised over each value's interval) would be uniform.
// This stage keeps, per context, a histogram of u in kBins bins, updated after every
// coded sub-pixel with the interval [F(x - 1/2), F(x + 1/2)) spread over the bins it
// covers, and codes with the composed CDF G(F(x)), where G is the histogram's piecewise
// linear CDF. A prior of equal counts makes G the identity at the start; counts are
// halved when they pass a limit, so G follows the image. G is non-decreasing and maps
// 0 to 0 and 2^30 to 2^30, so the composed CDF is a valid one for the coder.
// Everything is integer; encoder and decoder update identical state.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "distributions.hpp"

namespace lora_codec {

// floor(n / d) for n < 2^53 and 0 < d < 2^32 by one multiplication, exactly: with
// l = ceil(log2 d) and m = ceil(2^(53 + l) / d), 2^(53 + l) <= m d <= 2^(53 + l) + 2^l, so
// floor(n m / 2^(53 + l)) = floor(n / d) for every n < 2^53 (Granlund and Montgomery 1994,
// theorem 4.2). Without a 128-bit type it divides.
class Divisor {
 public:
  Divisor() = default;
  explicit Divisor(uint32_t d) : d_(d) {
#if defined(__SIZEOF_INT128__)
    shift_ = 53 + (d <= 1 ? 0 : 32 - __builtin_clz(d - 1));  // 53 + ceil(log2 d)
    const unsigned __int128 p = static_cast<unsigned __int128>(1) << shift_;
    m_ = static_cast<uint64_t>((p + d - 1) / d);  // < 2^54
#endif
  }
  uint64_t divide(uint64_t n) const {
#if defined(__SIZEOF_INT128__)
    return static_cast<uint64_t>((static_cast<unsigned __int128>(n) * m_) >> shift_);
#else
    return n / d_;
#endif
  }

 private:
  uint64_t d_ = 1, m_ = 0;
  int shift_ = 53;
};

class CdfCalibration {
 public:
  static constexpr int kBinBits = 5;
  static constexpr int kBins = 1 << kBinBits;
  static constexpr int kBinShift = 30 - kBinBits;  // Q30 -> bin index
  static constexpr uint32_t kUnit = 1u << 12;       // the mass one coded value adds
  static constexpr uint32_t kPrior = kUnit * 2;     // per bin, at the start and as a floor
  static constexpr uint32_t kLimit = kUnit * 1024;  // halve the counts above this total
  static constexpr int kScaleBuckets = 16;

  explicit CdfCalibration(int planes) : ctx_(static_cast<size_t>(planes) * kScaleBuckets) {
    for (auto& c : ctx_) {
      c.count.fill(kPrior);
      c.rebuild();
    }
  }

  // The context of a sub-pixel: its plane and the log-scale (Q4) of the heaviest component.
  static int context(int plane, int32_t log_scale_q4) {
    const int64_t b = std::clamp<int64_t>(floor_shift(int64_t{log_scale_q4} + 32, 3), 0, kScaleBuckets - 1);  // e^-2 .. e^6 in half steps
    return plane * kScaleBuckets + static_cast<int>(b);
  }

  // G(f) for f in [0, 2^30], Q30.
  uint64_t map(int ctx, uint64_t f_q30) const {
    const Context& c = ctx_[static_cast<size_t>(ctx)];
    if (f_q30 >= (uint64_t{1} << 30)) return uint64_t{1} << 30;
    const uint64_t b = f_q30 >> kBinShift, frac = f_q30 & ((uint64_t{1} << kBinShift) - 1);
    // cum <= kLimit + kUnit < 2^23, scaled by 2^25: e < 2^48, then times 2^kBinBits.
    const uint64_t e = (uint64_t{c.cum[b]} << kBinShift) + uint64_t{c.count[b]} * frac;
    return c.total.divide(e << kBinBits);
  }

  // Learns from a coded value whose uncalibrated interval was [lo, hi) (Q30, lo < hi).
  void update(int ctx, uint64_t lo, uint64_t hi) {
    Context& c = ctx_[static_cast<size_t>(ctx)];
    if (hi <= lo) {  // an interval the tables cannot resolve: all its mass at lo
      lo = std::min<uint64_t>(lo, (uint64_t{1} << 30) - 1);
      hi = lo + 1;
    }
    const uint64_t width = hi - lo;
    const int b0 = static_cast<int>(lo >> kBinShift);
    const int b1 = static_cast<int>(std::min<uint64_t>((hi - 1) >> kBinShift, kBins - 1));
    uint32_t given = 0;
    for (int b = b0; b <= b1; ++b) {
      const uint64_t start = std::max<uint64_t>(lo, uint64_t{static_cast<uint32_t>(b)} << kBinShift);
      const uint64_t end = std::min<uint64_t>(hi, uint64_t{static_cast<uint32_t>(b) + 1} << kBinShift);
      const uint32_t add = static_cast<uint32_t>((end - start) * kUnit / width);  // < 2^42 before the division
      c.count[b] += add;
      given += add;
    }
    c.count[static_cast<int>(std::min<uint64_t>(((lo + hi) >> 1) >> kBinShift, kBins - 1))] += kUnit - given;
    c.rebuild();
    if (c.cum[kBins] > kLimit) {
      for (auto& n : c.count) n = std::max(n >> 1, kPrior);
      c.rebuild();
    }
  }

 private:
  struct Context {
    std::array<uint32_t, kBins> count;
    std::array<uint32_t, kBins + 1> cum;
    Divisor total;  // cum[kBins]
    void rebuild() {
      cum[0] = 0;
      for (int b = 0; b < kBins; ++b) cum[b + 1] = cum[b] + count[b];
      total = Divisor(cum[kBins]);
    }
  };
  std::vector<Context> ctx_;
};

// A mixture seen through the calibration of one context: the coder's cumulative
// frequencies C(x) = x + floor(G(F(x - 1/2)) * (2^24 - A) / 2^30), as for the mixture alone.
struct CalibratedMixture {
  const LogisticMixture& mix;
  const CdfCalibration& cal;
  int ctx;
  int64_t alphabet;

  uint64_t raw_q30(int64_t x) const {  // F(x - 1/2), with the tails in the end symbols
    if (x <= 0) return 0;
    if (x >= alphabet) return uint64_t{1} << 30;
    return mix.cdf_q30(x * 16 - 8);
  }
  uint32_t cumulative(int64_t x) const {
    if (x <= 0) return 0;
    if (x >= alphabet) return uint32_t{1} << kMixturePrecision;
    return from_raw(x, raw_q30(x));
  }
  // C(x) for 0 < x < alphabet, given raw = raw_q30(x).
  uint32_t from_raw(int64_t x, uint64_t raw) const {
    const uint64_t spare = (uint64_t{1} << kMixturePrecision) - alphabet;
    return static_cast<uint32_t>(x + ((cal.map(ctx, raw) * spare) >> 30));
  }
};

// The calibrated cumulative frequencies of a sub-pixel (alphabet 256), keeping the
// uncalibrated CDF at every point asked (0 and 256 filled in): a coder asks at both ends
// of the coded value's interval, and the calibration's update needs the CDF there, so it
// is not evaluated twice.
struct RecordingCdf {
  static constexpr int64_t kAlphabet = 256;
  CalibratedMixture m;
  uint64_t raw[kAlphabet + 1];
  RecordingCdf(const LogisticMixture& mix, const CdfCalibration& cal, int ctx) : m{mix, cal, ctx, kAlphabet} {
    raw[0] = 0;
    raw[kAlphabet] = uint64_t{1} << 30;
  }
  uint32_t operator()(int64_t s) { return m.from_raw(s, raw[s] = m.raw_q30(s)); }  // 0 <= s <= 256
};

// Codes x in [0, 256) under the calibrated mixture of context ctx, then lets the context
// learn from it.
template <class Encoder>
inline void encode_calibrated(Encoder& enc, const LogisticMixture& mix, CdfCalibration& cal, int ctx, int64_t x) {
  RecordingCdf cum{mix, cal, ctx};
  const uint32_t lo = cum(x), hi = cum(x + 1);
  enc.encode(lo, hi - lo, kMixturePrecision);
  cal.update(ctx, cum.raw[x], cum.raw[x + 1]);
}

template <class Decoder>
inline int64_t decode_calibrated(Decoder& dec, const LogisticMixture& mix, CdfCalibration& cal, int ctx) {
  RecordingCdf cum{mix, cal, ctx};
  const uint32_t v = dec.peek(kMixturePrecision);
  uint32_t lo, hi;
  const int64_t x = find_symbol(v, RecordingCdf::kAlphabet, mix.guess(RecordingCdf::kAlphabet), cum, lo, hi);
  dec.consume(lo, hi - lo);
  cal.update(ctx, cum.raw[x], cum.raw[x + 1]);
  return x;
}

}  // namespace lora_codec
