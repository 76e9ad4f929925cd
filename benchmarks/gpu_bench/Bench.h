//===- Bench.h - gpu_bench: time launch plans on the GPU --------*- C++ -*-===//
//
// The run side of gpu_bench, shared by gpu-bench (compiles the plans in the
// same process) and gpu-bench-run (reads them from files, on a machine with
// no MLIR): finds the GPU, checks each layer's kernels against the host
// reference, times them against cublasGemmEx FP16 with tensor ops on the
// dequantized weights, and times the LLaMA-shaped decode stack against the
// same stack in FP16 through cuBLAS. Prints a table and writes the JSON
// report. No MLIR or LLVM.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_BENCHMARKS_GPU_BENCH_BENCH_H
#define ONEBIT_BENCHMARKS_GPU_BENCH_BENCH_H

#include "KernelPlan.h"

#include <string>
#include <vector>

namespace gpubench {

struct BenchOptions {
  int reps = 50, warmup = 5, samples = 256, tokens = 20;
  int modelLayers = 32, vocab = 32000; ///< the decode model (0 layers: none)
  std::string json;                    ///< report file ("" none)
  std::string cublasDir = "/usr/local/cuda/lib64";
  bool probeOnly = false;
  std::string tool = "gpu_bench"; ///< prefix of messages
};

/// Where the plans come from.
class PlanSource {
public:
  virtual ~PlanSource() = default;
  /// The chip and PTX features the kernels are (or will be) compiled for on
  /// a device of compute capability major.minor; false with `error` set
  /// when they cannot run there.
  virtual bool target(int major, int minor, std::string &chip,
                      std::string &features, std::string &error) = 0;
  /// The layers measured alone, and the decode model's three layer kinds
  /// (dim x dim, ffn x dim, dim x ffn, each with its modelCount; none when
  /// the model is not run).
  virtual bool plans(std::vector<KernelPlan> &gemm,
                     std::vector<KernelPlan> &model, std::string &error) = 0;
};

/// Runs the benchmark. Exit status: 0 (also without a GPU, which it says),
/// 1 for a failure (CUDA call, plan), 2 when a result was wrong.
int runBench(const BenchOptions &options, PlanSource &source);

} // namespace gpubench

#endif // ONEBIT_BENCHMARKS_GPU_BENCH_BENCH_H
