//===- CompilerBuiltinsTest.cpp - the runtime's compiler library calls ----===//

#include "gtest/gtest.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

extern "C" _Float16 __truncsfbf2(float value);

namespace {

uint16_t bf16Bits(float value) {
  _Float16 h = __truncsfbf2(value);
  uint16_t out;
  std::memcpy(&out, &h, sizeof(out));
  return out;
}

float fromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

TEST(CompilerBuiltins, TruncSfBf2RoundsToNearestEven) {
  EXPECT_EQ(bf16Bits(1.0f), 0x3f80);
  EXPECT_EQ(bf16Bits(-2.0f), 0xc000);
  EXPECT_EQ(bf16Bits(0.0f), 0x0000);
  EXPECT_EQ(bf16Bits(-0.0f), 0x8000);
  // Exactly half way: ties go to the even neighbour.
  EXPECT_EQ(bf16Bits(fromBits(0x3f808000u)), 0x3f80); // even below
  EXPECT_EQ(bf16Bits(fromBits(0x3f818000u)), 0x3f82); // odd below: up
  // Above and below half way.
  EXPECT_EQ(bf16Bits(fromBits(0x3f808001u)), 0x3f81);
  EXPECT_EQ(bf16Bits(fromBits(0x3f807fffu)), 0x3f80);
  // Subnormals round the same way.
  EXPECT_EQ(bf16Bits(fromBits(0x00018000u)), 0x0002);
}

TEST(CompilerBuiltins, TruncSfBf2SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(bf16Bits(inf), 0x7f80);
  EXPECT_EQ(bf16Bits(-inf), 0xff80);
  // The largest floats round up to infinity.
  EXPECT_EQ(bf16Bits(std::numeric_limits<float>::max()), 0x7f80);
  // NaNs stay NaNs, even those whose payload is only in the low bits.
  for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu}) {
    uint16_t b = bf16Bits(fromBits(nan));
    EXPECT_EQ(b & 0x7f80, 0x7f80) << std::hex << nan;
    EXPECT_NE(b & 0x007f, 0) << std::hex << nan;
    EXPECT_EQ(b & 0x8000, (nan >> 16) & 0x8000) << std::hex << nan;
  }
}

} // namespace
