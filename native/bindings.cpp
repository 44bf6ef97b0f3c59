// Python bindings of the native coder (the only file that includes Python headers).
// Arguments are validated in lora_codec/entropy before they get here; the checks below
// only guard memory safety.
#include <cstdlib>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "coders.hpp"
#include "convolution.hpp"
#include "engine.hpp"

namespace py = pybind11;
using namespace lora_codec;

template <class T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

namespace {

py::bytes to_bytes(const std::vector<uint8_t>& v) {
  return py::bytes(reinterpret_cast<const char*>(v.data()), v.size());
}

void require(bool ok, const std::string& msg) {
  if (!ok) throw std::invalid_argument(msg);
}

py::bytes encode_mixture(Array<int32_t> symbols, Array<int32_t> means, Array<int32_t> log_scales,
                         Array<int32_t> logits, int64_t alphabet) {
  const int64_t n = symbols.size();
  require(means.ndim() == 2 && means.shape(0) == n, "means must be (n, K)");
  const int k = static_cast<int>(means.shape(1));
  require(k >= 1 && k <= kMaxComponents, "bad component count");
  require(log_scales.size() == n * k && logits.size() == n * k, "parameter shapes differ");
  std::vector<uint8_t> out;
  {
    py::gil_scoped_release release;
    out = encode_mixtures(symbols.data(), n, k, means.data(), log_scales.data(), logits.data(), alphabet);
  }
  return to_bytes(out);
}

py::tuple decode_mixture(py::bytes data, Array<int32_t> means, Array<int32_t> log_scales,
                         Array<int32_t> logits, int64_t alphabet, bool framed) {
  require(means.ndim() == 2, "means must be (n, K)");
  const int64_t n = means.shape(0);
  const int k = static_cast<int>(means.shape(1));
  require(k >= 1 && k <= kMaxComponents, "bad component count");
  require(log_scales.size() == n * k && logits.size() == n * k, "parameter shapes differ");
  std::string buf = data;
  Array<int32_t> result(n);
  int32_t* r = result.mutable_data();
  bool corrupt;
  {
    py::gil_scoped_release release;
    corrupt = decode_mixtures(reinterpret_cast<const uint8_t*>(buf.data()), buf.size(), framed, n, k, means.data(),
                              log_scales.data(), logits.data(), alphabet, r);
  }
  return py::make_tuple(result, corrupt);
}

py::bytes encode_table(Array<int32_t> symbols, Array<int32_t> indexes, Array<int32_t> cdfs, int precision) {
  const int64_t n = symbols.size();
  require(indexes.size() == n && cdfs.ndim() == 2, "bad table arguments");
  std::vector<uint8_t> out;
  {
    py::gil_scoped_release release;
    out = encode_tables(symbols.data(), indexes.data(), n, cdfs.data(), cdfs.shape(1), precision);
  }
  return to_bytes(out);
}

py::tuple decode_table(py::bytes data, Array<int32_t> indexes, Array<int32_t> cdfs, int precision, bool framed) {
  const int64_t n = indexes.size();
  require(cdfs.ndim() == 2, "bad table arguments");
  std::string buf = data;
  Array<int32_t> result(n);
  int32_t* r = result.mutable_data();
  bool corrupt;
  {
    py::gil_scoped_release release;
    corrupt = decode_tables(reinterpret_cast<const uint8_t*>(buf.data()), buf.size(), framed, indexes.data(), n,
                            cdfs.data(), cdfs.shape(1), precision, r);
  }
  return py::make_tuple(result, corrupt);
}

Array<int64_t> mixture_frequencies(Array<int32_t> symbols, Array<int32_t> means, Array<int32_t> log_scales,
                                  Array<int32_t> logits, int64_t alphabet) {
  const int64_t n = symbols.size();
  require(means.ndim() == 2 && means.shape(0) == n, "means must be (n, K)");
  const int k = static_cast<int>(means.shape(1));
  require(k >= 1 && k <= kMaxComponents, "bad component count");
  require(log_scales.size() == n * k && logits.size() == n * k, "parameter shapes differ");
  Array<int64_t> out({n, int64_t{2}});
  int64_t* o = out.mutable_data();
  const int32_t *s = symbols.data(), *m = means.data(), *ls = log_scales.data(), *lg = logits.data();
  py::gil_scoped_release release;
  LogisticMixture mix;
  for (int64_t i = 0; i < n; ++i) {
    mix.set(k, m + i * k, ls + i * k, lg + i * k);
    const uint32_t lo = mix.cumulative(s[i], alphabet), hi = mix.cumulative(s[i] + 1, alphabet);
    o[2 * i] = lo;
    o[2 * i + 1] = hi - lo;
  }
  return out;
}

std::vector<int32_t> vec(const py::dict& d, const char* key) {
  Array<int32_t> a = d[key].cast<Array<int32_t>>();
  return std::vector<int32_t>(a.data(), a.data() + a.size());
}

// The kernel the native loops run: the widest this CPU has, capped by LORA_CODEC_KERNEL
// (int64, sse2, avx2) so that tests can check that every path gives the same bytes.
// LORA_CODEC_HEAD_KERNEL is its older name; LORA_CODEC_SCALAR_HEAD=1 means int64.
Kernel kernel_from_environment() {
  const char* source = std::getenv("LORA_CODEC_KERNEL") ? "LORA_CODEC_KERNEL" : "LORA_CODEC_HEAD_KERNEL";
  const char* cap = std::getenv(source);
  return choose_kernel(std::getenv("LORA_CODEC_SCALAR_HEAD") ? "int64" : (cap ? cap : ""), source);
}

// The name of the kernel the native loops would run now (reads the environment).
std::string kernel_in_use() {
  switch (kernel_from_environment()) {
    case Kernel::kInt64: return "int64";
    case Kernel::kSse2: return "sse2";
    case Kernel::kAvx2: return "avx2";
  }
  return "";
}

std::shared_ptr<PredictorWeights> make_weights(int features, const py::list& planes, int kind) {
  auto w = std::make_shared<PredictorWeights>();
  w->features = features;
  w->kind = kind;
  for (auto item : planes) {
    const py::dict d = item.cast<py::dict>();
    PlaneWeights p;
    p.in_a = d["in_a"].cast<int>();
    p.hidden_a = d["hidden_a"].cast<int>();
    p.in_b = d["in_b"].cast<int>();
    p.hidden_b = d["hidden_b"].cast<int>();
    p.components = d["components"].cast<int>();
    p.w_a = vec(d, "w_a"); p.b_a = vec(d, "b_a"); p.w_m = vec(d, "w_m"); p.b_m = vec(d, "b_m");
    p.w_b = vec(d, "w_b"); p.b_b = vec(d, "b_b"); p.w_o = vec(d, "w_o"); p.b_o = vec(d, "b_o");
    w->planes.push_back(std::move(p));
  }
  validate(*w, static_cast<int64_t>(w->planes.size()));
  pack_weights(*w, kernel_from_environment());
  return w;
}

PlaneView make_view(Array<uint8_t>& pixels, Array<int16_t>& errors, const Array<int16_t>& features,
                    int64_t feature_row0, int64_t row0, int64_t row1, const PredictorWeights& w,
                    const std::optional<Array<uint8_t>>& guide) {
  require(pixels.ndim() == 3 && errors.ndim() == 3, "pixels and errors must be (H, W, C)");
  const int64_t h = pixels.shape(0), wd = pixels.shape(1), c = pixels.shape(2);
  require(errors.shape(0) == h && errors.shape(1) == wd && errors.shape(2) == c, "errors shape");
  require(features.ndim() == 3 && features.shape(1) == wd && features.shape(2) == w.features,
          "features must be (rows, W, F)");
  require(0 <= row0 && row0 <= row1 && row1 <= h, "bad row range");
  require(feature_row0 <= row0 && row1 <= feature_row0 + features.shape(0), "features do not cover the rows");
  validate(w, c);
  const uint8_t* g = nullptr;
  if (guide) {
    require(guide->ndim() == 3 && guide->shape(0) == h && guide->shape(1) == wd && guide->shape(2) == c,
            "guide must have the shape of pixels");
    g = guide->data();
  }
  return PlaneView{pixels.mutable_data(), errors.mutable_data(), features.data(), h, wd, c, feature_row0, g};
}

int checked_table_bits(int table_bits) {
  require(table_bits >= BitRefinement::kMinTableBits && table_bits <= BitRefinement::kMaxTableBits,
          "table_bits must be 10 to 16");
  return table_bits;
}

class PixelEncoder {
 public:
  PixelEncoder(std::shared_ptr<PredictorWeights> w, bool calibrate, bool refine, bool match, int table_bits)
      : w_(w), enc_(std::move(w), calibrate, refine, match, checked_table_bits(table_bits)) {}
  void code_rows(Array<uint8_t> pixels, Array<int16_t> errors, Array<int16_t> features,
                 int64_t feature_row0, int64_t row0, int64_t row1, std::optional<Array<uint8_t>> guide) {
    PlaneView v = make_view(pixels, errors, features, feature_row0, row0, row1, *w_, guide);
    py::gil_scoped_release release;
    enc_.code_rows(v, row0, row1);
  }
  py::bytes finish() { return to_bytes(enc_.finish()); }

 private:
  std::shared_ptr<PredictorWeights> w_;
  PixelStreamEncoder enc_;
};

class PixelDecoder {
 public:
  PixelDecoder(std::shared_ptr<PredictorWeights> w, py::bytes data, bool framed, bool calibrate, bool refine,
               bool match, int table_bits)
      : w_(w), dec_(std::move(w), bytes_of(data), framed, calibrate, refine, match, checked_table_bits(table_bits)) {}
  void code_rows(Array<uint8_t> pixels, Array<int16_t> errors, Array<int16_t> features,
                 int64_t feature_row0, int64_t row0, int64_t row1, std::optional<Array<uint8_t>> guide) {
    require(pixels.writeable() && errors.writeable(), "output arrays must be writeable");
    PlaneView v = make_view(pixels, errors, features, feature_row0, row0, row1, *w_, guide);
    py::gil_scoped_release release;
    dec_.code_rows(v, row0, row1);
  }
  bool corrupt() const { return dec_.corrupt(); }

 private:
  static std::vector<uint8_t> bytes_of(const py::bytes& data) {
    const std::string s = data;
    return std::vector<uint8_t>(s.begin(), s.end());
  }
  std::shared_ptr<PredictorWeights> w_;
  PixelStreamDecoder dec_;
};

py::tuple predict_params(Array<uint8_t> pixels_in, Array<int16_t> features, std::shared_ptr<PredictorWeights> w,
                         std::optional<Array<uint8_t>> guide) {
  require(pixels_in.ndim() == 3, "pixels must be (H, W, C)");
  const int64_t h = pixels_in.shape(0), wd = pixels_in.shape(1), c = pixels_in.shape(2);
  Array<uint8_t> pixels({h, wd, c});
  std::copy(pixels_in.data(), pixels_in.data() + pixels_in.size(), pixels.mutable_data());
  Array<int16_t> errors({h, wd, c});
  const int k = w->planes.at(0).components;
  for (const auto& p : w->planes) require(p.components == k, "roles differ in component count");
  Array<int32_t> means({h, wd, c, int64_t{k}}), scales({h, wd, c, int64_t{k}}), logits({h, wd, c, int64_t{k}});
  PlaneView v = make_view(pixels, errors, features, 0, 0, h, *w, guide);
  int32_t *m = means.mutable_data(), *s = scales.mutable_data(), *l = logits.mutable_data();
  {
    py::gil_scoped_release release;
    auto record = [&](int64_t ch, const MixtureParams& p, int64_t i, int64_t j) {
      const int64_t base = ((i * wd + j) * c + ch) * k;
      for (int q = 0; q < k; ++q) { m[base + q] = p.mean[q]; s[base + q] = p.log_scale[q]; l[base + q] = p.logit[q]; }
      return static_cast<int32_t>(v.pixels[(i * wd + j) * c + ch]);
    };
    if (w->kind == 1) EnginePredictor(*w, wd, static_cast<int>(c))
        .run(v, 0, h, record, [] { return false; }, [](int64_t, int64_t, int64_t, const int32_t*) {});
    else PixelPredictor(*w).run(v, 0, h, record);
  }
  return py::make_tuple(means, scales, logits);
}

// The online engine's outputs for every sub-pixel of an image whose planes are in coding
// order: (H, W, C, 8) int32 = prediction, WP, gradient, NLMS 0, NLMS 1, blend (Q4),
// energy, max-error. Training reads them as fixed inputs of the learned head.
// One exact integer convolution layer (native/convolution.hpp): x (C, H, W), w (O, C, k, k),
// bias (O,); returns (O, H, W).
Array<int32_t> conv_layer_py(Array<int32_t> x, Array<int32_t> w, Array<int64_t> bias, int shift, int64_t lo, int64_t hi) {
  require(x.ndim() == 3 && w.ndim() == 4 && bias.ndim() == 1, "x must be (C, H, W), w (O, C, k, k), bias (O,)");
  require(w.shape(1) == x.shape(0) && w.shape(2) == w.shape(3) && bias.shape(0) == w.shape(0), "shapes do not agree");
  require(lo <= hi && lo >= INT32_MIN && hi <= INT32_MAX, "bad clamp range");
  const int64_t c = x.shape(0), h = x.shape(1), wd = x.shape(2), o = w.shape(0), k = w.shape(2);
  Array<int32_t> out({o, h, wd});
  const int32_t* xp = x.data();
  const int32_t* wp = w.data();
  const int64_t* bp = bias.data();
  int32_t* op = out.mutable_data();
  const Kernel kernel = kernel_from_environment();
  {
    py::gil_scoped_release release;
    conv_layer(xp, c, h, wd, wp, o, k, bp, shift, lo, hi, op, kernel);
  }
  return out;
}

Array<int32_t> engine_outputs(Array<uint8_t> pixels, const std::optional<Array<uint8_t>>& guide) {
  require(pixels.ndim() == 3 && pixels.shape(2) >= 1 && pixels.shape(2) <= 3, "pixels must be (H, W, 1..3)");
  const int64_t h = pixels.shape(0), wd = pixels.shape(1), c = pixels.shape(2);
  require(!guide || (guide->ndim() == 3 && guide->shape(0) == h && guide->shape(1) == wd && guide->shape(2) == c),
          "guide must have the shape of pixels");
  Array<int32_t> out({h, wd, c, int64_t{8}});
  int32_t* o = out.mutable_data();
  const uint8_t* px = pixels.data();
  {
    py::gil_scoped_release release;
    OnlineEngine engine(wd, static_cast<int>(c));
    engine.attach_guide(guide ? guide->data() : nullptr, h);
    int32_t same[3];
    for (int64_t i = 0; i < h; ++i) {
      for (int64_t j = 0; j < wd; ++j) {
        for (int64_t ch = 0; ch < c; ++ch) {
          const EngineOutput& e = engine.predict(i, j, static_cast<int>(ch), same);
          int32_t* r = o + ((i * wd + j) * c + ch) * 8;
          r[0] = e.pred_q4; r[1] = e.wp_q4; r[2] = e.grad_q4; r[3] = e.lms_q4[0]; r[4] = e.lms_q4[1];
          r[5] = e.blend_q4; r[6] = e.energy; r[7] = e.wp_maxerr;
          const int32_t x = px[(i * wd + j) * c + ch];
          engine.update(x);
          same[ch] = x;
        }
      }
    }
  }
  return out;
}

py::bytes encode_indexes_py(Array<uint16_t> plane, int colours, bool match, int mixer_start) {
  require(plane.ndim() == 2, "plane must be (H, W)");
  require(mixer_start >= 0 && mixer_start <= index_model::kMaxMixerStart, "mixer_start must be in [0, 32]");
  require(colours >= 1 && colours <= 65536, "colours must be in [1, 65536]");
  const int64_t h = plane.shape(0), wd = plane.shape(1);
  const uint16_t* p = plane.data();
  for (int64_t i = 0; i < h * wd; ++i) require(p[i] < colours, "an index is outside the palette");
  std::vector<uint8_t> out;
  {
    py::gil_scoped_release release;
    out = encode_indexes(p, h, wd, colours, match, mixer_start);
  }
  return to_bytes(out);
}

py::tuple decode_indexes_py(py::bytes data, int64_t h, int64_t wd, int colours, bool match, int mixer_start) {
  require(h >= 0 && wd >= 0, "bad shape");
  require(mixer_start >= 0 && mixer_start <= index_model::kMaxMixerStart, "mixer_start must be in [0, 32]");
  require(colours >= 1 && colours <= 65536, "colours must be in [1, 65536]");
  std::string buf = data;
  Array<uint16_t> out({h, wd});
  uint16_t* o = out.mutable_data();
  bool corrupt;
  {
    py::gil_scoped_release release;
    corrupt = decode_indexes(reinterpret_cast<const uint8_t*>(buf.data()), buf.size(), h, wd, colours, match, o,
                             mixer_start);
  }
  return py::make_tuple(out, corrupt);
}

// The low-bit model's table sizes of the format versions: 2^16 (v15 on) or 2^20 (v13, v14).
void require_table_bits(int table_bits) {
  require(table_bits == low_bits::kTableBits || table_bits == low_bits::kTableBitsV13, "table_bits must be 16 or 20");
}

py::bytes encode_low_bits_py(Array<uint8_t> high, Array<uint8_t> low, int bits, int table_bits) {
  require(high.ndim() == 3 && low.ndim() == 3, "high and low must be (H, W, C)");
  for (int i = 0; i < 3; ++i) require(high.shape(i) == low.shape(i), "high and low must have one shape");
  require(high.shape(2) >= 1 && high.shape(2) <= 4, "1 to 4 planes");
  require(bits >= 1 && bits <= low_bits::kMaxBits, "bits must be in [1, 8]");
  require_table_bits(table_bits);
  const int64_t n = low.size();
  const uint8_t* l = low.data();
  for (int64_t i = 0; i < n; ++i) require((l[i] >> bits) == 0, "a low value has more than `bits` bits");
  std::vector<uint8_t> out;
  {
    py::gil_scoped_release release;
    out = encode_low_bits(high.data(), l, high.shape(0), high.shape(1), static_cast<int>(high.shape(2)), bits,
                          table_bits);
  }
  return to_bytes(out);
}

py::tuple decode_low_bits_py(py::bytes data, Array<uint8_t> high, int bits, int table_bits) {
  require(high.ndim() == 3 && high.shape(2) >= 1 && high.shape(2) <= 4, "high must be (H, W, 1..4)");
  require(bits >= 1 && bits <= low_bits::kMaxBits, "bits must be in [1, 8]");
  require_table_bits(table_bits);
  std::string buf = data;
  Array<uint8_t> out({high.shape(0), high.shape(1), high.shape(2)});
  uint8_t* o = out.mutable_data();
  bool corrupt;
  {
    py::gil_scoped_release release;
    corrupt = decode_low_bits(reinterpret_cast<const uint8_t*>(buf.data()), buf.size(), high.data(), high.shape(0),
                              high.shape(1), static_cast<int>(high.shape(2)), bits, o, table_bits);
  }
  return py::make_tuple(out, corrupt);
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "lora-codec's native range coder and causal predictor (see lora_codec.entropy).";
  m.attr("MAX_PRECISION") = kMaxPrecision;
  m.attr("MIXTURE_PRECISION") = kMixturePrecision;
  m.attr("MAX_COMPONENTS") = kMaxComponents;
  m.def("encode_mixture", &encode_mixture);
  m.def("decode_mixture", &decode_mixture, py::arg("data"), py::arg("means"), py::arg("log_scales"),
        py::arg("logits"), py::arg("alphabet"), py::arg("framed") = true);
  m.def("mixture_frequencies", &mixture_frequencies);
  m.def("encode_table", &encode_table);
  m.def("decode_table", &decode_table, py::arg("data"), py::arg("indexes"), py::arg("cdfs"), py::arg("precision"),
        py::arg("framed") = true);
  py::class_<PredictorWeights, std::shared_ptr<PredictorWeights>>(m, "PredictorWeights")
      .def(py::init(&make_weights), py::arg("features"), py::arg("planes"), py::arg("kind") = 0);
  m.def("engine_outputs", &engine_outputs, py::arg("pixels"), py::arg("guide") = py::none());
  m.def("encode_indexes", &encode_indexes_py, py::arg("plane"), py::arg("colours"), py::arg("match"),
        py::arg("mixer_start"));
  m.def("encode_low_bits", &encode_low_bits_py, py::arg("high"), py::arg("low"), py::arg("bits"),
        py::arg("table_bits"));
  m.def("decode_low_bits", &decode_low_bits_py, py::arg("data"), py::arg("high"), py::arg("bits"),
        py::arg("table_bits"));
  m.def("decode_indexes", &decode_indexes_py, py::arg("data"), py::arg("height"), py::arg("width"),
        py::arg("colours"), py::arg("match"), py::arg("mixer_start"));
  m.def("kernel_in_use", &kernel_in_use);
  m.def("conv_layer", &conv_layer_py, py::arg("x"), py::arg("w"), py::arg("bias"), py::arg("shift"), py::arg("lo"),
        py::arg("hi"));
  py::class_<PixelEncoder>(m, "PixelEncoder")
      .def(py::init<std::shared_ptr<PredictorWeights>, bool, bool, bool, int>(), py::arg("weights"),
           py::arg("calibrate") = false, py::arg("refine") = false, py::arg("match") = false,
           py::arg("table_bits") = BitRefinement::kMaxTableBits)
      .def("code_rows", &PixelEncoder::code_rows, py::arg("pixels"), py::arg("errors"), py::arg("features"),
           py::arg("feature_row0"), py::arg("row0"), py::arg("row1"), py::arg("guide") = py::none())
      .def("finish", &PixelEncoder::finish);
  py::class_<PixelDecoder>(m, "PixelDecoder")
      .def(py::init<std::shared_ptr<PredictorWeights>, py::bytes, bool, bool, bool, bool, int>(), py::arg("weights"),
           py::arg("data"), py::arg("framed") = true, py::arg("calibrate") = false, py::arg("refine") = false,
           py::arg("match") = false, py::arg("table_bits") = BitRefinement::kMaxTableBits)
      .def("code_rows", &PixelDecoder::code_rows, py::arg("pixels"), py::arg("errors"), py::arg("features"),
           py::arg("feature_row0"), py::arg("row0"), py::arg("row1"), py::arg("guide") = py::none())
      .def_property_readonly("corrupt", &PixelDecoder::corrupt);
  m.def("predict_params", &predict_params, py::arg("pixels"), py::arg("features"), py::arg("weights"),
        py::arg("guide") = py::none());
}
