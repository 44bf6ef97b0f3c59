// The coding loops, with no Python in them: symbol streams under logistic mixtures or CDF
// tables, and pixel streams under the causal predictors. bindings.cpp wraps exactly these
// for Python, and selftest/selftest.cpp runs exactly these under the sanitizers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "bit_refinement.hpp"
#include "calibration.hpp"
#include "distributions.hpp"
#include "engine_predictor.hpp"
#include "index_model.hpp"
#include "low_bits_model.hpp"
#include "match_model.hpp"
#include "predictor.hpp"
#include "range_coder.hpp"

namespace lora_codec {

// n symbols, each under its own K-component mixture (parameters row-major, n x K).
inline std::vector<uint8_t> encode_mixtures(const int32_t* symbols, int64_t n, int k, const int32_t* means,
                                            const int32_t* log_scales, const int32_t* logits, int64_t alphabet) {
  RangeEncoder enc;
  LogisticMixture mix;
  for (int64_t i = 0; i < n; ++i) {
    mix.set(k, means + i * k, log_scales + i * k, logits + i * k);
    encode_mixture_symbol(enc, mix, symbols[i], alphabet);
  }
  return enc.finish_framed();
}

// Decodes n symbols into `out`; stops at the first sign of corruption. Returns corrupt.
inline bool decode_mixtures(const uint8_t* data, size_t size, bool framed, int64_t n, int k, const int32_t* means,
                            const int32_t* log_scales, const int32_t* logits, int64_t alphabet, int32_t* out) {
  RangeDecoder dec(parse_stream(data, size, framed));
  LogisticMixture mix;
  std::fill(out, out + n, 0);
  for (int64_t i = 0; i < n && !dec.corrupt(); ++i) {
    mix.set(k, means + i * k, log_scales + i * k, logits + i * k);
    out[i] = static_cast<int32_t>(decode_mixture_symbol(dec, mix, alphabet));
  }
  return dec.corrupt();
}

// Symbol i under the CDF table cdfs[indexes[i]] (tables of `width` entries, total 2^prec).
inline std::vector<uint8_t> encode_tables(const int32_t* symbols, const int32_t* indexes, int64_t n,
                                          const int32_t* cdfs, int64_t width, int precision) {
  RangeEncoder enc;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t* cdf = cdfs + int64_t{indexes[i]} * width;
    enc.encode(cdf[symbols[i]], cdf[symbols[i] + 1] - cdf[symbols[i]], precision);
  }
  return enc.finish_framed();
}

inline bool decode_tables(const uint8_t* data, size_t size, bool framed, const int32_t* indexes, int64_t n,
                          const int32_t* cdfs, int64_t width, int precision, int32_t* out) {
  RangeDecoder dec(parse_stream(data, size, framed));
  std::fill(out, out + n, 0);
  for (int64_t i = 0; i < n && !dec.corrupt(); ++i) {
    const int32_t* cdf = cdfs + int64_t{indexes[i]} * width;
    const uint32_t v = dec.peek(precision);
    const int64_t x = find_in_table(cdf, width - 1, v);
    dec.consume(cdf[x], cdf[x + 1] - cdf[x]);
    out[i] = static_cast<int32_t>(x);
  }
  return dec.corrupt();
}

// The predictor of one image's pixel stream: stateless for kind 0; for kind 1 the online
// engine, made on the first band, keeps its state from band to band (so every band must
// have the first band's width and planes).
class StreamPredictor {
 public:
  explicit StreamPredictor(std::shared_ptr<const PredictorWeights> w) : w_(std::move(w)) {}

  template <class CodeFn, class StopFn, class AheadFn>
  void run(PlaneView& v, int64_t row0, int64_t row1, CodeFn&& code, StopFn&& stop, AheadFn&& ahead) {
    if (w_->kind == 0) {
      PixelPredictor(*w_).run(v, row0, row1, code, stop);
      return;
    }
    if (!engine_) {
      engine_ = std::make_unique<EnginePredictor>(*w_, v.width, static_cast<int>(v.planes));
    } else if (engine_->width() != v.width || engine_->planes() != v.planes) {
      throw std::invalid_argument("bands of one image must agree in width and planes");
    }
    engine_->run(v, row0, row1, code, stop, ahead);
  }

  const PredictorWeights& weights() const { return *w_; }

 private:
  std::shared_ptr<const PredictorWeights> w_;
  std::unique_ptr<EnginePredictor> engine_;
};

// The distribution a pixel stream codes each sub-pixel with: the predictor's mixture,
// through the online CDF calibration when `calibrate` (format v4), then decision by
// decision through the bit refinement when `refine` (format v5; needs `calibrate`), which
// also reads the match model's prediction when `match` (format v11; needs `refine`).
// Encoder and decoder share it, so both sides update the online stages identically.
class PixelDistribution {
 public:
  PixelDistribution(const PredictorWeights& w, bool calibrate, bool refine, bool match,
                    int table_bits = BitRefinement::kMaxTableBits)
      : w_(w), calibrate_(calibrate || refine), refine_(refine), match_(match && refine), table_bits_(table_bits) {}

  template <class Encoder>
  void encode(Encoder& enc, int64_t c, const MixtureParams& p, const PlaneView& v, int64_t i, int64_t j, int32_t x) {
    set(c, p, v.planes);
    if (ref_) {
      RecordingCdf cum{mix_, *cal_, context(c, p)};
      ref_->encode(enc, cum, refine_context(cum.m.ctx, p, v, c, i, j), x);
      cal_->update(cum.m.ctx, cum.raw[x], cum.raw[x + 1]);
    } else if (cal_) {
      encode_calibrated(enc, mix_, *cal_, context(c, p), x);
    } else {
      encode_mixture_symbol(enc, mix_, x, 256);
    }
  }

  // Before the network runs for sub-pixel (i, j, c), whose engine hints are `hint`: lets the
  // refinement fetch its tables early (the bytes do not depend on it).
  void ahead(int64_t c, const PlaneView& v, int64_t i, int64_t j, const int32_t* hint) {
    if (!refine_) return;
    early_ = RefineContext::of(v, c, i, j, 0, 0, MixtureParams::kHints, hint);
    has_early_ = true;
    refinement(v.planes).prepare(early_);
  }

  template <class Decoder>
  int32_t decode(Decoder& dec, int64_t c, const MixtureParams& p, const PlaneView& v, int64_t i, int64_t j) {
    set(c, p, v.planes);
    if (ref_) {
      RecordingCdf cum{mix_, *cal_, context(c, p)};
      const int32_t x = ref_->decode(dec, cum, refine_context(cum.m.ctx, p, v, c, i, j));
      cal_->update(cum.m.ctx, cum.raw[x], cum.raw[x + 1]);
      return x;
    }
    return static_cast<int32_t>(cal_ ? decode_calibrated(dec, mix_, *cal_, context(c, p))
                                     : decode_mixture_symbol(dec, mix_, 256));
  }

 private:
  void set(int64_t c, const MixtureParams& p, int64_t planes) {
    if (calibrate_ && !cal_) cal_ = std::make_unique<CdfCalibration>(static_cast<int>(planes));
    if (refine_) refinement(planes);
    mix_.set(w_.planes[c].components, p.mean, p.log_scale, p.logit);
  }
  // The refinement's state, made on first use (format v5 only).
  BitRefinement& refinement(int64_t planes) {
    if (!ref_) ref_ = std::make_unique<BitRefinement>(static_cast<int>(planes), w_.kernel, table_bits_);
    return *ref_;
  }
  int context(int64_t c, const MixtureParams& p) const {
    return CdfCalibration::context(static_cast<int>(c), p.log_scale[mix_.top]);
  }
  // The refinement's view of sub-pixel (i, j, c), in calibration context `ctx`.
  // (From ahead()'s context when there is one: the same but for the prediction and bucket.)
  RefineContext refine_context(int ctx, const MixtureParams& p, const PlaneView& v, int64_t c, int64_t i,
                               int64_t j) {
    const int32_t pred = static_cast<int32_t>(mix_.guess(256));
    const int bucket = ctx % CdfCalibration::kScaleBuckets;
    RefineContext r = has_early_ ? early_ : RefineContext::of(v, c, i, j, pred, bucket, p.hints, p.hint);
    has_early_ = false;
    r.pred = pred;
    r.scale_bucket = bucket;
    if (match_) r.match = matches_.predict(v, c, i, j, &r.match_length);
    return r;
  }

  const PredictorWeights& w_;
  bool calibrate_, refine_, match_;
  int table_bits_;  // the refinement's context tables: 2^table_bits_ buckets each
  LogisticMixture mix_;
  std::unique_ptr<CdfCalibration> cal_;
  std::unique_ptr<BitRefinement> ref_;
  RefineContext early_;     // ahead()'s context of the next sub-pixel
  PixelMatch matches_;      // format v11's match model
  bool has_early_ = false;
};

// Codes bands of rows of one colour group into a single range-coded stream.
class PixelStreamEncoder {
 public:
  PixelStreamEncoder(std::shared_ptr<const PredictorWeights> w, bool calibrate, bool refine = false,
                     bool match = false, int table_bits = BitRefinement::kMaxTableBits)
      : pred_(w), dist_(*w, calibrate, refine, match, table_bits) {}

  void code_rows(PlaneView& v, int64_t row0, int64_t row1) {
    pred_.run(
        v, row0, row1,
        [&](int64_t c, const MixtureParams& p, int64_t i, int64_t j) {
          const int32_t x = v.pixels[(i * v.width + j) * v.planes + c];
          dist_.encode(enc_, c, p, v, i, j, x);
          return x;
        },
        [] { return false; },
        [&](int64_t c, int64_t i, int64_t j, const int32_t* hint) { dist_.ahead(c, v, i, j, hint); });
  }

  std::vector<uint8_t> finish() { return enc_.finish_framed(); }

 private:
  StreamPredictor pred_;
  PixelDistribution dist_;
  RangeEncoder enc_;
};

// Decodes bands of rows, in the order they were encoded; stops within a row of the first
// sign of corruption (then `corrupt()` is true and the rest of the pixels are unset).
class PixelStreamDecoder {
 public:
  PixelStreamDecoder(std::shared_ptr<const PredictorWeights> w, std::vector<uint8_t> data, bool framed,
                     bool calibrate, bool refine = false, bool match = false,
                     int table_bits = BitRefinement::kMaxTableBits)
      : pred_(w), dist_(*w, calibrate, refine, match, table_bits), buf_(std::move(data)),
        dec_(parse_stream(buf_.data(), buf_.size(), framed)) {}

  void code_rows(PlaneView& v, int64_t row0, int64_t row1) {
    pred_.run(
        v, row0, row1,
        [&](int64_t c, const MixtureParams& p, int64_t i, int64_t j) { return dist_.decode(dec_, c, p, v, i, j); },
        [&] { return dec_.corrupt(); },
        [&](int64_t c, int64_t i, int64_t j, const int32_t* hint) { dist_.ahead(c, v, i, j, hint); });
  }

  bool corrupt() const { return dec_.corrupt(); }

 private:
  StreamPredictor pred_;
  PixelDistribution dist_;
  std::vector<uint8_t> buf_;
  RangeDecoder dec_;
};

// A plane of palette indexes (h x w, each < colours <= 65536) under the online context
// mixing model of index_model.hpp (mode "indexed", format v5).
inline std::vector<uint8_t> encode_indexes(const uint16_t* plane, int64_t h, int64_t w, int colours, bool match,
                                           int mixer_start = index_model::kMixerStart) {
  RangeEncoder enc;
  index_model::IndexModel model(w, h, colours, match, mixer_start);
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      const uint32_t v = plane[y * w + x];
      model.set_pixel(plane, y, x);
      for (int b = model.bits() - 1; b >= 0; --b) {
        const int bit = static_cast<int>((v >> b) & 1);
        if (model.forced_zero()) {
          model.skip_zero();
          continue;
        }
        const uint32_t p = static_cast<uint32_t>(model.p1());
        if (bit) enc.encode(0, p, 12);
        else enc.encode(p, 4096 - p, 12);
        model.update(bit);
      }
    }
  }
  return enc.finish_framed();
}

// Decodes into `plane` (h x w); stops at the first sign of corruption. Returns corrupt.
inline bool decode_indexes(const uint8_t* data, size_t size, int64_t h, int64_t w, int colours, bool match,
                           uint16_t* plane, int mixer_start = index_model::kMixerStart) {
  RangeDecoder dec(parse_stream(data, size, true));
  index_model::IndexModel model(w, h, colours, match, mixer_start);
  std::fill(plane, plane + h * w, uint16_t{0});
  for (int64_t y = 0; y < h && !dec.corrupt(); ++y) {
    for (int64_t x = 0; x < w; ++x) {
      model.set_pixel(plane, y, x);
      uint32_t v = 0;
      for (int b = model.bits() - 1; b >= 0; --b) {
        int bit = 0;
        if (model.forced_zero()) {
          model.skip_zero();
        } else {
          bit = dec.decode_bit(static_cast<uint32_t>(model.p1()), 12);
          model.update(bit);
        }
        v = v * 2 + static_cast<uint32_t>(bit);
      }
      plane[y * w + x] = static_cast<uint16_t>(v);
    }
  }
  return dec.corrupt();
}

// The low `bits` bits of an (h, w, planes) image of 16-bit samples, given its high part
// (mode "deep", format v13), under the online context mixing of low_bits_model.hpp.
inline std::vector<uint8_t> encode_low_bits(const uint8_t* high, const uint8_t* low, int64_t h, int64_t w,
                                            int planes, int bits, int table_bits = low_bits::kTableBits) {
  RangeEncoder enc;
  low_bits::LowBitsModel model(w, h, planes, bits, table_bits);
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      for (int c = 0; c < planes; ++c) {
        const uint32_t v = low[(y * w + x) * planes + c];
        model.set_sample(high, low, y, x, c);
        for (int b = bits - 1; b >= 0; --b) {
          const int bit = static_cast<int>((v >> b) & 1);
          const uint32_t p = static_cast<uint32_t>(model.p1());
          if (bit) enc.encode(0, p, 12);
          else enc.encode(p, 4096 - p, 12);
          model.update(bit);
        }
      }
    }
  }
  return enc.finish_framed();
}

// Decodes the low bits into `low` (h x w x planes); stops at the first sign of
// corruption. Returns corrupt.
inline bool decode_low_bits(const uint8_t* data, size_t size, const uint8_t* high, int64_t h, int64_t w,
                            int planes, int bits, uint8_t* low, int table_bits = low_bits::kTableBits) {
  RangeDecoder dec(parse_stream(data, size, true));
  low_bits::LowBitsModel model(w, h, planes, bits, table_bits);
  std::fill(low, low + h * w * planes, uint8_t{0});
  for (int64_t y = 0; y < h && !dec.corrupt(); ++y) {
    for (int64_t x = 0; x < w; ++x) {
      for (int c = 0; c < planes; ++c) {
        model.set_sample(high, low, y, x, c);
        uint32_t v = 0;
        for (int b = bits - 1; b >= 0; --b) {
          const int bit = dec.decode_bit(static_cast<uint32_t>(model.p1()), 12);
          model.update(bit);
          v = v * 2 + static_cast<uint32_t>(bit);
        }
        low[(y * w + x) * planes + c] = static_cast<uint8_t>(v);
      }
    }
  }
  return dec.corrupt();
}

}  // namespace lora_codec
