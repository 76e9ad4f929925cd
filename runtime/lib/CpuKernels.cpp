//===- CpuKernels.cpp - dispatch, cache, epilogue, ciface -----------------===//
//
// See onebit/Runtime/CpuKernels.h for the contract and docs/kernels.md for
// the kernel choices and their measurements.
//
//===----------------------------------------------------------------------===//

#include "onebit/Runtime/CpuKernels.h"
#include "onebit/Runtime/DenseMatmul.h"

#include "Kernels.h"
#include "ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ONEBIT_X86 1
#endif

using namespace onebit::rt;

namespace {

//===----------------------------------------------------------------------===//
// 64-byte aligned scratch
//===----------------------------------------------------------------------===//

template <typename T> struct AlignedBuffer {
  T *ptr = nullptr;
  size_t size = 0;
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) { resize(n); }
  AlignedBuffer(const AlignedBuffer &) = delete;
  AlignedBuffer &operator=(const AlignedBuffer &) = delete;
  ~AlignedBuffer() { std::free(ptr); }
  // Grows only; contents are not kept.
  T *resize(size_t n) {
    if (n > size) {
      std::free(ptr);
      size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
      ptr = static_cast<T *>(std::aligned_alloc(64, bytes ? bytes : 64));
      if (!ptr) {
        std::fprintf(stderr, "onebit runtime: out of memory (%zu bytes)\n",
                     bytes);
        std::abort();
      }
      size = n;
    }
    return ptr;
  }
};

//===----------------------------------------------------------------------===//
// ISA selection
//===----------------------------------------------------------------------===//

enum Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

struct CpuInfo {
  int best = kScalar;
  bool vnni = false; // VBMI + VNNI, for the approximate kernel
  CpuInfo() {
#ifdef ONEBIT_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      best = kAvx2;
    if (__builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
      best = kAvx512;
    vnni = best == kAvx512 && __builtin_cpu_supports("avx512vbmi") &&
           __builtin_cpu_supports("avx512vnni");
#endif
  }
};

const CpuInfo &cpu() {
  static CpuInfo info;
  return info;
}

std::atomic<int> gIsa{-1};
std::atomic<int> gMode{ONEBIT_KERNEL_INT16};
std::atomic<bool> gCacheEnabled{true};

// The level in use when onebit_runtime_set_isa was not called: the best the
// CPU has. Tools cap it from ONEBIT_ISA (tools/common/EnvOptions.h) through
// onebit_runtime_set_isa; the runtime reads no environment.
int defaultIsa() { return cpu().best; }

int currentIsa() {
  int v = gIsa.load(std::memory_order_relaxed);
  return v < 0 ? defaultIsa() : v;
}

// Up to this many activation rows the lookup-table kernels are used, above it
// the FMA GEMM (unpacked +-1 weights); measured in docs/kernels.md, where the
// lookup tables win at every m tried. onebit_runtime_set_lut_max_m changes it
// (tools map ONEBIT_LUT_MAX_M onto it).
constexpr int64_t kDefaultLutMaxM = int64_t(1) << 40;
std::atomic<int64_t> gLutMaxM{-1};

int64_t lutMaxM() {
  int64_t v = gLutMaxM.load(std::memory_order_relaxed);
  return v >= 0 ? v : kDefaultLutMaxM;
}

// AVX2: up to this many activation rows whole-row tables (avx2LutBlocks),
// above it (up to lutMaxM()) the K-chunked lookup-table GEMM
// (avx2LutGemmBlocks), which shares index work between 4 rows but pays for
// its table chunks: 4096 x 4096 at 1 thread, per row, 0.31 ms (whole-row)
// against 0.34 ms at m = 2 and 0.26 ms from m = 4 on. Above the limit (only
// when it is lowered) the signs are unpacked to +-1 panels for the dense GEMM
// (OpenBLAS) when there is one, else the 4-row sign-flip kernel runs.
constexpr int64_t kAvx2RowTablesMaxM = 2;

// FAST_APPROX applies to the decode kernel only, up to this many rows.
constexpr int64_t kFastMaxM = 8;

// Up to kFastMaxM activation rows, a matrix with fewer bytes of signs than
// this is multiplied on the calling thread alone (tg128 of the 1-bit
// SmolLM2 on 2 threads was slower than on 1: 212 against 243 tokens/s).
constexpr int64_t kSerialSignBytes = int64_t(256) << 10;

// Whether an int8 (FAST_APPROX) decode kernel exists at this ISA.
bool haveFastKernel(int isa) {
  return isa == kAvx2 || (isa == kAvx512 && cpu().vnni);
}

// Whether FAST_APPROX is on and applies to m activation rows at this ISA.
bool fastKernel(int isa, int64_t m) {
  return gMode.load() == ONEBIT_KERNEL_FAST_APPROX && m <= kFastMaxM &&
         haveFastKernel(isa);
}

// Whether the INT16 tables (the default mode) apply to m rows of k columns.
bool int16Kernel(int isa, int64_t m, int64_t k) {
  return gMode.load() == ONEBIT_KERNEL_INT16 && m <= kFastMaxM &&
         k <= kI16MaxK && haveFastKernel(isa);
}

//===----------------------------------------------------------------------===//
// Interleaved weight cache
//===----------------------------------------------------------------------===//

struct CachedWeights {
  int64_t n, k;
  uint64_t fingerprint;
  AlignedBuffer<uint32_t> words;
  Interleaved16 view;
  // The AVX2 FAST_APPROX kernel's nibble planes, built on first use.
  std::once_flag planesOnce;
  AlignedBuffer<uint8_t> planeBytes;

  // The INT16 kernels' chunk-major copies ([0]: AVX-512 words, [1]: AVX2
  // nibble planes), built on first use.
  std::once_flag chunkedOnce[2];
  AlignedBuffer<uint8_t> chunkedBytes[2];

  ChunkedWeights chunked(bool planes) {
    const int p = planes ? 1 : 0;
    const int64_t kw = view.kw, blocks = view.blocks;
    ChunkedWeights cw{view.n, kw, blocks, nullptr};
    std::call_once(chunkedOnce[p], [&] {
      uint8_t *d = chunkedBytes[p].resize(static_cast<size_t>(blocks * kw * 64));
      ChunkedWeights out = cw;
      out.data = d;
      for (int64_t c = 0; c < out.chunks(); ++c)
        for (int64_t b = 0; b < blocks; ++b) {
          uint8_t *dst = const_cast<uint8_t *>(out.at(c, b));
          for (int64_t j = 0; j < out.chunkWords(c); ++j) {
            const uint32_t *src =
                view.words + (b * kw + c * kI16ChunkWords + j) * 16;
            uint8_t *o = dst + j * 64;
            if (!planes) {
              std::memcpy(o, src, 64);
              continue;
            }
            // avx2PlanesFromInterleaved's layout for one word of 16 rows.
            for (int64_t r = 0; r < 16; ++r)
              for (int h = 0; h < 2; ++h) {
                auto nib = [&](int q) {
                  return (src[r] >> (4 * (4 * h + q))) & 15u;
                };
                o[h * 32 + r] = uint8_t(nib(0) | nib(2) << 4);
                o[h * 32 + 16 + r] = uint8_t(nib(1) | nib(3) << 4);
              }
          }
        }
    });
    cw.data = chunkedBytes[p].ptr;
    return cw;
  }

  const uint8_t *planes() {
    std::call_once(planesOnce, [this] {
      avx2PlanesFromInterleaved(
          view, planeBytes.resize(static_cast<size_t>(view.blocks * view.kw *
                                                      64)));
    });
    return planeBytes.ptr;
  }
};

// 32 words spread over the matrix, its last word included. It runs on every
// call, so it reads few words: each is a likely cache miss, since the
// kernels stream the cached copy, not `signs`.
uint64_t fingerprint(const uint32_t *signs, int64_t n, int64_t kw) {
  const int64_t total = n * kw;
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t v) {
    h ^= v;
    h *= 1099511628211ull;
  };
  constexpr int64_t kSamples = 32;
  const int64_t step = std::max<int64_t>(1, total / kSamples);
  for (int64_t i = 0; i < total && i < kSamples * step; i += step)
    mix(signs[i]);
  if (total > 0)
    mix(signs[total - 1]);
  return h;
}

std::unique_ptr<CachedWeights> interleave(const uint32_t *signs, int64_t n,
                                          int64_t k) {
  auto c = std::make_unique<CachedWeights>();
  const int64_t kw = (k + 31) / 32, blocks = (n + 15) / 16;
  c->n = n;
  c->k = k;
  c->fingerprint = fingerprint(signs, n, kw);
  uint32_t *w = c->words.resize(static_cast<size_t>(blocks * kw * 16));
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t r = 0; r < 16; ++r) {
      const int64_t row = b * 16 + r;
      for (int64_t wi = 0; wi < kw; ++wi)
        w[(b * kw + wi) * 16 + r] = row < n ? signs[row * kw + wi] : 0u;
    }
  c->view = Interleaved16{n, k, kw, blocks, w};
  return c;
}

struct WeightCache {
  std::mutex mutex;
  std::unordered_map<const uint32_t *, std::shared_ptr<CachedWeights>> map;
};

WeightCache &cache() {
  static WeightCache c;
  return c;
}

std::shared_ptr<CachedWeights> getInterleaved(const uint32_t *signs, int64_t n,
                                              int64_t k, bool cacheable) {
  if (!cacheable || !gCacheEnabled.load())
    return std::shared_ptr<CachedWeights>(interleave(signs, n, k));
  const uint64_t fp = fingerprint(signs, n, (k + 31) / 32);
  WeightCache &wc = cache();
  {
    std::lock_guard<std::mutex> lock(wc.mutex);
    auto it = wc.map.find(signs);
    if (it != wc.map.end() && it->second->n == n && it->second->k == k &&
        it->second->fingerprint == fp)
      return it->second;
  }
  std::shared_ptr<CachedWeights> built(interleave(signs, n, k));
  std::lock_guard<std::mutex> lock(wc.mutex);
  wc.map[signs] = built;
  return built;
}

//===----------------------------------------------------------------------===//
// The layer
//===----------------------------------------------------------------------===//

// Splits [0, total) into about `parts` chunks of a multiple of `align`.
int64_t chunkSize(int64_t total, int64_t parts, int64_t align) {
  int64_t c = (total + parts - 1) / std::max<int64_t>(parts, 1);
  return std::max<int64_t>(align, (c + align - 1) / align * align);
}

// Sums of 16 interleaved partial sums, which the compiler keeps in vector
// registers (a single accumulator would be a serial chain of scalar adds).
constexpr int kLanes = 16;

// r[j] *= h[j] (when h) and returns the sum of the row.
ONEBIT_ISA_CLONES double scaleAndSum(float *r, int64_t n, const float *h) {
  float acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      if (h)
        r[j + l] *= h[j + l];
      acc[l] += r[j + l];
    }
  double sum = 0.0;
  for (; j < n; ++j) {
    if (h)
      r[j] *= h[j];
    sum += r[j];
  }
  for (int l = 0; l < kLanes; ++l)
    sum += acc[l];
  return sum;
}

// Sum of (r[j] - mean)^2.
ONEBIT_ISA_CLONES double squaredDeviations(const float *r, int64_t n,
                                           float mean) {
  float acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const float d = r[j + l] - mean;
      acc[l] += d * d;
    }
  double sq = 0.0;
  for (; j < n; ++j) {
    const double d = r[j] - mean;
    sq += d * d;
  }
  for (int l = 0; l < kLanes; ++l)
    sq += acc[l];
  return sq;
}

// r[j] = (r[j] - mean) * inv (+ bias[j]).
ONEBIT_ISA_CLONES void normalize(float *r, int64_t n, float mean, float inv,
                                 const float *bias) {
  if (bias)
    for (int64_t j = 0; j < n; ++j)
      r[j] = (r[j] - mean) * inv + bias[j];
  else
    for (int64_t j = 0; j < n; ++j)
      r[j] = (r[j] - mean) * inv;
}

ONEBIT_ISA_CLONES void scaleRow(float *r, int64_t n, const float *h,
                                const float *bias) {
  for (int64_t j = 0; j < n; ++j) {
    float v = h ? r[j] * h[j] : r[j];
    r[j] = bias ? v + bias[j] : v;
  }
}

// d[0, k) = x * g (or x), d[k, kp) = 0.
ONEBIT_ISA_CLONES void scaleActivations(float *d, const float *x,
                                        const float *g, int64_t k,
                                        int64_t kp) {
  if (g)
    for (int64_t c = 0; c < k; ++c)
      d[c] = x[c] * g[c];
  else
    for (int64_t c = 0; c < k; ++c)
      d[c] = x[c];
  for (int64_t c = k; c < kp; ++c)
    d[c] = 0.0f;
}

void epilogue(float *y, int64_t m, int64_t n, const float *h,
              const float *bias, float eps) {
  if (!h && eps <= 0.0f && !bias)
    return;
  auto row = [&](int64_t i) {
    float *r = y + i * n;
    if (eps <= 0.0f) {
      scaleRow(r, n, h, bias);
      return;
    }
    // LayerNorm without affine parameters (the bias is added after it).
    const double mean = scaleAndSum(r, n, h) / static_cast<double>(n);
    const float fm = static_cast<float>(mean);
    const double var = squaredDeviations(r, n, fm) / static_cast<double>(n);
    normalize(r, n, fm, static_cast<float>(1.0 / std::sqrt(var + eps)), bias);
  };
  if (m * n >= (1 << 16))
    pool().parallelFor(m, row);
  else
    for (int64_t i = 0; i < m; ++i)
      row(i);
}

} // namespace

ONEBIT_ISA_CLONES void onebit::rt::quantizeQ8(const float *x, int64_t k,
                                              int8_t *xq, float *d) {
  for (int64_t b = 0; b * kQ8Block < k; ++b) {
    const float *xb = x + b * kQ8Block;
    float amax = 0.0f;
    bool finite = true;
    for (int64_t i = 0; i < kQ8Block; ++i) {
      const float a = std::fabs(xb[i]);
      amax = std::max(amax, a);
      finite &= a <= std::numeric_limits<float>::max();
    }
    const float inv = finite && amax > 0.0f ? 127.0f / amax : 0.0f;
    // A NaN or infinity makes the block's scale NaN, so it reaches the
    // output as the f32 products would carry it.
    d[b] = finite ? amax / 127.0f : std::numeric_limits<float>::quiet_NaN();
    for (int64_t i = 0; i < kQ8Block; ++i)
      xq[b * kQ8Block + i] = static_cast<int8_t>(std::nearbyint(xb[i] * inv));
  }
}

void onebit::rt::binaryLinear(const float *x, int64_t m, int64_t k,
                              int64_t ldx, const uint32_t *signs, int64_t n,
                              const float *g, const float *h,
                              const float *bias, float eps, float *y,
                              bool cacheable, bool exact) {
  if (m <= 0 || n <= 0)
    return;
  const int64_t kw = (k + 31) / 32, kp = kw * 32;
  const int threads = pool().threads();

  thread_local AlignedBuffer<float> xgBuf;
  float *xg = xgBuf.resize(static_cast<size_t>(std::max<int64_t>(m * kp, 1)));
  for (int64_t i = 0; i < m; ++i)
    scaleActivations(xg + i * kp, x + i * ldx, g, k, kp);
  Activations a{xg, m, k, kp};

  const int isa = currentIsa();
  if (kw == 0) {
    std::memset(y, 0, sizeof(float) * static_cast<size_t>(m * n));
  } else if (isa >= kAvx2 && m <= lutMaxM()) {
    // Lookup tables. Decode kernels (one table set per activation row, built
    // once per call) in tasks of 16-row block ranges; the GEMMs build the
    // tables they need per K chunk and row tile in each task, so fewer,
    // larger tasks: the build is repeated once per task.
    auto w = getInterleaved(signs, n, k, cacheable);
    const Interleaved16 &view = w->view;
    // A few activation rows against a small matrix (SmolLM2's layers are
    // 14-110 KiB of signs) take microseconds: waking the pool's workers
    // costs as much, so such calls run on the calling thread.
    const bool serial = m <= kFastMaxM && n * kw * 4 < kSerialSignBytes;
    auto forBlocks = [&](int64_t parts, auto &&fn) {
      if (serial)
        parts = 1;
      const int64_t chunk = chunkSize(view.blocks, parts, 1);
      pool().parallelFor((view.blocks + chunk - 1) / chunk, [&](int64_t t) {
        fn(t * chunk, std::min(view.blocks, (t + 1) * chunk));
      });
    };
    const bool avx512 = isa == kAvx512;
    if (!exact && int16Kernel(isa, m, k)) {
      thread_local AlignedBuffer<int8_t> tabBuf;
      thread_local AlignedBuffer<float> scaleBuf;
      int8_t *tables = tabBuf.resize(
          static_cast<size_t>(m * kw * kI16TableBytesPerWord));
      float *scales = scaleBuf.resize(static_cast<size_t>(m));
      (avx512 ? avx512BuildTablesI16 : avx2BuildTablesI16)(a, tables, scales);
      const ChunkedWeights cw = w->chunked(!avx512);
      forBlocks(int64_t(threads) * 4, [&](int64_t b0, int64_t b1) {
        (avx512 ? avx512LutChunkedI16 : avx2LutChunkedI16)(a, tables, scales,
                                                           cw, b0, b1, y, n);
      });
    } else if (!exact && fastKernel(isa, m)) {
      thread_local AlignedBuffer<int8_t> tabBuf;
      thread_local AlignedBuffer<float> scaleBuf;
      int8_t *tables = tabBuf.resize(static_cast<size_t>(m * (kp / 4) * 16));
      float *scales = scaleBuf.resize(static_cast<size_t>(m));
      (avx512 ? avx512BuildTablesI8 : avx2BuildTablesI8)(a, tables, scales);
      const uint8_t *planes = avx512 ? nullptr : w->planes();
      forBlocks(int64_t(threads) * 4, [&](int64_t b0, int64_t b1) {
        if (avx512)
          avx512LutBlocksI8(a, tables, scales, view, b0, b1, y, n);
        else
          avx2LutBlocksI8(a, tables, scales, planes, view.kw, n, b0, b1, y,
                          n);
      });
    } else if (m <= (avx512 ? 1 : kAvx2RowTablesMaxM)) {
      thread_local AlignedBuffer<float> tabBuf;
      float *tables = tabBuf.resize(static_cast<size_t>(m * (kp / 4) * 16));
      (avx512 ? avx512BuildTables : avx2BuildTables)(a, tables);
      forBlocks(int64_t(threads) * 4, [&](int64_t b0, int64_t b1) {
        (avx512 ? avx512LutBlocks : avx2LutBlocks)(a, tables, view, b0, b1, y,
                                                   n);
      });
    } else {
      forBlocks(int64_t(threads) * 2, [&](int64_t b0, int64_t b1) {
        (avx512 ? avx512LutGemmBlocks : avx2LutGemmBlocks)(a, view, b0, b1, y,
                                                           n);
      });
    }
  } else if (isa == kAvx2 && onebit_runtime_have_blas()) {
    // y[:, r0:r1] = xg * S[r0:r1]^T, one unpacked panel of rows at a time.
    constexpr int64_t kPanel = 1024;
    thread_local AlignedBuffer<float> panelBuf;
    float *panel = panelBuf.resize(static_cast<size_t>(kPanel * kp));
    for (int64_t r0 = 0; r0 < n; r0 += kPanel) {
      const int64_t rows = std::min(kPanel, n - r0);
      pool().parallelFor(rows, [&](int64_t r) {
        const uint32_t *src = signs + (r0 + r) * kw;
        float *d = panel + r * kp;
        for (int64_t c = 0; c < kp; ++c)
          d[c] = (src[c >> 5] >> (c & 31)) & 1u ? -1.0f : 1.0f;
      });
      const int64_t as[4] = {0, 0, kp, 1}, bs[4] = {0, 0, 1, kp},
                    cs[4] = {0, 0, n, 1};
      onebit_matmul_f32(1, 1, m, rows, kp, xg, as, panel, bs, 0.0f, y + r0,
                        cs);
    }
  } else if (isa == kAvx512) {
    thread_local AlignedBuffer<float> packBuf;
    float *packed = packBuf.resize(static_cast<size_t>(avx512PackedASize(m, kp)));
    avx512PackA(a, packed);
    const int64_t nc = avx512GemmBufBSize() / kGemmKC; // columns per task
    const int64_t tasks = (n + nc - 1) / nc;
    pool().parallelFor(tasks, [&](int64_t t) {
      thread_local AlignedBuffer<float> bBuf;
      float *b = bBuf.resize(static_cast<size_t>(avx512GemmBufBSize()));
      avx512GemmRows(a, packed, signs, n, t * nc, std::min(n, (t + 1) * nc),
                     b, y, n);
    });
  } else {
    const int64_t chunk = chunkSize(n, int64_t(threads) * 4, 4);
    const int64_t tasks = (n + chunk - 1) / chunk;
    pool().parallelFor(tasks, [&](int64_t t) {
      const int64_t n0 = t * chunk, n1 = std::min(n, n0 + chunk);
      if (isa == kAvx2)
        avx2Rows(a, signs, n, n0, n1, y);
      else
        scalarRows(a, signs, n, n0, n1, y);
    });
  }
  epilogue(y, m, n, h, bias, eps);
}

namespace {

// Up to this many activation rows the approximate modes quantize them (q8)
// for the int8 decode kernels; each row streams the weights once more.
constexpr int64_t kInt8Q8MaxM = 2;

// From this many activation rows on, int8Linear converts the weights and
// uses the dense FP32 GEMM (kernel-bench: the panel kernel reached 0.75x of
// OpenBLAS sgemm at m = 64).
constexpr int64_t kInt8DenseMinM = 16;

void int8Linear(const float *x, int64_t m, int64_t k, const int8_t *w,
                int64_t n, const float *scales, const float *bias, float *y) {
  if (m == 0 || n == 0)
    return;
  const int isa = currentIsa();
  const int threads = pool().threads();
  if (m >= kInt8DenseMinM && k > 0) {
    // Many activation rows: the weights are converted once per call, a
    // chunk of rows at a time (scale folded in), and multiplied by the dense
    // FP32 GEMM of the runtime (OpenBLAS when built with it), which beats
    // the panel kernel there.
    const int64_t rows = std::max<int64_t>(
        kInt8PanelRows, std::min<int64_t>(n, (int64_t(1) << 20) / k));
    thread_local AlignedBuffer<float> wbuf;
    float *wf = wbuf.resize(static_cast<size_t>(rows * k));
    const int64_t aStrides[4] = {0, 0, k, 1};
    const int64_t bStrides[4] = {0, 0, 1, k}; // W chunk^T: K x rows
    const int64_t cStrides[4] = {0, 0, n, 1};
    for (int64_t n0 = 0; n0 < n; n0 += rows) {
      const int64_t nc = std::min(rows, n - n0);
      const int64_t per = chunkSize(nc, int64_t(threads) * 2, 1);
      pool().parallelFor((nc + per - 1) / per, [&](int64_t t) {
        const int64_t r0 = t * per, r1 = std::min(nc, r0 + per);
        for (int64_t r = r0; r < r1; ++r) {
          const int8_t *src = w + (n0 + r) * k;
          const float sc = scales[n0 + r];
          float *dst = wf + r * k;
          for (int64_t c = 0; c < k; ++c)
            dst[c] = float(src[c]) * sc;
        }
      });
      onebit_matmul_f32(1, 1, m, nc, k, x, aStrides, wf, bStrides, 0.0f,
                        y + n0, cStrides);
    }
    if (bias)
      pool().parallelFor(m, [&](int64_t i) {
        float *yi = y + i * n;
        for (int64_t r = 0; r < n; ++r)
          yi[r] += bias[r];
      });
    return;
  }
  // Tasks of whole panels; about 4 per thread for balance.
  const int64_t chunk = chunkSize(n, int64_t(threads) * 4, kInt8PanelRows);
  const int64_t tasks = (n + chunk - 1) / chunk;
  const int64_t kp = (k + 7) & ~int64_t(7);
  // The approximate modes' decode: activations quantized per block (q8)
  // and integer dot products; EXACT keeps the f32 products.
  const bool q8 = gMode.load() != ONEBIT_KERNEL_EXACT && isa >= kAvx2 &&
                  m <= kInt8Q8MaxM && k >= kQ8Block;
  thread_local AlignedBuffer<int8_t> xqBuf;
  thread_local AlignedBuffer<float> xdBuf;
  int8_t *xq = nullptr;
  float *xd = nullptr;
  const int64_t nb = k / kQ8Block;
  if (q8) {
    xq = xqBuf.resize(static_cast<size_t>(m * nb * kQ8Block));
    xd = xdBuf.resize(static_cast<size_t>(m * nb));
    for (int64_t i = 0; i < m; ++i)
      quantizeQ8(x + i * k, nb * kQ8Block, xq + i * nb * kQ8Block,
                 xd + i * nb);
  }
  pool().parallelFor(tasks, [&](int64_t t) {
    const int64_t n0 = t * chunk, n1 = std::min(n, n0 + chunk);
    if (q8) {
      for (int64_t i = 0; i < m; ++i)
        avx2Int8GemvQ8(xq + i * nb * kQ8Block, xd + i * nb, x + i * k, k, w,
                       n0, n1, y + i * n);
    } else if (isa >= kAvx2) {
      thread_local AlignedBuffer<float> panel;
      avx2Int8Rows(x, m, k, w, n0, n1, y, n,
                   panel.resize(static_cast<size_t>(kInt8PanelRows * kp)));
    } else {
      scalarInt8Rows(x, m, k, w, n0, n1, y, n);
    }
    for (int64_t i = 0; i < m; ++i) {
      float *yi = y + i * n;
      for (int64_t r = n0; r < n1; ++r)
        yi[r] = yi[r] * scales[r] + (bias ? bias[r] : 0.0f);
    }
  });
}

[[noreturn]] void shapeError(const char *what, int64_t got, int64_t want) {
  std::fprintf(stderr,
               "onebit runtime: _mlir_ciface_onebit_binary_linear_f32: %s is "
               "%lld, expected %lld (a compiler bug)\n",
               what, static_cast<long long>(got), static_cast<long long>(want));
  std::abort();
}

template <typename T>
const T *contiguous2d(StridedMemRefType<T, 2> *d, std::vector<T> &tmp) {
  const T *base = d->data + d->offset;
  const int64_t r = d->sizes[0], c = d->sizes[1];
  if ((d->strides[1] == 1 || c <= 1) && (d->strides[0] == c || r <= 1))
    return base;
  tmp.resize(static_cast<size_t>(r * c));
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j)
      tmp[i * c + j] = base[i * d->strides[0] + j * d->strides[1]];
  return tmp.data();
}

template <typename T>
const T *contiguous1d(StridedMemRefType<T, 1> *d, std::vector<T> &tmp) {
  const T *base = d->data + d->offset;
  if (d->strides[0] == 1 || d->sizes[0] <= 1)
    return base;
  tmp.resize(static_cast<size_t>(d->sizes[0]));
  for (int64_t i = 0; i < d->sizes[0]; ++i)
    tmp[i] = base[i * d->strides[0]];
  return tmp.data();
}

/// The m x n output of a C-interface call as a row-major buffer: the memref's
/// own memory when it is contiguous, else a temporary that the destructor
/// copies back through the strides.
class RowMajorOutput {
public:
  explicit RowMajorOutput(StridedMemRefType<float, 2> *y)
      : y_(y), m_(y->sizes[0]), n_(y->sizes[1]) {
    float *base = y->data + y->offset;
    const bool contig = (y->strides[1] == 1 || n_ <= 1) &&
                        (y->strides[0] == n_ || m_ <= 1);
    if (contig) {
      data_ = base;
    } else {
      tmp_.resize(static_cast<size_t>(m_ * n_));
      data_ = tmp_.data();
    }
  }
  ~RowMajorOutput() {
    if (tmp_.empty())
      return;
    float *base = y_->data + y_->offset;
    for (int64_t i = 0; i < m_; ++i)
      for (int64_t j = 0; j < n_; ++j)
        base[i * y_->strides[0] + j * y_->strides[1]] = tmp_[i * n_ + j];
  }
  RowMajorOutput(const RowMajorOutput &) = delete;
  RowMajorOutput &operator=(const RowMajorOutput &) = delete;
  float *data() { return data_; }

private:
  StridedMemRefType<float, 2> *y_;
  int64_t m_, n_;
  std::vector<float> tmp_;
  float *data_ = nullptr;
};

} // namespace

extern "C" {

void onebit_binary_linear_f32(const float *x, int64_t m, int64_t k,
                              const uint32_t *signs, int64_t n,
                              const float *g, const float *h,
                              const float *bias, float normEps, float *y) {
  onebit::rt::binaryLinear(x, m, k, k, signs, n, g, h, bias, normEps, y,
                           /*cacheable=*/true, /*exact=*/false);
}

void onebit_int8_linear_f32(const float *x, int64_t m, int64_t k,
                            const int8_t *w, int64_t n, const float *scales,
                            const float *bias, float *y) {
  int8Linear(x, m, k, w, n, scales, bias, y);
}

void onebit_runtime_set_num_threads(int n) {
  pool().setThreads(n);
  onebit::rt::denseSetThreads(pool().threads());
}
int onebit_runtime_get_num_threads(void) { return pool().threads(); }

int onebit_runtime_set_kernel_mode(int mode) {
  if (mode != ONEBIT_KERNEL_EXACT && mode != ONEBIT_KERNEL_FAST_APPROX &&
      mode != ONEBIT_KERNEL_INT16)
    return -1;
  return gMode.exchange(mode);
}
int onebit_runtime_kernel_mode_from_name(const char *name) {
  if (!name)
    return -1;
  for (int mode : {ONEBIT_KERNEL_EXACT, ONEBIT_KERNEL_FAST_APPROX,
                   ONEBIT_KERNEL_INT16})
    if (std::strcmp(name, onebit_runtime_kernel_mode_name(mode)) == 0)
      return mode;
  return -1;
}
const char *onebit_runtime_kernel_mode_name(int mode) {
  switch (mode) {
  case ONEBIT_KERNEL_EXACT:
    return "exact";
  case ONEBIT_KERNEL_FAST_APPROX:
    return "fast";
  case ONEBIT_KERNEL_INT16:
    return "int16";
  default:
    return nullptr;
  }
}
int onebit_runtime_get_kernel_mode(void) { return gMode.load(); }
int onebit_runtime_has_fast_kernel(void) {
  return haveFastKernel(currentIsa()) ? 1 : 0;
}

int64_t onebit_runtime_set_lut_max_m(int64_t m) {
  const int64_t prev = lutMaxM();
  gLutMaxM.store(m < 0 ? -1 : m);
  return prev;
}

int onebit_runtime_set_isa(int level) {
  gIsa.store(std::max(0, std::min(level, cpu().best)));
  return currentIsa();
}
int onebit_runtime_get_isa(void) { return currentIsa(); }

void onebit_runtime_set_weight_cache(int enabled) {
  gCacheEnabled.store(enabled != 0);
  if (!enabled)
    onebit_runtime_clear_weight_cache();
}
void onebit_runtime_forget_weights(const uint32_t *signs) {
  std::lock_guard<std::mutex> lock(cache().mutex);
  cache().map.erase(signs);
}
void onebit_runtime_clear_weight_cache(void) {
  std::lock_guard<std::mutex> lock(cache().mutex);
  cache().map.clear();
}

void _mlir_ciface_onebit_binary_linear_f32(
    StridedMemRefType<float, 2> *x, StridedMemRefType<int32_t, 2> *signs,
    StridedMemRefType<float, 1> *g, StridedMemRefType<float, 1> *h,
    StridedMemRefType<float, 1> *bias, float normEps,
    StridedMemRefType<float, 2> *y) {
  const int64_t m = x->sizes[0], k = x->sizes[1], n = signs->sizes[0];
  if (signs->sizes[1] != (k + 31) / 32)
    shapeError("signs dim 1 (words per row)", signs->sizes[1], (k + 31) / 32);
  if (g->sizes[0] != k)
    shapeError("g size", g->sizes[0], k);
  if (h->sizes[0] != n)
    shapeError("h size", h->sizes[0], n);
  if (bias->sizes[0] != 0 && bias->sizes[0] != n)
    shapeError("bias size (0 or n)", bias->sizes[0], n);
  if (y->sizes[0] != m)
    shapeError("y dim 0", y->sizes[0], m);
  if (y->sizes[1] != n)
    shapeError("y dim 1", y->sizes[1], n);

  std::vector<float> xt, gt, ht, bt;
  std::vector<int32_t> st;
  const float *xp = contiguous2d(x, xt);
  const int32_t *sp = contiguous2d(signs, st);
  const float *gp = contiguous1d(g, gt);
  const float *hp = contiguous1d(h, ht);
  const float *bp = bias->sizes[0] ? contiguous1d(bias, bt) : nullptr;
  // Constant signs of compiled models are contiguous with stable addresses;
  // a copied (strided) operand must not populate the cache.
  const bool cacheable = sp != st.data() || st.empty();

  RowMajorOutput out(y);
  onebit::rt::binaryLinear(xp, m, k, k, reinterpret_cast<const uint32_t *>(sp),
                           n, gp, hp, bp, normEps, out.data(), cacheable,
                           /*exact=*/false);
}

void _mlir_ciface_onebit_int8_linear_f32(StridedMemRefType<float, 2> *x,
                                         StridedMemRefType<int8_t, 2> *w,
                                         StridedMemRefType<float, 1> *scales,
                                         StridedMemRefType<float, 1> *bias,
                                         StridedMemRefType<float, 2> *y) {
  const int64_t m = x->sizes[0], k = x->sizes[1], n = w->sizes[0];
  auto check = [](const char *what, int64_t got, int64_t want) {
    if (got != want) {
      std::fprintf(stderr,
                   "onebit runtime: _mlir_ciface_onebit_int8_linear_f32: %s "
                   "is %lld, expected %lld (a compiler bug)\n",
                   what, static_cast<long long>(got),
                   static_cast<long long>(want));
      std::abort();
    }
  };
  check("weights dim 1", w->sizes[1], k);
  check("scales size", scales->sizes[0], n);
  if (bias->sizes[0] != 0)
    check("bias size (0 or n)", bias->sizes[0], n);
  check("y dim 0", y->sizes[0], m);
  check("y dim 1", y->sizes[1], n);
  std::vector<float> xt, st, bt;
  std::vector<int8_t> wt;
  const float *xp = contiguous2d(x, xt);
  const int8_t *wp = contiguous2d(w, wt);
  const float *sp = contiguous1d(scales, st);
  const float *bp = bias->sizes[0] ? contiguous1d(bias, bt) : nullptr;
  RowMajorOutput out(y);
  int8Linear(xp, m, k, wp, n, sp, bp, out.data());
}

} // extern "C"
