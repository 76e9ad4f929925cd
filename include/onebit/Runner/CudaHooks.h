//===- CudaHooks.h - register the linked CUDA runtime -----------*- C++ -*-===//
//
// For programs that link both OneBitRunner and onebit_cuda_runtime
// (onebit-run, onebit-train): hands the runner the CUDA runtime's mgpu*
// entry points, buffer release and driver probe, so that Target::Cuda
// models can be compiled and run. Header-only: the runner library itself
// does not depend on the CUDA runtime.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_RUNNER_CUDAHOOKS_H
#define ONEBIT_RUNNER_CUDAHOOKS_H

#include "onebit/Runner/Runner.h"
#include "onebit/Runtime/CudaRuntime.h"

namespace onebit {

inline void registerLinkedCudaRuntime() {
  CudaRuntimeHooks hooks;
  size_t n = 0;
  const OnebitCudaSymbol *syms = onebitCudaRuntimeSymbols(&n);
  for (size_t i = 0; i < n; ++i)
    hooks.symbols.emplace_back(syms[i].name, syms[i].address);
  hooks.freeBuffer = [](void *p) { mgpuMemFree(p, nullptr); };
  hooks.probe = &onebitCudaProbe;
  registerCudaRuntime(hooks);
}

} // namespace onebit

#endif // ONEBIT_RUNNER_CUDAHOOKS_H
