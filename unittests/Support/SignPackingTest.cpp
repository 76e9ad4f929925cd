//===- SignPackingTest.cpp - tests of the packed sign layout --------------===//

#include "onebit/Support/SignPacking.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

using namespace onebit;

namespace {

std::vector<float> randomMatrix(int64_t rows, int64_t cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> m(rows * cols);
  for (float &x : m)
    x = d(rng);
  return m;
}

std::vector<SignLayout> allLayouts() {
  std::vector<SignLayout> out;
  for (unsigned bits : {8u, 16u, 32u, 64u})
    for (SignBitOrder order : {SignBitOrder::LsbFirst, SignBitOrder::MsbFirst})
      for (unsigned neg : {0u, 1u}) {
        SignLayout l;
        l.wordBits = bits;
        l.bitOrder = order;
        l.negativeBit = neg;
        out.push_back(l);
      }
  return out;
}

// Pack then unpack gives sign(W) for odd sizes, K not a multiple of 8 or 32.
TEST(SignPacking, RoundTripOddShapes) {
  const int64_t shapes[][2] = {{1, 1},  {3, 7},   {5, 31}, {7, 33},
                               {9, 65}, {13, 100}, {1, 129}, {31, 257}};
  unsigned seed = 1;
  for (const SignLayout &layout : allLayouts())
    for (auto &shape : shapes) {
      int64_t rows = shape[0], cols = shape[1];
      std::vector<float> w = randomMatrix(rows, cols, seed++);
      std::vector<uint8_t> packed(layout.bytes(rows, cols), 0xAB);
      EXPECT_EQ(packSigns(w.data(), rows, cols, layout, packed.data()), 0);
      std::vector<float> s(rows * cols);
      unpackSigns(packed.data(), rows, cols, layout, s.data());
      for (int64_t i = 0; i < rows * cols; ++i)
        ASSERT_EQ(s[i], w[i] < 0 ? -1.0f : 1.0f)
            << "layout word_bits=" << layout.wordBits << " at " << i;
    }
}

// The canonical layout is byte-identical to the OneBit reference packing
// (bit 1 = -1, LSB first, column 8j+k -> bit k of byte j) per row.
TEST(SignPacking, CanonicalMatchesReferenceBytes) {
  const int64_t rows = 5, cols = 77;
  std::vector<float> w = randomMatrix(rows, cols, 42);
  SignLayout canon = SignLayout::canonical();
  std::vector<uint8_t> packed(canon.bytes(rows, cols));
  packSigns(w.data(), rows, cols, canon, packed.data());
  ASSERT_EQ(canon.bytesPerRow(cols), 12); // ceil(77 / 32) * 4
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < canon.bytesPerRow(cols) * 8; ++c) {
      uint8_t byte = packed[r * canon.bytesPerRow(cols) + c / 8];
      bool bit = (byte >> (c % 8)) & 1;
      bool expected = c < cols && w[r * cols + c] < 0;
      ASSERT_EQ(bit, expected) << "row " << r << " col " << c;
    }
}

TEST(SignPacking, ZeroPacksAsPlusOneAndPaddingIsZero) {
  SignLayout canon = SignLayout::canonical();
  float w[3] = {0.0f, -0.0f, -1.0f};
  uint32_t word = 0xffffffff;
  packSigns(w, 1, 3, canon, &word);
  EXPECT_EQ(word, 0x4u);
}

TEST(SignPacking, CountsNaN) {
  float w[4] = {1.0f, std::nanf(""), -2.0f, std::nanf("")};
  uint32_t word;
  EXPECT_EQ(packSigns(w, 1, 4, SignLayout::canonical(), &word), 2);
}

TEST(SignPacking, HalfAndBFloat16) {
  // f16: 0x3c00 = 1, 0xbc00 = -1, 0x8000 = -0, 0x7e00 = NaN.
  uint16_t f16[4] = {0x3c00, 0xbc00, 0x8000, 0x7e00};
  uint32_t word;
  EXPECT_EQ(packSignsF16(f16, 1, 4, SignLayout::canonical(), &word), 1);
  EXPECT_EQ(word, 0x2u);
  // bf16: 0x3f80 = 1, 0xbf80 = -1, 0xffc0 = NaN (sign set), 0x8000 = -0.
  uint16_t bf16[4] = {0xbf80, 0x3f80, 0xffc0, 0x8000};
  EXPECT_EQ(packSignsBF16(bf16, 1, 4, SignLayout::canonical(), &word), 1);
  EXPECT_EQ(word, 0x1u);
}

TEST(SignPacking, RepackBetweenLayouts) {
  const int64_t rows = 11, cols = 45;
  std::vector<float> w = randomMatrix(rows, cols, 7);
  for (const SignLayout &from : allLayouts())
    for (const SignLayout &to : allLayouts()) {
      std::vector<uint8_t> a(from.bytes(rows, cols)), b(to.bytes(rows, cols)),
          direct(to.bytes(rows, cols));
      packSigns(w.data(), rows, cols, from, a.data());
      repackSigns(a.data(), from, rows, cols, to, b.data());
      packSigns(w.data(), rows, cols, to, direct.data());
      ASSERT_EQ(b, direct);
    }
}

TEST(SignPacking, OneBitPerWeight) {
  SignLayout canon = SignLayout::canonical();
  EXPECT_EQ(canon.bytes(4096, 4096), 4096 * 4096 / 8);
  EXPECT_EQ(canon.bytes(11008, 4096), 11008LL * 4096 / 8);
  EXPECT_LE(canon.bytes(3, 33), 3 * ((33 + 31) / 32) * 4);
}

} // namespace
