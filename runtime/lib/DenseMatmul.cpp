//===- DenseMatmul.cpp - dense FP32 (batched) GEMM for compiled models ----===//
//
// onebit_matmul_f32 (runtime/include/onebit/Runtime/DenseMatmul.h): layout
// normalisation, batch folding, then OpenBLAS (sgemm, or sgemv for one row /
// one column) or the built-in blocked kernel below.
//
//===----------------------------------------------------------------------===//

#include "onebit/Runtime/DenseMatmul.h"
#include "onebit/Runtime/CpuKernels.h"

#include "Kernels.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <type_traits>
#include <vector>

#ifdef ONEBIT_HAVE_OPENBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int);
#endif

// The built-in kernel's loops are ONEBIT_ISA_CLONES (Kernels.h).

namespace {

#ifdef ONEBIT_HAVE_OPENBLAS
constexpr bool kHaveBlas = true;
#else
constexpr bool kHaveBlas = false;
#endif

std::atomic<int> &backend() {
  static std::atomic<int> b{kHaveBlas ? 1 : 0};
  return b;
}

/// One matrix: element (i, j) at p[i * rs + j * cs].
struct Mat {
  const float *p;
  int64_t rows, cols, rs, cs;
};

/// The same for a matrix of f16 elements (an f16 KV cache read in place).
struct MatH {
  const _Float16 *p;
  int64_t rows, cols, rs, cs;
};

/// BLAS view of `m`: row-major (trans = false) or its transpose stored
/// row-major (trans = true) with leading dimension ld. False when neither.
bool blasLayout(const Mat &m, bool &trans, int64_t &ld) {
  if ((m.cs == 1 || m.cols <= 1) &&
      (m.rows <= 1 || m.rs >= std::max<int64_t>(1, m.cols))) {
    trans = false;
    ld = m.rows <= 1 ? std::max<int64_t>(1, m.cols) : m.rs;
    return true;
  }
  if ((m.rs == 1 || m.rows <= 1) &&
      (m.cols <= 1 || m.cs >= std::max<int64_t>(1, m.rows))) {
    trans = true;
    ld = m.cols <= 1 ? std::max<int64_t>(1, m.rows) : m.cs;
    return true;
  }
  return false;
}

/// Copies `m` into `buf` row-major and returns the contiguous view.
Mat packed(const Mat &m, std::vector<float> &buf) {
  buf.resize(static_cast<size_t>(m.rows * m.cols));
  for (int64_t i = 0; i < m.rows; ++i)
    for (int64_t j = 0; j < m.cols; ++j)
      buf[i * m.cols + j] = m.p[i * m.rs + j * m.cs];
  return Mat{buf.data(), m.rows, m.cols, m.cols, 1};
}

//===----------------------------------------------------------------------===//
// Built-in blocked kernel: C (row-major, ldc) += A . B, A and B any strides.
//===----------------------------------------------------------------------===//

constexpr int64_t kMR = 6, kNR = 16, kKC = 256, kNC = 256, kMC = 96;

template <int R>
inline __attribute__((always_inline)) void
micro(int64_t kc, const float *__restrict a, const float *__restrict b,
      int64_t ldb, float *__restrict c, int64_t ldc, int64_t ncols) {
  float acc[R][kNR] = {};
  for (int64_t p = 0; p < kc; ++p) {
    const float *bp = b + p * ldb;
    for (int r = 0; r < R; ++r) {
      const float av = a[r * kc + p];
      for (int64_t j = 0; j < kNR; ++j)
        acc[r][j] += av * bp[j];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int64_t j = 0; j < ncols; ++j)
      c[r * ldc + j] += acc[r][j];
}

/// One (mc x nc) block of C over all of K; packs its own panels.
ONEBIT_ISA_CLONES
void block(const Mat &A, const Mat &B, float *c, int64_t ldc, int64_t i0,
           int64_t mc, int64_t j0, int64_t nc, float *ap, float *bp) {
  const int64_t K = A.cols;
  const int64_t ncPad = (nc + kNR - 1) / kNR * kNR;
  for (int64_t p0 = 0; p0 < K; p0 += kKC) {
    const int64_t kc = std::min(kKC, K - p0);
    for (int64_t p = 0; p < kc; ++p) {
      const float *src = B.p + (p0 + p) * B.rs + j0 * B.cs;
      float *dst = bp + p * ncPad;
      if (B.cs == 1)
        std::memcpy(dst, src, sizeof(float) * nc);
      else
        for (int64_t j = 0; j < nc; ++j)
          dst[j] = src[j * B.cs];
      for (int64_t j = nc; j < ncPad; ++j)
        dst[j] = 0.0f;
    }
    for (int64_t i = 0; i < mc; ++i) {
      const float *src = A.p + (i0 + i) * A.rs + p0 * A.cs;
      for (int64_t p = 0; p < kc; ++p)
        ap[i * kc + p] = src[p * A.cs];
    }
    for (int64_t i = 0; i < mc; i += kMR) {
      const int64_t rows = std::min(kMR, mc - i);
      for (int64_t j = 0; j < ncPad; j += kNR) {
        const int64_t cols = std::min(kNR, nc - j);
        const float *a = ap + i * kc;
        float *cc = c + (i0 + i) * ldc + j0 + j;
        switch (rows) {
        case 6:
          micro<6>(kc, a, bp + j, ncPad, cc, ldc, cols);
          break;
        case 5:
          micro<5>(kc, a, bp + j, ncPad, cc, ldc, cols);
          break;
        case 4:
          micro<4>(kc, a, bp + j, ncPad, cc, ldc, cols);
          break;
        case 3:
          micro<3>(kc, a, bp + j, ncPad, cc, ldc, cols);
          break;
        case 2:
          micro<2>(kc, a, bp + j, ncPad, cc, ldc, cols);
          break;
        default:
          micro<1>(kc, a, bp + j, ncPad, cc, ldc, cols);
          break;
        }
      }
    }
  }
}

/// A few rows (at most kFewRows: one decode step's query heads that share a
/// KV head, or one token of a dense layer): C[:, j0, j0 + nc) += A .
/// B[:, j0 + nc), reading B in place once for all the rows (packing it
/// would cost as much as the product). Needs fewRowsLayout.
constexpr int64_t kFewRows = 4;

bool fewRowsLayout(const Mat &A, const Mat &B) {
  return B.cs == 1 || (B.rs == 1 && (A.cs == 1 || A.cols <= 1));
}

/// 16 floats, loaded and stored unaligned: one zmm in the AVX-512 clone,
/// two ymm (four xmm) in the others.
typedef float V16 __attribute__((vector_size(64), aligned(4)));

inline __attribute__((always_inline)) V16 load16(const float *p) {
  return *reinterpret_cast<const V16 *>(p);
}

/// 16 f16 values widened to f32 (vcvtph2ps in the AVX-512 and AVX2 clones).
inline __attribute__((always_inline)) V16 load16(const _Float16 *p) {
  typedef _Float16 H16 __attribute__((vector_size(32), aligned(2)));
  return __builtin_convertvector(*reinterpret_cast<const H16 *>(p), V16);
}

inline __attribute__((always_inline)) float sum16(V16 v) {
  typedef float V8 __attribute__((vector_size(32)));
  typedef float V4 __attribute__((vector_size(16)));
  V8 h = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
         __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  V4 q = __builtin_shufflevector(h, h, 0, 1, 2, 3) +
         __builtin_shufflevector(h, h, 4, 5, 6, 7);
  return (q[0] + q[2]) + (q[1] + q[3]);
}

/// The horizontal sums of N (2 or 4) vectors through one shuffle tree.
template <int N>
inline __attribute__((always_inline)) void sumKeys(const V16 (&v)[N],
                                                   float *out) {
  typedef float V8 __attribute__((vector_size(32)));
  typedef float V4 __attribute__((vector_size(16)));
  // 16 -> 8 lanes of each, two vectors per register.
  auto fold = [](V16 a, V16 b) {
    return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19,
                                   20, 21, 22, 23) +
           __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25,
                                   26, 27, 28, 29, 30, 31);
  };
  if constexpr (N == 2) {
    const V16 ab = fold(v[0], v[1]);
    V8 e = __builtin_shufflevector(ab, ab, 0, 1, 2, 3, 8, 9, 10, 11) +
           __builtin_shufflevector(ab, ab, 4, 5, 6, 7, 12, 13, 14, 15);
    V4 f = __builtin_shufflevector(e, e, 0, 1, 4, 5) +
           __builtin_shufflevector(e, e, 2, 3, 6, 7);
    out[0] = f[0] + f[1];
    out[1] = f[2] + f[3];
  } else {
    static_assert(N == 4, "2 or 4 vectors");
    const V16 ab = fold(v[0], v[1]), cd = fold(v[2], v[3]);
    const V16 q = __builtin_shufflevector(ab, cd, 0, 1, 2, 3, 8, 9, 10, 11, 16,
                                          17, 18, 19, 24, 25, 26, 27) +
                  __builtin_shufflevector(ab, cd, 4, 5, 6, 7, 12, 13, 14, 15,
                                          20, 21, 22, 23, 28, 29, 30, 31);
    const V8 e = __builtin_shufflevector(q, q, 0, 1, 4, 5, 8, 9, 12, 13) +
                 __builtin_shufflevector(q, q, 2, 3, 6, 7, 10, 11, 14, 15);
    const V4 f = __builtin_shufflevector(e, e, 0, 2, 4, 6) +
                 __builtin_shufflevector(e, e, 1, 3, 5, 7);
    for (int u = 0; u < 4; ++u)
      out[u] = f[u];
  }
}

/// How far ahead (in rows of B) the few-rows kernel prefetches: enough
/// lines in flight to cover DRAM latency when the rows are a KV cache's.
constexpr int64_t kPrefetchRows = 16;

template <int R, typename BMat>
inline __attribute__((always_inline)) void
fewRows(const Mat &A, const BMat &B, float *__restrict c, int64_t ldc,
        int64_t j0, int64_t nc) {
  const int64_t K = A.cols, ars = A.rs, acs = A.cs, brs = B.rs, bcs = B.cs;
  const float *__restrict ap = A.p;
  const auto *__restrict bptr = B.p;
  using BElt = std::remove_cv_t<std::remove_pointer_t<decltype(B.p)>>;
  // Elements of B per 64-byte line (prefetches), and keys per block of
  // the scores' loop (more rows, fewer keys: the accumulators fit the
  // registers).
  constexpr int64_t kLine = 64 / sizeof(BElt);
  constexpr int kKeys = R <= 2 ? 4 : 2;
  if (bcs == 1) {
    // Rows of B streamed in order, 256 columns at a time, four rows per
    // pass over the R output row pieces (kept in L1).
    constexpr int64_t kCols = 256, kVecs = kCols / 16;
    for (int64_t j = j0; j < j0 + nc; j += kCols) {
      const int64_t w = std::min(kCols, j0 + nc - j), nv = w / 16;
      V16 acc[R][kVecs] = {};
      int64_t p = 0;
      for (; p + 4 <= K; p += 4) {
        const auto *b0 = bptr + p * brs + j, *b1 = b0 + brs, *b2 = b1 + brs,
                   *b3 = b2 + brs;
        // Rows of a KV cache sit a whole token apart, a stride the
        // hardware prefetcher does not follow: the first lines (a head's
        // 64 values) of the row pieces kPrefetchRows ahead. Longer pieces
        // are sequential streams the hardware prefetches by itself.
        for (int64_t q = 0; q < std::min<int64_t>(w, 64); q += kLine) {
          __builtin_prefetch(b0 + kPrefetchRows * brs + q);
          __builtin_prefetch(b1 + kPrefetchRows * brs + q);
          __builtin_prefetch(b2 + kPrefetchRows * brs + q);
          __builtin_prefetch(b3 + kPrefetchRows * brs + q);
        }
        float a[R][4];
        for (int r = 0; r < R; ++r)
          for (int u = 0; u < 4; ++u)
            a[r][u] = ap[r * ars + (p + u) * acs];
        for (int64_t v = 0; v < nv; ++v) {
          const V16 x0 = load16(b0 + 16 * v), x1 = load16(b1 + 16 * v),
                    x2 = load16(b2 + 16 * v), x3 = load16(b3 + 16 * v);
          for (int r = 0; r < R; ++r)
            acc[r][v] +=
                a[r][0] * x0 + a[r][1] * x1 + a[r][2] * x2 + a[r][3] * x3;
        }
      }
      for (; p < K; ++p)
        for (int64_t v = 0; v < nv; ++v) {
          const V16 x = load16(bptr + p * brs + j + 16 * v);
          for (int r = 0; r < R; ++r)
            acc[r][v] += ap[r * ars + p * acs] * x;
        }
      for (int r = 0; r < R; ++r) {
        float *cp = c + r * ldc + j;
        for (int64_t v = 0; v < nv; ++v)
          *reinterpret_cast<V16 *>(cp + 16 * v) =
              load16(cp + 16 * v) + acc[r][v];
        // The last columns of the range (fewer than 16).
        for (int64_t q = 16 * nv; q < w; ++q) {
          float sum = 0.0f;
          for (int64_t pp = 0; pp < K; ++pp)
            sum += ap[r * ars + pp * acs] * float(bptr[pp * brs + j + q]);
          cp[q] += sum;
        }
      }
    }
    return;
  }
  // B.rs == 1: column j of B is contiguous (attention scores: a key row);
  // one dot product per output, 16 lanes of partial sums per row, kKeys
  // keys at a time so that their horizontal sums share one shuffle tree.
  const int64_t K16 = K / 16 * 16;
  int64_t j = j0;
  for (; j + kKeys <= j0 + nc; j += kKeys) {
    const BElt *bp[kKeys];
    for (int u = 0; u < kKeys; ++u) {
      bp[u] = bptr + (j + u) * bcs;
      for (int64_t p = 0; p < K; p += kLine)
        __builtin_prefetch(bp[u] + kPrefetchRows * bcs + p);
    }
    V16 acc[R][kKeys] = {};
    for (int64_t p = 0; p < K16; p += 16) {
      V16 bv[kKeys];
      for (int u = 0; u < kKeys; ++u)
        bv[u] = load16(bp[u] + p);
      for (int r = 0; r < R; ++r) {
        const V16 av = load16(ap + r * ars + p);
        for (int u = 0; u < kKeys; ++u)
          acc[r][u] += av * bv[u];
      }
    }
    for (int r = 0; r < R; ++r) {
      float sums[kKeys];
      sumKeys(acc[r], sums);
      for (int u = 0; u < kKeys; ++u) {
        for (int64_t p = K16; p < K; ++p)
          sums[u] += ap[r * ars + p * acs] * float(bp[u][p]);
        c[r * ldc + j + u] += sums[u];
      }
    }
  }
  for (; j < j0 + nc; ++j) {
    const BElt *bp = bptr + j * bcs;
    for (int64_t p = 0; p < K; p += kLine)
      __builtin_prefetch(bp + kPrefetchRows * bcs + p);
    V16 acc[R] = {};
    for (int64_t p = 0; p < K16; p += 16) {
      const V16 bv = load16(bp + p);
      for (int r = 0; r < R; ++r)
        acc[r] += load16(ap + r * ars + p) * bv;
    }
    for (int r = 0; r < R; ++r) {
      float sum = sum16(acc[r]);
      for (int64_t p = K16; p < K; ++p)
        sum += ap[r * ars + p * acs] * float(bp[p]);
      c[r * ldc + j] += sum;
    }
  }
}

template <typename BMat>
inline __attribute__((always_inline)) void
fewRowsAny(const Mat &A, const BMat &B, float *c, int64_t ldc, int64_t j0,
           int64_t nc) {
  switch (A.rows) {
  case 4:
    return fewRows<4>(A, B, c, ldc, j0, nc);
  case 3:
    return fewRows<3>(A, B, c, ldc, j0, nc);
  case 2:
    return fewRows<2>(A, B, c, ldc, j0, nc);
  default:
    return fewRows<1>(A, B, c, ldc, j0, nc);
  }
}

ONEBIT_ISA_CLONES
void fewRowsBlock(const Mat &A, const Mat &B, float *c, int64_t ldc, int64_t j0,
                  int64_t nc) {
  fewRowsAny(A, B, c, ldc, j0, nc);
}

ONEBIT_ISA_CLONES
void fewRowsBlockH(const Mat &A, const MatH &B, float *c, int64_t ldc,
                   int64_t j0, int64_t nc) {
  fewRowsAny(A, B, c, ldc, j0, nc);
}

/// `m` widened to f32, row-major into `out` (K x N floats).
ONEBIT_ISA_CLONES
void widenRows(const MatH &m, float *__restrict out) {
  for (int64_t i = 0; i < m.rows; ++i) {
    const _Float16 *row = m.p + i * m.rs;
    float *o = out + i * m.cols;
    if (m.cs == 1)
      for (int64_t j = 0; j < m.cols; ++j)
        o[j] = float(row[j]);
    else
      for (int64_t j = 0; j < m.cols; ++j)
        o[j] = float(row[j * m.cs]);
  }
}

/// One GEMM of a batch for the built-in kernel: C row-major. With bh set,
/// B's elements are the f16 ones of bh (few-rows products only).
struct Job {
  Mat A, B;
  float *c;
  int64_t ldc;
  MatH bh{};
};

/// How a call's `count` jobs become tasks: each job cut into `parts` ranges
/// of `chunk` (a multiple of `align`) along `span`, so that every thread has
/// work when there are fewer jobs than threads. A call of fewer than 128K
/// multiply-adds in all (a decode step's attention products: microseconds,
/// as long as waking the pool) runs on the calling thread, uncut.
struct TaskPlan {
  int64_t parts = 1, chunk = 1;
  bool serial = true;

  TaskPlan(int64_t count, int64_t macsPerJob, int64_t span, int64_t align) {
    const int64_t threads = std::max(1, onebit_runtime_get_num_threads());
    serial = macsPerJob * count < (int64_t{1} << 17);
    if (!serial && count < threads)
      parts = (threads + count - 1) / count;
    // A few jobs that do not divide among the threads (a decode step's 3
    // KV heads on 2 threads) are cut so that they do: 3 jobs run as 6
    // tasks, 3 a thread, instead of 2 jobs on one thread and 1 on the other.
    else if (!serial && count % threads && count < 4 * threads)
      parts = threads / std::gcd(count, int64_t(threads));
    chunk = std::max<int64_t>(1, ((span + parts - 1) / parts + align - 1) /
                                     align * align);
    parts = (span + chunk - 1) / chunk;
  }

  /// fn(t) for the tasks t of `count` jobs, on the pool unless serial.
  template <typename F> void run(int64_t count, F &&fn) const {
    if (!serial)
      return onebit::rt::parallelTasks(count * parts, fn);
    for (int64_t t = 0; t < count * parts; ++t)
      fn(t);
  }
};

/// The few-rows products of a call, each split into column ranges when it
/// is worth waking the pool for.
void fewRowsGemms(const std::vector<Job> &jobs, int64_t M, int64_t N,
                  int64_t K) {
  const int64_t count = static_cast<int64_t>(jobs.size());
  const TaskPlan plan(count, M * N * K, N, 32);
  plan.run(count, [&](int64_t t) {
    const Job &job = jobs[t / plan.parts];
    const int64_t j0 = (t % plan.parts) * plan.chunk;
    if (job.bh.p)
      fewRowsBlockH(job.A, job.bh, job.c, job.ldc, j0,
                    std::min(plan.chunk, N - j0));
    else
      fewRowsBlock(job.A, job.B, job.c, job.ldc, j0,
                   std::min(plan.chunk, N - j0));
  });
}

void builtinGemms(const std::vector<Job> &jobs, int64_t M, int64_t N) {
  const int64_t nbM = (M + kMC - 1) / kMC, nbN = (N + kNC - 1) / kNC;
  const int64_t perJob = nbM * nbN;
  onebit::rt::parallelTasks(
      static_cast<int64_t>(jobs.size()) * perJob, [&](int64_t t) {
        thread_local std::vector<float> ap, bp;
        ap.resize(kMC * kKC);
        bp.resize(kKC * kNC);
        const Job &job = jobs[t / perJob];
        const int64_t mb = (t % perJob) / nbN, nb = t % nbN;
        const int64_t i0 = mb * kMC, j0 = nb * kNC;
        block(job.A, job.B, job.c, job.ldc, i0, std::min(kMC, M - i0), j0,
              std::min(kNC, N - j0), ap.data(), bp.data());
      });
}

/// C (row-major, ldc) = beta * C before accumulation; beta == 0 writes 0.
void scaleC(float *c, int64_t ldc, int64_t M, int64_t N, float beta) {
  if (beta == 1.0f)
    return;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

#ifdef ONEBIT_HAVE_OPENBLAS
/// C (row-major, ldc) = A . B + beta C with A, B in BLAS layouts.
void blasGemm(const Mat &A, bool ta, int64_t lda, const Mat &B, bool tb,
              int64_t ldb, float beta, float *c, int64_t ldc) {
  const int64_t M = A.rows, N = B.cols, K = A.cols;
  if (M == 1 || N == 1) {
    // GEMV: sgemm is slower for a single row (the decode case).
    if (beta == 0.0f)
      scaleC(c, ldc, M, N, 0.0f);
    if (M == 1) {
      // c[1, N] = B^T a: B (K x N) row-major is "Trans" of a K x N matrix.
      const int64_t incx = K <= 1 ? 1 : A.cs;
      if (!tb)
        cblas_sgemv(CblasRowMajor, CblasTrans, K, N, 1.0f, B.p, ldb, A.p, incx,
                    beta, c, 1);
      else
        cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, B.p, ldb, A.p,
                    incx, beta, c, 1);
    } else {
      const int64_t incx = K <= 1 ? 1 : B.rs;
      if (!ta)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, M, K, 1.0f, A.p, lda, B.p,
                    incx, beta, c, ldc);
      else
        cblas_sgemv(CblasRowMajor, CblasTrans, K, M, 1.0f, A.p, lda, B.p, incx,
                    beta, c, ldc);
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A.p, lda, B.p, ldb,
              beta, c, ldc);
}
#endif

/// Runs every job (C row-major) on the runtime's thread pool. OpenBLAS is
/// kept single-threaded and each job is split into column (or row) ranges,
/// so dense and 1-bit layers share one pool and never oversubscribe cores.
void runJobs(const std::vector<Job> &jobs, float beta, bool useBlas) {
  if (jobs.empty())
    return;
  const int64_t M = jobs.front().A.rows, N = jobs.front().B.cols;
  // f16 B (a KV cache): only ever a few-rows product, read in place.
  if (jobs.front().bh.p) {
    for (const Job &j : jobs)
      scaleC(j.c, j.ldc, M, N, beta);
    fewRowsGemms(jobs, M, N, jobs.front().A.cols);
    return;
  }
  // A few rows (decode): the built-in kernel, whichever backend, since a
  // BLAS call per attention head costs more than the product itself; one
  // row of a large product stays with sgemv, which streams B as fast.
  const int64_t K = jobs.front().A.cols;
  if (M <= kFewRows && fewRowsLayout(jobs.front().A, jobs.front().B) &&
      (!useBlas || M > 1 || K * N < (int64_t{1} << 16))) {
    for (const Job &j : jobs)
      scaleC(j.c, j.ldc, M, N, beta);
    fewRowsGemms(jobs, M, N, K);
    return;
  }
  if (!useBlas) {
    for (const Job &j : jobs)
      scaleC(j.c, j.ldc, M, N, beta);
    builtinGemms(jobs, M, N);
    return;
  }
#ifdef ONEBIT_HAVE_OPENBLAS
  static const bool once = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
  const int64_t count = static_cast<int64_t>(jobs.size());
  const bool byCols = N >= M;
  const int64_t span = byCols ? N : M;
  const TaskPlan plan(count, M * N * K, span, 16);
  plan.run(count, [&](int64_t t) {
    const Job &j = jobs[t / plan.parts];
    const int64_t p0 = (t % plan.parts) * plan.chunk,
                  p1 = std::min(span, p0 + plan.chunk);
    Mat A = j.A, B = j.B;
    float *cc = j.c;
    if (byCols) {
      B.p += p0 * B.cs, B.cols = p1 - p0;
      cc += p0;
    } else {
      A.p += p0 * A.rs, A.rows = p1 - p0;
      cc += p0 * j.ldc;
    }
    bool ta, tb;
    int64_t lda, ldb;
    blasLayout(A, ta, lda);
    blasLayout(B, tb, ldb);
    blasGemm(A, ta, lda, B, tb, ldb, beta, cc, j.ldc);
  });
#endif
}

/// Buffers for the f32 copies of f16 B operands, kept by each thread from
/// call to call: a teacher's f16 weights are widened at every step, and a
/// fresh allocation of that size would fault its pages in each time (system
/// time that grew with the model). A copy larger than kKeepWidened floats
/// is allocated for the call only, so what stays is bounded.
class WidenPool {
public:
  static constexpr size_t kKeepWidened = size_t(256) << 18; // 256 MiB

  /// Call at the start of a matmul: every buffer is free again.
  void reset() { used = 0; }

  /// `n` floats, uninitialised, valid until the next reset (or, over the
  /// bound, until `spill` is destroyed).
  float *take(size_t n, std::vector<std::vector<float>> &spill) {
    if (n > kKeepWidened) {
      spill.emplace_back(n);
      return spill.back().data();
    }
    if (used == bufs.size())
      bufs.push_back({nullptr, 0});
    auto &[buf, cap] = bufs[used++];
    if (cap < n) {
      buf.reset(new float[n]);
      cap = n;
    }
    return buf.get();
  }

private:
  std::vector<std::pair<std::unique_ptr<float[]>, size_t>> bufs;
  size_t used = 0;
};

/// onebit_matmul_f32 (BT = float) and onebit_matmul_f32_f16b (BT =
/// _Float16): an f16 B is read in place by the few-rows kernel (a decode
/// step's attention over an f16 KV cache), else widened into an f32 copy
/// per batch first, row-major or, for a column-major B (an f16 weight
/// [N, K]), column-major (a prefill's or a teacher's: the copy is small next
/// to the product).
template <typename BT>
void matmul(int64_t B0, int64_t B1, int64_t M, int64_t N, int64_t K,
            const float *a, const int64_t aStrides[4], const BT *b,
            const int64_t bStrides[4], float beta, float *c,
            const int64_t cStrides[4]) {
  constexpr bool kHalf = std::is_same_v<BT, _Float16>;
  if (B0 <= 0 || B1 <= 0 || M <= 0 || N <= 0)
    return;
  int64_t sizes[2] = {B0, B1};
  int64_t sa[2] = {aStrides[0], aStrides[1]};
  int64_t sb[2] = {bStrides[0], bStrides[1]};
  int64_t sc[2] = {cStrides[0], cStrides[1]};
  int64_t ars = aStrides[2];
  const int64_t acs = aStrides[3];
  const int64_t brs = bStrides[2], bcs = bStrides[3];
  int64_t crs = cStrides[2];
  const int64_t ccs = cStrides[3];

  // Fold broadcast-weight batches into M, innermost first: consecutive
  // row-major A and C matrices are one taller matrix.
  for (int d = 1; d >= 0; --d) {
    if (sizes[d] == 1)
      continue;
    // One row per batch (a decode step's query heads of one KV head): the
    // batch stride is the row stride of the folded matrix.
    if (M == 1 && sb[d] == 0) {
      ars = sa[d], crs = sc[d];
      M = sizes[d];
      sizes[d] = 1;
      continue;
    }
    const bool aRows = (acs == 1 || K <= 1) && sa[d] == M * ars;
    const bool cRows = (ccs == 1 || N <= 1) && sc[d] == M * crs;
    if (sb[d] != 0 || !aRows || !cRows)
      break;
    M *= sizes[d];
    sizes[d] = 1;
  }

  const bool useBlas = backend().load() == 1;
  std::vector<Job> jobs;
  std::vector<std::vector<float>> scratch; // packed operands of `jobs`
  // An f16 B stays in place when the whole call is few-rows products with
  // a row-major C (the layouts are the same for every batch).
  bool halfInPlace = false;
  std::vector<std::pair<const BT *, const float *>> widened;
  thread_local WidenPool widenPool;
  widenPool.reset();
  if constexpr (kHalf) {
    bool tc;
    int64_t ldc;
    const Mat a0{a, M, K, ars, acs}, b0{nullptr, K, N, brs, bcs},
        c0{c, M, N, crs, ccs};
    halfInPlace = M <= kFewRows && K > 0 && blasLayout(c0, tc, ldc) && !tc &&
                  fewRowsLayout(a0, b0);
  }
  for (int64_t i0 = 0; i0 < sizes[0]; ++i0)
    for (int64_t i1 = 0; i1 < sizes[1]; ++i1) {
      Mat A{a + i0 * sa[0] + i1 * sa[1], M, K, ars, acs};
      const BT *bp = b + i0 * sb[0] + i1 * sb[1];
      float *cp = c + i0 * sc[0] + i1 * sc[1];
      Mat C{cp, M, N, crs, ccs};
      Mat B;
      MatH BH{};
      if constexpr (kHalf) {
        if (halfInPlace) {
          BH = MatH{bp, K, N, brs, bcs};
          B = Mat{nullptr, K, N, brs, bcs};
        } else {
          // A B broadcast over a batch dimension (stride 0: the keys of a
          // KV head shared by its query heads) is widened once.
          const float *w = nullptr;
          for (const auto &[src, dst] : widened)
            if (src == bp)
              w = dst;
          // A column-major B (an [N, K] weight read as K x N) is widened
          // into a column-major copy: contiguous reads and writes, no
          // transpose.
          const bool colMajor = brs == 1 && bcs != 1;
          if (!w) {
            float *copy = widenPool.take(static_cast<size_t>(K * N), scratch);
            widenRows(colMajor ? MatH{bp, N, K, bcs, 1}
                               : MatH{bp, K, N, brs, bcs},
                      copy);
            w = copy;
            widened.emplace_back(bp, w);
          }
          B = colMajor ? Mat{w, K, N, 1, K} : Mat{w, K, N, N, 1};
        }
      } else {
        B = Mat{bp, K, N, brs, bcs};
      }
      if (K == 0) {
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            float &v = cp[i * crs + j * ccs];
            v = beta == 0.0f ? 0.0f : beta * v;
          }
        continue;
      }
      bool tc;
      int64_t ldc;
      const bool cOk = blasLayout(C, tc, ldc);
      // A column-major C is the row-major C^T = B^T A^T.
      if (cOk && tc) {
        std::swap(A, B);
        std::swap(A.rows, A.cols), std::swap(A.rs, A.cs);
        std::swap(B.rows, B.cols), std::swap(B.rs, B.cs);
      }
      const int64_t m = A.rows, n = B.cols;
      if (useBlas) {
        bool t;
        int64_t ld;
        if (!blasLayout(A, t, ld))
          scratch.emplace_back(), A = packed(A, scratch.back());
        if (!blasLayout(B, t, ld))
          scratch.emplace_back(), B = packed(B, scratch.back());
      }
      if (BH.p) {
        jobs.push_back(Job{A, B, cp, ldc, BH});
        continue;
      }
      if (cOk) {
        jobs.push_back(Job{A, B, cp, ldc});
        continue;
      }
      // C in neither layout (not produced by the compiler): through a
      // row-major copy, one batch at a time.
      std::vector<float> cTmp(static_cast<size_t>(m * n));
      if (beta != 0.0f)
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j)
            cTmp[i * n + j] = cp[i * crs + j * ccs];
      runJobs({Job{A, B, cTmp.data(), n}}, beta, useBlas);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j)
          cp[i * crs + j * ccs] = cTmp[i * n + j];
    }
  runJobs(jobs, beta, useBlas);
}

[[noreturn]] void shapeError(const char *fn, const char *what, int64_t got,
                             int64_t want) {
  std::fprintf(stderr, "%s: %s is %lld, expected %lld (compiler bug)\n", fn,
               what, static_cast<long long>(got), static_cast<long long>(want));
  std::abort();
}

} // namespace

void onebit::rt::checkMatmulViews(const char *fn, const int64_t a[4],
                                  const int64_t b[4], const int64_t c[4]) {
  const char *names[2] = {"batch dim 0", "batch dim 1"};
  for (int d = 0; d < 2; ++d) {
    if (a[d] != c[d])
      shapeError(fn, names[d], a[d], c[d]);
    if (b[d] != c[d])
      shapeError(fn, names[d], b[d], c[d]);
  }
  if (a[2] != c[2])
    shapeError(fn, "A rows", a[2], c[2]);
  if (b[2] != a[3])
    shapeError(fn, "B rows", b[2], a[3]);
  if (b[3] != c[3])
    shapeError(fn, "B cols", b[3], c[3]);
}

namespace onebit::rt {
void denseSetThreads(int n) {
  // OpenBLAS runs single-threaded inside the pool's tasks (runJobs), so the
  // pool size set here is all there is to follow.
  (void)n;
#ifdef ONEBIT_HAVE_OPENBLAS
  openblas_set_num_threads(1);
#endif
}
} // namespace onebit::rt

extern "C" {

int onebit_runtime_have_blas(void) { return kHaveBlas ? 1 : 0; }

int onebit_runtime_set_dense_backend(int b) {
  if (b < 0)
    return backend().load();
  return backend().exchange(kHaveBlas && b == 1 ? 1 : 0);
}

void onebit_matmul_f32(int64_t B0, int64_t B1, int64_t M, int64_t N, int64_t K,
                       const float *a, const int64_t aStrides[4],
                       const float *b, const int64_t bStrides[4], float beta,
                       float *c, const int64_t cStrides[4]) {
  matmul<float>(B0, B1, M, N, K, a, aStrides, b, bStrides, beta, c, cStrides);
}

void onebit_matmul_f32_f16b(int64_t B0, int64_t B1, int64_t M, int64_t N,
                            int64_t K, const float *a,
                            const int64_t aStrides[4], const uint16_t *b,
                            const int64_t bStrides[4], float beta, float *c,
                            const int64_t cStrides[4]) {
  matmul<_Float16>(B0, B1, M, N, K, a, aStrides,
                   reinterpret_cast<const _Float16 *>(b), bStrides, beta, c,
                   cStrides);
}

void _mlir_ciface_onebit_matmul_f32(StridedMemRefType<float, 4> *a,
                                    StridedMemRefType<float, 4> *b,
                                    StridedMemRefType<float, 4> *c,
                                    float beta) {
  onebit::rt::checkMatmulViews("onebit_matmul_f32", a->sizes, b->sizes,
                               c->sizes);
  onebit_matmul_f32(c->sizes[0], c->sizes[1], c->sizes[2], c->sizes[3],
                    a->sizes[3], a->data + a->offset, a->strides,
                    b->data + b->offset, b->strides, beta, c->data + c->offset,
                    c->strides);
}

void _mlir_ciface_onebit_matmul_f32_f16b(StridedMemRefType<float, 4> *a,
                                         StridedMemRefType<uint16_t, 4> *b,
                                         StridedMemRefType<float, 4> *c,
                                         float beta) {
  onebit::rt::checkMatmulViews("onebit_matmul_f32_f16b", a->sizes, b->sizes,
                               c->sizes);
  onebit_matmul_f32_f16b(c->sizes[0], c->sizes[1], c->sizes[2], c->sizes[3],
                         a->sizes[3], a->data + a->offset, a->strides,
                         b->data + b->offset, b->strides, beta,
                         c->data + c->offset, c->strides);
}

} // extern "C"
