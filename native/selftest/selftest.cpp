// Standalone self-test of the native coder, for sanitizer builds (scripts/sanitize_native.sh):
// round trips of logistic mixtures, CDF tables and the causal predictor, then decoding of
// truncated and random streams, which must end (corrupt flag or wrong symbols) without
// reading out of bounds. No Python: ASan/UBSan see only this code.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "../distributions.hpp"
#include "../predictor.hpp"
#include "../range_coder.hpp"

using namespace lora_codec;

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAIL: %s\n", what);
    ++failures;
  }
}

std::vector<uint8_t> encode_mixtures(const std::vector<int32_t>& s, const std::vector<int32_t>& m,
                                     const std::vector<int32_t>& ls, const std::vector<int32_t>& lg, int k,
                                     int64_t alphabet) {
  RangeEncoder enc;
  LogisticMixture mix;
  for (size_t i = 0; i < s.size(); ++i) {
    mix.set(k, &m[i * k], &ls[i * k], &lg[i * k]);
    encode_mixture_symbol(enc, mix, s[i], alphabet);
  }
  return enc.finish();
}

std::vector<int32_t> decode_mixtures(const std::vector<uint8_t>& data, size_t n, const std::vector<int32_t>& m,
                                     const std::vector<int32_t>& ls, const std::vector<int32_t>& lg, int k,
                                     int64_t alphabet, bool& corrupt) {
  RangeDecoder dec(data.data(), data.size());
  LogisticMixture mix;
  std::vector<int32_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    mix.set(k, &m[i * k], &ls[i * k], &lg[i * k]);
    out[i] = static_cast<int32_t>(decode_mixture_symbol(dec, mix, alphabet));
    check(out[i] >= 0 && out[i] < alphabet, "decoded symbol inside the alphabet");
  }
  corrupt = dec.corrupt();
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
    const auto data = encode_mixtures(s, m, ls, lg, k, alphabet);
    bool corrupt = false;
    check(decode_mixtures(data, n, m, ls, lg, k, alphabet, corrupt) == s, "mixture round trip");
    check(!corrupt, "clean stream not flagged");
    for (size_t cut : {size_t{0}, size_t{1}, data.size() / 2}) {  // truncated streams
      std::vector<uint8_t> part(data.begin(), data.begin() + cut);
      decode_mixtures(part, n, m, ls, lg, k, alphabet, corrupt);
    }
    std::vector<uint8_t> noise(data.size());
    for (auto& b : noise) b = static_cast<uint8_t>(rng());
    decode_mixtures(noise, n, m, ls, lg, k, alphabet, corrupt);
  }
}

void table_coding(std::mt19937& rng) {
  const int precision = 16, alphabet = 64;
  std::vector<int32_t> cdf(alphabet + 1);
  for (int x = 0; x <= alphabet; ++x) cdf[x] = x == alphabet ? (1 << precision) : x * 7 + (x * x * 9);
  const size_t n = 5000;
  std::vector<int32_t> s(n);
  for (auto& v : s) v = static_cast<int32_t>(rng() % alphabet);
  RangeEncoder enc;
  for (int32_t v : s) enc.encode(cdf[v], cdf[v + 1] - cdf[v], precision);
  const auto data = enc.finish();
  for (size_t cut : {data.size(), data.size() / 3, size_t{0}}) {
    RangeDecoder dec(data.data(), cut);
    bool same = true;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t v = dec.peek(precision);
      const int64_t x = find_in_table(cdf.data(), alphabet, v);
      check(x >= 0 && x < alphabet, "table symbol inside the alphabet");
      dec.consume(cdf[x], cdf[x + 1] - cdf[x]);
      same = same && x == s[i];
    }
    if (cut == data.size()) check(same && !dec.corrupt(), "table round trip");
  }
}

PlaneWeights random_plane(std::mt19937& rng, int role, int features) {
  PlaneWeights p;
  p.hidden_a = 12;
  p.hidden_b = 12;
  p.components = 3;
  p.in_a = kNeighbours + kResiduals + 4 * role + features;
  p.in_b = p.hidden_a + kErrorNeighbours + kGradients + role;
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

// `guided`: rc mode, with a random lossy reconstruction (border reads included).
void predictor(std::mt19937& rng, bool guided) {
  PredictorWeights weights;
  weights.features = 8;
  for (int r = 0; r < 3; ++r) weights.planes.push_back(random_plane(rng, r, weights.features));
  validate(weights, 3);
  const int64_t h = 37, w = 29, planes = 3;
  std::vector<uint8_t> img(h * w * planes), out(img.size());
  for (auto& v : img) v = static_cast<uint8_t>(rng());
  std::vector<int16_t> errors(img.size()), feats(h * w * weights.features);
  for (auto& f : feats) f = static_cast<int16_t>(int(rng() % 511) - 255);
  std::vector<uint8_t> guide(img.size());
  for (size_t k = 0; k < img.size(); ++k) guide[k] = static_cast<uint8_t>(std::clamp<int>(img[k] + int(rng() % 21) - 10, 0, 255));
  const uint8_t* g = guided ? guide.data() : nullptr;
  PixelPredictor pred(weights);
  RangeEncoder enc;
  PlaneView v{img.data(), errors.data(), feats.data(), h, w, planes, 0, g};
  pred.run(v, 0, h, [&](int64_t c, const MixtureParams& p, int64_t i, int64_t j) {
    LogisticMixture mix;
    mix.set(3, p.mean, p.log_scale, p.logit);
    const int32_t x = img[(i * w + j) * planes + c];
    encode_mixture_symbol(enc, mix, x, 256);
    return x;
  });
  auto data = enc.finish();
  for (int round = 0; round < 2; ++round) {  // the real stream, then a corrupted copy
    if (round == 1) data[data.size() / 2] ^= 0x5a;
    std::fill(errors.begin(), errors.end(), 0);
    RangeDecoder dec(data.data(), data.size());
    PlaneView dv{out.data(), errors.data(), feats.data(), h, w, planes, 0, g};
    pred.run(dv, 0, h, [&](int64_t, const MixtureParams& p, int64_t, int64_t) {
      LogisticMixture mix;
      mix.set(3, p.mean, p.log_scale, p.logit);
      return static_cast<int32_t>(decode_mixture_symbol(dec, mix, 256));
    });
    if (round == 0) check(out == img, guided ? "guided predictor round trip" : "predictor round trip");
  }
}

}  // namespace

int main() {
  std::mt19937 rng(1234);
  mixtures(rng);
  table_coding(rng);
  predictor(rng, false);
  predictor(rng, true);
  if (failures)
    std::printf("selftest: %d failures\n", failures);
  else
    std::printf("selftest: all checks passed\n");
  return failures ? 1 : 0;
}
