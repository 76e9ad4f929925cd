//===- DenseMatmulTest.cpp - onebit_matmul_f32 against FP64 ---------------===//
//
// onebit_matmul_f32 (runtime/lib/DenseMatmul.cpp) on both backends and
// thread counts: the few-rows kernel of decode steps (1-4 rows, B row-major
// or transposed, batches folded into rows, including one-row batches whose
// batch stride becomes the row stride: the query heads of one KV head),
// the blocked kernel and BLAS past it, accumulation into C, and strided or
// column-major outputs. The same cases with B in f16 through
// onebit_matmul_f32_f16b (an f16 KV cache): read in place by the few-rows
// kernel, widened into a copy elsewhere.
//
//===----------------------------------------------------------------------===//

#include "onebit/Runtime/DenseMatmul.h"
#include "onebit/Runtime/CpuKernels.h"

#include "RelError.h"
#include "gtest/gtest.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using onebit::test::maxRelError;

namespace {

struct Restore {
  int backend = onebit_runtime_set_dense_backend(-1);
  ~Restore() {
    onebit_runtime_set_dense_backend(backend);
    onebit_runtime_set_num_threads(0);
  }
};

/// Element strides [b0, b1, row, col] of each operand, over buffers sized
/// by the largest offset reached.
struct Case {
  int64_t B0, B1, M, N, K;
  int64_t as[4], bs[4], cs[4];
  float beta;
};

int64_t extent(const int64_t s[4], const int64_t n[4]) {
  int64_t last = 0;
  for (int d = 0; d < 4; ++d)
    last += (n[d] - 1) * s[d];
  return last + 1;
}

void run(const Case &c, unsigned seed, int backend, int threads,
         bool halfB = false) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t an[4] = {c.B0, c.B1, c.M, c.K}, bn[4] = {c.B0, c.B1, c.K, c.N},
                cn[4] = {c.B0, c.B1, c.M, c.N};
  std::vector<float> a(extent(c.as, an)), b(extent(c.bs, bn)),
      cbuf(extent(c.cs, cn));
  for (float &v : a)
    v = normal(rng);
  for (float &v : b)
    v = normal(rng);
  // An f16 B: the reference multiplies the rounded values.
  std::vector<uint16_t> b16(halfB ? b.size() : 0);
  for (size_t i = 0; i < b16.size(); ++i) {
    _Float16 h = static_cast<_Float16>(b[i]);
    b[i] = static_cast<float>(h);
    std::memcpy(&b16[i], &h, sizeof h);
  }
  // beta == 0 must not read C: NaN there would show.
  for (float &v : cbuf)
    v = c.beta == 0.0f ? std::nanf("") : normal(rng);

  auto at = [](const int64_t s[4], int64_t i0, int64_t i1, int64_t i,
               int64_t j) {
    return i0 * s[0] + i1 * s[1] + i * s[2] + j * s[3];
  };
  const int64_t rows = c.B0 * c.B1 * c.M;
  std::vector<double> want(rows * c.N);
  for (int64_t i0 = 0; i0 < c.B0; ++i0)
    for (int64_t i1 = 0; i1 < c.B1; ++i1)
      for (int64_t i = 0; i < c.M; ++i)
        for (int64_t j = 0; j < c.N; ++j) {
          double acc = 0.0;
          for (int64_t k = 0; k < c.K; ++k)
            acc += double(a[at(c.as, i0, i1, i, k)]) *
                   double(b[at(c.bs, i0, i1, k, j)]);
          if (c.beta != 0.0f)
            acc += double(c.beta) * cbuf[at(c.cs, i0, i1, i, j)];
          want[((i0 * c.B1 + i1) * c.M + i) * c.N + j] = acc;
        }

  onebit_runtime_set_dense_backend(backend);
  onebit_runtime_set_num_threads(threads);
  if (halfB)
    onebit_matmul_f32_f16b(c.B0, c.B1, c.M, c.N, c.K, a.data(), c.as,
                           b16.data(), c.bs, c.beta, cbuf.data(), c.cs);
  else
    onebit_matmul_f32(c.B0, c.B1, c.M, c.N, c.K, a.data(), c.as, b.data(), c.bs,
                      c.beta, cbuf.data(), c.cs);
  std::vector<float> got(want.size());
  for (int64_t i0 = 0; i0 < c.B0; ++i0)
    for (int64_t i1 = 0; i1 < c.B1; ++i1)
      for (int64_t i = 0; i < c.M; ++i)
        for (int64_t j = 0; j < c.N; ++j)
          got[((i0 * c.B1 + i1) * c.M + i) * c.N + j] =
              cbuf[at(c.cs, i0, i1, i, j)];
  EXPECT_LT(maxRelError(got, want, rows, c.N), 1e-5)
      << "B0=" << c.B0 << " B1=" << c.B1 << " M=" << c.M << " N=" << c.N
      << " K=" << c.K << " beta=" << c.beta << " backend=" << backend
      << " threads=" << threads << (halfB ? " f16 B" : "");
}

TEST(DenseMatmul, MatchesReferenceOnBothBackends) {
  Restore restore;
  const int64_t kv = 3, g = 3, hd = 64, keys = 77;
  // clang-format off
  const Case cases[] = {
      // GQA decode scores: q [kv, g, 1, hd] . K^T, keys read in place from a
      // cache [ctx, kv, hd] (B transposed, column stride kv * hd); the g
      // query rows share B and fold into 3 rows of stride hd.
      {kv, g, 1, keys, hd, {g * hd, hd, kv * g * hd, 1}, {hd, 0, 1, kv * hd}, {g * keys, keys, keys, 1}, 0.0f},
      // GQA decode values: p [kv, g, 1, keys] . V [keys, kv, hd] (B
      // row-major, row stride kv * hd), written into [1, kv, g, hd].
      {kv, g, 1, hd, keys, {g * keys, keys, keys, 1}, {hd, 0, kv * hd, 1}, {g * hd, hd, kv * g * hd, 1}, 0.0f},
      // Already a few rows, both layouts of B, N not a multiple of 32, K
      // not a multiple of 16, accumulation.
      {1, 2, 4, 45, 19, {0, 4 * 19, 19, 1}, {0, 19 * 45, 45, 1}, {0, 4 * 45, 45, 1}, 0.5f},
      {1, 2, 3, 33, 70, {0, 3 * 70, 70, 1}, {0, 0, 1, 70}, {0, 3 * 33, 33, 1}, 1.0f},
      // One row, a dense layer's shape (parallel, split in column ranges).
      {1, 1, 1, 1000, 300, {0, 0, 300, 1}, {0, 0, 1000, 1}, {0, 0, 1000, 1}, 0.0f},
      {1, 1, 2, 700, 300, {0, 0, 300, 1}, {0, 0, 1, 300}, {0, 0, 700, 1}, 0.0f},
      // A column-major output (computed as C^T = B^T A^T): few columns.
      {1, 1, 40, 3, 50, {0, 0, 50, 1}, {0, 0, 3, 1}, {0, 0, 1, 40}, 0.0f},
      // Strided A (column stride 2): not a few-rows layout for transposed B.
      {1, 1, 2, 20, 30, {0, 0, 60, 2}, {0, 0, 1, 30}, {0, 0, 20, 1}, 0.0f},
      // Past the few-rows kernel: blocked kernel / sgemm.
      {1, 2, 37, 41, 53, {0, 37 * 53, 53, 1}, {0, 0, 41, 1}, {0, 37 * 41, 41, 1}, 0.0f},
      // Past it with B transposed (an [N, K] weight; in f16 widened into a
      // column-major copy), shared by two batches, and accumulating.
      {1, 2, 37, 41, 53, {0, 37 * 53, 53, 1}, {0, 0, 1, 53}, {0, 37 * 41, 41, 1}, 0.0f},
      {1, 1, 20, 64, 48, {0, 0, 48, 1}, {0, 0, 1, 48}, {0, 0, 64, 1}, 1.0f},
  };
  // clang-format on
  unsigned seed = 1;
  for (const Case &c : cases) {
    for (int backend = 0; backend <= 1; ++backend)
      for (int threads = 1; threads <= 2; ++threads)
        for (bool halfB : {false, true})
          run(c, seed, backend, threads, halfB);
    ++seed;
  }
}

} // namespace
