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

/// One row (GEMV): c[j0, j0 + nc) += a . B[:, j0 + nc), reading B in place
/// (packing it would cost as much as the product). Needs gemvLayout.
bool gemvLayout(const Mat &A, const Mat &B) {
  return B.cs == 1 || (B.rs == 1 && A.cs == 1);
}

ONEBIT_ISA_CLONES
void gemvBlock(const Mat &A, const Mat &B, float *__restrict c, int64_t j0,
               int64_t nc) {
  const int64_t K = A.cols;
  if (B.cs == 1) {
    // Whole row pieces of B streamed in order (DRAM-friendly); the output
    // range stays in cache.
    for (int64_t p = 0; p < K; ++p) {
      const float av = A.p[p * A.cs];
      const float *__restrict bp = B.p + p * B.rs + j0;
      float *__restrict cp = c + j0;
      for (int64_t j = 0; j < nc; ++j)
        cp[j] += av * bp[j];
    }
    return;
  }
  if (B.rs == 1 && A.cs == 1) {
    for (int64_t j = 0; j < nc; ++j) {
      const float *__restrict bp = B.p + (j0 + j) * B.cs;
      float acc[16] = {};
      int64_t p = 0;
      for (; p + 16 <= K; p += 16)
        for (int q = 0; q < 16; ++q)
          acc[q] += A.p[p + q] * bp[p + q];
      float sum = 0.0f;
      for (; p < K; ++p)
        sum += A.p[p] * bp[p];
      for (int q = 0; q < 16; ++q)
        sum += acc[q];
      c[j0 + j] += sum;
    }
  }
}

/// One GEMM of a batch for the built-in kernel: C row-major.
struct Job {
  Mat A, B;
  float *c;
  int64_t ldc;
};

void builtinGemms(const std::vector<Job> &jobs, int64_t M, int64_t N) {
  if (M == 1 && gemvLayout(jobs.front().A, jobs.front().B)) {
    // GEMV: one column range per thread (and job), at most 16K columns so
    // the output range stays in L2.
    const int64_t threads = std::max(1, onebit_runtime_get_num_threads());
    const int64_t chunk =
        std::min<int64_t>(16384, ((N + threads - 1) / threads + 63) / 64 * 64);
    const int64_t parts = (N + chunk - 1) / chunk;
    onebit::rt::parallelTasks(
        static_cast<int64_t>(jobs.size()) * parts, [&](int64_t t) {
          const Job &job = jobs[t / parts];
          const int64_t j0 = (t % parts) * chunk;
          gemvBlock(job.A, job.B, job.c, j0, std::min(chunk, N - j0));
        });
    return;
  }
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
  if (!useBlas) {
    for (const Job &j : jobs)
      scaleC(j.c, j.ldc, M, N, beta);
    builtinGemms(jobs, M, N);
    return;
  }
#ifdef ONEBIT_HAVE_OPENBLAS
  const int64_t K = jobs.front().A.cols;
  static const bool once = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
  const int64_t threads = std::max(1, onebit_runtime_get_num_threads());
  const int64_t count = static_cast<int64_t>(jobs.size());
  // Split each job when there are fewer jobs than threads and it is big
  // enough to be worth a task (~64K multiply-adds).
  int64_t parts = 1;
  if (count < threads && M * N * K >= (int64_t{1} << 16))
    parts = (threads + count - 1) / count;
  const bool byCols = N >= M;
  const int64_t span = byCols ? N : M;
  const int64_t chunk =
      std::max<int64_t>(1, (span + parts - 1) / parts + 15) / 16 * 16;
  parts = (span + chunk - 1) / chunk;
  // A decode step's attention products (a few heads of 1 x 64 x keys) take
  // microseconds in all: as long as waking the pool, so they run here.
  const bool serial = M * N * K * count < (int64_t{1} << 17);
  auto each = [&](int64_t tasks, auto &&fn) {
    if (!serial)
      return onebit::rt::parallelTasks(tasks, fn);
    for (int64_t t = 0; t < tasks; ++t)
      fn(t);
  };
  each(count * parts, [&](int64_t t) {
    const Job &j = jobs[t / parts];
    const int64_t p0 = (t % parts) * chunk, p1 = std::min(span, p0 + chunk);
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

[[noreturn]] void shapeError(const char *fn, const char *what, int64_t got,
                             int64_t want) {
  std::fprintf(stderr, "%s: %s is %lld, expected %lld (compiler bug)\n", fn,
               what, static_cast<long long>(got), static_cast<long long>(want));
  std::abort();
}

} // namespace

void onebit::rt::checkMatmulViews(const char *fn,
                                  const StridedMemRefType<float, 4> *a,
                                  const StridedMemRefType<float, 4> *b,
                                  const StridedMemRefType<float, 4> *c) {
  const char *names[2] = {"batch dim 0", "batch dim 1"};
  for (int d = 0; d < 2; ++d) {
    if (a->sizes[d] != c->sizes[d])
      shapeError(fn, names[d], a->sizes[d], c->sizes[d]);
    if (b->sizes[d] != c->sizes[d])
      shapeError(fn, names[d], b->sizes[d], c->sizes[d]);
  }
  if (a->sizes[2] != c->sizes[2])
    shapeError(fn, "A rows", a->sizes[2], c->sizes[2]);
  if (b->sizes[2] != a->sizes[3])
    shapeError(fn, "B rows", b->sizes[2], a->sizes[3]);
  if (b->sizes[3] != c->sizes[3])
    shapeError(fn, "B cols", b->sizes[3], c->sizes[3]);
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
  if (B0 <= 0 || B1 <= 0 || M <= 0 || N <= 0)
    return;
  int64_t sizes[2] = {B0, B1};
  int64_t sa[2] = {aStrides[0], aStrides[1]};
  int64_t sb[2] = {bStrides[0], bStrides[1]};
  int64_t sc[2] = {cStrides[0], cStrides[1]};
  const int64_t ars = aStrides[2], acs = aStrides[3];
  const int64_t brs = bStrides[2], bcs = bStrides[3];
  const int64_t crs = cStrides[2], ccs = cStrides[3];

  // Fold broadcast-weight batches into M, innermost first: consecutive
  // row-major A and C matrices are one taller matrix.
  for (int d = 1; d >= 0; --d) {
    if (sizes[d] == 1)
      continue;
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
  for (int64_t i0 = 0; i0 < sizes[0]; ++i0)
    for (int64_t i1 = 0; i1 < sizes[1]; ++i1) {
      Mat A{a + i0 * sa[0] + i1 * sa[1], M, K, ars, acs};
      Mat B{b + i0 * sb[0] + i1 * sb[1], K, N, brs, bcs};
      float *cp = c + i0 * sc[0] + i1 * sc[1];
      Mat C{cp, M, N, crs, ccs};
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

void _mlir_ciface_onebit_matmul_f32(StridedMemRefType<float, 4> *a,
                                    StridedMemRefType<float, 4> *b,
                                    StridedMemRefType<float, 4> *c,
                                    float beta) {
  onebit::rt::checkMatmulViews("onebit_matmul_f32", a, b, c);
  onebit_matmul_f32(c->sizes[0], c->sizes[1], c->sizes[2], c->sizes[3],
                    a->sizes[3], a->data + a->offset, a->strides,
                    b->data + b->offset, b->strides, beta, c->data + c->offset,
                    c->strides);
}

} // extern "C"
