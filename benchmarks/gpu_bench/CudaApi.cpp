//===- CudaApi.cpp - gpu_bench: load the driver API and cuBLAS ------------===//

#include "CudaApi.h"

#include <dlfcn.h>

#include <type_traits>


namespace gpubench {

namespace {
template <typename Fn>
bool bind(void *handle, Fn &fn, const char *name, std::string &why) {
  fn = reinterpret_cast<Fn>(dlsym(handle, name));
  if (!fn && why.empty())
    why = std::string("lacks ") + name;
  return fn != nullptr;
}
} // namespace

std::string driverError(const Driver &d, const char *call, CUresult r) {
  const char *s = nullptr;
  if (d.cuGetErrorString)
    d.cuGetErrorString(r, &s);
  return std::string(call) + " failed: " +
         (s ? std::string(s) : "CUresult " + std::to_string(r));
}

bool loadDriver(Driver &d, std::string &why) {
  d.handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!d.handle) {
    const char *e = dlerror();
    why = std::string("no CUDA driver: cannot load libcuda.so.1 (") +
          (e ? e : "?") + ")";
    return false;
  }
  std::string missing;
  void *h = d.handle;
  bind(h, d.cuInit, "cuInit", missing);
  bind(h, d.cuDriverGetVersion, "cuDriverGetVersion", missing);
  bind(h, d.cuDeviceGetCount, "cuDeviceGetCount", missing);
  bind(h, d.cuDeviceGet, "cuDeviceGet", missing);
  bind(h, d.cuDeviceGetName, "cuDeviceGetName", missing);
  bind(h, d.cuDeviceGetAttribute, "cuDeviceGetAttribute", missing);
  bind(h, d.cuDeviceTotalMem, "cuDeviceTotalMem_v2", missing);
  bind(h, d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", missing);
  bind(h, d.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2",
       missing);
  bind(h, d.cuCtxSetCurrent, "cuCtxSetCurrent", missing);
  bind(h, d.cuCtxSynchronize, "cuCtxSynchronize", missing);
  bind(h, d.cuGetErrorString, "cuGetErrorString", missing);
  bind(h, d.cuModuleLoadDataEx, "cuModuleLoadDataEx", missing);
  bind(h, d.cuModuleUnload, "cuModuleUnload", missing);
  bind(h, d.cuModuleGetFunction, "cuModuleGetFunction", missing);
  bind(h, d.cuLaunchKernel, "cuLaunchKernel", missing);
  bind(h, d.cuStreamCreate, "cuStreamCreate", missing);
  bind(h, d.cuStreamDestroy, "cuStreamDestroy_v2", missing);
  bind(h, d.cuStreamSynchronize, "cuStreamSynchronize", missing);
  bind(h, d.cuEventCreate, "cuEventCreate", missing);
  bind(h, d.cuEventDestroy, "cuEventDestroy_v2", missing);
  bind(h, d.cuEventRecord, "cuEventRecord", missing);
  bind(h, d.cuEventSynchronize, "cuEventSynchronize", missing);
  // CUDA 12.8 added _v2 (the one cuda.h 13 names); older drivers have only
  // the first, with the same signature.
  std::string none;
  if (!bind(h, d.cuEventElapsedTime, "cuEventElapsedTime_v2", none))
    bind(h, d.cuEventElapsedTime, "cuEventElapsedTime", missing);
  bind(h, d.cuMemAlloc, "cuMemAlloc_v2", missing);
  bind(h, d.cuMemFree, "cuMemFree_v2", missing);
  bind(h, d.cuMemcpyHtoD, "cuMemcpyHtoD_v2", missing);
  bind(h, d.cuMemcpyDtoH, "cuMemcpyDtoH_v2", missing);
  bind(h, d.cuMemsetD32, "cuMemsetD32_v2", missing);
  bind(h, d.cuMemsetD16, "cuMemsetD16_v2", missing);
  if (!missing.empty()) {
    why = "libcuda.so.1 " + missing;
    return false;
  }
  if (CUresult r = d.cuInit(0)) {
    why = "no usable CUDA driver: " + driverError(d, "cuInit", r);
    return false;
  }
  int count = 0;
  if (CUresult r = d.cuDeviceGetCount(&count)) {
    why = driverError(d, "cuDeviceGetCount", r);
    return false;
  }
  if (count == 0) {
    why = "the CUDA driver sees no GPU";
    return false;
  }
  if (CUresult r = d.cuDeviceGet(&d.device, 0)) {
    why = driverError(d, "cuDeviceGet", r);
    return false;
  }
  if (CUresult r = d.cuDevicePrimaryCtxRetain(&d.context, d.device)) {
    why = driverError(d, "cuDevicePrimaryCtxRetain", r);
    return false;
  }
  if (CUresult r = d.cuCtxSetCurrent(d.context)) {
    why = driverError(d, "cuCtxSetCurrent", r);
    return false;
  }
  return true;
}

bool loadCublas(Cublas &b, const std::string &dir, std::string &why) {
  std::string tried;
  for (const char *name : {"libcublas.so.13", "libcublas.so.12",
                           "libcublas.so.11", "libcublas.so"}) {
    for (std::string path :
         {dir.empty() ? std::string() : dir + "/" + name, std::string(name)}) {
      if (path.empty())
        continue;
      // RTLD_GLOBAL: libcublas finds its libcublasLt through the same path.
      b.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
      if (b.handle) {
        b.path = path;
        break;
      }
      const char *e = dlerror();
      tried += (tried.empty() ? "" : "; ") + std::string(e ? e : path);
    }
    if (b.handle)
      break;
  }
  if (!b.handle) {
    why = "cannot load cuBLAS (" + tried + ")";
    return false;
  }
  std::string missing;
  bind(b.handle, b.cublasCreate, "cublasCreate_v2", missing);
  bind(b.handle, b.cublasDestroy, "cublasDestroy_v2", missing);
  bind(b.handle, b.cublasSetStream, "cublasSetStream_v2", missing);
  bind(b.handle, b.cublasSetMathMode, "cublasSetMathMode", missing);
  bind(b.handle, b.cublasGetVersion, "cublasGetVersion_v2", missing);
  bind(b.handle, b.cublasGemmEx, "cublasGemmEx", missing);
  if (!missing.empty()) {
    why = b.path + " " + missing;
    return false;
  }
  return true;
}

} // namespace gpubench
