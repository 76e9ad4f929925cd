//===- gpu_bench_run.cpp - gpu_bench's run side, from plan files ----------===//
//
// Times the kernels gpu-bench --emit-plan compiled (on a machine with MLIR)
// on a machine with an NVIDIA GPU and no MLIR or LLVM: it reads the plans
// and their PTX, generates the same inputs from each plan's seed, checks
// the GPU's results against the host reference and times them against
// cuBLAS FP16, exactly as gpu-bench does (Bench.h is shared). Links no MLIR
// or LLVM; libcuda and libcublas are loaded with dlopen. docs/gpu.md, "The
// GPU bundle".
//
// usage: gpu-bench-run PLANS [--json F] [--reps N] [--warmup N]
//                            [--samples N] [--tokens N] [--model-layers N]
//                            [--model-vocab N] [--cublas-dir D]
//                            [--probe-only] [--print-plan]
//                            [--write-layer DIR]
// Exit 0: done (also without a GPU, which it says); 1: bad options, a bad
// plan or a failure; 2: a result was wrong.
//
//===----------------------------------------------------------------------===//

#include "Bench.h"
#include "LayerFiles.h"
#include "PlanFile.h"
#include "Reference.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

using namespace gpubench;

namespace {

const char *kUsage =
    "usage: gpu-bench-run PLANS [--json F] [--reps N] [--warmup N] "
    "[--samples N] [--tokens N] [--model-layers N] [--model-vocab N] "
    "[--cublas-dir D] [--probe-only] [--print-plan] [--write-layer DIR]\n"
    "PLANS: a folder written by gpu-bench --emit-plan.\n"
    "--print-plan: print the plans' launches and stop (no GPU needed).\n"
    "--write-layer DIR: write each plan's layer (MLIR, inputs from its seed, "
    "host reference) to DIR/NAME and stop (no GPU needed).\n";

int fail(const std::string &message) {
  std::cerr << "gpu-bench-run: error: " << message << "\n";
  return 1;
}

bool parseInt(const std::string &text, int lo, int &value) {
  if (text.empty())
    return false;
  errno = 0;
  char *end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (errno || *end || v < lo || v > (1 << 30))
    return false;
  value = int(v);
  return true;
}

/// The plans, read before the GPU is looked at (a bad bundle fails
/// everywhere); their chip must be one the device can run.
class FileSource : public PlanSource {
public:
  std::vector<KernelPlan> gemm, model;
  bool target(int major, int minor, std::string &chip, std::string &features,
              std::string &error) override {
    const KernelPlan &first = gemm.empty() ? model.front() : gemm.front();
    chip = first.chip;
    features = first.features;
    int device = major * 10 + minor;
    for (const auto *set : {&gemm, &model})
      for (const KernelPlan &p : *set) {
        int want = chipNumber(p.chip);
        // PTX for sm_XY runs (JIT-compiled by the driver) on XY and above;
        // sm_XYa code runs on XY only.
        bool archSpecific = p.chip.back() == 'a' || p.chip.back() == 'f';
        if (want > device || (archSpecific && want != device)) {
          error = "the plans were compiled for " + p.chip +
                  ", which this device (sm_" + std::to_string(device) +
                  ") cannot run: emit them again with gpu-bench --emit-plan "
                  "--chip sm_" + std::to_string(device) +
                  " (scripts/gpu-check.sh --prepare --chip)";
          return false;
        }
      }
    return true;
  }
  bool plans(std::vector<KernelPlan> &g, std::vector<KernelPlan> &m,
             std::string &) override {
    g = gemm;
    m = model;
    return true;
  }
};

} // namespace

int main(int argc, char **argv) {
  BenchOptions options;
  options.tool = "gpu-bench-run";
  std::string plansDir, writeLayerDir;
  bool printPlan = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    size_t eq = a.find('=');
    bool inlineValue = a.rfind("--", 0) == 0 && eq != std::string::npos;
    if (inlineValue) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    auto next = [&](std::string &out) {
      if (inlineValue) {
        out = value;
        return true;
      }
      if (i + 1 >= argc)
        return false;
      out = argv[++i];
      return true;
    };
    struct IntOption {
      const char *name;
      int *target;
      int lo;
    } ints[] = {{"--reps", &options.reps, 1},
                {"--warmup", &options.warmup, 0},
                {"--samples", &options.samples, 1},
                {"--tokens", &options.tokens, 1},
                {"--model-layers", &options.modelLayers, 0},
                {"--model-vocab", &options.vocab, 1}};
    bool handled = false;
    for (auto &o : ints) {
      if (a != o.name)
        continue;
      std::string v;
      if (!next(v) || !parseInt(v, o.lo, *o.target))
        return fail(std::string(o.name) + " needs a whole number >= " +
                    std::to_string(o.lo) + (v.empty() ? "" : ", not '" + v + "'"));
      handled = true;
    }
    if (handled)
      continue;
    if (a == "--json" || a == "--cublas-dir" || a == "--write-layer") {
      std::string v;
      if (!next(v) || v.empty())
        return fail(a + " needs a value");
      (a == "--json" ? options.json
       : a == "--cublas-dir" ? options.cublasDir
                             : writeLayerDir) = v;
    } else if (a == "--probe-only" && !inlineValue) {
      options.probeOnly = true;
    } else if (a == "--print-plan" && !inlineValue) {
      printPlan = true;
    } else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (a.rfind("-", 0) == 0) {
      return fail("unknown option '" + a + "'\n" + kUsage);
    } else if (plansDir.empty()) {
      plansDir = a;
    } else {
      return fail("one plan folder only ('" + plansDir + "', then '" + a +
                  "')");
    }
  }
  if (plansDir.empty())
    return fail(std::string("no plan folder given\n") + kUsage);

  FileSource source;
  std::string error;
  if (!readPlanSet(plansDir, source.gemm, source.model, error))
    return fail(error);

  if (printPlan) {
    for (const auto *set : {&source.gemm, &source.model})
      for (const KernelPlan &p : *set)
        std::cout << p.heading() << p.describe();
    return 0;
  }
  if (!writeLayerDir.empty()) {
    for (const auto *set : {&source.gemm, &source.model})
      for (const KernelPlan &p : *set) {
        std::string dir = writeLayerDir + "/" + p.shape.name;
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec)
          return fail("cannot create " + dir + ": " + ec.message());
        if (!writeLayer(dir, p.shape, LayerData::random(p.shape, p.seed),
                        error))
          return fail(error);
        std::cout << "wrote " << dir << "\n";
      }
    return 0;
  }
  return runBench(options, source);
}
