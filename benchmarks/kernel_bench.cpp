//===- kernel_bench.cpp - 1-bit CPU kernels against OpenBLAS FP32 --------===//
//
// Times onebit_binary_linear_f32 (runtime/, docs/kernels.md), and the
// weight-only int8 onebit_int8_linear_f32, against OpenBLAS
// cblas_sgemv / cblas_sgemm on the dequantized FP32 weights
// W[n, k] = S[n, k] * h[n] * g[k] (row-major N x K), in the same run, and
// checks the 1-bit result against the BLAS one. Usage:
//
//   kernel-bench [--quick] [--int8-only] [--attention-only]
//
// Each line reports the median of several timed repetitions after warm-up,
// the ratio sgemv_ms / onebit_ms (> 1 means the 1-bit kernel is faster) and
// the largest |onebit - blas| relative to the largest |blas| of the output.
// Exit status: non-zero when an EXACT-mode result is off by more than 1e-4
// (an INT16 one by more than 1e-3, a FAST_APPROX one by more than 5e-2); speed never fails the run, the
// targets are reported in the summary. --quick uses few repetitions (for the
// kernel-bench-quick ctest test, which checks numerics only).
//
//===----------------------------------------------------------------------===//

#include "onebit/Runtime/CpuKernels.h"
#include "onebit/Runtime/DenseMatmul.h"

#include "EnvOptions.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

// OpenBLAS extensions (declared here too in case cblas.h is another vendor's).
extern "C" void openblas_set_num_threads(int);
extern "C" char *openblas_get_config(void);
extern "C" char *openblas_get_corename(void);

namespace {

bool gQuick = false;
bool gInt8Only = false;
bool gAttentionOnly = false;

constexpr double kExactTol = 1e-4; // relative to max |output|
constexpr double kFastTol = 5e-2;  // FAST_APPROX: int8 tables
constexpr double kInt16Tol = 1e-3; // INT16 (the default): 16-bit tables

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  // Uniform in [lo, hi).
  float uniform(float lo, float hi) {
    return lo + (hi - lo) * float(next() >> 40) * (1.0f / 16777216.0f);
  }
  // Roughly normal (sum of 4 uniforms, unit variance).
  float normal() {
    float a = 0.0f;
    for (int i = 0; i < 4; ++i)
      a += uniform(-1.0f, 1.0f);
    return a * 0.8660254f;
  }
};

template <typename T> struct Aligned {
  T *p = nullptr;
  size_t n = 0;
  explicit Aligned(size_t count) : n(count) {
    size_t bytes = ((count * sizeof(T) + 63) / 64) * 64;
    p = static_cast<T *>(std::aligned_alloc(64, bytes ? bytes : 64));
    if (!p) {
      std::fprintf(stderr, "kernel-bench: out of memory\n");
      std::exit(2);
    }
  }
  ~Aligned() { std::free(p); }
  Aligned(const Aligned &) = delete;
  Aligned &operator=(const Aligned &) = delete;
  T &operator[](size_t i) { return p[i]; }
  const T &operator[](size_t i) const { return p[i]; }
};

double nowMs() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch())
      .count();
}

// Median of timed repetitions after warm-up: at least minReps, then more
// until budgetMs has passed or maxReps are done.
double measure(const std::function<void()> &fn, int warmup, int minReps,
               int maxReps, double budgetMs) {
  for (int i = 0; i < warmup; ++i)
    fn();
  std::vector<double> t;
  const double start = nowMs();
  while (int(t.size()) < maxReps &&
         (int(t.size()) < minReps || nowMs() - start < budgetMs)) {
    const double t0 = nowMs();
    fn();
    t.push_back(nowMs() - t0);
  }
  std::sort(t.begin(), t.end());
  const size_t h = t.size() / 2;
  return t.size() % 2 ? t[h] : 0.5 * (t[h - 1] + t[h]);
}

double relError(const float *got, const float *want, size_t count) {
  double scale = 1e-30, err = 0.0;
  for (size_t i = 0; i < count; ++i) {
    scale = std::max(scale, std::fabs(double(want[i])));
    err = std::max(err, std::fabs(double(got[i]) - double(want[i])));
  }
  return err / scale;
}

// Other processes on a small machine distort the 2-thread figures: print the
// load average so a reader can tell.
std::string loadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a.empty() ? "unknown" : a + " " + b + " " + c;
}

void printCpu() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "unknown";
  std::set<std::string> flags;
  int cpus = 0;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    std::string val = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "processor")
      ++cpus;
    else if (key == "model name" && model == "unknown")
      model = val;
    else if (key == "flags" && flags.empty()) {
      std::istringstream ss(val);
      std::string f;
      while (ss >> f)
        flags.insert(f);
    }
  }
  std::printf("cpu: %s (%d logical cpus)\n", model.c_str(), cpus);
  static const char *interesting[] = {
      "sse4_2",        "avx",          "avx2",          "fma",
      "f16c",          "avx_vnni",     "avx512f",       "avx512bw",
      "avx512dq",      "avx512vl",     "avx512cd",      "avx512ifma",
      "avx512vbmi",    "avx512_vbmi2", "avx512_vnni",   "avx512_bitalg",
      "avx512_vpopcntdq", "avx512_bf16", "avx512_fp16", "amx_tile"};
  std::printf("cpu flags:");
  for (const char *f : interesting)
    if (flags.count(f))
      std::printf(" %s", f);
  std::printf("\n");
  std::printf("openblas: %s (core %s)\n", openblas_get_config(),
              openblas_get_corename());
  static const char *isaNames[] = {"scalar", "avx2", "avx512"};
  int isa = onebit_runtime_get_isa();
  std::printf("onebit isa: %s\n", isa >= 0 && isa <= 2 ? isaNames[isa] : "?");
}

//===----------------------------------------------------------------------===//
// One layer: signs, g, h and the dequantized FP32 weights
//===----------------------------------------------------------------------===//

struct Layer {
  int64_t n, k, kw;
  Aligned<uint32_t> signs;
  Aligned<float> g, h, w;
  Layer(int64_t n_, int64_t k_, uint64_t seed)
      : n(n_), k(k_), kw((k_ + 31) / 32), signs(size_t(n_ * kw)),
        g(size_t(k_)), h(size_t(n_)), w(size_t(n_ * k_)) {
    Rng rng(seed);
    for (int64_t i = 0; i < n * kw; ++i)
      signs[i] = uint32_t(rng.next() >> 32);
    if (k % 32) // padding bits must be 0
      for (int64_t r = 0; r < n; ++r)
        signs[r * kw + kw - 1] &= (1u << (k % 32)) - 1;
    for (int64_t c = 0; c < k; ++c)
      g[c] = rng.uniform(0.5f, 1.5f) * 0.02f;
    for (int64_t r = 0; r < n; ++r)
      h[r] = rng.uniform(0.5f, 1.5f);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c) {
        bool neg = (signs[r * kw + c / 32] >> (c % 32)) & 1u;
        float v = h[r] * g[c];
        w[r * k + c] = neg ? -v : v;
      }
  }
  ~Layer() { onebit_runtime_forget_weights(signs.p); }
};

struct Result {
  std::string name;
  double ratio;
  double target;
  bool meets() const { return ratio >= target; }
};

std::vector<Result> gResults;
bool gNumericsOk = true;

void setThreads(int t) {
  onebit_runtime_set_num_threads(t);
  openblas_set_num_threads(t);
}

const char *modeName(int mode) { return onebit_runtime_kernel_mode_name(mode); }

double modeTol(int mode) {
  return mode == ONEBIT_KERNEL_EXACT   ? kExactTol
         : mode == ONEBIT_KERNEL_INT16 ? kInt16Tol
                                       : kFastTol;
}

void benchGemv(int64_t n, int64_t k, uint64_t seed) {
  Layer l(n, k, seed);
  Rng rng(seed + 1000);
  Aligned<float> x{size_t(k)}, yBlas{size_t(n)}, yOne{size_t(n)};
  for (int64_t c = 0; c < k; ++c)
    x[c] = rng.normal();

  // Few reps for BLAS (milliseconds each); many for the 1-bit kernel.
  const int warm = gQuick ? 1 : 3;
  const int minBlas = gQuick ? 3 : 15, maxBlas = gQuick ? 3 : 200;
  const int minOne = gQuick ? 5 : 50, maxOne = gQuick ? 20 : 5000;
  const double budgetBlas = gQuick ? 0 : 300, budgetOne = gQuick ? 5 : 300;

  for (int threads = 1; threads <= 2; ++threads) {
    setThreads(threads);
    double blasMs = measure(
        [&] {
          cblas_sgemv(CblasRowMajor, CblasNoTrans, int(n), int(k), 1.0f, l.w.p,
                      int(k), x.p, 1, 0.0f, yBlas.p, 1);
        },
        warm, minBlas, maxBlas, budgetBlas);
    for (int mode : {ONEBIT_KERNEL_EXACT, ONEBIT_KERNEL_FAST_APPROX,
                     ONEBIT_KERNEL_INT16}) {
      onebit_runtime_set_kernel_mode(mode);
      double oneMs = measure(
          [&] {
            onebit_binary_linear_f32(x.p, 1, k, l.signs.p, n, l.g.p, l.h.p,
                                     nullptr, 0.0f, yOne.p);
          },
          warm, minOne, maxOne, budgetOne);
      double err = relError(yOne.p, yBlas.p, size_t(n));
      const double tol = modeTol(mode);
      const bool ok = err <= tol;
      gNumericsOk &= ok;
      char name[96];
      std::snprintf(name, sizeof(name), "gemv 1x%lldx%lld threads=%d mode=%s",
                    (long long)n, (long long)k, threads, modeName(mode));
      const double ratio = blasMs / oneMs;
      std::printf("%s onebit_ms=%.4f sgemv_ms=%.4f ratio=%.2fx "
                  "max_rel_err=%.2e%s\n",
                  name, oneMs, blasMs, ratio, err, ok ? "" : " NUMERICS-FAIL");
      std::fflush(stdout);
      gResults.push_back({name, ratio, threads == 1 && n == 4096 && k == 4096
                                           ? 25.0
                                           : 0.0});
    }
    // For reference (full mode, first shape, 1 thread): the AVX2 kernels
    // (exact and fast) that CPUs without AVX-512 get.
    if (!gQuick && threads == 1 && n == 4096 && k == 4096) {
      const int prevIsa = onebit_runtime_get_isa();
      if (onebit_runtime_set_isa(1) == 1) {
        for (int mode : {ONEBIT_KERNEL_EXACT, ONEBIT_KERNEL_FAST_APPROX,
                         ONEBIT_KERNEL_INT16}) {
          onebit_runtime_set_kernel_mode(mode);
          double oneMs = measure(
              [&] {
                onebit_binary_linear_f32(x.p, 1, k, l.signs.p, n, l.g.p,
                                         l.h.p, nullptr, 0.0f, yOne.p);
              },
              warm, 20, 500, 300);
          double err = relError(yOne.p, yBlas.p, size_t(n));
          gNumericsOk &= err <= modeTol(mode);
          std::printf("(info) gemv 1x%lldx%lld threads=1 isa=avx2 mode=%s "
                      "onebit_ms=%.4f sgemv_ms=%.4f ratio=%.2fx "
                      "max_rel_err=%.2e\n",
                      (long long)n, (long long)k, modeName(mode), oneMs,
                      blasMs, blasMs / oneMs, err);
        }
      }
      onebit_runtime_set_isa(prevIsa);
    }
  }
  onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_INT16);
}

void benchGemm(const Layer &l, int64_t m, uint64_t seed) {
  const int64_t n = l.n, k = l.k;
  Rng rng(seed);
  Aligned<float> x{size_t(m * k)}, yBlas{size_t(m * n)}, yOne{size_t(m * n)};
  for (int64_t i = 0; i < m * k; ++i)
    x[i] = rng.normal();
  // Work per call grows with m: fewer reps for the large ones.
  const int warm = 1;
  const int reps = gQuick ? (m >= 512 ? 1 : 2) : (m >= 512 ? 5 : m >= 128 ? 9 : 21);
  const double budget = gQuick ? 0 : 600;

  for (int threads = 1; threads <= 2; ++threads) {
    setThreads(threads);
    double blasMs = measure(
        [&] {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(m), int(n),
                      int(k), 1.0f, x.p, int(k), l.w.p, int(k), 0.0f, yBlas.p,
                      int(n));
        },
        warm, reps, reps, budget);
    // The mode only changes the decode kernel (small m); report exact.
    onebit_runtime_set_kernel_mode(ONEBIT_KERNEL_EXACT);
    double oneMs = measure(
        [&] {
          onebit_binary_linear_f32(x.p, m, k, l.signs.p, n, l.g.p, l.h.p,
                                   nullptr, 0.0f, yOne.p);
        },
        warm, reps, reps, budget);
    double err = relError(yOne.p, yBlas.p, size_t(m * n));
    const bool ok = err <= kExactTol;
    gNumericsOk &= ok;
    char name[96];
    std::snprintf(name, sizeof(name), "gemm %lldx%lldx%lld threads=%d mode=exact",
                  (long long)m, (long long)n, (long long)k, threads);
    const double ratio = blasMs / oneMs;
    std::printf("%s onebit_ms=%.3f sgemm_ms=%.3f ratio=%.2fx max_rel_err=%.2e%s\n",
                name, oneMs, blasMs, ratio, err, ok ? "" : " NUMERICS-FAIL");
    std::fflush(stdout);
    gResults.push_back({name, ratio, 1.0});
    // For reference (full mode, 1 thread): the FMA GEMM over unpacked +-1
    // weights that the lookup-table kernel replaced.
    if (!gQuick && threads == 1) {
      const int64_t prev = onebit_runtime_set_lut_max_m(0);
      double fmaMs = measure(
          [&] {
            onebit_binary_linear_f32(x.p, m, k, l.signs.p, n, l.g.p, l.h.p,
                                     nullptr, 0.0f, yOne.p);
          },
          warm, reps, reps, budget);
      onebit_runtime_set_lut_max_m(prev);
      double fmaErr = relError(yOne.p, yBlas.p, size_t(m * n));
      gNumericsOk &= fmaErr <= kExactTol;
      std::printf("(info) gemm %lldx%lldx%lld threads=1 kernel=fma-unpacked "
                  "onebit_ms=%.3f sgemm_ms=%.3f ratio=%.2fx "
                  "max_rel_err=%.2e\n",
                  (long long)m, (long long)n, (long long)k, fmaMs, blasMs,
                  blasMs / fmaMs, fmaErr);
    }
  }
}

// Weight-only int8 (onebit_int8_linear_f32, what --onebit-int8-weights gives
// the layers OneBit keeps in FP) against OpenBLAS on the same weights
// dequantized to FP32. Informational: no target.
void benchInt8(int64_t n, int64_t k, int64_t m, uint64_t seed) {
  Rng rng(seed);
  std::vector<int8_t> q(size_t(n * k));
  Aligned<float> w{size_t(n * k)}, sc{size_t(n)}, x{size_t(m * k)},
      yBlas{size_t(m * n)}, yOne{size_t(m * n)};
  for (int64_t r = 0; r < n; ++r) {
    sc[r] = 0.01f * float(1.0 + 0.5 * std::fabs(rng.normal()));
    for (int64_t c = 0; c < k; ++c) {
      float v = std::max(-127.0f, std::min(127.0f, std::nearbyint(
                                                       40.0f * rng.normal())));
      q[r * k + c] = int8_t(v);
      w[r * k + c] = v * sc[r];
    }
  }
  for (int64_t i = 0; i < m * k; ++i)
    x[i] = rng.normal();
  const int warm = gQuick ? 1 : 3;
  const int reps = gQuick ? 3 : (m > 1 ? 9 : 41);
  const double budget = gQuick ? 0 : 300;
  for (int threads = 1; threads <= 2; ++threads) {
    setThreads(threads);
    double blasMs = measure(
        [&] {
          if (m == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, int(n), int(k), 1.0f,
                        w.p, int(k), x.p, 1, 0.0f, yBlas.p, 1);
          else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(m),
                        int(n), int(k), 1.0f, x.p, int(k), w.p, int(k), 0.0f,
                        yBlas.p, int(n));
        },
        warm, reps, reps, budget);
    // The runtime keeps OpenBLAS single-threaded inside its own pool (the
    // m > 16 path uses its dense GEMM): set after the baseline.
    onebit_runtime_set_num_threads(threads);
    double oneMs = measure(
        [&] {
          onebit_int8_linear_f32(x.p, m, k, q.data(), n, sc.p, nullptr,
                                 yOne.p);
        },
        warm, reps, reps, budget);
    double err = relError(yOne.p, yBlas.p, size_t(m * n));
    const bool ok = err <= kExactTol;
    gNumericsOk &= ok;
    std::printf("int8 %lldx%lldx%lld threads=%d onebit_ms=%.4f %s_ms=%.4f "
                "ratio=%.2fx max_rel_err=%.2e%s\n",
                (long long)m, (long long)n, (long long)k, threads, oneMs,
                m == 1 ? "sgemv" : "sgemm", blasMs, blasMs / oneMs, err,
                ok ? "" : " NUMERICS-FAIL");
    std::fflush(stdout);
  }
}

// A decode step's attention products for SmolLM2's 30 layers (3 KV heads
// of 3 query heads, head size 64) over `keys` cached positions, read from an
// f32 cache laid out [layer, position, kv head, 64] as the importers make
// it: scores q . K^T and values p . V through onebit_matmul_f32 (what the
// compiled decode calls) against the OpenBLAS calls it used to make per
// head (sgemv for the scores of each query head, sgemm of 3 rows for the
// values of each KV head). "cold": a 48 MiB buffer is read before each
// repetition, as a decode step's weights evict the cache from L3. The same
// products over an f16 cache (onebit_matmul_f32_f16b, --kv-cache-type=f16):
// the cache values are f16-representable, so all three agree to rounding.
void benchAttention(int64_t keys, bool cold) {
  const int64_t L = 30, kv = 3, g = 3, hd = 64, ctx = 512;
  Rng rng(400 + keys);
  std::vector<float> kc(size_t(L * ctx * kv * hd)), vc(kc.size()),
      q(size_t(kv * g * hd)), scores(size_t(kv * g * keys)),
      sBlas(scores.size()), out(size_t(kv * g * hd)), oBlas(out.size()),
      flush(size_t(12) << 20, 1.0f);
  std::vector<uint16_t> kc16(kc.size()), vc16(vc.size());
  auto half = [](float x, uint16_t &bits) {
    _Float16 h = static_cast<_Float16>(x);
    std::memcpy(&bits, &h, sizeof h);
    return static_cast<float>(h);
  };
  for (size_t i = 0; i < kc.size(); ++i)
    kc[i] = half(rng.normal(), kc16[i]);
  for (size_t i = 0; i < vc.size(); ++i)
    vc[i] = half(rng.normal(), vc16[i]);
  for (float &x : q)
    x = rng.normal();
  std::vector<float> s16(scores.size()), o16(out.size());
  // The compiled decode's two calls per layer, on an f32 or an f16 cache.
  auto products = [&](const auto *kcache, const auto *vcache, float *sc,
                      float *o) {
    for (int64_t l = 0; l < L; ++l) {
      const auto *K = kcache + l * ctx * kv * hd;
      const auto *V = vcache + l * ctx * kv * hd;
      const int64_t as[4] = {g * hd, hd, kv * g * hd, 1},
                    bs[4] = {hd, 0, 1, kv * hd},
                    cs[4] = {g * keys, keys, keys, 1},
                    as2[4] = {g * keys, keys, keys, 1},
                    bs2[4] = {hd, 0, kv * hd, 1},
                    cs2[4] = {g * hd, hd, kv * g * hd, 1};
      if constexpr (std::is_same_v<decltype(K), const float *>) {
        onebit_matmul_f32(kv, g, 1, keys, hd, q.data(), as, K, bs, 0.0f, sc,
                          cs);
        onebit_matmul_f32(kv, g, 1, hd, keys, sc, as2, V, bs2, 0.0f, o, cs2);
      } else {
        onebit_matmul_f32_f16b(kv, g, 1, keys, hd, q.data(), as, K, bs, 0.0f,
                               sc, cs);
        onebit_matmul_f32_f16b(kv, g, 1, hd, keys, sc, as2, V, bs2, 0.0f, o,
                               cs2);
      }
    }
  };
  auto runtime = [&] {
    products(kc.data(), vc.data(), scores.data(), out.data());
  };
  auto runtime16 = [&] {
    products(kc16.data(), vc16.data(), s16.data(), o16.data());
  };
  auto blas = [&] {
    for (int64_t l = 0; l < L; ++l) {
      const float *K = kc.data() + l * ctx * kv * hd;
      const float *V = vc.data() + l * ctx * kv * hd;
      for (int64_t h = 0; h < kv; ++h) {
        for (int64_t r = 0; r < g; ++r)
          cblas_sgemv(CblasRowMajor, CblasNoTrans, int(keys), int(hd), 1.0f,
                      K + h * hd, int(kv * hd), q.data() + (h * g + r) * hd, 1,
                      0.0f, sBlas.data() + (h * g + r) * keys, 1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(g),
                    int(hd), int(keys), 1.0f, sBlas.data() + h * g * keys,
                    int(keys), V + h * hd, int(kv * hd), 0.0f,
                    oBlas.data() + h * g * hd, int(hd));
      }
    }
  };
  auto time = [&](const std::function<void()> &fn) {
    std::vector<double> t;
    for (int i = 0; i < (gQuick ? 3 : 31); ++i) {
      if (cold) {
        volatile float sink = 0;
        for (size_t j = 0; j < flush.size(); j += 16)
          sink = sink + flush[j];
      }
      const double t0 = nowMs();
      fn();
      t.push_back(nowMs() - t0);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  setThreads(1);
  onebit_runtime_set_num_threads(1);
  const double blasMs = time(blas), oneMs = time(runtime),
               halfMs = time(runtime16);
  const double err =
      std::max({relError(scores.data(), sBlas.data(), scores.size()),
                relError(out.data(), oBlas.data(), out.size()),
                relError(s16.data(), sBlas.data(), scores.size()),
                relError(o16.data(), oBlas.data(), out.size())});
  const bool ok = err <= kExactTol;
  gNumericsOk &= ok;
  const double mb = 2.0 * L * keys * kv * hd * 4 / 1e6;
  std::printf("attention decode smollm2 30 layers keys=%lld %s threads=1 "
              "onebit_ms=%.3f blas_ms=%.3f ratio=%.2fx cache_mb=%.1f "
              "onebit_gb_s=%.1f f16_cache_ms=%.3f f16_cache_mb=%.1f "
              "f16_gb_s=%.1f max_rel_err=%.2e%s\n",
              (long long)keys, cold ? "cold" : "warm", oneMs, blasMs,
              blasMs / oneMs, mb, mb / oneMs, halfMs, mb / 2, mb / 2 / halfMs,
              err, ok ? "" : " NUMERICS-FAIL");
  std::fflush(stdout);
}

} // namespace

int main(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick"))
      gQuick = true;
    else if (!std::strcmp(argv[i], "--int8-only"))
      gInt8Only = true;
    else if (!std::strcmp(argv[i], "--attention-only"))
      gAttentionOnly = true;
    else {
      std::fprintf(stderr, "usage: %s [--quick] [--int8-only] "
                           "[--attention-only]\n",
                   argv[0]);
      return 2;
    }
  }
  // ONEBIT_ISA=avx2 measures the kernels AVX2 machines get.
  onebit::env::applyRuntimeEnvironment();
  const double t0 = nowMs();
  printCpu();
  std::printf("load average at start: %s\n", loadAvg().c_str());
  std::printf("mode: %s; times are medians in ms; ratio = blas_ms / onebit_ms\n",
              gQuick ? "quick (few reps, timings indicative only)" : "full");
  std::fflush(stdout);

  for (int64_t keys : {16, 256})
    for (bool cold : {false, true})
      benchAttention(keys, cold);
  if (!gInt8Only && !gAttentionOnly) {
    benchGemv(4096, 4096, 1);
    benchGemv(11008, 4096, 2);
    benchGemv(4096, 11008, 3);
    Layer l(4096, 4096, 4);
    for (int64_t m : {16, 128, 512})
      benchGemm(l, m, 100 + m);
  }
  // The logits layer of SmolLM2-135M and a LLaMA-7B-wide square.
  for (int64_t m : {1, 64}) {
    if (gAttentionOnly)
      break;
    benchInt8(49152, 576, m, 200 + m);
    benchInt8(4096, 4096, m, 300 + m);
  }
  setThreads(0);

  std::printf("summary (targets: gemv 1x4096x4096 threads=1 >= 25x, "
              "gemm >= 1x):\n");
  for (const Result &r : gResults)
    if (r.target > 0)
      std::printf("  %-44s %8.2fx  target %5.1fx  %s\n", r.name.c_str(),
                  r.ratio, r.target, r.meets() ? "met" : "MISSED");
  std::printf("load average at end: %s\n", loadAvg().c_str());
  std::printf("numerics: %s; total %.1f s\n", gNumericsOk ? "ok" : "FAILED",
              (nowMs() - t0) / 1000.0);
  return gNumericsOk ? 0 : 1;
}
