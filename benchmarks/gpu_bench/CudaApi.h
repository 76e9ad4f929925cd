//===- CudaApi.h - gpu_bench: the driver API and cuBLAS by dlopen -*- C++ -*-===//
//
// The subset of the CUDA driver API (libcuda.so.1) and cuBLAS (libcublas)
// gpu_bench calls, loaded at run time so the program builds and runs on
// machines without CUDA (it then says why and exits 0). The declarations
// are written out here (driver API and cuBLAS v2 ABI, stable across CUDA
// 11-13); when the toolkit headers are present at build time,
// CudaConstantsCheck.cpp checks the constants against them.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_BENCHMARKS_GPU_BENCH_CUDAAPI_H
#define ONEBIT_BENCHMARKS_GPU_BENCH_CUDAAPI_H

#include "CudaConstants.h"

#include <cstddef>
#include <string>

namespace gpubench {

using CUresult = int;
using CUdevice = int;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;
using CUdeviceptr = unsigned long long;

struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDriverGetVersion)(int *);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDeviceTotalMem)(size_t *, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *,
                                 void **);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, unsigned, CUstream,
                             void **, void **);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuEventCreate)(CUevent *, unsigned);
  CUresult (*cuEventDestroy)(CUevent);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*cuMemsetD32)(CUdeviceptr, unsigned, size_t);
  CUresult (*cuMemsetD16)(CUdeviceptr, unsigned short, size_t);
  void *handle = nullptr;
  CUdevice device = 0;
  CUcontext context = nullptr;
};

using cublasHandle_t = struct cublasContext *;

struct Cublas {
  int (*cublasCreate)(cublasHandle_t *);
  int (*cublasDestroy)(cublasHandle_t);
  int (*cublasSetStream)(cublasHandle_t, CUstream);
  int (*cublasSetMathMode)(cublasHandle_t, int);
  int (*cublasGetVersion)(cublasHandle_t, int *);
  int (*cublasGemmEx)(cublasHandle_t, int, int, int, int, int, const void *,
                      const void *, int, int, const void *, int, int,
                      const void *, void *, int, int, int, int);
  void *handle = nullptr;
  std::string path; ///< the library that was loaded
};

/// Loads libcuda.so.1, initialises it, and makes device 0's primary context
/// current. False with `why` set (no library, no device, ...).
bool loadDriver(Driver &d, std::string &why);

/// Loads cuBLAS from `dir` (then the default search path): libcublas.so.13,
/// .so.12, .so.11, .so. False with `why` set.
bool loadCublas(Cublas &b, const std::string &dir, std::string &why);

/// "call failed: <driver's text>" for a failed driver call.
std::string driverError(const Driver &d, const char *call, CUresult r);

} // namespace gpubench

#endif // ONEBIT_BENCHMARKS_GPU_BENCH_CUDAAPI_H
