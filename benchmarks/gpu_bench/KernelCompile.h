//===- KernelCompile.h - gpu_bench: a layer compiled to a plan --*- C++ -*-===//
//
// The compile side of gpu_bench (links MLIR): one onebit.binary_linear
// through --onebit-gpu-pipeline, its host code recorded as a KernelPlan
// (KernelPlan.h) right after gpu-kernel-outlining, its kernels as PTX.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_BENCHMARKS_GPU_BENCH_KERNELCOMPILE_H
#define ONEBIT_BENCHMARKS_GPU_BENCH_KERNELCOMPILE_H

#include "KernelPlan.h"

#include "onebit/Pipelines/Pipelines.h"

#include <string>

namespace gpubench {

/// Compiles the layer with --onebit-gpu-pipeline (`options`, format=isa)
/// and fills `plan` (its chip, features and compile time too); false with
/// `error` set when the pipeline fails, its host code does something the
/// plan cannot replay, or checkPlan refuses the result.
bool compileLayer(const LayerShape &shape,
                  const onebit::GpuPipelineOptions &options, KernelPlan &plan,
                  std::string &error);

} // namespace gpubench

#endif // ONEBIT_BENCHMARKS_GPU_BENCH_KERNELCOMPILE_H
