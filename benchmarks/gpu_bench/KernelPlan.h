//===- KernelPlan.h - gpu_bench: the compiler's kernels as a launch plan -*- C++ -*-===//
//
// gpu_bench times the kernels --onebit-gpu-pipeline produces, launched
// directly with the driver API on device-resident buffers (not through the
// JIT'd host code, which reads weights from registered host memory). A
// KernelPlan describes what one onebit.binary_linear's host code does: the
// buffers (the function's arguments, the gpu.allocs), the launches in order
// (kernel, grid, block, which buffers) and each kernel module's PTX.
// KernelCompile.h fills one with the compiler; PlanFile.h writes and reads
// one as files. No MLIR here: gpu-bench-run (the run side, for machines
// without LLVM/MLIR) links this.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_BENCHMARKS_GPU_BENCH_KERNELPLAN_H
#define ONEBIT_BENCHMARKS_GPU_BENCH_KERNELPLAN_H

#include "LayerShape.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gpubench {

/// A memref the host code passes to kernels: an argument of the function
/// (x = 0, signs = 1, g = 2, h = 3) or a buffer it allocates (argument -1).
struct PlanBuffer {
  int argument = -1;
  bool result = false; ///< returned by the function (Y)
  std::vector<int64_t> shape, strides;
  int64_t offset = 0;
  unsigned elementBytes = 0;
  int64_t bytes() const;
};

struct PlanLaunch {
  std::string module, kernel;
  unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
  std::vector<int> buffers; ///< kernel operands, indices into buffers
};

struct KernelPlan {
  LayerShape shape;
  /// The seed of the layer's random inputs (LayerData::random).
  uint64_t seed = 0;
  /// The chip and PTX features the PTX was compiled for (sm_90, +ptx80).
  std::string chip, features;
  /// Seconds the compiler took (reported with the timings).
  double compileSeconds = 0;
  /// How many of this layer a decoder layer has (the decode model's layer
  /// kinds); 0 for a layer measured alone.
  int modelCount = 0;
  std::vector<PlanBuffer> buffers;
  std::vector<PlanLaunch> launches;
  std::map<std::string, std::string> ptx; ///< gpu.binary name -> PTX text
  int resultBuffer = -1;
  /// One line per launch, for --print-plan and the tests.
  std::string describe() const;
  /// "MxNxK[ post-norm] (CHIP):\n", the line --print-plan puts first.
  std::string heading() const;
};

/// The MLIR source of the layer (the function @main(x, signs, g, h) -> y).
std::string layerSource(const LayerShape &shape);

/// The compute capability of "sm_XY[a]" as XY (90 for sm_90a); -1 when it
/// is not such a name.
int chipNumber(const std::string &chip);

/// Checks that the plan can be launched as it says: buffer and module
/// indices in range, one result buffer of f16 [M, N], x/signs/g/h of the
/// shape's sizes, and each kernel's PTX entry taking exactly the launch's
/// flattened memref descriptors (64-bit fields). False with `error` set.
bool checkPlan(const KernelPlan &plan, std::string &error);

/// The `.param` declarations of `.entry KERNEL(...)` in `ptx`; false when
/// there is no such entry.
bool entryParams(const std::string &ptx, const std::string &kernel,
                 std::vector<std::string> &params);

} // namespace gpubench

#endif // ONEBIT_BENCHMARKS_GPU_BENCH_KERNELPLAN_H
