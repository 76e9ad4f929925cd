//===- SignMatmulTest.cpp - A . sign(W) against FP64 ----------------------===//
//
// onebit_sign_matmul_f32 (runtime/lib/SignMatmul.cpp) over every ISA level
// and thread count: both orientations of W (the train step's forward reads
// sign(W)^T, its input gradient sign(W)), general strides, column-major and
// accumulated outputs, broadcast and per-batch weights, and the sign rule
// (0, -0 and NaN are +1).
//
//===----------------------------------------------------------------------===//

#include "onebit/Runtime/CpuKernels.h"
#include "onebit/Runtime/DenseMatmul.h"

#include "RelError.h"
#include "gtest/gtest.h"

#include <cmath>
#include <random>
#include <vector>

using onebit::test::maxRelError;

namespace {

struct Restore {
  ~Restore() {
    onebit_runtime_set_isa(2);
    onebit_runtime_set_num_threads(0);
    onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_INT16); // the default
  }
};

/// One product C[b] = A[b] . sign(W[b]) + beta C[b] over views with the
/// given strides into flat buffers.
struct Case {
  int64_t B1, M, N, K;
  bool wRowMajor;   // W element (k, n) at k * N + n, else at n * K + k
  bool wBroadcast;  // one W for every batch (stride 0)
  bool aColMajor;   // A element (i, k) at k * M + i
  bool cColMajor;   // C element (i, n) at n * M + i
  float beta;
};

double signOf(float w) { return w < 0.0f ? -1.0 : 1.0; }

void run(const Case &c, unsigned seed, int isa, int threads) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t nw = c.wBroadcast ? 1 : c.B1;
  std::vector<float> a(c.B1 * c.M * c.K), w(nw * c.K * c.N),
      cbuf(c.B1 * c.M * c.N);
  for (float &v : a)
    v = normal(rng);
  for (size_t i = 0; i < w.size(); ++i) {
    // Exact zeros, negative zeros and NaNs all read as +1.
    switch (i % 23) {
    case 3: w[i] = 0.0f; break;
    case 7: w[i] = -0.0f; break;
    case 11: w[i] = std::nanf(""); break;
    default: w[i] = normal(rng);
    }
  }
  for (float &v : cbuf)
    v = c.beta == 0.0f ? std::nanf("") : normal(rng);

  const int64_t aStrides[4] = {0, c.M * c.K, c.aColMajor ? 1 : c.K,
                               c.aColMajor ? c.M : 1};
  const int64_t wStrides[4] = {0, c.wBroadcast ? 0 : c.K * c.N,
                               c.wRowMajor ? c.N : 1, c.wRowMajor ? 1 : c.K};
  const int64_t cStrides[4] = {0, c.M * c.N, c.cColMajor ? 1 : c.N,
                               c.cColMajor ? c.M : 1};

  // The reference, batch by batch, rows m of N.
  std::vector<double> want(c.B1 * c.M * c.N);
  for (int64_t b = 0; b < c.B1; ++b)
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t n = 0; n < c.N; ++n) {
        double acc = 0.0;
        for (int64_t k = 0; k < c.K; ++k)
          acc += double(a[b * aStrides[1] + i * aStrides[2] + k * aStrides[3]]) *
                 signOf(w[b * wStrides[1] + k * wStrides[2] + n * wStrides[3]]);
        const float old =
            cbuf[b * cStrides[1] + i * cStrides[2] + n * cStrides[3]];
        want[(b * c.M + i) * c.N + n] =
            acc + (c.beta == 0.0f ? 0.0 : double(c.beta) * old);
      }

  onebit_runtime_set_isa(isa);
  onebit_runtime_set_num_threads(threads);
  onebit_sign_matmul_f32(1, c.B1, c.M, c.N, c.K, a.data(), aStrides, w.data(),
                         wStrides, c.beta, cbuf.data(), cStrides);
  std::vector<float> got(want.size());
  for (int64_t b = 0; b < c.B1; ++b)
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t n = 0; n < c.N; ++n)
        got[(b * c.M + i) * c.N + n] =
            cbuf[b * cStrides[1] + i * cStrides[2] + n * cStrides[3]];
  EXPECT_LT(maxRelError(got, want, c.B1 * c.M, c.N), 1e-5)
      << "B1=" << c.B1 << " M=" << c.M << " N=" << c.N << " K=" << c.K
      << " wRowMajor=" << c.wRowMajor << " wBroadcast=" << c.wBroadcast
      << " aColMajor=" << c.aColMajor << " cColMajor=" << c.cColMajor
      << " beta=" << c.beta << " isa=" << isa << " threads=" << threads;
}

TEST(SignMatmul, MatchesReferenceOnEveryIsaAndThreadCount) {
  Restore restore;
  const int best = onebit_runtime_get_isa();
  // K below, at and past one 32-bit word and one 256-column chunk; M from
  // one row (the decode kernels) to more than a 4-row tile; N not a multiple
  // of the 16-row block; the example model's 512 x 128 x 352.
  const Case cases[] = {
      {1, 1, 1, 1, true, true, false, false, 0.0f},
      {1, 3, 5, 31, true, true, false, false, 0.0f},
      {1, 7, 17, 33, false, true, false, false, 0.0f},
      {1, 16, 40, 300, true, true, false, false, 0.0f},
      {1, 37, 19, 64, false, true, true, false, 0.0f},
      {1, 9, 21, 70, true, true, false, true, 1.0f},
      {1, 5, 33, 257, false, true, false, false, 0.5f},
      {3, 6, 18, 45, true, true, false, false, 0.0f},
      {3, 6, 18, 45, false, false, true, true, 0.0f},
      {1, 512, 352, 128, false, true, false, false, 0.0f},
      {1, 512, 128, 352, true, true, false, false, 0.0f},
  };
  unsigned seed = 1;
  for (const Case &c : cases) {
    for (int isa = 0; isa <= best; ++isa)
      for (int threads = 1; threads <= 2; ++threads)
        run(c, seed, isa, threads);
    ++seed;
  }
}

// The train step needs exact products: FAST_APPROX (int8 activations,
// ~1e-2 relative) must not be used even when it is the kernel mode and the
// shape is a decode shape.
TEST(SignMatmul, ExactInFastMode) {
  Restore restore;
  onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_FAST_APPROX);
  const int best = onebit_runtime_get_isa();
  for (int isa = 1; isa <= best; ++isa)
    run({1, 2, 64, 512, false, true, false, false, 0.0f}, 77, isa, 1);
}

// The dense +-1 backend (ONEBIT_SIGN_MATMUL=dense in the tools) gives the
// same products on every ISA.
TEST(SignMatmul, DenseBackendMatchesReference) {
  Restore restore;
  EXPECT_EQ(onebit_runtime_set_sign_matmul_backend(-1), 0);
  EXPECT_EQ(onebit_runtime_set_sign_matmul_backend(1), 0);
  const int best = onebit_runtime_get_isa();
  for (int isa = 0; isa <= best; ++isa)
    run({3, 6, 18, 45, false, false, true, true, 0.0f}, 91, isa, 2);
  EXPECT_EQ(onebit_runtime_set_sign_matmul_backend(0), 1);
}

TEST(SignMatmul, CInterface) {
  Restore restore;
  // C^T = B^T sign(W)^T through transposed views, as the lowering passes a
  // sign operand on the left: here A (2 x 3) row-major, W (3 x 4) viewed
  // column-major.
  const int64_t M = 2, K = 3, N = 4;
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<float> wt = {-1, 2, 0,  // column n = 0 of W: (k = 0..2)
                           3, -4, 5,  // n = 1
                           -0.0f, 1, -2, // n = 2
                           7, 8, -9}; // n = 3
  std::vector<float> c(M * N, std::nanf(""));
  StridedMemRefType<float, 4> av{a.data(), a.data(), 0, {1, 1, M, K},
                                 {0, 0, K, 1}};
  StridedMemRefType<float, 4> wv{wt.data(), wt.data(), 0, {1, 1, K, N},
                                 {0, 0, 1, K}};
  StridedMemRefType<float, 4> cv{c.data(), c.data(), 0, {1, 1, M, N},
                                 {0, 0, N, 1}};
  _mlir_ciface_onebit_sign_matmul_f32(&av, &wv, &cv, 0.0f);
  // signs per column: (-,+,+), (+,-,+), (+,+,-), (+,+,-)
  const float want[] = {-1 + 2 + 3, 1 - 2 + 3, 1 + 2 - 3, 1 + 2 - 3,
                        -4 + 5 + 6, 4 - 5 + 6, 4 + 5 - 6, 4 + 5 - 6};
  for (int i = 0; i < M * N; ++i)
    EXPECT_FLOAT_EQ(c[i], want[i]) << "element " << i;
}

} // namespace
