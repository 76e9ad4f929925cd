//===- EnvOptions.cpp - environment variables to pipeline/JIT options -----===//
//
// The compiler half of EnvOptions.h (the runtime half is in
// RuntimeEnvOptions.cpp, so that kernel-bench links no compiler library).
//
//===----------------------------------------------------------------------===//

#include "EnvOptions.h"

#include "onebit/Runner/Runner.h"
#include "onebit/Target/Artifact/CompileCache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

onebit::CpuPipelineOptions onebit::env::cpuPipelineOptions() {
  CpuPipelineOptions options;
  if (const char *dense = nonEmptyVariable("ONEBIT_DENSE_MATMUL"))
    options.denseMatmulToRuntime = std::strcmp(dense, "loops") != 0;
  if (const char *outline = nonEmptyVariable("ONEBIT_OUTLINE_LAYERS"))
    options.outlineLayers = std::strcmp(outline, "0") != 0;
  if (const char *loops = nonEmptyVariable("ONEBIT_LAYER_LOOPS"))
    options.layerLoops = std::strcmp(loops, "0") != 0;
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
  if (const char *share = nonEmptyVariable("ONEBIT_SHARE_CONSTANTS"))
    options.shareConstants = std::strcmp(share, "0") != 0;
  if (const char *verify = nonEmptyVariable("ONEBIT_VERIFY_EACH"))
    options.verifyEachPass = !std::strcmp(verify, "1");
  return options;
}

onebit::CompileCacheOptions onebit::env::compileCacheOptions() {
  CompileCacheOptions options;
  const char *dir = std::getenv("ONEBIT_CACHE_DIR");
  if (dir) {
    // Set: that folder, or off when empty, "0" or "off".
    if (*dir && std::strcmp(dir, "0") && std::strcmp(dir, "off"))
      options.directory = dir;
  } else if (const char *xdg = nonEmptyVariable("XDG_CACHE_HOME")) {
    options.directory = std::string(xdg) + "/onebit";
  } else if (const char *home = nonEmptyVariable("HOME")) {
    options.directory = std::string(home) + "/.cache/onebit";
  }
  if (const char *mb = nonEmptyVariable("ONEBIT_CACHE_MAX_MB"))
    options.maxBytes = uint64_t(std::max(0LL, std::atoll(mb))) << 20;
  return options;
}
