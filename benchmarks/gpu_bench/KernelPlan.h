//===- KernelPlan.h - gpu_bench: the compiler's kernels as a launch plan -*- C++ -*-===//
//
// gpu_bench times the kernels --onebit-gpu-pipeline produces, launched
// directly with the driver API on device-resident buffers (not through the
// JIT'd host code, which reads weights from registered host memory). This
// file compiles one onebit.binary_linear with the pipeline and describes
// what its host code does: the buffers (the function's arguments, the
// gpu.allocs), the launches in order (kernel, grid, block, which buffers)
// and each kernel module's PTX.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_BENCHMARKS_GPU_BENCH_KERNELPLAN_H
#define ONEBIT_BENCHMARKS_GPU_BENCH_KERNELPLAN_H

#include "LayerShape.h"

#include "onebit/Pipelines/Pipelines.h"

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
  std::vector<PlanBuffer> buffers;
  std::vector<PlanLaunch> launches;
  std::map<std::string, std::string> ptx; ///< gpu.binary name -> PTX text
  int resultBuffer = -1;
  /// One line per launch, for --print-plan and the tests.
  std::string describe() const;
};

/// The MLIR source of the layer (the function @main(x, signs, g, h) -> y).
std::string layerSource(const LayerShape &shape);

/// Compiles the layer with --onebit-gpu-pipeline (`options`, format=isa)
/// and fills `plan`; false with `error` set when the pipeline fails, its
/// host code does something the plan cannot replay, or a kernel's PTX
/// entry does not take the launch's flattened memref descriptors.
bool compileLayer(const LayerShape &shape,
                  const onebit::GpuPipelineOptions &options, KernelPlan &plan,
                  std::string &error);

/// The `.param` declarations of `.entry KERNEL(...)` in `ptx`; false when
/// there is no such entry.
bool entryParams(const std::string &ptx, const std::string &kernel,
                 std::vector<std::string> &params);

} // namespace gpubench

#endif // ONEBIT_BENCHMARKS_GPU_BENCH_KERNELPLAN_H
