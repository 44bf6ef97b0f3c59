// Adaptive binary modelling, integer only (as in lpaq and paq8px): the logistic squash
// and stretch, adaptive probability counters in cache-line buckets, and gated online
// logistic mixers. Shared by the indexed mode's model (index_model.hpp) and the pixel
// streams' bit refinement (bit_refinement.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "simd.hpp"
#include "tables.hpp"

namespace lora_codec {
namespace binary {

// p = 4096 / (1 + e^-(d/256)), d in [-2047, 2047], by interpolation in a 33-entry table.
inline int squash(int d) {
  static constexpr int kTable[33] = {1,    2,    3,    6,    10,   16,   27,   45,   73,   120,  194,
                                     310,  488,  747,  1101, 1546, 2047, 2549, 2994, 3348, 3607, 3785,
                                     3901, 3975, 4024, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094};
  if (d > 2047) return 4095;
  if (d < -2047) return 1;
  const int w = d & 127;
  const int i = (d >> 7) + 16;
  return (kTable[i] * (128 - w) + kTable[i + 1] * w + 64) >> 7;
}

// p = 65536 / (1 + e^-(d/256)) for d in [-4096, 4096], from the codec's exact sigmoid
// table (tables.hpp: steps of 1/256 in the logit): the 16-bit, wide-range squash.
inline int squash16(int d) {
  const uint32_t q = tables::kSigmoid[std::clamp(d, -4096, 4096) + tables::kSigmoidHalf];
  return std::clamp<int>(static_cast<int>(q >> 14), 1, 65535);
}

// The inverse of squash16 on 16-bit probabilities: exact steps of 1/65536 in the tails
// (p < 4096 or p > 61440, 8 KB), steps of 1/4096 between them (8 KB), so both tables stay
// in the L1 cache.
class Stretch16Table {
 public:
  Stretch16Table() : tail_(4096), middle_(4096) {
    auto inverse = [](int p) {  // the smallest d with squash16(d) >= p
      int lo = -4096, hi = 4096;
      while (lo < hi) {
        const int mid = lo + ((hi - lo) >> 1);
        if (squash16(mid) >= p) hi = mid;
        else lo = mid + 1;
      }
      return lo;
    };
    for (int p = 0; p < 4096; ++p) tail_[p] = static_cast<int16_t>(inverse(p));
    for (int q = 0; q < 4096; ++q) middle_[q] = static_cast<int16_t>(inverse(q * 16 + 8));
  }
  int operator()(int p16) const {
    if (p16 < 4096) return tail_[p16];
    if (p16 > 61440) return -tail_[65536 - p16];
    return middle_[p16 >> 4];
  }

 private:
  std::vector<int16_t> tail_, middle_;
};

// The inverse of squash on 12-bit probabilities.
class StretchTable {
 public:
  StretchTable() {
    int pi = 0;
    for (int x = -2047; x <= 2047; ++x) {
      const int v = squash(x);
      for (int i = pi; i <= v; ++i) t_[i] = static_cast<int16_t>(x);
      pi = v + 1;
    }
    for (int i = pi; i < 4096; ++i) t_[i] = 2047;
  }
  int operator()(int p) const { return t_[p]; }

 private:
  std::array<int16_t, 4096> t_{};
};

// An adaptive probability of a 1 (16 bits) with a count that slows its rate to 1/(n+1.5).
struct Counter {
  uint16_t p = 32768;
  uint16_t n = 0;
};

class CounterRates {
 public:
  CounterRates() {
    for (int n = 0; n < 1024; ++n) r_[n] = static_cast<int32_t>(131072 / (2 * n + 3));
  }
  int32_t operator()(int n) const { return r_[n]; }

 private:
  std::array<int32_t, 1024> r_{};
};

inline void update_counter(Counter& c, int bit, int limit, const CounterRates& rate) {
  const int32_t target = bit ? 65535 : 0;
  const int32_t p = c.p;
  c.p = static_cast<uint16_t>(p + static_cast<int32_t>((int64_t{target - p} * rate(c.n)) >> 16));
  if (c.n < limit) ++c.n;
}

// 16 counters, the nodes of one 4-bit step of the index tree: one cache line.
struct alignas(64) Bucket {
  Counter c[16];
};

// n buckets in one block aligned to 2 MiB, which Linux is asked to back with huge pages:
// tables of many megabytes read at random then cost far fewer TLB misses and page
// faults. Only the memory's placement changes, never its contents.
class BucketTable {
 public:
  explicit BucketTable(size_t n) : n_(n) {
    constexpr size_t kHuge = size_t{1} << 21;
    const size_t bytes = (n * sizeof(Bucket) + kHuge - 1) / kHuge * kHuge;
    void* p = std::aligned_alloc(kHuge, bytes);
    if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(p, bytes, MADV_HUGEPAGE);  // a hint: without it the table still works
#endif
    data_.reset(static_cast<Bucket*>(p));
    std::uninitialized_fill_n(data_.get(), n, Bucket{});
  }
  Bucket& operator[](size_t i) { return data_[i]; }
  size_t size() const { return n_; }

 private:
  struct Free {
    void operator()(Bucket* p) const { std::free(p); }
  };
  size_t n_;
  std::unique_ptr<Bucket[], Free> data_;
};

inline uint32_t hash_values(const uint32_t* v, int n, uint32_t seed) {
  uint32_t h = seed * 0x9E3779B1u + 0x7F4A7C15u;
  for (int i = 0; i < n; ++i) {
    h ^= v[i] + 0x632BE5ABu;
    h *= 0x85EBCA6Bu;
    h ^= h >> 15;
  }
  return h;
}

inline constexpr int kMixerShift = 16;
inline constexpr int kMixerRate = 2;
inline constexpr int kMixerLearnShift = 12;
inline constexpr int32_t kMaxWeight = 1 << 22;

// An online logistic mixer of N stretched probabilities with `sets` weight vectors, one
// chosen per decision: p = squash(w . x >> 16), w += x * err * rate >> shift. Inputs are
// arrays of kStride entries, zero beyond N.
template <int N>
class Mixer {
 public:
  static constexpr int kStride = padded8(N);

  // `precise`: outputs in [-4095, 4095] through squash16 (else [-2047, 2047], squash).
  // `kernel`: kAvx2 runs the dot product and the update on AVX2 (the same integers).
  Mixer(int sets, int32_t initial = (1 << kMixerShift) / 4, int rate = kMixerRate,
        int learn_shift = kMixerLearnShift, bool precise = false, Kernel kernel = Kernel::kInt64)
      : sets_(sets), rate_(rate), shift_(learn_shift), limit_(precise ? 4095 : 2047), precise_(precise),
        avx2_(kernel == Kernel::kAvx2), w_(size_t(kStride) * sets, 0) {
    for (int s = 0; s < sets_; ++s)
      for (int i = 0; i < N; ++i) w_[size_t(s) * kStride + i] = initial;
  }

  // Sets input i's weight in every set (e.g. 1.0 = 1 << kMixerShift to start as that input).
  void set_weight(int i, int32_t w) {
    for (int s = 0; s < sets_; ++s) w_[size_t(s) * kStride + i] = w;
  }

  // The mixed prediction in the stretch domain (clamped to +-limit) of `x` under weight
  // set `set` (0 <= set < sets).
  int mix(const int* x, int set) {
    w_now_ = &w_[size_t(set) * kStride];
    const int64_t dot = simd::dot(w_now_, x, N, avx2_);
    int d = static_cast<int>(dot >> kMixerShift);
    d = std::clamp(d, -limit_, limit_);
    p16_ = precise_ ? squash16(d) : squash(d) << 4;
    return d;
  }

  // Learns the outcome of the last mixed decision (|x| <= 4096, so x * err fits in 32 bits).
  void update(const int* x, int bit) {
    const int err = (((bit << 16) - p16_) >> 4) * rate_;
    simd::mix_update(w_now_, x, N, err, 1 << (shift_ - 1), shift_, kMaxWeight, avx2_);
  }

 private:
  int sets_, rate_, shift_, limit_;
  bool precise_, avx2_;
  int p16_ = 32768;
  std::vector<int32_t> w_;
  int32_t* w_now_ = nullptr;
};

}  // namespace binary
}  // namespace lora_codec
