//===- CudaRuntime.h - the mgpu* runtime on the CUDA driver API -*- C++ -*-===//
//
// libonebit_cuda_runtime.so (runtime/lib/CudaRuntime.cpp): the functions the
// host code of --onebit-gpu-pipeline calls, on the CUDA driver API loaded
// with dlopen, so that it builds and loads without CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_RUNTIME_CUDARUNTIME_H
#define ONEBIT_RUNTIME_CUDARUNTIME_H

#include <cstddef>

extern "C" {

/// 0 when a CUDA driver and at least one GPU are usable; otherwise -1 and
/// the reason in `message` (truncated to `size`).
int onebitCudaProbe(char *message, size_t size);

/// The compute capability (major.minor) and the name of the device the
/// runtime uses (device 0), and the driver's CUDA version
/// (cuDriverGetVersion: 12040 for 12.4): 0, or -1 with the reason in
/// `message`.
int onebitCudaDeviceInfo(int *major, int *minor, int *driverVersion,
                         char *name, size_t nameSize, char *message,
                         size_t size);

/// `bytes` of zeroed device memory, for state that only kernels use (a KV
/// cache); null with the reason in `message` (driver missing, out of
/// memory). Freed with onebitCudaFreeDevice.
void *onebitCudaAllocDevice(size_t bytes, char *message, size_t size);
void onebitCudaFreeDevice(void *ptr);
/// Copies `bytes` between host and device memory (either way: unified
/// addressing tells which), done when it returns: 0, or -1 with the reason
/// in `message`. For state uploaded once and read back rarely (a train
/// step's parameters and moments).
int onebitCudaCopy(void *dst, const void *src, size_t bytes, char *message,
                   size_t size);

/// One entry point of the runtime: its C name and address.
struct OnebitCudaSymbol {
  const char *name;
  void *address;
};

/// Every mgpu* entry point the runtime implements (a JIT binds compiled
/// host code to them); `*count` receives the number of entries.
const OnebitCudaSymbol *onebitCudaRuntimeSymbols(size_t *count);

/// Frees memory from mgpuMemAlloc (the buffers compiled models return).
void mgpuMemFree(void *ptr, void *stream);
}

#endif // ONEBIT_RUNTIME_CUDARUNTIME_H
