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
  hooks.allocDevice = &onebitCudaAllocDevice;
  hooks.freeDevice = &onebitCudaFreeDevice;
  hooks.copy = &onebitCudaCopy;
  registerCudaRuntime(hooks);
}

/// The tools' --device option text.
inline constexpr const char *kDeviceHelp =
    "cpu (default), cuda (an NVIDIA GPU: the model is compiled first, then "
    "the CUDA driver and a GPU are looked for) or gpu-emulation (the GPU "
    "pipeline's kernels run as host loops: slow, to check their numerics)";

/// The target of a --device value, with the CUDA runtime registered for
/// cuda; false with `error` set for an unknown value.
inline bool selectDevice(const std::string &device, Target &target,
                         std::string &error) {
  if (!parseTarget(device, target)) {
    error = "--device must be cpu, cuda or gpu-emulation, not '" + device +
            "'";
    return false;
  }
  if (target == Target::Cuda)
    registerLinkedCudaRuntime();
  return true;
}

} // namespace onebit

#endif // ONEBIT_RUNNER_CUDAHOOKS_H
