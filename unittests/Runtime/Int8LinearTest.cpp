//===- Int8LinearTest.cpp - the weight-only int8 kernel against FP64 -------===//

#include "onebit/Runtime/CpuKernels.h"

#include "RelError.h"
#include "gtest/gtest.h"

#include <cmath>
#include <random>
#include <vector>

using onebit::test::maxRelError;

namespace {

struct Int8Layer {
  int64_t m, k, n;
  std::vector<float> x, scales, bias;
  std::vector<int8_t> w;
};

Int8Layer makeLayer(int64_t m, int64_t k, int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> q(-127, 127);
  std::uniform_real_distribution<float> pos(0.001f, 0.02f);
  Int8Layer l{m, k, n, {}, {}, {}, {}};
  l.x.resize(m * k);
  for (float &v : l.x)
    v = normal(rng);
  l.w.resize(n * k);
  for (int8_t &v : l.w)
    v = static_cast<int8_t>(q(rng));
  l.scales.resize(n);
  for (float &v : l.scales)
    v = pos(rng);
  l.bias.resize(n);
  for (float &v : l.bias)
    v = normal(rng);
  return l;
}

std::vector<double> reference(const Int8Layer &l, bool bias) {
  std::vector<double> y(l.m * l.n);
  for (int64_t i = 0; i < l.m; ++i)
    for (int64_t r = 0; r < l.n; ++r) {
      double acc = 0;
      for (int64_t c = 0; c < l.k; ++c)
        acc += double(l.x[i * l.k + c]) * l.w[r * l.k + c];
      y[i * l.n + r] = acc * l.scales[r] + (bias ? l.bias[r] : 0.0);
    }
  return y;
}

struct Restore {
  ~Restore() {
    onebit_runtime_set_isa(2);
    onebit_runtime_set_num_threads(0);
    onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_INT16);
  }
};

std::vector<float> run(const Int8Layer &l, bool bias) {
  std::vector<float> got(l.m * l.n, std::nanf(""));
  onebit_int8_linear_f32(l.x.data(), l.m, l.k, l.w.data(), l.n,
                         l.scales.data(), bias ? l.bias.data() : nullptr,
                         got.data());
  return got;
}

// M = 1 and 2 (the streaming decode kernel), M >= 3 (the panel kernel, with
// 3-row blocks and 1- and 2-row remainders); K below 8, not a multiple of 8
// or 16; N not a multiple of 4 or of the 16-row panel.
struct Shape {
  int64_t m, k, n;
};
const Shape kShapes[] = {{1, 1, 1},    {1, 7, 3},     {1, 37, 5},
                         {1, 576, 67}, {2, 23, 9},    {2, 130, 33},
                         {3, 40, 17},  {4, 101, 31},  {5, 8, 16},
                         {7, 300, 49}, {64, 576, 70}, {11, 1000, 129}};

// EXACT: f32 products on every path.
TEST(Int8Linear, MatchesReferenceOnEveryIsaAndThreadCount) {
  Restore restore;
  onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_EXACT);
  const int best = onebit_runtime_get_isa();
  unsigned seed = 7;
  for (const Shape &s : kShapes) {
    Int8Layer l = makeLayer(s.m, s.k, s.n, seed++);
    for (int bias = 0; bias < 2; ++bias) {
      std::vector<double> want = reference(l, bias);
      for (int isa = 0; isa <= best; ++isa)
        for (int threads = 1; threads <= 2; ++threads) {
          onebit_runtime_set_isa(isa);
          onebit_runtime_set_num_threads(threads);
          std::vector<float> got(s.m * s.n, std::nanf(""));
          onebit_int8_linear_f32(l.x.data(), s.m, s.k, l.w.data(), s.n,
                                 l.scales.data(),
                                 bias ? l.bias.data() : nullptr, got.data());
          EXPECT_LT(maxRelError(got, want, s.m, s.n), 1e-5)
              << "m=" << s.m << " k=" << s.k << " n=" << s.n
              << " bias=" << bias << " isa=" << isa
              << " threads=" << threads;
        }
    }
  }
}

TEST(Int8Linear, CInterfaceWithStridedOperands) {
  Restore restore;
  onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_EXACT);
  const int64_t m = 3, k = 19, n = 6;
  Int8Layer l = makeLayer(m, k, n, 99);
  std::vector<double> want = reference(l, true);
  // x stored transposed (k x m), read through strides.
  std::vector<float> xt(k * m);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < k; ++c)
      xt[c * m + i] = l.x[i * k + c];
  std::vector<float> y(n * m, std::nanf("")); // y stored transposed too
  StridedMemRefType<float, 2> x{xt.data(), xt.data(), 0, {m, k}, {1, m}};
  StridedMemRefType<int8_t, 2> w{l.w.data(), l.w.data(), 0, {n, k}, {k, 1}};
  StridedMemRefType<float, 1> sc{l.scales.data(), l.scales.data(), 0, {n},
                                 {1}};
  StridedMemRefType<float, 1> b{l.bias.data(), l.bias.data(), 0, {n}, {1}};
  StridedMemRefType<float, 2> out{y.data(), y.data(), 0, {m, n}, {1, m}};
  _mlir_ciface_onebit_int8_linear_f32(&x, &w, &sc, &b, &out);
  std::vector<float> got(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < n; ++r)
      got[i * n + r] = y[r * m + i];
  EXPECT_LT(maxRelError(got, want, m, n), 1e-5);
}

// The approximate modes (INT16, the default, and FAST_APPROX) quantize up to
// two activation rows per block of 32 (q8) for integer dot products (AVX2
// maddubs). K an even and an odd number of blocks (the kernel takes blocks
// in pairs), a tail past the last block, below one block (exact); M = 3 is
// exact again.
TEST(Int8Linear, ApproximateDecodeStaysClose) {
  Restore restore;
  const int best = onebit_runtime_get_isa();
  const Shape shapes[] = {{1, 576, 131}, {1, 608, 33}, {2, 1000, 47},
                          {1, 2049, 29}, {1, 31, 17},  {3, 576, 40}};
  unsigned seed = 300;
  for (int mode : {ONEBIT_KERNEL_INT16, ONEBIT_KERNEL_FAST_APPROX})
    for (const Shape &s : shapes) {
      Int8Layer l = makeLayer(s.m, s.k, s.n, seed++);
      std::vector<double> want = reference(l, true);
      for (int isa = 0; isa <= best; ++isa)
        for (int threads = 1; threads <= 2; ++threads) {
          onebit_runtime_set_kernel_mode(mode);
          onebit_runtime_set_isa(isa);
          onebit_runtime_set_num_threads(threads);
          const double err = maxRelError(run(l, true), want, s.m, s.n);
          const bool q8 = isa >= 1 && s.m <= 2 && s.k >= 32;
          // q8: each activation off by at most 1/254 of its block's
          // largest; the sums of hundreds of such errors stay near 1e-3 of
          // the row's range.
          EXPECT_LT(err, q8 ? 1e-2 : 1e-5)
              << "mode=" << mode << " m=" << s.m << " k=" << s.k
              << " n=" << s.n << " isa=" << isa << " threads=" << threads;
          // The quantized kernel really ran: far above f32 rounding.
          if (q8)
            EXPECT_GT(err, 1e-5) << "mode=" << mode << " k=" << s.k
                                 << " isa=" << isa;
        }
    }
}

TEST(Int8Linear, ApproximateDecodePropagatesNaN) {
  Restore restore;
  Int8Layer l = makeLayer(2, 576, 37, 11);
  l.x[5] = std::nanf("");     // row 0
  l.x[576 + 300] = INFINITY;  // row 1
  for (int isa = 1; isa <= onebit_runtime_get_isa(); ++isa) {
    onebit_runtime_set_isa(isa);
    std::vector<float> y = run(l, false);
    for (int64_t i = 0; i < l.m; ++i)
      for (int64_t r = 0; r < l.n; ++r)
        EXPECT_FALSE(std::isfinite(y[i * l.n + r]))
            << "row " << i << " output " << r << " isa=" << isa;
  }
}

} // namespace
