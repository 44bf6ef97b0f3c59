// A byte-oriented range coder (LZMA-style carry handling) with a 48-bit interval.
//
// The interval width is kept in [2^40, 2^48); a symbol with frequency `freq` and
// cumulative start `start` out of a total 2^prec (prec <= 24) narrows it to
// r * [start, start + freq) with r = width >> prec >= 2^16, so the coding loss from
// truncating r is below 2^-16 relative (< 0.00003 bits per symbol).
//
// Bytes past the end of the stream read as zero: the encoder strips its trailing zeros.
//
// Stored streams are *framed* (format v2): `varint n | bytes`, where n (LEB128) is the
// number of trailing zero bytes the encoder stripped. A decoder of a valid stream never
// reads more than `size + n` bytes, so reading past that limit marks the stream
// exhausted (and corrupt) at once: a truncated or foreign stream stops after a few bytes'
// worth of symbols instead of decoding zeros for as long as the caller asks. Unframed
// (format v1) streams have no limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace lora_codec {

inline constexpr int kMaxPrecision = 24;
inline constexpr uint64_t kTop = uint64_t{1} << 48;
inline constexpr uint64_t kBottom = uint64_t{1} << 40;

class RangeEncoder {
 public:
  void encode(uint32_t start, uint32_t freq, int precision) {
    const uint64_t r = range_ >> precision;
    low_ += r * start;
    range_ = r * freq;
    while (range_ < kBottom) {
      range_ <<= 8;
      shift_low();
    }
  }

  // Ends the stream and returns its bytes. The encoder must not be used afterwards.
  std::vector<uint8_t> finish() {
    // Choose the value in [low, low + range) with the most trailing zero bits.
    for (int k = 47; k >= 0; --k) {
      const uint64_t mask = (uint64_t{1} << k) - 1;
      const uint64_t v = (low_ + mask) & ~mask;
      if (v >= low_ && v - low_ < range_) {
        low_ = v;
        break;
      }
    }
    for (int i = 0; i < 7; ++i) shift_low();
    while (!out_.empty() && out_.back() == 0) {
      out_.pop_back();
      ++stripped_;
    }
    return std::move(out_);
  }

  // Ends the stream and returns it framed: varint(stripped zeros) | bytes.
  std::vector<uint8_t> finish_framed() {
    std::vector<uint8_t> body = finish();
    std::vector<uint8_t> out;
    out.reserve(body.size() + 10);
    uint64_t n = stripped_;
    do {
      const uint8_t low7 = static_cast<uint8_t>(n & 0x7F);
      n >>= 7;
      out.push_back(n ? static_cast<uint8_t>(low7 | 0x80) : low7);
    } while (n);
    out.insert(out.end(), body.begin(), body.end());
    return out;
  }

 private:
  void shift_low() {
    if (low_ < 0xFF0000000000ULL || low_ >= kTop) {
      const uint8_t carry = static_cast<uint8_t>(low_ >> 48);
      if (first_) {
        first_ = false;  // the leading byte is always zero: never written
      } else {
        out_.push_back(static_cast<uint8_t>(cache_ + carry));
      }
      for (; pending_ > 0; --pending_) out_.push_back(static_cast<uint8_t>(0xFF + carry));
      cache_ = static_cast<uint8_t>(low_ >> 40);
    } else {
      ++pending_;
    }
    low_ = (low_ & 0xFFFFFFFFFFULL) << 8;
  }

  uint64_t low_ = 0;
  uint64_t range_ = kTop - 1;
  uint64_t pending_ = 0;
  uint8_t cache_ = 0;
  bool first_ = true;
  uint64_t stripped_ = 0;
  std::vector<uint8_t> out_;
};

// Where a stored stream's bytes are and how far a decoder may read (see the top).
struct StreamView {
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t limit = std::numeric_limits<size_t>::max();
  bool valid = true;  // false: the frame itself is malformed
};

inline StreamView parse_stream(const uint8_t* data, size_t size, bool framed) {
  if (!framed) return StreamView{data, size, std::numeric_limits<size_t>::max(), true};
  uint64_t n = 0;
  size_t pos = 0;
  for (int shift = 0;; shift += 7) {
    if (pos >= size || shift > 56) return StreamView{data, 0, 0, false};
    const uint8_t b = data[pos++];
    n |= uint64_t{b & 0x7Fu} << shift;
    if (!(b & 0x80)) break;
  }
  const size_t body = size - pos;
  if (n > (uint64_t{1} << 40)) return StreamView{data, 0, 0, false};
  return StreamView{data + pos, body, body + static_cast<size_t>(n), true};
}

class RangeDecoder {
 public:
  RangeDecoder(const uint8_t* data, size_t size) : RangeDecoder(parse_stream(data, size, false)) {}

  explicit RangeDecoder(const StreamView& s) : data_(s.data), size_(s.size), limit_(s.limit) {
    if (!s.valid) corrupt_ = exhausted_ = true;
    for (int i = 0; i < 6; ++i) code_ = (code_ << 8) | next_byte();
  }

  // The cumulative frequency the next symbol's interval must contain, in [0, 2^prec).
  uint32_t peek(int precision) {
    r_ = range_ >> precision;
    uint64_t v = code_ / r_;
    const uint64_t total = uint64_t{1} << precision;
    if (v >= total) {
      corrupt_ = true;
      v = total - 1;
    }
    return static_cast<uint32_t>(v);
  }

  // Decodes one binary decision coded as [0, p1) for 1 and [p1, 2^prec) for 0 (0 < p1 <
  // 2^prec): peek(prec) < p1 without peek's division, since floor(code / r) < p1 exactly
  // when code < r p1. A stream that peek would flag is flagged by the consume that follows.
  int decode_bit(uint32_t p1, int precision) {
    r_ = range_ >> precision;
    const int bit = code_ < r_ * p1;
    if (bit) consume(0, p1);
    else consume(p1, (uint32_t{1} << precision) - p1);
    return bit;
  }

  // Removes the symbol [start, start + freq) found after `peek`.
  void consume(uint32_t start, uint32_t freq) {
    code_ -= r_ * start;
    range_ = r_ * freq;
    if (code_ >= range_) {  // only possible for a corrupt stream
      corrupt_ = true;
      code_ = range_ - 1;
    }
    while (range_ < kBottom) {
      range_ <<= 8;
      code_ = (code_ << 8) | next_byte();
    }
  }

  // True once the stream was seen to be inconsistent (corrupt, truncated or exhausted).
  bool corrupt() const { return corrupt_; }
  // True once decoding needed more bytes than a framed stream can hold.
  bool exhausted() const { return exhausted_; }
  // Bytes read so far, the zeros read past the end included.
  size_t bytes_read() const { return pos_; }

 private:
  uint64_t next_byte() {
    if (pos_ < size_) return data_[pos_++];
    if (++pos_ > limit_) corrupt_ = exhausted_ = true;
    return 0;
  }

  const uint8_t* data_;
  size_t size_;
  size_t limit_;
  size_t pos_ = 0;
  uint64_t code_ = 0;
  uint64_t range_ = kTop - 1;
  uint64_t r_ = 1;
  bool corrupt_ = false;
  bool exhausted_ = false;
};

}  // namespace lora_codec
