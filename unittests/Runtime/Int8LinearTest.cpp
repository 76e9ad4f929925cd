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
  }
};

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

TEST(Int8Linear, MatchesReferenceOnEveryIsaAndThreadCount) {
  Restore restore;
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

} // namespace
