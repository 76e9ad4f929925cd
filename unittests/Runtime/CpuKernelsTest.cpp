//===- CpuKernelsTest.cpp - the CPU 1-bit kernels against a reference -----===//

#include "onebit/Runtime/CpuKernels.h"
#include "onebit/Support/SignPacking.h"

#include "RelError.h"
#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

using onebit::test::maxRelError;

namespace {

struct Layer {
  int64_t m, k, n;
  std::vector<float> x, g, h, bias;
  std::vector<uint32_t> signs;
};

Layer makeLayer(int64_t m, int64_t k, int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> pos(0.5f, 1.5f);
  Layer l{m, k, n, {}, {}, {}, {}, {}};
  l.x.resize(m * k);
  for (float &v : l.x)
    v = normal(rng);
  l.g.resize(k);
  for (float &v : l.g)
    v = pos(rng);
  l.h.resize(n);
  for (float &v : l.h)
    v = pos(rng) * 0.1f;
  l.bias.resize(n);
  for (float &v : l.bias)
    v = normal(rng);
  std::vector<float> w(n * k);
  for (float &v : w)
    v = normal(rng);
  onebit::SignLayout layout = onebit::SignLayout::canonical();
  l.signs.resize(layout.bytes(n, k) / 4);
  onebit::packSigns(w.data(), n, k, layout, l.signs.data());
  return l;
}

// FP64 reference from the unpacked signs.
std::vector<double> reference(const Layer &l, bool norm, bool bias,
                              double eps = 1e-5) {
  std::vector<float> s(l.n * l.k);
  onebit::unpackSigns(l.signs.data(), l.n, l.k,
                      onebit::SignLayout::canonical(), s.data());
  std::vector<double> y(l.m * l.n);
  for (int64_t i = 0; i < l.m; ++i) {
    double *r = &y[i * l.n];
    for (int64_t j = 0; j < l.n; ++j) {
      double acc = 0.0;
      for (int64_t c = 0; c < l.k; ++c)
        acc += double(s[j * l.k + c]) * (double(l.g[c]) * l.x[i * l.k + c]);
      r[j] = acc * l.h[j];
    }
    if (norm) {
      double mean = 0.0, var = 0.0;
      for (int64_t j = 0; j < l.n; ++j)
        mean += r[j];
      mean /= l.n;
      for (int64_t j = 0; j < l.n; ++j)
        var += (r[j] - mean) * (r[j] - mean);
      var /= l.n;
      for (int64_t j = 0; j < l.n; ++j)
        r[j] = (r[j] - mean) / std::sqrt(var + eps);
    }
    if (bias)
      for (int64_t j = 0; j < l.n; ++j)
        r[j] += l.bias[j];
  }
  return y;
}

std::vector<float> run(const Layer &l, bool norm, bool bias) {
  std::vector<float> y(l.m * l.n, std::nanf(""));
  onebit_binary_linear_f32(l.x.data(), l.m, l.k, l.signs.data(), l.n,
                           l.g.data(), l.h.data(),
                           bias ? l.bias.data() : nullptr, norm ? 1e-5f : 0.0f,
                           y.data());
  return y;
}

struct Restore {
  ~Restore() {
    onebit_runtime_set_isa(2);
    onebit_runtime_set_num_threads(0);
    onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_INT16); // the default
    onebit_runtime_set_weight_cache(1);
    onebit_runtime_set_lut_max_m(-1);
  }
};

struct Shape {
  int64_t m, k, n;
};

// K not a multiple of 32 or 8, N odd, M = 1 (decode kernel), M > 1 (lookup
// table GEMM: row tiles of 4 with remainders, several K chunks of 256, more
// than one row tile; AVX2: up to 2 rows the decode kernel) and, with the LUT
// limit at 0, the FMA GEMM (AVX-512) or unpacked panels (AVX2).
const Shape kShapes[] = {{1, 1, 1},     {1, 7, 3},     {1, 37, 5},
                         {1, 100, 33},  {1, 512, 16},  {2, 77, 17},
                         {3, 1000, 49}, {8, 65, 31},   {9, 129, 47},
                         {13, 300, 97}, {30, 520, 65}, {1, 2049, 129},
                         {7, 700, 50},  {70, 300, 33}, {5, 1100, 161},
                         {16, 4096, 40}};

TEST(CpuKernels, MatchesReferenceOnEveryIsaAndThreadCount) {
  Restore restore;
  // FP32 arithmetic: checked to 1e-5 (the default INT16 mode is not).
  onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_EXACT);
  const int best = onebit_runtime_get_isa();
  unsigned seed = 1;
  for (const Shape &s : kShapes) {
    Layer l = makeLayer(s.m, s.k, s.n, seed++);
    for (int norm = 0; norm < 2; ++norm)
      for (int bias = 0; bias < 2; ++bias) {
        std::vector<double> want = reference(l, norm, bias);
        for (int isa = 0; isa <= best; ++isa)
          for (int lut = 0; lut < (isa >= 1 ? 2 : 1); ++lut)
            for (int threads = 1; threads <= 2; ++threads) {
              ASSERT_EQ(onebit_runtime_set_isa(isa), isa);
              // lut = 1: no lookup tables for any m (AVX-512: the FMA
              // GEMM; AVX2: unpacked panels through the dense GEMM, or the
              // sign-flip kernel without BLAS). lut = 0: the lookup tables
              // at every m (m > 1: the K-chunked lookup-table GEMMs).
              onebit_runtime_set_lut_max_m(lut ? 0 : -1);
              onebit_runtime_set_num_threads(threads);
              ASSERT_EQ(onebit_runtime_get_num_threads(), threads);
              std::vector<float> got = run(l, norm, bias);
              double err = maxRelError(got, want, s.m, s.n);
              EXPECT_LT(err, 1e-5)
                  << "m=" << s.m << " k=" << s.k << " n=" << s.n
                  << " norm=" << norm << " bias=" << bias << " isa=" << isa
                  << " fmaGemm=" << lut << " threads=" << threads;
            }
      }
  }
}

TEST(CpuKernels, FastKernelAvailability) {
  Restore restore;
  ASSERT_EQ(onebit_runtime_set_isa(0), 0);
  EXPECT_EQ(onebit_runtime_has_fast_kernel(), 0);
  if (onebit_runtime_set_isa(1) == 1)
    EXPECT_EQ(onebit_runtime_has_fast_kernel(), 1);
}

TEST(CpuKernels, Int16IsTheDefaultMode) {
  EXPECT_EQ(onebit_runtime_get_kernel_mode(), ONEBIT_KERNEL_INT16);
  EXPECT_EQ(onebit_runtime_set_kernel_mode(42), -1);
  EXPECT_EQ(onebit_runtime_get_kernel_mode(), ONEBIT_KERNEL_INT16);
}

TEST(CpuKernels, KernelModeNames) {
  Restore restore;
  for (int mode : {ONEBIT_KERNEL_EXACT, ONEBIT_KERNEL_FAST_APPROX,
                   ONEBIT_KERNEL_INT16}) {
    const char *name = onebit_runtime_kernel_mode_name(mode);
    ASSERT_NE(name, nullptr);
    EXPECT_EQ(onebit_runtime_kernel_mode_from_name(name), mode) << name;
    onebit_runtime_set_kernel_mode(mode);
    EXPECT_EQ(onebit_runtime_get_kernel_mode(), mode);
  }
  EXPECT_STREQ(onebit_runtime_kernel_mode_name(ONEBIT_KERNEL_INT16), "int16");
  EXPECT_STREQ(onebit_runtime_kernel_mode_name(ONEBIT_KERNEL_EXACT), "exact");
  EXPECT_STREQ(onebit_runtime_kernel_mode_name(ONEBIT_KERNEL_FAST_APPROX),
               "fast");
  EXPECT_EQ(onebit_runtime_kernel_mode_from_name("quick"), -1);
  EXPECT_EQ(onebit_runtime_kernel_mode_from_name(nullptr), -1);
  EXPECT_EQ(onebit_runtime_kernel_mode_name(7), nullptr);
}

// The default INT16 decode kernels against the FP64 reference and against
// EXACT: ragged K (not a multiple of 32, of the 1024-column chunk, a partial
// last chunk, one word), N not a multiple of 16, m = 1..8 (AVX-512 row tiles
// of 4 with remainders, AVX2 tiles of 2), m = 9 exact again, 1 and 2
// threads, both ISAs. Documented error: <= 1e-4 of a row's largest |output|
// for Gaussian activations at these widths (measured ~3e-5 at K = 14336);
// small N (few outputs to take the maximum over) allows 1e-3.
TEST(CpuKernels, Int16MatchesExact) {
  Restore restore;
  const int best = onebit_runtime_get_isa();
  const Shape shapes[] = {{1, 37, 5},     {1, 1000, 97},  {2, 2049, 129},
                          {3, 520, 33},   {4, 1100, 161}, {5, 4100, 40},
                          {6, 300, 17},   {7, 6000, 50},  {8, 513, 31},
                          {9, 129, 47},   {1, 4096, 256}, {8, 4096, 64},
                          {1, 16, 3},     {2, 33, 16}};
  unsigned seed = 300;
  for (const Shape &s : shapes) {
    Layer l = makeLayer(s.m, s.k, s.n, seed++);
    std::vector<double> want = reference(l, false, false);
    for (int isa = 1; isa <= best; ++isa)
      for (int threads = 1; threads <= 2; ++threads) {
        ASSERT_EQ(onebit_runtime_set_isa(isa), isa);
        onebit_runtime_set_num_threads(threads);
        onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_EXACT);
        const std::vector<float> exact = run(l, false, false);
        onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_INT16);
        const std::vector<float> got = run(l, false, false);
        const double err = maxRelError(got, want, s.m, s.n);
        const double tol = s.m > 8 ? 1e-5 : s.n >= 64 ? 1e-4 : 1e-3;
        EXPECT_LT(err, tol) << "m=" << s.m << " k=" << s.k << " n=" << s.n
                            << " isa=" << isa << " threads=" << threads;
        // The INT16 kernel really ran where there is one (it rounds, so its
        // result is not the exact one), and not above 8 rows.
        if (s.k >= 100)
          EXPECT_EQ(got != exact,
                    s.m <= 8 && onebit_runtime_has_fast_kernel() != 0)
              << "m=" << s.m << " k=" << s.k << " isa=" << isa;
      }
  }
  // Without an int8-capable ISA the mode computes exactly.
  ASSERT_EQ(onebit_runtime_set_isa(0), 0);
  Layer l = makeLayer(2, 300, 20, 399);
  EXPECT_LT(maxRelError(run(l, false, false), reference(l, false, false), 2,
                        20),
            1e-5);
}

// The Gaussian case of docs/kernels.md: error well below FAST_APPROX's.
TEST(CpuKernels, Int16GaussianError) {
  Restore restore;
  Layer l = makeLayer(1, 4096, 512, 321);
  std::vector<double> want = reference(l, false, false);
  for (int isa = 1; isa <= onebit_runtime_get_isa(); ++isa) {
    ASSERT_EQ(onebit_runtime_set_isa(isa), isa);
    if (!onebit_runtime_has_fast_kernel())
      continue;
    onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_INT16);
    const double e16 = maxRelError(run(l, false, false), want, 1, l.n);
    onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_FAST_APPROX);
    const double e8 = maxRelError(run(l, false, false), want, 1, l.n);
    EXPECT_LT(e16, 1e-4) << "isa=" << isa;
    EXPECT_GT(e16, 1e-7) << "isa=" << isa; // it rounds: not the exact kernel
    EXPECT_LT(e16 * 50, e8) << "isa=" << isa;
  }
}

TEST(CpuKernels, Int16PropagatesNaN) {
  Restore restore;
  onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_INT16);
  // Row 0 a NaN, row 1 an Inf, row 2 clean, row 3 a -Inf past the first
  // 1024-column chunk.
  Layer l = makeLayer(4, 1300, 37, 92);
  l.x[5] = std::nanf("");
  l.x[1300 + 7] = INFINITY;
  l.x[3 * 1300 + 1100] = -INFINITY;
  for (int isa = 1; isa <= onebit_runtime_get_isa(); ++isa)
    for (int threads = 1; threads <= 2; ++threads) {
      ASSERT_EQ(onebit_runtime_set_isa(isa), isa);
      onebit_runtime_set_num_threads(threads);
      std::vector<float> y = run(l, false, false);
      for (int64_t j = 0; j < l.n; ++j) {
        EXPECT_TRUE(std::isnan(y[j])) << "isa=" << isa << " col " << j;
        EXPECT_FALSE(std::isfinite(y[l.n + j])) << "isa=" << isa;
        EXPECT_TRUE(std::isfinite(y[2 * l.n + j])) << "isa=" << isa;
        EXPECT_FALSE(std::isfinite(y[3 * l.n + j])) << "isa=" << isa;
      }
    }
}

TEST(CpuKernels, FastApproxStaysClose) {
  Restore restore;
  Layer l = makeLayer(2, 1000, 97, 7);
  std::vector<double> want = reference(l, false, false);
  onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_EXACT);
  ASSERT_EQ(onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_FAST_APPROX),
            ONEBIT_KERNEL_EXACT);
  std::vector<float> got = run(l, false, false);
  double err = maxRelError(got, want, l.m, l.n);
  // int8 tables with one scale per row: a few percent of the row's range.
  EXPECT_LT(err, 0.05);
  onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_EXACT);
  EXPECT_LT(maxRelError(run(l, false, false), want, l.m, l.n), 1e-5);
}

TEST(CpuKernels, FastApproxShapes) {
  Restore restore;
  onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_FAST_APPROX);
  const int best = onebit_runtime_get_isa();
  // K not a multiple of 32 (odd word count too), K past one int16 flush of
  // the AVX2 kernel (64 words), N odd, M up to the decode limit of 8 and past
  // it (exact again).
  const Shape shapes[] = {{1, 37, 5},   {1, 1000, 97}, {3, 2049, 129},
                          {8, 330, 31}, {9, 129, 47},  {1, 4100, 33},
                          {2, 6000, 40}};
  unsigned seed = 40;
  for (const Shape &s : shapes) {
    Layer l = makeLayer(s.m, s.k, s.n, seed++);
    std::vector<double> want = reference(l, false, false);
    // AVX2 always has its int8 kernel; AVX-512 only with VBMI + VNNI
    // (onebit_runtime_has_fast_kernel says which).
    for (int isa = 1; isa <= best; ++isa)
      for (int threads = 1; threads <= 2; ++threads) {
        ASSERT_EQ(onebit_runtime_set_isa(isa), isa);
        onebit_runtime_set_num_threads(threads);
        double err = maxRelError(run(l, false, false), want, s.m, s.n);
        EXPECT_LT(err, s.m > 8 ? 1e-5 : 0.05)
            << "m=" << s.m << " k=" << s.k << " n=" << s.n << " isa=" << isa
            << " threads=" << threads;
        // The approximate kernel really ran: int8 tables are off by far
        // more than FP32 rounding.
        if (onebit_runtime_has_fast_kernel() && s.m <= 8 && s.k >= 100)
          EXPECT_GT(err, 1e-4) << "m=" << s.m << " k=" << s.k
                               << " isa=" << isa;
      }
  }
}

TEST(CpuKernels, FastApproxPropagatesNaN) {
  Restore restore;
  onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_FAST_APPROX);
  Layer l = makeLayer(2, 300, 37, 90);
  l.x[5] = std::nanf("");             // row 0
  l.x[300 + 7] = INFINITY;            // row 1
  Layer clean = makeLayer(1, 300, 37, 91);
  for (int isa = 1; isa <= onebit_runtime_get_isa(); ++isa) {
    ASSERT_EQ(onebit_runtime_set_isa(isa), isa);
    std::vector<float> y = run(l, false, false);
    for (int64_t j = 0; j < l.n; ++j) {
      EXPECT_TRUE(std::isnan(y[j])) << "isa=" << isa << " col " << j;
      EXPECT_FALSE(std::isfinite(y[l.n + j])) << "isa=" << isa << " col " << j;
    }
    for (float v : run(clean, false, false))
      EXPECT_TRUE(std::isfinite(v)) << "isa=" << isa;
  }
}

// Many short jobs back to back, more workers than cores and pool resizes:
// no hang (the loop in the docs runs this 20 times) and the same results.
TEST(CpuKernels, PoolManyShortJobs) {
  Restore restore;
  // FP32 arithmetic: checked to 1e-5 (the default INT16 mode is not).
  onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_EXACT);
  Layer l = makeLayer(1, 200, 100, 77);
  std::vector<double> want = reference(l, false, true);
  for (int threads : {2, 3, 4, 1, 2}) {
    onebit_runtime_set_num_threads(threads);
    for (int rep = 0; rep < 300; ++rep) {
      std::vector<float> got = run(l, false, true);
      ASSERT_LT(maxRelError(got, want, 1, l.n), 1e-5)
          << "threads=" << threads << " rep=" << rep;
    }
  }
}

TEST(CpuKernels, LutLimitSetter) {
  Restore restore;
  const int64_t def = onebit_runtime_set_lut_max_m(3);
  EXPECT_GE(def, 0);
  EXPECT_EQ(onebit_runtime_set_lut_max_m(-1), 3);
  EXPECT_EQ(onebit_runtime_set_lut_max_m(-1), def);
}

TEST(CpuKernels, CacheFollowsForgottenAndChangedWeights) {
  Restore restore;
  // FP32 arithmetic: checked to 1e-5 (the default INT16 mode is not).
  onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_EXACT);
  Layer l = makeLayer(1, 300, 40, 11);
  std::vector<double> want = reference(l, false, false);
  EXPECT_LT(maxRelError(run(l, false, false), want, 1, l.n), 1e-5);
  // Same address, new contents: forgetting it must give the new result.
  for (uint32_t &w : l.signs)
    w = ~w;
  for (int64_t r = 0; r < l.n; ++r)
    l.signs[r * 10 + 9] &= (1u << (300 - 288)) - 1; // keep padding bits 0
  onebit_runtime_forget_weights(l.signs.data());
  want = reference(l, false, false);
  EXPECT_LT(maxRelError(run(l, false, false), want, 1, l.n), 1e-5);
  // With the cache off nothing is remembered.
  onebit_runtime_set_weight_cache(0);
  l.signs[0] ^= 1u;
  want = reference(l, false, false);
  EXPECT_LT(maxRelError(run(l, false, false), want, 1, l.n), 1e-5);
}

TEST(CpuKernels, CInterfaceWithStridedOperands) {
  Restore restore;
  // FP32 arithmetic: checked to 1e-5 (the default INT16 mode is not).
  onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_EXACT);
  for (int64_t m : {1, 20}) {
    const int64_t k = 45, n = 19, kw = 2;
    Layer l = makeLayer(m, k, n, 23 + m);
    std::vector<double> want = reference(l, true, true);

    // x stored transposed (k x m), seen as m x k with strides [1, m].
    std::vector<float> xt(k * m);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t c = 0; c < k; ++c)
        xt[c * m + i] = l.x[i * k + c];
    StridedMemRefType<float, 2> x{xt.data(), xt.data(), 0, {m, k}, {1, m}};
    // signs with a row pitch of 3 words.
    std::vector<int32_t> sp(n * 3, -1);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t w = 0; w < kw; ++w)
        sp[r * 3 + w] = static_cast<int32_t>(l.signs[r * kw + w]);
    StridedMemRefType<int32_t, 2> s{sp.data(), sp.data(), 0, {n, kw}, {3, 1}};
    // g every other element, with an offset.
    std::vector<float> gs(2 * k + 1);
    for (int64_t c = 0; c < k; ++c)
      gs[1 + 2 * c] = l.g[c];
    StridedMemRefType<float, 1> g{gs.data(), gs.data(), 1, {k}, {2}};
    StridedMemRefType<float, 1> h{l.h.data(), l.h.data(), 0, {n}, {1}};
    StridedMemRefType<float, 1> b{l.bias.data(), l.bias.data(), 0, {n}, {1}};
    // y with a row pitch of n + 3.
    std::vector<float> ys(m * (n + 3), 1234.0f);
    StridedMemRefType<float, 2> y{ys.data(), ys.data(), 0, {m, n}, {n + 3, 1}};
    _mlir_ciface_onebit_binary_linear_f32(&x, &s, &g, &h, &b, 1e-5f, &y);
    std::vector<float> got(m * n);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        got[i * n + j] = ys[i * (n + 3) + j];
    EXPECT_LT(maxRelError(got, want, m, n), 1e-5) << "m=" << m;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = n; j < n + 3; ++j)
        EXPECT_EQ(ys[i * (n + 3) + j], 1234.0f);

    // Contiguous operands and no bias (sizes[0] == 0).
    StridedMemRefType<float, 2> xc{l.x.data(), l.x.data(), 0, {m, k}, {k, 1}};
    StridedMemRefType<int32_t, 2> sc{
        reinterpret_cast<int32_t *>(l.signs.data()),
        reinterpret_cast<int32_t *>(l.signs.data()), 0, {n, kw}, {kw, 1}};
    StridedMemRefType<float, 1> gc{l.g.data(), l.g.data(), 0, {k}, {1}};
    StridedMemRefType<float, 1> none{nullptr, nullptr, 0, {0}, {1}};
    std::vector<float> yc(m * n);
    StridedMemRefType<float, 2> yv{yc.data(), yc.data(), 0, {m, n}, {n, 1}};
    _mlir_ciface_onebit_binary_linear_f32(&xc, &sc, &gc, &h, &none, 0.0f,
                                          &yv);
    EXPECT_LT(maxRelError(yc, reference(l, false, false), m, n), 1e-5);
  }
}

TEST(CpuKernelsDeathTest, CInterfaceRejectsInconsistentShapes) {
  std::vector<float> x(2 * 40), g(40), h(5), y(2 * 5);
  std::vector<int32_t> s(5 * 2);
  StridedMemRefType<float, 2> xv{x.data(), x.data(), 0, {2, 40}, {40, 1}};
  StridedMemRefType<int32_t, 2> sv{s.data(), s.data(), 0, {5, 2}, {2, 1}};
  StridedMemRefType<float, 1> gv{g.data(), g.data(), 0, {39}, {1}};
  StridedMemRefType<float, 1> hv{h.data(), h.data(), 0, {5}, {1}};
  StridedMemRefType<float, 1> none{nullptr, nullptr, 0, {0}, {1}};
  StridedMemRefType<float, 2> yv{y.data(), y.data(), 0, {2, 5}, {5, 1}};
  EXPECT_DEATH(_mlir_ciface_onebit_binary_linear_f32(&xv, &sv, &gv, &hv,
                                                     &none, 0.0f, &yv),
               "g size is 39, expected 40");
}

} // namespace
