//===- SignMatmul.cpp - A . sign(W) on the 1-bit kernels ------------------===//
//
// onebit_sign_matmul_f32 (runtime/include/onebit/Runtime/DenseMatmul.h): the
// train step's products with the straight-through sign of its latent
// weights (forward, and the input gradient through the transposed signs).
// Each call packs sign(W) at 1 bit per weight, in whichever orientation the
// product needs, and runs the exact lookup-table kernels of the 1-bit
// layers; below AVX2, or after onebit_runtime_set_sign_matmul_backend(1)
// (ONEBIT_SIGN_MATMUL=dense in the tools), the +-1 matrix goes to the dense
// FP32 GEMM instead.
//
//===----------------------------------------------------------------------===//

#include "onebit/Runtime/CpuKernels.h"
#include "onebit/Runtime/DenseMatmul.h"

#include "Kernels.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>


namespace {

/// Row n of `bits` (kw words) gets bit k set where w(k, n) < 0, for the
/// K x N matrix w(k, n) = w[k * rs + n]: columns are contiguous, so 32
/// k-rows at a time are OR-ed into a row of words for every n.
ONEBIT_ISA_CLONES void packRowsContiguous(const float *w, int64_t rs,
                                           int64_t K, int64_t n0, int64_t n1,
                                           int64_t kw, uint32_t *bits,
                                           uint32_t *tmp) {
  const int64_t cols = n1 - n0;
  for (int64_t j = 0; j < kw; ++j) {
    std::fill(tmp, tmp + cols, 0u);
    const int64_t k0 = j * 32, k1 = std::min(K, k0 + 32);
    for (int64_t k = k0; k < k1; ++k) {
      const float *row = w + k * rs + n0;
      const uint32_t bit = 1u << (k - k0);
      for (int64_t c = 0; c < cols; ++c)
        tmp[c] |= row[c] < 0.0f ? bit : 0u;
    }
    for (int64_t c = 0; c < cols; ++c)
      bits[(n0 + c) * kw + j] = tmp[c];
  }
}

/// The same for w(k, n) = w[k + n * cs]: each n is a contiguous run of K.
ONEBIT_ISA_CLONES void packColumnsContiguous(const float *w, int64_t cs,
                                              int64_t K, int64_t n0,
                                              int64_t n1, int64_t kw,
                                              uint32_t *bits) {
  for (int64_t n = n0; n < n1; ++n) {
    const float *col = w + n * cs;
    for (int64_t j = 0; j < kw; ++j) {
      const int64_t k0 = j * 32, len = std::min<int64_t>(32, K - k0);
      uint32_t word = 0;
      for (int64_t b = 0; b < len; ++b)
        word |= col[k0 + b] < 0.0f ? 1u << b : 0u;
      bits[n * kw + j] = word;
    }
  }
}

/// Canonical signs (N rows of kw words) of the K x N view w(k, n) =
/// w[k * rs + n * cs].
void packSigns(const float *w, int64_t rs, int64_t cs, int64_t K, int64_t N,
               uint32_t *bits) {
  const int64_t kw = (K + 31) / 32;
  const int64_t threads = std::max(1, onebit_runtime_get_num_threads());
  const bool big = K * N >= (int64_t(1) << 16);
  const int64_t parts = big ? threads : 1;
  const int64_t chunk = std::max<int64_t>(16, (N + parts - 1) / parts);
  const int64_t tasks = (N + chunk - 1) / chunk;
  onebit::rt::parallelTasks(tasks, [&](int64_t t) {
    const int64_t n0 = t * chunk, n1 = std::min(N, n0 + chunk);
    if (cs == 1) {
      thread_local std::vector<uint32_t> tmp;
      tmp.resize(static_cast<size_t>(n1 - n0));
      packRowsContiguous(w, rs, K, n0, n1, kw, bits, tmp.data());
    } else if (rs == 1) {
      packColumnsContiguous(w, cs, K, n0, n1, kw, bits);
    } else {
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t j = 0; j < kw; ++j) {
          uint32_t word = 0;
          for (int64_t b = 0; b < 32 && j * 32 + b < K; ++b)
            word |= w[(j * 32 + b) * rs + n * cs] < 0.0f ? 1u << b : 0u;
          bits[n * kw + j] = word;
        }
    }
  });
}

// 1: the dense +-1 GEMM even where the 1-bit kernels run (to compare them).
std::atomic<int> gSignBackend{0};

bool useOneBitKernels() {
  return gSignBackend.load(std::memory_order_relaxed) == 0 &&
         onebit_runtime_get_isa() >= 1;
}

/// The dense fallback: the +-1 matrix, then onebit_matmul_f32.
void denseSignMatmul(int64_t B0, int64_t B1, int64_t M, int64_t N, int64_t K,
                     const float *a, const int64_t as[4], const float *w,
                     const int64_t ws[4], float beta, float *c,
                     const int64_t cs[4]) {
  const int64_t nb0 = ws[0] ? B0 : 1, nb1 = ws[1] ? B1 : 1;
  std::vector<float> pm(static_cast<size_t>(nb0 * nb1 * K * N));
  for (int64_t b0 = 0; b0 < nb0; ++b0)
    for (int64_t b1 = 0; b1 < nb1; ++b1) {
      const float *src = w + b0 * ws[0] + b1 * ws[1];
      float *dst = pm.data() + (b0 * nb1 + b1) * K * N;
      for (int64_t k = 0; k < K; ++k)
        for (int64_t n = 0; n < N; ++n)
          dst[k * N + n] = src[k * ws[2] + n * ws[3]] < 0.0f ? -1.0f : 1.0f;
    }
  const int64_t ps[4] = {ws[0] ? nb1 * K * N : 0, ws[1] ? K * N : 0, N, 1};
  onebit_matmul_f32(B0, B1, M, N, K, a, as, pm.data(), ps, beta, c, cs);
}

} // namespace

extern "C" {

void onebit_sign_matmul_f32(int64_t B0, int64_t B1, int64_t M, int64_t N,
                            int64_t K, const float *a,
                            const int64_t aStrides[4], const float *w,
                            const int64_t wStrides[4], float beta, float *c,
                            const int64_t cStrides[4]) {
  if (B0 <= 0 || B1 <= 0 || M <= 0 || N <= 0)
    return;
  if (!useOneBitKernels()) {
    denseSignMatmul(B0, B1, M, N, K, a, aStrides, w, wStrides, beta, c,
                    cStrides);
    return;
  }
  const int64_t kw = (K + 31) / 32;
  // Called for every product of every train step: the buffers stay with
  // the thread (every word of `bits` is written by packSigns).
  thread_local std::vector<uint32_t> bits;
  thread_local std::vector<float> xbuf, ybuf;
  bits.resize(static_cast<size_t>(std::max<int64_t>(N * kw, 1)));
  const float *packedFrom = nullptr;
  for (int64_t b0 = 0; b0 < B0; ++b0)
    for (int64_t b1 = 0; b1 < B1; ++b1) {
      const float *wb = w + b0 * wStrides[0] + b1 * wStrides[1];
      if (wb != packedFrom) { // broadcast weights are packed once
        packSigns(wb, wStrides[2], wStrides[3], K, N, bits.data());
        packedFrom = wb;
      }
      // A: rows with unit column stride are used in place.
      const float *ab = a + b0 * aStrides[0] + b1 * aStrides[1];
      const float *x = ab;
      int64_t ldx = aStrides[2];
      if (K > 1 && aStrides[3] != 1) {
        xbuf.resize(static_cast<size_t>(M * K));
        for (int64_t i = 0; i < M; ++i)
          for (int64_t k = 0; k < K; ++k)
            xbuf[i * K + k] = ab[i * aStrides[2] + k * aStrides[3]];
        x = xbuf.data();
        ldx = K;
      }
      // C: written in place when row-major, contiguous and not accumulated.
      float *cb = c + b0 * cStrides[0] + b1 * cStrides[1];
      const bool direct = beta == 0.0f && (cStrides[3] == 1 || N == 1) &&
                          (cStrides[2] == N || M == 1);
      float *y = cb;
      if (!direct) {
        ybuf.resize(static_cast<size_t>(M * N));
        y = ybuf.data();
      }
      onebit::rt::binaryLinear(x, M, K, ldx, bits.data(), N, nullptr,
                               nullptr, nullptr, 0.0f, y,
                               /*cacheable=*/false, /*exact=*/true);
      if (!direct)
        for (int64_t i = 0; i < M; ++i)
          for (int64_t n = 0; n < N; ++n) {
            float &dst = cb[i * cStrides[2] + n * cStrides[3]];
            dst = beta == 0.0f ? y[i * N + n] : y[i * N + n] + beta * dst;
          }
    }
}

void _mlir_ciface_onebit_sign_matmul_f32(StridedMemRefType<float, 4> *a,
                                         StridedMemRefType<float, 4> *w,
                                         StridedMemRefType<float, 4> *c,
                                         float beta) {
  onebit::rt::checkMatmulViews("onebit_sign_matmul_f32", a->sizes, w->sizes,
                               c->sizes);
  onebit_sign_matmul_f32(c->sizes[0], c->sizes[1], c->sizes[2], c->sizes[3],
                         a->sizes[3], a->data + a->offset, a->strides,
                         w->data + w->offset, w->strides, beta,
                         c->data + c->offset, c->strides);
}

int onebit_runtime_set_sign_matmul_backend(int backend) {
  if (backend < 0)
    return gSignBackend.load();
  return gSignBackend.exchange(backend == 1 ? 1 : 0);
}

} // extern "C"
