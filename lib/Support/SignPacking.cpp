//===- SignPacking.cpp - the packed 1-bit sign layout ---------------------===//

#include "onebit/Support/SignPacking.h"

#include <cassert>
#include <cmath>
#include <algorithm>
#include <cstring>

namespace onebit {
namespace {

// Clears `out` and sets the negative bits (or the positive ones when bit 0
// means -1) row by row. `isNeg(i)` tells whether flat element i is negative,
// `isNaN(i)` whether it is NaN.
template <typename Word, typename IsNeg>
void packWords(int64_t rows, int64_t cols, const SignLayout &layout,
               Word *out, IsNeg isNeg) {
  const int64_t wpr = layout.wordsPerRow(cols);
  std::memset(out, 0, static_cast<size_t>(rows * wpr) * sizeof(Word));
  for (int64_t r = 0; r < rows; ++r) {
    Word *row = out + r * wpr;
    for (int64_t c = 0; c < cols; ++c) {
      bool neg = isNeg(r * cols + c);
      bool bit = layout.negativeBit ? neg : !neg;
      if (bit)
        row[layout.wordOf(c)] |= Word(1) << layout.bitOf(c);
    }
  }
}

template <typename IsNeg>
void packDispatch(int64_t rows, int64_t cols, const SignLayout &layout,
                  void *out, IsNeg isNeg) {
  assert(layout.isValid() && "invalid sign layout");
  switch (layout.wordBits) {
  case 8:
    return packWords(rows, cols, layout, static_cast<uint8_t *>(out), isNeg);
  case 16:
    return packWords(rows, cols, layout, static_cast<uint16_t *>(out), isNeg);
  case 32:
    return packWords(rows, cols, layout, static_cast<uint32_t *>(out), isNeg);
  default:
    return packWords(rows, cols, layout, static_cast<uint64_t *>(out), isNeg);
  }
}

template <typename Word>
bool bitAt(const void *packed, int64_t row, int64_t col, int64_t cols,
           const SignLayout &layout) {
  const Word *w = static_cast<const Word *>(packed) +
                  row * layout.wordsPerRow(cols) + layout.wordOf(col);
  return (*w >> layout.bitOf(col)) & 1;
}

// Sign bit of a 16-bit float (IEEE half or bfloat16 share it), and whether the
// pattern is NaN given the exponent mask and mantissa mask of the format.
bool half16IsNegative(uint16_t bits, uint16_t expMask, uint16_t manMask) {
  bool nan = (bits & expMask) == expMask && (bits & manMask);
  bool zero = (bits & 0x7fff) == 0;
  return (bits & 0x8000) && !nan && !zero;
}
bool half16IsNaN(uint16_t bits, uint16_t expMask, uint16_t manMask) {
  return (bits & expMask) == expMask && (bits & manMask);
}

} // namespace

int64_t packSigns(const float *values, int64_t rows, int64_t cols,
                  const SignLayout &layout, void *out) {
  if (layout.isCanonical()) {
    // Fast path for the layout every kernel reads: whole words at a time, a
    // shape the compiler turns into vector compares.
    auto *words = static_cast<uint32_t *>(out);
    const int64_t wpr = layout.wordsPerRow(cols);
    int64_t nans = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const float *row = values + r * cols;
      for (int64_t wi = 0; wi < wpr; ++wi) {
        int64_t c0 = wi * 32, n = std::min<int64_t>(32, cols - c0);
        uint32_t word = 0;
        if (n == 32) {
          for (int b = 0; b < 32; ++b)
            word |= uint32_t(row[c0 + b] < 0.0f) << b;
        } else {
          for (int b = 0; b < n; ++b)
            word |= uint32_t(row[c0 + b] < 0.0f) << b;
        }
        words[r * wpr + wi] = word;
      }
      for (int64_t c = 0; c < cols; ++c)
        nans += row[c] != row[c];
    }
    return nans;
  }
  packDispatch(rows, cols, layout, out,
               [&](int64_t i) { return values[i] < 0.0f; });
  int64_t nans = 0;
  for (int64_t i = 0, e = rows * cols; i < e; ++i)
    nans += std::isnan(values[i]);
  return nans;
}

int64_t packSignsF64(const double *values, int64_t rows, int64_t cols,
                     const SignLayout &layout, void *out) {
  packDispatch(rows, cols, layout, out,
               [&](int64_t i) { return values[i] < 0.0; });
  int64_t nans = 0;
  for (int64_t i = 0, e = rows * cols; i < e; ++i)
    nans += std::isnan(values[i]);
  return nans;
}

// IEEE half and bfloat16 differ only in where the exponent ends.
static int64_t packSigns16(const uint16_t *values, int64_t rows, int64_t cols,
                           const SignLayout &layout, void *out,
                           uint16_t expMask, uint16_t manMask) {
  packDispatch(rows, cols, layout, out, [&](int64_t i) {
    return half16IsNegative(values[i], expMask, manMask);
  });
  int64_t nans = 0;
  for (int64_t i = 0, e = rows * cols; i < e; ++i)
    nans += half16IsNaN(values[i], expMask, manMask);
  return nans;
}

int64_t packSignsF16(const uint16_t *values, int64_t rows, int64_t cols,
                     const SignLayout &layout, void *out) {
  return packSigns16(values, rows, cols, layout, out, 0x7c00, 0x03ff);
}

int64_t packSignsBF16(const uint16_t *values, int64_t rows, int64_t cols,
                      const SignLayout &layout, void *out) {
  return packSigns16(values, rows, cols, layout, out, 0x7f80, 0x007f);
}

bool isNegative(const void *packed, int64_t row, int64_t col, int64_t cols,
                const SignLayout &layout) {
  bool bit;
  switch (layout.wordBits) {
  case 8:
    bit = bitAt<uint8_t>(packed, row, col, cols, layout);
    break;
  case 16:
    bit = bitAt<uint16_t>(packed, row, col, cols, layout);
    break;
  case 32:
    bit = bitAt<uint32_t>(packed, row, col, cols, layout);
    break;
  default:
    bit = bitAt<uint64_t>(packed, row, col, cols, layout);
    break;
  }
  return bit == (layout.negativeBit != 0);
}

void unpackSigns(const void *packed, int64_t rows, int64_t cols,
                 const SignLayout &layout, float *out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out[r * cols + c] =
          isNegative(packed, r, c, cols, layout) ? -1.0f : 1.0f;
}

void repackSigns(const void *in, const SignLayout &from, int64_t rows,
                 int64_t cols, const SignLayout &to, void *out) {
  packDispatch(rows, cols, to, out, [&](int64_t i) {
    return isNegative(in, i / cols, i % cols, cols, from);
  });
}

} // namespace onebit
