//===- RuntimeEnvOptions.cpp - environment variables to runtime setters ---===//
//
// The runtime half of EnvOptions.h: no compiler header, so that programs of
// the runtime alone (kernel-bench) can link it.
//
//===----------------------------------------------------------------------===//

#include "EnvOptions.h"

#include "onebit/Runtime/Allocator.h"
#include "onebit/Runtime/CpuKernels.h"
#include "onebit/Runtime/DenseMatmul.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

const char *onebit::env::nonEmptyVariable(const char *name) {
  const char *value = std::getenv(name);
  return value && *value ? value : nullptr;
}

void onebit::env::applyRuntimeEnvironment() {
  if (const char *isa = nonEmptyVariable("ONEBIT_ISA")) {
    int level = -1;
    if (!std::strcmp(isa, "scalar"))
      level = 0;
    else if (!std::strcmp(isa, "avx2"))
      level = 1;
    else if (!std::strcmp(isa, "avx512"))
      level = 2;
    // The wording predates this file; tests and scripts match it.
    if (level < 0)
      std::fprintf(stderr,
                   "onebit runtime: ignoring ONEBIT_ISA='%s' (expected "
                   "scalar, avx2 or avx512)\n",
                   isa);
    else
      onebit_runtime_set_isa(level);
  }
  // Set but empty reads as 0, as it always did.
  if (const char *m = std::getenv("ONEBIT_LUT_MAX_M"))
    onebit_runtime_set_lut_max_m(std::max<int64_t>(0, std::atoll(m)));
  if (const char *sign = nonEmptyVariable("ONEBIT_SIGN_MATMUL")) {
    if (!std::strcmp(sign, "dense"))
      onebit_runtime_set_sign_matmul_backend(1);
    else if (std::strcmp(sign, "onebit"))
      std::fprintf(stderr,
                   "onebit runtime: ignoring ONEBIT_SIGN_MATMUL='%s' "
                   "(expected onebit or dense)\n",
                   sign);
  }
  if (const char *backend = nonEmptyVariable("ONEBIT_DENSE_BACKEND"))
    if (!std::strcmp(backend, "builtin"))
      onebit_runtime_set_dense_backend(0);
  if (const char *mode = nonEmptyVariable("ONEBIT_KERNEL_MODE")) {
    const int m = onebit_runtime_kernel_mode_from_name(mode);
    if (m < 0)
      std::fprintf(stderr,
                   "onebit runtime: ignoring ONEBIT_KERNEL_MODE='%s' "
                   "(expected int16, exact or fast)\n",
                   mode);
    else
      onebit_runtime_set_kernel_mode(m);
  }
  if (const char *mb = nonEmptyVariable("ONEBIT_ALLOC_CACHE_MB")) {
    char *end = nullptr;
    long long value = std::strtoll(mb, &end, 10);
    if (end != mb && value >= 0)
      onebit_runtime_set_allocation_cache_mb(value);
  }
}
