// Standalone self-test of the native coder, for sanitizer builds (scripts/sanitize_native.sh):
// round trips of logistic mixtures, CDF tables and both causal predictors (MED and online
// engine), then decoding of truncated and random streams, which must end (corrupt flag or
// wrong symbols) without reading out of bounds; the integer convolution on every kernel. It runs the shipped coding loops of
// coders.hpp, the ones bindings.cpp wraps. No Python: ASan/UBSan see only this code.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "../coders.hpp"
#include "../convolution.hpp"

using namespace lora_codec;

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAIL: %s\n", what);
    ++failures;
  }
}

std::vector<int32_t> decode_all(const std::vector<uint8_t>& data, size_t n, const std::vector<int32_t>& m,
                                const std::vector<int32_t>& ls, const std::vector<int32_t>& lg, int k,
                                int64_t alphabet, bool& corrupt) {
  std::vector<int32_t> out(n);
  corrupt = decode_mixtures(data.data(), data.size(), true, static_cast<int64_t>(n), k, m.data(), ls.data(), lg.data(),
                            alphabet, out.data());
  for (int32_t v : out) check(v >= 0 && v < alphabet, "decoded symbol inside the alphabet");
  return out;
}

void mixtures(std::mt19937& rng) {
  for (int64_t alphabet : {2, 256, 65536}) {
    const int k = 3;
    const size_t n = 20000;
    std::vector<int32_t> s(n), m(n * k), ls(n * k), lg(n * k);
    std::uniform_int_distribution<int32_t> sym(0, static_cast<int32_t>(alphabet - 1)), scale(-64, 160),
        logit(-200, 200), off(-400, 400);
    for (size_t i = 0; i < n; ++i) {
      s[i] = sym(rng);
      for (int c = 0; c < k; ++c) {
        m[i * k + c] = s[i] * 16 + off(rng) * (c + 1);
        ls[i * k + c] = scale(rng);
        lg[i * k + c] = logit(rng);
      }
    }
    const auto data = encode_mixtures(s.data(), static_cast<int64_t>(n), k, m.data(), ls.data(), lg.data(), alphabet);
    bool corrupt = false;
    check(decode_all(data, n, m, ls, lg, k, alphabet, corrupt) == s, "mixture round trip");
    check(!corrupt, "clean stream not flagged");
    for (size_t cut : {size_t{0}, size_t{1}, data.size() / 2}) {  // truncated streams
      std::vector<uint8_t> part(data.begin(), data.begin() + cut);
      decode_all(part, n, m, ls, lg, k, alphabet, corrupt);
      if (cut < data.size() / 2 + 1) check(corrupt || cut == data.size(), "a cut framed stream is flagged");
    }
    std::vector<uint8_t> noise(data.size());
    for (auto& b : noise) b = static_cast<uint8_t>(rng());
    decode_all(noise, n, m, ls, lg, k, alphabet, corrupt);
  }
}

void table_coding(std::mt19937& rng) {
  const int precision = 16, alphabet = 64;
  std::vector<int32_t> cdf(alphabet + 1);
  for (int x = 0; x <= alphabet; ++x) cdf[x] = x == alphabet ? (1 << precision) : x * 7 + (x * x * 9);
  const int64_t n = 5000;
  std::vector<int32_t> s(n), idx(n, 0), out(n);
  for (auto& v : s) v = static_cast<int32_t>(rng() % alphabet);
  const auto data = encode_tables(s.data(), idx.data(), n, cdf.data(), alphabet + 1, precision);
  for (size_t cut : {data.size(), data.size() / 3, size_t{0}}) {
    const bool corrupt = decode_tables(data.data(), cut, true, idx.data(), n, cdf.data(), alphabet + 1, precision,
                                       out.data());
    for (int32_t v : out) check(v >= 0 && v < alphabet, "table symbol inside the alphabet");
    if (cut == data.size()) check(out == s && !corrupt, "table round trip");
    else check(corrupt, "a cut table stream is flagged");
  }
}

PlaneWeights random_plane(std::mt19937& rng, int kind, int role, int features) {
  PlaneWeights p;
  p.hidden_a = 12;
  p.hidden_b = 12;
  p.components = 3;
  p.in_a = stage_a_inputs(kind, role, features);
  p.in_b = stage_b_inputs(kind, role, p.hidden_a);
  std::uniform_int_distribution<int32_t> w(-300, 300), b(-5000, 5000);
  auto fill = [&](std::vector<int32_t>& v, size_t n, auto& d) { v.resize(n); for (auto& x : v) x = d(rng); };
  fill(p.w_a, size_t(p.hidden_a * p.in_a), w);
  fill(p.b_a, size_t(p.hidden_a), b);
  fill(p.w_m, size_t(p.in_a + p.hidden_a), w);
  fill(p.b_m, 1, b);
  fill(p.w_b, size_t(p.hidden_b * p.in_b), w);
  fill(p.b_b, size_t(p.hidden_b), b);
  fill(p.w_o, size_t(3 * p.components * p.hidden_b), w);
  fill(p.b_o, size_t(3 * p.components), b);
  return p;
}

// kind 0 (MED) or kind 1 (the online engine), `guided` (rc mode) with a random lossy
// reconstruction, border reads included, coded in two bands as the codec does, with or
// without the online CDF calibration, through the bit refinement (format v5) and its
// match model (format v11; the image repeats a patch, so that matches are found and lost).
void predictor(std::mt19937& rng, int kind, bool guided, bool calibrate, bool refine = false, bool match = false,
               int table_bits = BitRefinement::kMaxTableBits) {
  auto weights = std::make_shared<PredictorWeights>();
  weights->features = 8;
  weights->kind = kind;
  for (int r = 0; r < 3; ++r) weights->planes.push_back(random_plane(rng, kind, r, weights->features));
  validate(*weights, 3);
  const int64_t h = 37, w = 29, planes = 3, split = 20;
  std::vector<uint8_t> img(h * w * planes), out(img.size());
  for (size_t k = 0; k < img.size(); ++k) img[k] = static_cast<uint8_t>((k % 7 == 0) ? rng() : 100 + (k / 3) % 40);
  for (int64_t i = 10; i < h; ++i)  // rows 10.. repeat rows 0.. in part: copies for the match model
    for (int64_t k = 0; k < 12 * planes; ++k) img[(i * w + 3) * planes + k] = img[((i - 10) * w + 3) * planes + k];
  std::vector<int16_t> errors(img.size()), feats(h * w * weights->features);
  for (auto& f : feats) f = static_cast<int16_t>(int(rng() % 511) - 255);
  std::vector<uint8_t> guide(img.size());
  for (size_t k = 0; k < img.size(); ++k) guide[k] = static_cast<uint8_t>(std::clamp<int>(img[k] + int(rng() % 21) - 10, 0, 255));
  const uint8_t* g = guided ? guide.data() : nullptr;
  PixelStreamEncoder enc(weights, calibrate, refine, match, table_bits);
  PlaneView v{img.data(), errors.data(), feats.data(), h, w, planes, 0, g};
  enc.code_rows(v, 0, split);
  enc.code_rows(v, split, h);
  auto data = enc.finish();
  for (Kernel kernel : {Kernel::kSse2, Kernel::kAvx2}) {  // every vector kernel agrees with int64
    if (kernel != choose_kernel(kernel == Kernel::kSse2 ? "sse2" : "")) continue;  // not on this CPU
    auto packed = std::make_shared<PredictorWeights>(*weights);
    pack_weights(*packed, kernel);
    check(packed->planes[0].packed, "random weights are packed");
    std::vector<int16_t> errors2(img.size());
    PixelStreamEncoder enc2(packed, calibrate, refine, match, table_bits);
    PlaneView v2{img.data(), errors2.data(), feats.data(), h, w, planes, 0, g};
    enc2.code_rows(v2, 0, split);
    enc2.code_rows(v2, split, h);
    check(enc2.finish() == data, "packed and int64 heads agree");
  }
  const char* what = kind == 1 ? (guided ? "guided engine round trip" : "engine predictor round trip")
                    : guided    ? "guided predictor round trip"
                                : "predictor round trip";
  for (int round = 0; round < 3; ++round) {  // the real stream, a corrupted copy, a cut copy
    std::vector<uint8_t> copy = data;
    if (round == 1) copy[copy.size() / 2] ^= 0x5a;
    if (round == 2) copy.resize(copy.size() / 4);
    std::fill(errors.begin(), errors.end(), 0);
    std::fill(out.begin(), out.end(), 0);
    PixelStreamDecoder dec(weights, copy, true, calibrate, refine, match, table_bits);
    PlaneView dv{out.data(), errors.data(), feats.data(), h, w, planes, 0, g};
    dec.code_rows(dv, 0, split);
    dec.code_rows(dv, split, h);
    if (round == 0) check(out == img && !dec.corrupt(), what);
    if (round == 2) check(dec.corrupt(), "a cut pixel stream is flagged");
  }
}

// Palette indexes under the context-mixing model: round trips for palette sizes that
// force tree branches (3, 5, 300), a one-colour plane, and damaged copies of the stream,
// with and without the match model.
void indexes(std::mt19937& rng) {
  for (int start : {index_model::kMixerStartV5, index_model::kMixerStart})
  for (bool match : {false, true})
  for (int colours : {1, 2, 3, 5, 300, 65536}) {
    const int64_t h = 23, w = 31;
    std::vector<uint16_t> plane(h * w), out(h * w);
    for (int64_t k = 0; k < h * w; ++k)
      plane[k] = static_cast<uint16_t>((k % 5 == 0 ? rng() : (k / 7) * 3) % uint32_t(colours));
    auto data = encode_indexes(plane.data(), h, w, colours, match, start);
    const bool bad = decode_indexes(data.data(), data.size(), h, w, colours, match, out.data(), start);
    check(!bad && out == plane, "index round trip");
    for (int round = 0; round < 2 && colours > 1; ++round) {
      std::vector<uint8_t> copy = data;
      if (round == 0) copy[copy.size() / 2] ^= 0x5a;
      else copy.resize(copy.size() / 4);
      decode_indexes(copy.data(), copy.size(), h, w, colours, match, out.data(), start);
      bool inside = true;
      for (uint16_t v : out) inside = inside && v < colours;
      check(inside, "damaged index streams decode inside the palette");
    }
  }
}

// The low bits of 16-bit samples under the low-bit model (mode deep): round trips for
// 1 to 8 bits and 1 to 4 planes, and damaged copies of the stream, which must stop
// without reading outside their arrays.
void low_bits_coding(std::mt19937& rng) {
  for (int planes : {1, 3, 4})
  for (int bits : {1, 2, 5, 8}) {
    const int64_t h = 13, w = 17, n = h * w * planes;
    std::vector<uint8_t> high(n), low(n), out(n);
    for (int64_t k = 0; k < n; ++k) {
      high[k] = static_cast<uint8_t>((k / planes) % 200 + (rng() % 3));
      low[k] = static_cast<uint8_t>((k % 7 == 0 ? rng() : k / 5) % (1u << bits));
    }
    auto data = encode_low_bits(high.data(), low.data(), h, w, planes, bits);
    const bool bad = decode_low_bits(data.data(), data.size(), high.data(), h, w, planes, bits, out.data());
    check(!bad && out == low, "low-bit round trip");
    for (int round = 0; round < 2; ++round) {
      std::vector<uint8_t> copy = data;
      if (round == 0) copy[copy.size() / 2] ^= 0x5a;
      else copy.resize(copy.size() / 4);
      decode_low_bits(copy.data(), copy.size(), high.data(), h, w, planes, bits, out.data());
      bool inside = true;
      for (uint8_t v : out) inside = inside && (v >> bits) == 0;
      check(inside, "damaged low-bit streams decode values of `bits` bits");
    }
  }
}

}  // namespace

// The online stages' vector kernels against their scalar forms, at the extremes of their
// stated bounds (mixer weights +-2^22 with inputs +-4096; NLMS weights +-2^20 with inputs
// +-2^13), on every length up to 32.
void simd_kernels(std::mt19937& rng) {
  if (choose_kernel("") != Kernel::kAvx2) return;  // no AVX2 on this CPU
  for (int n = 1; n <= 32; ++n) {
    for (int round = 0; round < 50; ++round) {
      std::vector<int32_t> w(padded8(n), 0), x(padded8(n), 0);
      const bool extreme = round % 5 == 0;
      for (int i = 0; i < n; ++i) {
        w[i] = extreme ? ((rng() & 1) ? (1 << 22) : -(1 << 22)) : static_cast<int32_t>(rng() % (1 << 23)) - (1 << 22);
        x[i] = extreme ? ((rng() & 1) ? 4096 : -4096) : static_cast<int32_t>(rng() % 16385) - 8192;
      }
      check(simd::dot(w.data(), x.data(), n, true) == simd::dot_scalar(w.data(), x.data(), n), "AVX2 dot");
      for (int i = 0; i < n; ++i) x[i] = std::clamp(x[i], -4096, 4096);
      const int32_t err = static_cast<int32_t>(rng() % 16385) - 8192;
      std::vector<int32_t> a = w, b = w;
      simd::mix_update(a.data(), x.data(), n, err, 1 << 11, 12, 1 << 22, true);
      simd::mix_update_scalar(b.data(), x.data(), n, err, 1 << 11, 12, 1 << 22);
      check(a == b, "AVX2 mixer update");
      // NLMS: |g| < 2^41, |x| <= 8191, |w| <= 2^20, x zero beyond n.
      for (int i = 0; i < n; ++i) {
        x[i] = extreme ? ((rng() & 1) ? 8191 : -8191) : static_cast<int32_t>(rng() % 16383) - 8191;
        w[i] = static_cast<int32_t>(rng() % ((1 << 21) + 1)) - (1 << 20);
      }
      const int64_t g = extreme ? ((rng() & 1) ? (int64_t{1} << 41) - 1 : 1 - (int64_t{1} << 41))
                                : static_cast<int64_t>((uint64_t{rng()} << 32 | rng()) % (uint64_t{1} << 42)) - (int64_t{1} << 41);
      a = w;
      b = w;
      simd::nlms_update(a.data(), x.data(), n, g, 1 << 20, true);
      simd::nlms_update_scalar(b.data(), x.data(), n, g, 1 << 20);
      check(a == b, "AVX2 NLMS update");
      std::vector<int32_t> big(padded8(n), 0);
      for (int i = 0; i < n; ++i) big[i] = static_cast<int32_t>(rng() % 40001) - 20000;
      std::vector<int32_t> big2 = big;
      check(simd::clamp_norm(big.data(), n, 8191, true) == simd::clamp_norm_scalar(big2.data(), n, 8191) && big == big2,
            "AVX2 clamp and norm");
    }
  }
}

// The heads' requantization (bias, rounding shift, clamp, int16 copy) on AVX2 against the
// scalar form, for one layer's shift and clamp: sums of either sign up to 2^50, and sums
// near both ends of the clamp, every length up to 64.
template <int kShift>
void requantization(std::mt19937& rng, int32_t lo, int32_t hi) {
  for (int n = 1; n <= 64; ++n) {
    for (int round = 0; round < 40; ++round) {
      std::vector<int64_t> acc(static_cast<size_t>(n));
      std::vector<int32_t> bias(acc.size()), a32(acc.size()), b32(acc.size());
      std::vector<int16_t> a16(acc.size()), b16(acc.size());
      for (int r = 0; r < n; ++r) {
        const int64_t far = static_cast<int64_t>((uint64_t{rng()} << 32 | rng()) % (uint64_t{1} << 51)) - (int64_t{1} << 50);
        const int64_t edge = int64_t{(rng() & 1) ? hi : lo} * (int64_t{1} << kShift) + static_cast<int64_t>(rng() % 1025) - 512;
        acc[r] = round % 3 == 0 ? far : edge;
        bias[r] = round % 3 == 0 ? static_cast<int32_t>(rng()) : static_cast<int32_t>(rng() % 257) - 128;
      }
      detail::requantize<kShift>(acc.data(), bias.data(), n, lo, hi, a32.data(), a16.data(), true);
      detail::requantize_scalar<kShift>(acc.data(), bias.data(), n, lo, hi, b32.data(), b16.data());
      check(a32 == b32 && a16 == b16, "AVX2 requantization");
    }
  }
}

// Both layers the heads requantize: hidden (Q2, clamped to [0, 4095]) and outputs.
void requantization(std::mt19937& rng) {
  if (choose_kernel("") != Kernel::kAvx2) return;  // no AVX2 on this CPU
  requantization<kHiddenShift>(rng, 0, layout::kPredHiddenMax);
  requantization<kOutShift>(rng, -layout::kOutputMax, layout::kOutputMax);
}

// The calibration's division by multiplication against plain division, at its bounds
// (n < 2^53, d < 2^32) and at random.
void divisor(std::mt19937& rng) {
  std::vector<uint32_t> ds = {1, 2, 3, 7, 255, 256, 257, 1u << 18, (1u << 23) - 1, 1u << 23, 4294967295u};
  for (int k = 0; k < 2000; ++k) ds.push_back(static_cast<uint32_t>(rng()) | 1u);
  for (uint32_t d : ds) {
    const Divisor div(d);
    const uint64_t top = (uint64_t{1} << 53) - 1;
    for (uint64_t n : {uint64_t{0}, uint64_t{d} - 1, uint64_t{d}, uint64_t{d} + 1, top, top - top % d, top - top % d - 1})
      check(div.divide(n) == n / d, "Divisor at its bounds");
    for (int k = 0; k < 200; ++k) {
      const uint64_t n = ((uint64_t{rng()} << 32) | rng()) & top;
      check(div.divide(n) == n / d, "Divisor at random");
    }
  }
}

// The integer convolution on every kernel this CPU has against the int64 one, at random
// and at the int16 path's extremes (|x| = 4095, |w| = 32767: 16 products reach 2^31 - 2^20),
// with more outputs than one block of the matrix kernel.
void convolutions(std::mt19937& rng) {
  std::vector<Kernel> kernels = {Kernel::kSse2};
  if (choose_kernel("") == Kernel::kAvx2) kernels.push_back(Kernel::kAvx2);
  for (int round = 0; round < 60; ++round) {
    const bool extreme = round % 3 == 0;
    const int64_t c = 1 + rng() % 20, o = 1 + rng() % 70, h = 1 + rng() % 9, wd = 1 + rng() % 9;
    const int64_t k = (round % 2) ? 3 : 1 + 2 * static_cast<int64_t>(rng() % 3);
    std::vector<int32_t> x(static_cast<size_t>(c * h * wd)), w(static_cast<size_t>(o * c * k * k));
    const int32_t sign_x = (rng() & 1) ? 1 : -1, sign_w = (rng() & 1) ? 1 : -1;  // extremes: sums of one sign
    for (auto& v : x) v = extreme ? 4095 * sign_x : static_cast<int32_t>(rng() % 8191) - 4095;
    for (auto& v : w) v = extreme ? 32767 * sign_w : static_cast<int32_t>(rng() % 65535) - 32767;
    std::vector<int64_t> bias(static_cast<size_t>(o));
    for (auto& b : bias) b = static_cast<int64_t>(rng() % (1u << 30)) - (1 << 29);
    const int shift = static_cast<int>(rng() % 13);
    std::vector<int32_t> want(static_cast<size_t>(o * h * wd)), got(want.size());
    conv_layer(x.data(), c, h, wd, w.data(), o, k, bias.data(), shift, INT32_MIN, INT32_MAX, want.data(), Kernel::kInt64);
    for (Kernel kernel : kernels) {
      conv_layer(x.data(), c, h, wd, w.data(), o, k, bias.data(), shift, INT32_MIN, INT32_MAX, got.data(), kernel);
      check(got == want, "convolution kernels agree");
    }
  }
}

int main() {
  std::mt19937 rng(1234);
  divisor(rng);
  simd_kernels(rng);
  requantization(rng);
  convolutions(rng);
  mixtures(rng);
  table_coding(rng);
  indexes(rng);
  low_bits_coding(rng);
  for (bool calibrate : {false, true}) {
    predictor(rng, 0, false, calibrate);
    predictor(rng, 0, true, calibrate);
    predictor(rng, 1, false, calibrate);
  }
  // format v5: through the bit refinement
  predictor(rng, 0, false, true, true);
  predictor(rng, 0, true, true, true);
  predictor(rng, 1, false, true, true);
  predictor(rng, 1, true, true, true);  // format v6: rc mode on the engine
  predictor(rng, 0, false, true, true, true);  // format v11: the refinement's match model
  predictor(rng, 1, false, true, true, true);
  predictor(rng, 1, true, true, true, true);
  predictor(rng, 1, false, true, true, true, BitRefinement::kMinTableBits);  // format v17: small tables
  if (failures)
    std::printf("selftest: %d failures\n", failures);
  else
    std::printf("selftest: all checks passed\n");
  return failures ? 1 : 0;
}
