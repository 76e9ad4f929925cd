//===- ReferenceTest.cpp - gpu-bench's f16 conversions and reference ------===//

#include "Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

using namespace gpubench;

namespace {

TEST(GpuBenchReference, HalfRoundTripsEveryFiniteValue) {
  for (uint32_t h = 0; h < 65536; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) // NaN: any NaN back is fine
      continue;
    ASSERT_EQ(floatToHalf(halfToFloat(uint16_t(h))), h) << std::hex << h;
  }
}

TEST(GpuBenchReference, HalfKnownValues) {
  EXPECT_EQ(floatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(floatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(floatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(floatToHalf(65520.0f), 0x7c00); // rounds to infinity
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -24)), 0x0001); // smallest subnormal
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -25)), 0x0000); // tie: to even (0)
  EXPECT_EQ(floatToHalf(std::ldexp(3.0f, -25)), 0x0002); // tie: to even (2)
  EXPECT_EQ(floatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00); // tie down
  EXPECT_EQ(floatToHalf(1.0f + std::ldexp(3.0f, -11)), 0x3c02); // tie up
  EXPECT_EQ(floatToHalf(NAN) & 0x7e00, 0x7e00);
  EXPECT_EQ(halfToFloat(0x3555), 0.333251953125f);
  EXPECT_EQ(halfToFloat(0x8001), -std::ldexp(1.0f, -24));
}

// The reference against the layer's definition written out on a small
// layer: K = 33 (a padded sign word), y = h[n] Σ_k S[n,k] g[k] x[m,k] with
// bit 1 = -1, LSB first.
TEST(GpuBenchReference, RowMatchesTheDefinition) {
  LayerShape s;
  s.m = 2;
  s.n = 5;
  s.k = 33;
  LayerData d = LayerData::random(s, 3);
  ASSERT_EQ(d.signs.size(), size_t(5 * 2));
  for (int64_t n = 0; n < s.n; ++n) // padding bits are zero
    EXPECT_EQ(d.signs[n * 2 + 1] >> 1, 0u);
  std::vector<int64_t> cols = {0, 2, 4};
  std::vector<double> out, scale;
  referenceRow(s, d, 1, cols, out, scale);
  ASSERT_EQ(out.size(), 3u);
  for (size_t i = 0; i < cols.size(); ++i) {
    int64_t n = cols[i];
    double want = 0, abs = 0;
    for (int64_t k = 0; k < s.k; ++k) {
      bool negative = (d.signs[n * 2 + k / 32] >> (k % 32)) & 1;
      double v = double(halfToFloat(d.x[s.k + k])) * halfToFloat(d.g[k]);
      want += negative ? -v : v;
      abs += std::fabs(v);
    }
    double h = halfToFloat(d.h[n]);
    EXPECT_DOUBLE_EQ(out[i], want * h);
    EXPECT_DOUBLE_EQ(scale[i], abs * std::fabs(h));
  }
}

// With a post-norm the reference is the row normalised: mean 0, biased
// variance 1 (up to eps), the order of the pre-norm values kept.
TEST(GpuBenchReference, PostNormRowIsNormalised) {
  LayerShape s;
  s.m = 1;
  s.n = 64;
  s.k = 96;
  s.normEps = 1e-5;
  LayerData d = LayerData::random(s, 9);
  std::vector<int64_t> all(64), none;
  for (int64_t n = 0; n < 64; ++n)
    all[n] = n;
  std::vector<double> out, scale, pre;
  referenceRow(s, d, 0, all, out, scale);
  LayerShape plain = s;
  plain.normEps = 0;
  referenceRow(plain, d, 0, all, pre, scale);
  double mean = 0, var = 0;
  for (double v : out)
    mean += v / 64;
  for (double v : out)
    var += (v - mean) * (v - mean) / 64;
  EXPECT_NEAR(mean, 0, 1e-12);
  EXPECT_NEAR(var, 1, 1e-3);
  for (int64_t n = 1; n < 64; ++n)
    EXPECT_EQ(out[n] > out[0], pre[n] > pre[0]);
}

} // namespace
