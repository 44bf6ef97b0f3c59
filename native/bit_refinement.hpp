// The online stage after the calibrated mixture, decision by decision (format v5).
//
// A sub-pixel x in [0, 256) is coded as 8 binary decisions, MSB first: at each node
// [lo, lo + 2h) of the tree, "is x >= lo + h?". The calibrated mixture gives each
// decision a probability from its cumulative frequencies,
//   p_model = (C(lo + 2h) - C(lo + h)) / (C(lo + 2h) - C(lo)),
// so coding the 8 decisions with p_model alone costs what coding x with C costs. The
// refinement mixes stretch(p_model) with adaptive counters found under contexts the
// network does not see (the exact values of the neighbours, of the earlier planes of the
// pixel and of the prediction), in two gated online logistic mixers that start as the
// identity on p_model (an adaptive probability map after them was tried and gained
// nothing). From format v11 the match model's prediction (match_model.hpp) is one more
// input of the mixers. A decision the model is nearly sure of (p_model beyond 8/65536 of 0 or 1) is
// coded with p_model as it is and not learned from. All integer; encoder and decoder
// update identical state.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "binary_models.hpp"
#include "predictor.hpp"

namespace lora_codec {

// What the refinement knows of a sub-pixel besides its distribution (values 0..255, -1
// where outside the image or not coded yet).
struct RefineContext {
  int plane = 0;
  int scale_bucket = 0;  // the calibration's log-scale bucket, 0..15
  int32_t pred = 0;      // the heaviest component's mean, rounded and clamped to 0..255
  int32_t w = -1, n = -1, nw = -1, ne = -1, ww = -1, nn = -1;
  int32_t earlier = -1;  // the previous plane's value at this pixel
  // Simple predictions of x from the neighbours (0..255): W + N - NW, 2N - NN, 2W - WW,
  // (W + NE) / 2, and the earlier plane's gradients carried over: W + E - E_W, N + E - E_N
  // and W + N - NW + E - (E_W + E_N - E_NW) (-1 on the first plane); then the online
  // engine's weighted predictor and first NLMS predictor (-1 without the engine).
  static constexpr int kPredictions = 9;
  int32_t predictions[kPredictions] = {};
  int32_t match = -1;  // the match model's prediction of x (-1: none; format v11)
  int match_length = 0;

  // The context of sub-pixel (i, j, c) of `v`, whose earlier sub-pixels are coded.
  static RefineContext of(const PlaneView& v, int64_t c, int64_t i, int64_t j, int32_t pred, int scale_bucket,
                          int hints, const int32_t* hint) {
    const bool inside = i >= 2 && j >= 2 && j + 1 < v.width;  // every sample below is in the image
    auto sample = [&](int64_t plane, int64_t di, int64_t dj, int32_t fallback) -> int32_t {
      const int64_t y = i - di, x = j + dj;
      if (!inside && (y < 0 || x < 0 || x >= v.width)) return fallback;
      return v.pixels[(y * v.width + x) * v.planes + plane];
    };
    RefineContext r;
    r.plane = static_cast<int>(c);
    r.scale_bucket = scale_bucket;
    r.pred = pred;
    r.w = sample(c, 0, -1, -1); r.n = sample(c, 1, 0, -1); r.nw = sample(c, 1, -1, -1);
    r.ne = sample(c, 1, 1, -1); r.ww = sample(c, 0, -2, -1); r.nn = sample(c, 2, 0, -1);
    r.earlier = c > 0 ? sample(c - 1, 0, 0, -1) : -1;
    auto known = [](int32_t a, int32_t b) { return a >= 0 ? a : b; };
    const int32_t w = known(r.w, known(r.n, 128)), n = known(r.n, w), nw = known(r.nw, n), ne = known(r.ne, n);
    const int32_t ww = known(r.ww, w), nn = known(r.nn, n);
    auto clip = [](int32_t x) { return std::clamp<int32_t>(x, 0, 255); };
    r.predictions[0] = clip(w + n - nw);
    r.predictions[1] = clip(2 * n - nn);
    r.predictions[2] = clip(2 * w - ww);
    r.predictions[3] = (w + ne + 1) >> 1;
    if (c > 0) {
      const int32_t ew = sample(c - 1, 0, -1, r.earlier), en = sample(c - 1, 1, 0, ew), enw = sample(c - 1, 1, -1, en);
      r.predictions[4] = clip(w + r.earlier - ew);
      r.predictions[5] = clip(n + r.earlier - en);
      r.predictions[6] = clip(w + n - nw + r.earlier - (ew + en - enw));
    } else {
      r.predictions[4] = r.predictions[5] = r.predictions[6] = -1;
    }
    for (int k = 0; k < MixtureParams::kHints; ++k) r.predictions[7 + k] = k < hints ? hint[k] : -1;
    return r;
  }
};

class BitRefinement {
 public:
  static constexpr int kContexts = 9;
  static constexpr int kInputs = kContexts + 3;  // + the model + a bias + the match model
  static constexpr int kCounterLimit = 60;
  static constexpr int kMinTableBits = 10, kMaxTableBits = 16;
  static constexpr int kMatchLimit = 255;
  static constexpr int kRate = 1;
  static constexpr int kLearnShift = 13;
  static constexpr int kLevels = 8;

  // `kernel` picks the mixers' vector code (every kernel gives the same integers).
  // Context tables of 2^table_bits buckets each (kMinTableBits..kMaxTableBits; format
  // v17 sizes them by the stream's sub-pixels, earlier versions always use the largest).
  explicit BitRefinement(int planes, Kernel kernel = Kernel::kInt64, int table_bits = kMaxTableBits)
      : by_level_(planes * kLevels * 5, 0, kRate, kLearnShift, true, kernel),
        by_scale_(planes * 16 * kLevels, 0, kRate, kLearnShift, true, kernel),
        mask_((uint32_t{1} << table_bits) - 1), tables_(make_tables(table_bits)) {
    by_level_.set_weight(0, 1 << binary::kMixerShift);
    by_scale_.set_weight(0, 1 << binary::kMixerShift);
  }

  // Codes x under the cumulative frequencies `cum` (x -> C(x), total 2^24, every symbol
  // at least 1), then learns from it.
  template <class Encoder, class Cumulative>
  void encode(Encoder& enc, Cumulative&& cum, const RefineContext& ctx, int32_t x) {
    walk(cum, ctx, [&](uint32_t p, int32_t mid) {
      const int bit = x >= mid;
      if (bit) enc.encode(0, p, 16);
      else enc.encode(p, 65536 - p, 16);
      return bit;
    });
  }

  template <class Decoder, class Cumulative>
  int32_t decode(Decoder& dec, Cumulative&& cum, const RefineContext& ctx) {
    return walk(cum, ctx, [&](uint32_t p, int32_t) { return dec.decode_bit(p, 16); });
  }

  // Optional, before the network runs for the sub-pixel whose context is `ctx` (but for its
  // prediction and scale bucket, not known yet): hashes the contexts that do not need them
  // and fetches their buckets while the network computes. The next encode() or decode()
  // must be for that sub-pixel; its bytes are the same with or without this call.
  void prepare(const RefineContext& ctx) {
    hash_contexts(ctx, true);
    prepared_ = true;
  }

 private:
  static constexpr int kTotalBits = 24;
  static constexpr uint32_t kSure = 8;  // of 65536: beyond this, p_model is used as it is

  // The 8 decisions from the root, each coded by `code_bit(p, split)`, which returns the
  // decision; returns the value reached, x. `cum` is called once per decision, at the
  // split, so it has seen both ends of [x, x + 1) except 0 and 256.
  template <class Cumulative, class CodeBit>
  int32_t walk(Cumulative&& cum, const RefineContext& ctx, CodeBit&& code_bit) {
    begin(ctx);
    int32_t lo = 0;
    uint32_t clo = 0, chi = uint32_t{1} << kTotalBits;
    for (int level = 0; level < kLevels; ++level) {
      if (level == 3) {  // the low nibble's buckets: one of two, fetched ahead
        prefetch(static_cast<uint32_t>(1 + (lo >> 4)));
        prefetch(static_cast<uint32_t>(1 + (lo >> 4) + 1));
      }
      if (level == 4) locate(static_cast<uint32_t>(1 + (lo >> 4)));
      const int32_t mid = lo + (128 >> level);
      const uint32_t cmid = cum(mid);
      const int bit = code_bit(predict(level, lo, clo, cmid, chi), mid);
      learn(bit);
      if (bit) { lo = mid; clo = cmid; } else { chi = cmid; }
    }
    return lo;
  }

  // The context hashes that do not depend on the network's prediction (all but number 1),
  // from `c`; with `fetch`, their first buckets are asked of the memory.
  void hash_contexts(const RefineContext& c, bool fetch) {
    const uint32_t pl = static_cast<uint32_t>(c.plane);
    auto v = [](int32_t x) { return static_cast<uint32_t>(x + 1); };
    const uint32_t keys[kContexts][3] = {
        {pl, v(c.predictions[4]), v(c.predictions[5])},
        {},  // number 1, keyed on the prediction: hashed in begin()
        {pl, v(c.predictions[1])},
        {pl, v(c.predictions[0])},
        {pl, v(c.predictions[3])},
        {pl, v(c.predictions[2])},
        {pl, v(c.predictions[6])},
        {pl, v(c.predictions[7])},
        {pl, v(c.predictions[8])},
    };
    static constexpr int kLengths[kContexts] = {3, 0, 2, 2, 2, 2, 2, 2, 2};
    for (int i = 0; i < kContexts; ++i) {
      if (i == 1) continue;
      hashes_[i] = binary::hash_values(keys[i], kLengths[i], 100u + i);
      if (fetch) __builtin_prefetch(&tables_[i][slot(i, 0)]);
    }
  }

  void begin(const RefineContext& c) {
    ctx_ = c;
    if (!prepared_) hash_contexts(c, false);
    prepared_ = false;
    const uint32_t key1[3] = {static_cast<uint32_t>(c.plane), static_cast<uint32_t>(c.earlier + 1),
                              static_cast<uint32_t>(c.pred + 1)};
    hashes_[1] = binary::hash_values(key1, 3, 101u);
    locate(0);
  }

  // The buckets of the 4-decision step `step` (0: the high nibble; 1 + h: the low nibble
  // under high nibble h), fetched ahead of their use.
  void locate(uint32_t step) {
    for (int i = 0; i < kContexts; ++i) {
      bucket_[i] = &tables_[i][slot(i, step)];
      __builtin_prefetch(bucket_[i]);
    }
  }

  // Asks the memory for step `step`'s buckets before the walk knows it needs them (a hint
  // only: nothing is read or written).
  void prefetch(uint32_t step) {
    for (int i = 0; i < kContexts; ++i) __builtin_prefetch(&tables_[i][slot(i, step)]);
  }

  size_t slot(int i, uint32_t step) const {
    const uint32_t h = (hashes_[i] ^ (step * 0x2545F491u)) * 0x9E3779B1u;
    return (h >> 7) & mask_;
  }

  // P(decision = 1) in 16 bits, 1..65535.
  uint32_t predict(int level, int32_t lo, uint32_t clo, uint32_t cmid, uint32_t chi) {
    const uint64_t model = ((uint64_t{chi - cmid} << 16) + ((chi - clo) >> 1)) / (chi - clo);
    const uint32_t p_model = static_cast<uint32_t>(std::clamp<uint64_t>(model, 1, 65535));
    if (p_model < kSure || p_model > 65536 - kSure) {
      sure_ = true;
      return p_model;
    }
    sure_ = false;
    const int nibble = level >> 2;
    node_ = (1 << (level & 3)) | ((lo >> (8 - (level & 3) - 4 * nibble)) & ((1 << (level & 3)) - 1));
    inputs_[0] = stretch16_(static_cast<int>(p_model));
    for (int i = 0; i < kContexts; ++i) {
      const int p = std::clamp(bucket_[i]->c[node_].p >> 4, 1, 4095);
      inputs_[1 + i] = stretch_(p);
    }
    inputs_[kContexts + 1] = 256;
    // The match model's prediction, for the decisions whose interval holds it: the
    // probability that it is right, by match length and level (0 without a match, so that
    // files before format v11 code as they did: no weight moves with a zero input).
    inputs_[kContexts + 2] = 0;
    expected_ = -1;
    if (ctx_.match >= lo && ctx_.match < lo + 2 * (128 >> level)) {
      expected_ = ctx_.match >= lo + (128 >> level);
      match_slot_ = std::min(ctx_.match_length, 15) * kLevels + level;
      const int p = std::clamp(match_counters_[match_slot_].p >> 4, 1, 4095);
      inputs_[kContexts + 2] = expected_ ? stretch_(p) : -stretch_(p);
    }
    const int set = ctx_.plane * kLevels + level;
    // Where the prediction lies against the split, in half-widths: (pred - lo - half) /
    // half, clamped to -2..2. The quotient is a shift (floor instead of the division's
    // truncation only differs below zero, where the clamp gives -2 either way).
    const int half = 128 >> level, rel = std::clamp(((ctx_.pred - lo - half + (half << 2)) >> (7 - level)) - 4, -2, 2) + 2;
    const int d = (by_level_.mix(inputs_.data(), set * 5 + rel) +
                   by_scale_.mix(inputs_.data(), (ctx_.plane * 16 + ctx_.scale_bucket) * kLevels + level)) >> 1;
    return static_cast<uint32_t>(binary::squash16(d));
  }

  void learn(int bit) {
    if (sure_) return;
    for (int i = 0; i < kContexts; ++i) binary::update_counter(bucket_[i]->c[node_], bit, kCounterLimit, rates_);
    if (expected_ >= 0) binary::update_counter(match_counters_[match_slot_], bit == expected_, kMatchLimit, rates_);
    by_level_.update(inputs_.data(), bit);
    by_scale_.update(inputs_.data(), bit);
  }

  static std::array<binary::BucketTable, kContexts> make_tables(int table_bits) {
    if (table_bits < kMinTableBits || table_bits > kMaxTableBits) throw std::invalid_argument("table_bits");
    auto make = [table_bits] { return binary::BucketTable(size_t{1} << table_bits); };
    return {make(), make(), make(), make(), make(), make(), make(), make(), make()};
  }

  binary::Mixer<kInputs> by_level_, by_scale_;
  uint32_t mask_;
  std::array<binary::BucketTable, kContexts> tables_;
  std::array<uint32_t, kContexts> hashes_{};
  std::array<binary::Bucket*, kContexts> bucket_{};
  std::array<int, binary::Mixer<kInputs>::kStride> inputs_{};  // zero beyond kInputs
  binary::StretchTable stretch_;
  binary::Stretch16Table stretch16_;
  binary::CounterRates rates_;
  RefineContext ctx_;
  int node_ = 1;
  int expected_ = -1, match_slot_ = 0;  // the match model's bit for this decision (-1: none), its counter
  std::array<binary::Counter, 16 * kLevels> match_counters_{};
  bool sure_ = false;
  bool prepared_ = false;
};

}  // namespace lora_codec
