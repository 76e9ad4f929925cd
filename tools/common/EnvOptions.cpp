//===- EnvOptions.cpp - environment variables to pipeline/JIT options -----===//
//
// The compiler half of EnvOptions.h (the runtime half is in
// RuntimeEnvOptions.cpp, so that kernel-bench links no compiler library).
//
//===----------------------------------------------------------------------===//

#include "EnvOptions.h"

#include "onebit/Runner/Runner.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

onebit::CpuPipelineOptions onebit::env::cpuPipelineOptions() {
  CpuPipelineOptions options;
  if (const char *dense = nonEmptyVariable("ONEBIT_DENSE_MATMUL"))
    options.denseMatmulToRuntime = std::strcmp(dense, "loops") != 0;
  return options;
}

onebit::GpuPipelineOptions onebit::env::gpuPipelineOptions() {
  GpuPipelineOptions options;
  for (const char *var : {"CUDA_HOME", "CUDA_ROOT", "CUDA_PATH"})
    if (const char *toolkit = nonEmptyVariable(var)) {
      options.toolkit = toolkit;
      break;
    }
  return options;
}

onebit::CompileOptions onebit::env::compileOptions() {
  CompileOptions options;
  options.cpu = cpuPipelineOptions();
  options.gpu = gpuPipelineOptions();
  // Set but empty reads as 0, as it always did.
  if (const char *level = std::getenv("ONEBIT_JIT_OPT_LEVEL"))
    options.jitOptLevel = std::clamp(std::atoi(level), 0, 3);
  if (const char *pipeline = nonEmptyVariable("ONEBIT_JIT_PIPELINE"))
    options.llvmDefaultPipeline = !std::strcmp(pipeline, "default");
  if (const char *perf = nonEmptyVariable("ONEBIT_PERF_MAP"))
    options.perfMap = !std::strcmp(perf, "1");
  return options;
}
