// The learned head over the online engine (model kind 1; see native/engine.hpp and
// lora_codec/models/engine_predictor.py for the training form).
//
// For each sub-pixel in coding order (G, R, B for colour; the caller permutes), the online
// engine predicts first; a two-stage integer network then reads the engine's predictions
// and error statistics, the causal neighbours relative to the engine's prediction, the
// earlier planes of the pixel and the UNet features (stage A: the mean), then its own
// recent absolute errors and local gradients (stage B: the shape), and gives the
// parameters of a logistic mixture. After the symbol is coded, the engine learns from it.
// Stage A reads no error of the network itself, so training evaluates it for all pixels
// in parallel.
// Encoder and decoder run the same integer code, so they compute identical integers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>

#include "engine.hpp"
#include "layout.hpp"
#include "predictor.hpp"

namespace lora_codec {

// The engine's outputs as network inputs for one sub-pixel: relative predictions in Q2.
inline void engine_inputs(const EngineOutput& o, int32_t* out) {
  auto rel = [&](int32_t p) { return static_cast<int32_t>(std::clamp<int64_t>(floor_shift(int64_t{p} - o.pred_q4, 2), -layout::kInputClamp, layout::kInputClamp)); };
  out[0] = rel(o.wp_q4);
  out[1] = rel(o.grad_q4);
  out[2] = rel(o.lms_q4[0]);
  out[3] = rel(o.lms_q4[1]);
  out[4] = rel(o.blend_q4);
  out[5] = o.energy >> 2;
  out[6] = static_cast<int32_t>(std::clamp<int64_t>(floor_shift(o.wp_maxerr, 1), -layout::kInputClamp, layout::kInputClamp));
}

// The fast path of EnginePredictor::predict reads neighbours and errors unchecked away
// from the borders: it relies on these extents of the generated layout.
constexpr bool within_two_rows_and_columns(const int (*offsets)[2], int n) {
  for (int k = 0; k < n; ++k)
    if (offsets[k][0] < -2 || offsets[k][0] > 0 || offsets[k][1] < -2 || offsets[k][1] > 2) return false;
  return true;
}
static_assert(within_two_rows_and_columns(layout::kNeighbourOffsets, layout::kNeighbours) &&
                  within_two_rows_and_columns(layout::kErrorOffsets, layout::kErrorNeighbours),
              "neighbours must lie at most 2 rows up and 2 columns aside");

class EnginePredictor {
 public:
  EnginePredictor(const PredictorWeights& w, int64_t width, int planes)
      : w_(w), engine_(width, planes, w.kernel), width_(width), planes_(planes) {}

  int64_t width() const { return width_; }
  int planes() const { return planes_; }

  // `ahead(c, i, j, hint)` is told of each sub-pixel and its engine hints before the
  // network runs for it (for prefetching; it may do nothing).
  template <class CodeFn, class StopFn, class AheadFn>
  void run(PlaneView& v, int64_t row0, int64_t row1, CodeFn&& code, StopFn&& stop, AheadFn&& ahead) {
    using namespace detail;
    MixtureParams params;
    engine_.attach_guide(v.guide, v.height);
    for (int64_t i = row0; i < row1; ++i) {
      if (stop()) return;
      for (int64_t j = 0; j < v.width; ++j) {
        int32_t cross_a[4 * kMaxPlanes], cross_b[kMaxPlanes], same[kMaxPlanes];
        for (int64_t c = 0; c < v.planes; ++c) {
          const EngineOutput& o = engine_.predict(i, j, static_cast<int>(c), same);
          params.hints = MixtureParams::kHints;
          params.hint[0] = std::clamp<int32_t>((o.wp_q4 + 8) >> 4, 0, 255);
          params.hint[1] = std::clamp<int32_t>((o.lms_q4[0] + 8) >> 4, 0, 255);
          ahead(c, i, j, params.hint);
          const int32_t mu = predict(v, i, j, c, o, cross_a, cross_b, params);
          const int32_t x = code(c, params, i, j);
          const int64_t idx = (i * v.width + j) * v.planes + c;
          v.pixels[idx] = static_cast<uint8_t>(x);
          engine_.update(x);
          same[c] = x;
          const int32_t e = static_cast<int32_t>(std::clamp<int64_t>(floor_shift(int64_t{x} * 16 - mu, 2), -layout::kInputClamp, layout::kInputClamp));
          v.errors[idx] = static_cast<int16_t>(e);
          cross_a[4 * c + 0] = static_cast<int32_t>(floor_shift(int64_t{x} * 16 - o.pred_q4, 2));
          cross_a[4 * c + 1] = (x - pixel(v, i, j - 1, c)) * 4;
          cross_a[4 * c + 2] = (x - pixel(v, i - 1, j, c)) * 4;
          cross_a[4 * c + 3] = e;
          cross_b[c] = iabs(e);
        }
      }
    }
  }

 private:
  // The mixture for plane c at (i, j); returns the mean mu (Q4).
  int32_t predict(const PlaneView& v, int64_t i, int64_t j, int64_t c, const EngineOutput& o,
                  const int32_t* cross_a, const int32_t* cross_b, MixtureParams& out) const {
    using namespace detail;
    const PlaneWeights& pw = w_.planes[c];
    const auto& off = layout::kNeighbourOffsets;
    // Every neighbour is at most 2 rows up and 2 columns aside: away from the borders,
    // read them without the bounds checks.
    const bool inside = i >= 2 && j >= 2 && j + 2 < v.width;
    auto index = [&](int64_t y, int64_t x) { return (y * v.width + x) * v.planes + c; };
    int32_t nb[kNeighbours];
    for (int k = 0; k < kNeighbours; ++k)
      nb[k] = inside ? v.pixels[index(i + off[k][0], j + off[k][1])] : pixel(v, i + off[k][0], j + off[k][1], c);
    const int32_t ref = o.pred_q4;
    int32_t in_a[kNeighbours + kEngineInputs + kMaxPlanes * 4 + 64];
    int n = 0;
    for (int k = 0; k < kNeighbours; ++k)
      in_a[n++] = static_cast<int32_t>(std::clamp<int64_t>(floor_shift(int64_t{nb[k]} * 16 - ref, 2), -layout::kInputClamp, layout::kInputClamp));
    engine_inputs(o, in_a + n);
    n += kEngineInputs;
    for (int k = 0; k < 4 * c; ++k) in_a[n++] = cross_a[k];
    const int16_t* f = v.features + ((i - v.feature_row0) * v.width + j) * w_.features;
    for (int k = 0; k < w_.features; ++k) in_a[n++] = f[k];

    int32_t h_a[64];
    const int32_t mu = mean_stage(pw, in_a, ref, h_a);

    int32_t in_b[64 + kErrorNeighbours + kGradients + kEngineStats + kMaxPlanes];
    n = 0;
    for (int h = 0; h < pw.hidden_a; ++h) in_b[n++] = h_a[h];
    for (const auto& e : layout::kErrorOffsets)
      in_b[n++] = iabs(inside ? v.errors[index(i + e[0], j + e[1])] : error(v, i + e[0], j + e[1], c));
    for (const auto& g : layout::kGradientIndex) in_b[n++] = iabs(nb[g[0]] - nb[g[1]]) * 4;
    in_b[n++] = o.energy >> 2;
    in_b[n++] = static_cast<int32_t>(std::min<int64_t>(iabs(static_cast<int32_t>(floor_shift(o.wp_maxerr, 1))), layout::kInputClamp));
    for (int k = 0; k < c; ++k) in_b[n++] = cross_b[k];

    shape_stage(pw, in_b, mu, out);
    return mu;
  }

  const PredictorWeights& w_;
  OnlineEngine engine_;
  int64_t width_;
  int planes_;
};

}  // namespace lora_codec
