//===- matvec_bench.cpp - onebit decode kernels against ggml's, one process -===//
//
// Built at run time by benchmarks/ggml_kernel_compare.py against the ggml
// libraries of a llama.cpp checkout that the script builds outside the
// repository (none of llama.cpp is in this repository; this harness is
// ours). Without -DONEBIT_WITH_GGML it times the onebit kernels alone.
//
// Times y = W x for one activation row (m = 1, f32 activations), shape
// N x K (default 4096 x 14336, the down projection of a LLaMA-2-7B/13B-like
// layer), for each kernel:
//   onebit-exact, onebit-fast, onebit-int16: onebit_binary_linear_f32 with
//     the kernel mode set (runtime/, docs/kernels.md);
//   ggml-q1_0, ggml-tq2_0, ggml-q4_0: ggml_mul_mat on the CPU backend (the
//     f32 activations are quantized by ggml to its vec_dot type, as in
//     llama.cpp), through a persistent ggml threadpool.
// Weights are streamed from DRAM: each kernel rotates through enough copies
// of its weight matrix that they total at least --stream-mib MiB (default
// 512; the L3 here is 32 MiB). Kernels are timed in interleaved rounds
// (each round: every kernel, --calls calls each), the figure is the median
// over all calls; 1 and 2 threads (or --threads).
//
// Error: max |y - y_ref| / max |y_ref| with y_ref the FP64 product of the
// same (dequantized) weights and the f32 activations, Gaussian activations.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#ifdef ONEBIT_WITH_GGML
#include "ggml-cpu.h"
#include "ggml.h"
#endif

extern "C" {
void onebit_binary_linear_f32(const float *x, int64_t m, int64_t k,
                              const uint32_t *signs, int64_t n, const float *g,
                              const float *h, const float *bias, float normEps,
                              float *y);
void onebit_runtime_set_num_threads(int n);
int onebit_runtime_set_kernel_mode(int mode);
int onebit_runtime_kernel_mode_from_name(const char *name);
int onebit_runtime_set_isa(int level);
int onebit_runtime_get_isa(void);
int onebit_runtime_has_fast_kernel(void);
}

namespace {

double nowMs() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch())
      .count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

double relError(const float *got, const std::vector<double> &want) {
  double scale = 1e-300, err = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, std::fabs(want[i]));
    const double d = std::fabs(double(got[i]) - want[i]);
    err = std::isnan(d) ? INFINITY : std::max(err, d);
  }
  return err / scale;
}

std::string loadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0)
      return line.substr(line.find(':') + 2);
  return "unknown";
}

/// One kernel under test: call(copy) computes y for weight copy `copy`.
struct Kernel {
  std::string name;
  int copies = 1;
  double mibPerCopy = 0;
  std::function<void(int threads)> setup;
  std::function<void(int copy)> call;
  std::function<void()> teardown;
  const float *y = nullptr;
  std::vector<double> times;
  double err = 0;
};

struct Options {
  int64_t m = 1, n = 4096, k = 14336;
  std::vector<int> threads = {1, 2};
  double streamMiB = 512;
  int rounds = 7, calls = 20;
  std::vector<std::string> kernels = {"onebit-exact", "onebit-fast",
                                      "onebit-int16", "ggml-q1_0",
                                      "ggml-tq2_0",   "ggml-q4_0"};
};

std::vector<std::string> split(const std::string &s) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= s.size()) {
    size_t q = s.find(',', p);
    if (q == std::string::npos)
      q = s.size();
    if (q > p)
      out.push_back(s.substr(p, q - p));
    p = q + 1;
  }
  return out;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value for %s\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--m")
      o.m = std::stoll(val());
    else if (a == "--n")
      o.n = std::stoll(val());
    else if (a == "--k")
      o.k = std::stoll(val());
    else if (a == "--threads") {
      o.threads.clear();
      for (auto &t : split(val()))
        o.threads.push_back(std::stoi(t));
    } else if (a == "--stream-mib")
      o.streamMiB = std::stod(val());
    else if (a == "--rounds")
      o.rounds = std::stoi(val());
    else if (a == "--calls")
      o.calls = std::stoi(val());
    else if (a == "--kernels")
      o.kernels = split(val());
    else {
      std::fprintf(stderr,
                   "usage: %s [--m M] [--n N] [--k K] [--threads 1,2] [--stream-mib "
                   "M] [--rounds R] [--calls C] [--kernels a,b,...]\n",
                   argv[0]);
      return 2;
    }
  }
  if (const char *isa = std::getenv("ONEBIT_ISA"))
    onebit_runtime_set_isa(std::string(isa) == "avx2"     ? 1
                           : std::string(isa) == "scalar" ? 0
                                                          : 2);
  const int64_t m = o.m, n = o.n, k = o.k, kw = (k + 31) / 32;
  std::printf("cpu: %s; onebit isa: %s%s; load average at start: %s\n",
              cpuModel().c_str(),
              onebit_runtime_get_isa() == 2   ? "avx512"
              : onebit_runtime_get_isa() == 1 ? "avx2"
                                              : "scalar",
              onebit_runtime_has_fast_kernel() ? "" : " (no int8 kernels)",
              loadAvg().c_str());
  std::printf("shape: %lld x %lld x %lld (m x n x k), f32 activations, "
              "weights streamed from >= %.0f MiB of copies; %d rounds x %d "
              "calls\n",
              (long long)m, (long long)n, (long long)k, o.streamMiB, o.rounds, o.calls);

  std::mt19937_64 rng(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(m * k));
  for (auto &v : x)
    v = normal(rng);
  auto copiesFor = [&](double bytes) {
    return std::max(1, int(std::ceil(o.streamMiB * 1048576.0 / bytes)));
  };

  std::vector<std::unique_ptr<Kernel>> kernels;

  // ---- onebit ---------------------------------------------------------
  // Signs and g, h as the 1-bit layer has them; the same content in every
  // copy (each copy has its own address, so its own cached kernel copy).
  std::vector<uint32_t> signs0(size_t(n * kw));
  for (auto &w : signs0)
    w = uint32_t(rng() >> 32);
  if (k % 32)
    for (int64_t r = 0; r < n; ++r)
      signs0[r * kw + kw - 1] &= (1u << (k % 32)) - 1;
  std::vector<float> g(static_cast<size_t>(k)), h(static_cast<size_t>(n));
  std::uniform_real_distribution<float> uni(0.5f, 1.5f);
  for (auto &v : g)
    v = uni(rng) * 0.02f;
  for (auto &v : h)
    v = uni(rng);
  std::vector<double> ref1(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < n; ++r) {
      double s = 0;
      for (int64_t c = 0; c < k; ++c) {
        const double v = double(g[c]) * double(x[i * k + c]);
        s += (signs0[r * kw + c / 32] >> (c % 32)) & 1u ? -v : v;
      }
      ref1[i * n + r] = s * h[r];
    }
  const double oneMiB = double(n * kw * 4) / 1048576.0;
  const int oneCopies = copiesFor(n * kw * 4.0);
  std::vector<std::vector<uint32_t>> oneSigns;
  std::vector<float> yOne(static_cast<size_t>(m * n));
  for (const auto &name : o.kernels) {
    if (name.rfind("onebit-", 0) != 0)
      continue;
    const int mode = onebit_runtime_kernel_mode_from_name(name.c_str() + 7);
    if (mode < 0) {
      std::fprintf(stderr, "unknown onebit kernel mode in %s\n", name.c_str());
      return 2;
    }
    if (oneSigns.empty())
      oneSigns.assign(size_t(oneCopies), signs0);
    auto kn = std::make_unique<Kernel>();
    kn->name = name;
    kn->copies = oneCopies;
    kn->mibPerCopy = oneMiB;
    kn->y = yOne.data();
    // The pool is resized only when the thread count changes: recreating
    // its workers every round would start them on the caller's CPU each time
    // (ggml's OpenMP team persists between graphs as well).
    kn->setup = [mode](int threads) {
      static int current = -1;
      if (threads != current)
        onebit_runtime_set_num_threads(threads);
      current = threads;
      onebit_runtime_set_kernel_mode(mode);
    };
    kn->call = [&, m, n, k](int c) {
      onebit_binary_linear_f32(x.data(), m, k, oneSigns[size_t(c)].data(), n,
                               g.data(), h.data(), nullptr, 0.0f, yOne.data());
    };
    kn->teardown = [] {};
    kernels.push_back(std::move(kn));
  }

#ifdef ONEBIT_WITH_GGML
  ggml_cpu_init();
  struct GgmlState {
    ggml_context *ctx = nullptr;
    std::vector<ggml_cgraph *> graphs;
    ggml_tensor *x = nullptr;
    std::vector<ggml_tensor *> outs;
    ggml_threadpool *pool = nullptr;
    std::vector<uint8_t> work;
    std::vector<ggml_cplan> plans;
    std::vector<double> ref;
  };
  std::vector<std::unique_ptr<GgmlState>> states;
  std::vector<float> wf;
  for (const auto &name : o.kernels) {
    if (name.rfind("ggml-", 0) != 0)
      continue;
    const std::string t = name.substr(5);
    ggml_type type = t == "q1_0"    ? GGML_TYPE_Q1_0
                     : t == "tq2_0" ? GGML_TYPE_TQ2_0
                     : t == "tq1_0" ? GGML_TYPE_TQ1_0
                     : t == "q4_0"  ? GGML_TYPE_Q4_0
                     : t == "q8_0"  ? GGML_TYPE_Q8_0
                                    : GGML_TYPE_COUNT;
    if (type == GGML_TYPE_COUNT) {
      std::fprintf(stderr, "unknown ggml type in %s\n", name.c_str());
      return 2;
    }
    // Random weights: Gaussian for the k-bit types; for the ternary and
    // binary types values whose quantization is the sign pattern itself.
    if (wf.empty()) {
      wf.resize(size_t(n * k));
      for (auto &v : wf)
        v = normal(rng);
    }
    const size_t rowBytes = ggml_row_size(type, k);
    const size_t bytes = rowBytes * size_t(n);
    std::vector<uint8_t> q(bytes);
    ggml_quantize_chunk(type, wf.data(), q.data(), 0, n, k, nullptr);
    auto st = std::make_unique<GgmlState>();
    const int copies = copiesFor(double(bytes));
    ggml_init_params ip{bytes * size_t(copies) + size_t(m * k) * 4 +
                            size_t(copies) * (size_t(m * n) * 4 + 4096) +
                            ggml_graph_overhead() * size_t(copies) + (1 << 20),
                        nullptr, false};
    st->ctx = ggml_init(ip);
    st->x = ggml_new_tensor_2d(st->ctx, GGML_TYPE_F32, k, m);
    std::memcpy(st->x->data, x.data(), size_t(m * k) * 4);
    for (int c = 0; c < copies; ++c) {
      ggml_tensor *w = ggml_new_tensor_2d(st->ctx, type, k, n);
      std::memcpy(w->data, q.data(), bytes);
      ggml_tensor *y = ggml_mul_mat(st->ctx, w, st->x);
      ggml_cgraph *gr = ggml_new_graph(st->ctx);
      ggml_build_forward_expand(gr, y);
      st->graphs.push_back(gr);
      st->outs.push_back(y);
    }
    // Reference: FP64 product of the dequantized weights.
    {
      std::vector<float> row(static_cast<size_t>(k));
      const auto *tr = ggml_get_type_traits(type);
      st->ref.resize(static_cast<size_t>(m * n));
      for (int64_t r = 0; r < n; ++r) {
        tr->to_float(q.data() + size_t(r) * rowBytes, row.data(), k);
        for (int64_t i = 0; i < m; ++i) {
          double s = 0;
          for (int64_t c = 0; c < k; ++c)
            s += double(row[c]) * double(x[i * k + c]);
          st->ref[i * n + r] = s;
        }
      }
    }
    GgmlState *sp = st.get();
    auto kn = std::make_unique<Kernel>();
    kn->name = name;
    kn->copies = copies;
    kn->mibPerCopy = double(bytes) / 1048576.0;
    kn->setup = [sp](int threads) {
      ggml_threadpool_params pp = ggml_threadpool_params_default(threads);
      sp->pool = ggml_threadpool_new(&pp);
      sp->plans.clear();
      size_t work = 0;
      for (auto *gr : sp->graphs) {
        sp->plans.push_back(ggml_graph_plan(gr, threads, sp->pool));
        work = std::max(work, sp->plans.back().work_size);
      }
      sp->work.resize(work + 64);
      for (auto &p : sp->plans)
        p.work_data = sp->work.data();
    };
    kn->call = [sp](int c) {
      ggml_graph_compute(sp->graphs[size_t(c)], &sp->plans[size_t(c)]);
    };
    // ggml's workers poll between graphs: free the pool so that it does not
    // compete with the other kernels' threads.
    kn->teardown = [sp] {
      ggml_threadpool_free(sp->pool);
      sp->pool = nullptr;
    };
    kernels.push_back(std::move(kn));
    states.push_back(std::move(st));
  }
#endif

  for (auto &kn : kernels)
    std::printf("kernel %-14s %3d copies x %7.2f MiB\n", kn->name.c_str(),
                kn->copies, kn->mibPerCopy);
  std::fflush(stdout);

  std::printf("\n%-14s %7s %10s %10s %10s %12s\n", "kernel", "threads",
              "median_ms", "min_ms", "GB/s", "max_rel_err");
  for (int threads : o.threads) {
    for (auto &kn : kernels)
      kn->times.clear();
    for (int round = 0; round < o.rounds; ++round)
      for (auto &kn : kernels) {
        kn->setup(threads);
        // Warm-up: one pass over the copies (the first round also builds
        // onebit's cached weight copies).
        for (int c = 0; c < std::min(kn->copies, 4); ++c)
          kn->call(c);
        if (round == 0)
          for (int c = 0; c < kn->copies; ++c)
            kn->call(c);
        int c = 0;
        for (int i = 0; i < o.calls; ++i) {
          const double t0 = nowMs();
          kn->call(c);
          kn->times.push_back(nowMs() - t0);
          c = (c + 1) % kn->copies;
        }
        kn->teardown();
      }
    size_t gi = 0;
    for (auto &kn : kernels) {
      double err;
      if (kn->name.rfind("onebit-", 0) == 0) {
        kn->setup(threads);
        kn->call(0);
        err = relError(yOne.data(), ref1);
        kn->teardown();
      } else {
#ifdef ONEBIT_WITH_GGML
        GgmlState *sp = states[gi++].get();
        kn->setup(threads);
        kn->call(0);
        err = relError(static_cast<const float *>(sp->outs[0]->data),
                       sp->ref);
        kn->teardown();
#else
        err = NAN;
#endif
      }
      kn->err = err;
      const double med = median(kn->times);
      const double mn = *std::min_element(kn->times.begin(), kn->times.end());
      std::printf("%-14s %7d %10.4f %10.4f %10.1f %12.2e\n", kn->name.c_str(),
                  threads, med, mn, kn->mibPerCopy * 1.048576 / med, err);
    }
    std::fflush(stdout);
  }
  std::printf("load average at end: %s\n", loadAvg().c_str());
  return 0;
}
