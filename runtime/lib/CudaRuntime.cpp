//===- CudaRuntime.cpp - the mgpu* entry points on the CUDA driver API ----===//
//
// Host code from --onebit-gpu-pipeline calls the mgpu* functions that MLIR's
// gpu-to-llvm lowering and gpu.binary translation emit (the signatures below
// are MLIR 22's). They are implemented on the CUDA driver API, which is
// loaded with dlopen("libcuda.so.1") on first use: the library has no
// link-time dependency on CUDA and builds and loads on machines without it.
// onebitCudaProbe() tells a driver (onebit-run --device=cuda) whether a
// driver and a GPU are there before anything runs.
//
// Errors inside mgpu* calls (which return nothing useful to the generated
// code) are reported on stderr with the call that failed and abort, as a
// silent failure would let the model read garbage.
//
//===----------------------------------------------------------------------===//

#include "onebit/Runtime/CudaRuntime.h"

#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace {

// The subset of cuda.h used here (driver API, ABI-stable since CUDA 4).
using CUresult = int;
using CUdevice = int;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;
using CUdeviceptr = unsigned long long;
constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED = 712;
constexpr unsigned CU_MEMHOSTREGISTER_PORTABLE = 0x01;
constexpr unsigned CU_MEMHOSTREGISTER_DEVICEMAP = 0x02;
constexpr unsigned CU_MEMHOSTREGISTER_READ_ONLY = 0x08;
constexpr unsigned CU_MEM_ATTACH_GLOBAL = 0x1;
constexpr unsigned CU_STREAM_NON_BLOCKING = 0x1;
constexpr unsigned CU_EVENT_DISABLE_TIMING = 0x2;
constexpr int CU_JIT_OPTIMIZATION_LEVEL = 7;

struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDriverGetVersion)(int *);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
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
  CUresult (*cuStreamWaitEvent)(CUstream, CUevent, unsigned);
  CUresult (*cuEventCreate)(CUevent *, unsigned);
  CUresult (*cuEventDestroy)(CUevent);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemAllocManaged)(CUdeviceptr *, size_t, unsigned);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemsetD16Async)(CUdeviceptr, unsigned short, size_t, CUstream);
  CUresult (*cuMemsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream);
  CUresult (*cuMemHostRegister)(void *, size_t, unsigned);
  CUresult (*cuMemHostUnregister)(void *);

  void *handle = nullptr;
  CUcontext context = nullptr;
  CUdevice device = 0;
  std::string error; ///< why the driver is unusable, empty when it is fine
};

/// Loads libcuda, initialises it and makes the primary context of the
/// default device current on the calling thread. Thread-safe, once.
Driver &driver() {
  static Driver d;
  static std::once_flag once;
  std::call_once(once, [] {
    d.handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!d.handle) {
      const char *e = dlerror();
      d.error = std::string("cannot load libcuda.so.1: ") + (e ? e : "?");
      return;
    }
    bool ok = true;
    auto sym = [&](auto &fn, const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
          dlsym(d.handle, name));
      if (!fn && ok) {
        ok = false;
        d.error = std::string("libcuda.so.1 lacks ") + name;
      }
    };
    sym(d.cuInit, "cuInit");
    sym(d.cuDeviceGetCount, "cuDeviceGetCount");
    sym(d.cuDeviceGet, "cuDeviceGet");
    sym(d.cuDeviceGetAttribute, "cuDeviceGetAttribute");
    sym(d.cuDeviceGetName, "cuDeviceGetName");
    sym(d.cuDriverGetVersion, "cuDriverGetVersion");
    sym(d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    sym(d.cuCtxSetCurrent, "cuCtxSetCurrent");
    sym(d.cuGetErrorString, "cuGetErrorString");
    sym(d.cuModuleLoadData, "cuModuleLoadData");
    sym(d.cuModuleLoadDataEx, "cuModuleLoadDataEx");
    sym(d.cuModuleUnload, "cuModuleUnload");
    sym(d.cuModuleGetFunction, "cuModuleGetFunction");
    sym(d.cuLaunchKernel, "cuLaunchKernel");
    sym(d.cuStreamCreate, "cuStreamCreate");
    sym(d.cuStreamDestroy, "cuStreamDestroy_v2");
    sym(d.cuStreamSynchronize, "cuStreamSynchronize");
    sym(d.cuStreamWaitEvent, "cuStreamWaitEvent");
    sym(d.cuEventCreate, "cuEventCreate");
    sym(d.cuEventDestroy, "cuEventDestroy_v2");
    sym(d.cuEventSynchronize, "cuEventSynchronize");
    sym(d.cuEventRecord, "cuEventRecord");
    sym(d.cuMemAlloc, "cuMemAlloc_v2");
    sym(d.cuMemAllocManaged, "cuMemAllocManaged");
    sym(d.cuMemFree, "cuMemFree_v2");
    sym(d.cuMemcpyAsync, "cuMemcpyAsync");
    sym(d.cuMemsetD16Async, "cuMemsetD16Async");
    sym(d.cuMemsetD32Async, "cuMemsetD32Async");
    sym(d.cuMemHostRegister, "cuMemHostRegister_v2");
    sym(d.cuMemHostUnregister, "cuMemHostUnregister");
    if (!ok)
      return;
    auto describe = [&](const char *what, CUresult r) {
      const char *s = nullptr;
      d.cuGetErrorString(r, &s);
      d.error = std::string(what) + " failed: " + (s ? s : "error ") +
                (s ? "" : std::to_string(r));
    };
    if (CUresult r = d.cuInit(0); r != CUDA_SUCCESS)
      return describe("cuInit", r);
    int count = 0;
    if (CUresult r = d.cuDeviceGetCount(&count); r != CUDA_SUCCESS)
      return describe("cuDeviceGetCount", r);
    if (count == 0) {
      d.error = "the CUDA driver reports no device";
      return;
    }
    CUdevice dev;
    if (CUresult r = d.cuDeviceGet(&dev, 0); r != CUDA_SUCCESS)
      return describe("cuDeviceGet", r);
    d.device = dev;
    if (CUresult r = d.cuDevicePrimaryCtxRetain(&d.context, dev);
        r != CUDA_SUCCESS)
      return describe("cuDevicePrimaryCtxRetain", r);
  });
  return d;
}

/// The driver with the context current on this thread, or abort.
Driver &ready() {
  Driver &d = driver();
  if (!d.error.empty()) {
    fprintf(stderr, "onebit CUDA runtime: no CUDA driver/GPU found: %s\n",
            d.error.c_str());
    abort();
  }
  thread_local bool current = false;
  if (!current) {
    d.cuCtxSetCurrent(d.context);
    current = true;
  }
  return d;
}

void check(CUresult r, const char *call) {
  if (r == CUDA_SUCCESS)
    return;
  const char *s = nullptr;
  driver().cuGetErrorString(r, &s);
  fprintf(stderr, "onebit CUDA runtime: %s failed: %s (%d)\n", call,
          s ? s : "unknown error", r);
  abort();
}

/// MLIR's ranked memref descriptor, viewed generically.
struct Descriptor {
  void *allocated;
  char *aligned;
  int64_t offset;
  int64_t sizesAndStrides[1];
};

/// The bytes a ranked memref spans (from its first to its last element).
void memrefRange(int64_t rank, Descriptor *desc, int64_t elementSize,
                 char *&begin, size_t &bytes) {
  begin = desc->aligned + desc->offset * elementSize;
  int64_t last = 0;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t size = desc->sizesAndStrides[i];
    int64_t stride = desc->sizesAndStrides[rank + i];
    if (size == 0) {
      bytes = 0;
      return;
    }
    last += (size - 1) * stride;
  }
  bytes = size_t(last + 1) * elementSize;
}

/// Writes `why` into the caller's `message` buffer of `size` bytes
/// (truncated, NUL-terminated; nothing when there is none).
void writeMessage(const std::string &why, char *message, size_t size) {
  if (message && size) {
    strncpy(message, why.c_str(), size - 1);
    message[size - 1] = 0;
  }
}

} // namespace

extern "C" {

int onebitCudaProbe(char *message, size_t size) {
  Driver &d = driver();
  if (d.error.empty())
    return 0;
  writeMessage(d.error, message, size);
  return -1;
}

int onebitCudaDeviceInfo(int *major, int *minor, int *driverVersion,
                         char *name, size_t nameSize, char *message,
                         size_t size) {
  auto fail = [&](const std::string &why) {
    writeMessage(why, message, size);
    return -1;
  };
  Driver &d = driver();
  if (!d.error.empty())
    return fail("no CUDA driver/GPU found: " + d.error);
  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR.
  constexpr int kMajor = 75, kMinor = 76;
  if (d.cuDeviceGetAttribute(major, kMajor, d.device) != CUDA_SUCCESS ||
      d.cuDeviceGetAttribute(minor, kMinor, d.device) != CUDA_SUCCESS)
    return fail("cuDeviceGetAttribute of the compute capability failed");
  if (d.cuDriverGetVersion(driverVersion) != CUDA_SUCCESS)
    return fail("cuDriverGetVersion failed");
  if (name && nameSize) {
    name[0] = 0;
    if (d.cuDeviceGetName(name, int(nameSize), d.device) != CUDA_SUCCESS)
      name[0] = 0;
    name[nameSize - 1] = 0;
  }
  return 0;
}

/// Device memory the host code never touches (a KV cache): zeroed, with
/// the driver's error as a message instead of an abort, since the size
/// comes from the user (--ctx).
void *onebitCudaAllocDevice(size_t bytes, char *message, size_t size) {
  auto fail = [&](const std::string &why) -> void * {
    writeMessage(why, message, size);
    return nullptr;
  };
  if (!driver().error.empty())
    return fail("no CUDA driver/GPU found: " + driver().error);
  Driver &d = ready();
  // Whole 32-bit words for the memset; one at least.
  const size_t words = (bytes + 3) / 4 ? (bytes + 3) / 4 : 1;
  CUdeviceptr ptr = 0;
  if (CUresult r = d.cuMemAlloc(&ptr, words * 4); r != CUDA_SUCCESS) {
    const char *s = nullptr;
    d.cuGetErrorString(r, &s);
    return fail("cuMemAlloc of " + std::to_string(bytes) +
                " bytes failed: " + (s ? s : "unknown error"));
  }
  if (CUresult r = d.cuMemsetD32Async(ptr, 0, words, nullptr);
      r != CUDA_SUCCESS || (r = d.cuStreamSynchronize(nullptr)) != CUDA_SUCCESS) {
    d.cuMemFree(ptr);
    const char *s = nullptr;
    d.cuGetErrorString(r, &s);
    return fail(std::string("zeroing device memory failed: ") +
                (s ? s : "unknown error"));
  }
  return reinterpret_cast<void *>(ptr);
}

void onebitCudaFreeDevice(void *ptr) {
  if (ptr)
    check(ready().cuMemFree(reinterpret_cast<CUdeviceptr>(ptr)), "cuMemFree");
}

/// A copy between host and device memory (the direction from unified
/// addressing), finished when it returns; the driver's error as a message.
int onebitCudaCopy(void *dst, const void *src, size_t bytes, char *message,
                   size_t size) {
  auto fail = [&](const std::string &why) {
    writeMessage(why, message, size);
    return -1;
  };
  if (!driver().error.empty())
    return fail("no CUDA driver/GPU found: " + driver().error);
  if (!bytes)
    return 0;
  Driver &d = ready();
  CUresult r =
      d.cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(dst),
                      reinterpret_cast<CUdeviceptr>(src), bytes, nullptr);
  if (r == CUDA_SUCCESS)
    r = d.cuStreamSynchronize(nullptr);
  if (r != CUDA_SUCCESS) {
    const char *s = nullptr;
    d.cuGetErrorString(r, &s);
    return fail(
        "copying " + std::to_string(bytes) +
        " bytes between host and device failed: " + (s ? s : "unknown error"));
  }
  return 0;
}

void *mgpuModuleLoad(void *data, size_t /*gpuBlobSize*/) {
  Driver &d = ready();
  CUmodule module = nullptr;
  check(d.cuModuleLoadData(&module, data), "cuModuleLoadData");
  return module;
}

void *mgpuModuleLoadJIT(void *data, int optLevel) {
  Driver &d = ready();
  CUmodule module = nullptr;
  int options[] = {CU_JIT_OPTIMIZATION_LEVEL};
  void *values[] = {reinterpret_cast<void *>(intptr_t(optLevel))};
  check(d.cuModuleLoadDataEx(&module, data, 1, options, values),
        "cuModuleLoadDataEx (PTX JIT)");
  return module;
}

void mgpuModuleUnload(void *module) {
  // A JIT that never ran its constructors (no GPU found after compiling)
  // still runs the destructors: there is nothing to unload.
  if (!module)
    return;
  check(ready().cuModuleUnload(static_cast<CUmodule>(module)),
        "cuModuleUnload");
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  CUfunction f = nullptr;
  check(ready().cuModuleGetFunction(&f, static_cast<CUmodule>(module), name),
        "cuModuleGetFunction");
  return f;
}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t /*paramsCount*/) {
  if (gridX == 0 || gridY == 0 || gridZ == 0)
    return; // an empty batch: nothing to do (CUDA rejects a zero grid)
  check(ready().cuLaunchKernel(static_cast<CUfunction>(function), gridX, gridY,
                               gridZ, blockX, blockY, blockZ, smem,
                               static_cast<CUstream>(stream), params, extra),
        "cuLaunchKernel");
}

void *mgpuStreamCreate() {
  CUstream s = nullptr;
  check(ready().cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  return s;
}

void mgpuStreamDestroy(void *stream) {
  check(ready().cuStreamDestroy(static_cast<CUstream>(stream)),
        "cuStreamDestroy");
}

void mgpuStreamSynchronize(void *stream) {
  check(ready().cuStreamSynchronize(static_cast<CUstream>(stream)),
        "cuStreamSynchronize");
}

void mgpuStreamWaitEvent(void *stream, void *event) {
  check(ready().cuStreamWaitEvent(static_cast<CUstream>(stream),
                                  static_cast<CUevent>(event), 0),
        "cuStreamWaitEvent");
}

void *mgpuEventCreate() {
  CUevent e = nullptr;
  check(ready().cuEventCreate(&e, CU_EVENT_DISABLE_TIMING), "cuEventCreate");
  return e;
}

void mgpuEventDestroy(void *event) {
  check(ready().cuEventDestroy(static_cast<CUevent>(event)), "cuEventDestroy");
}

void mgpuEventSynchronize(void *event) {
  check(ready().cuEventSynchronize(static_cast<CUevent>(event)),
        "cuEventSynchronize");
}

void mgpuEventRecord(void *event, void *stream) {
  check(ready().cuEventRecord(static_cast<CUevent>(event),
                              static_cast<CUstream>(stream)),
        "cuEventRecord");
}

/// host_shared: managed memory, readable by host code and kernels (the
/// pipeline allocates every buffer this way). A stream is not needed: the
/// pipeline's launches are synchronous.
void *mgpuMemAlloc(uint64_t sizeBytes, void * /*stream*/, bool isHostShared) {
  Driver &d = ready();
  CUdeviceptr ptr = 0;
  if (sizeBytes == 0)
    sizeBytes = 1; // distinct non-null pointers for empty buffers
  if (isHostShared)
    check(d.cuMemAllocManaged(&ptr, sizeBytes, CU_MEM_ATTACH_GLOBAL),
          "cuMemAllocManaged");
  else
    check(d.cuMemAlloc(&ptr, sizeBytes), "cuMemAlloc");
  return reinterpret_cast<void *>(ptr);
}

void mgpuMemFree(void *ptr, void *stream) {
  Driver &d = ready();
  if (stream)
    check(d.cuStreamSynchronize(static_cast<CUstream>(stream)),
          "cuStreamSynchronize");
  check(d.cuMemFree(reinterpret_cast<CUdeviceptr>(ptr)), "cuMemFree");
}

void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream) {
  check(ready().cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(dst),
                              reinterpret_cast<CUdeviceptr>(src), sizeBytes,
                              static_cast<CUstream>(stream)),
        "cuMemcpyAsync");
}

void mgpuMemset16(void *dst, unsigned short value, size_t count,
                  void *stream) {
  check(ready().cuMemsetD16Async(reinterpret_cast<CUdeviceptr>(dst), value,
                                 count, static_cast<CUstream>(stream)),
        "cuMemsetD16Async");
}

void mgpuMemset32(void *dst, unsigned int value, size_t count, void *stream) {
  check(ready().cuMemsetD32Async(reinterpret_cast<CUdeviceptr>(dst), value,
                                 count, static_cast<CUstream>(stream)),
        "cuMemsetD32Async");
}

/// Page-locks and maps a host memref for kernels. Constant weights live in
/// read-only data, so they are registered read-only; registering a range
/// twice (every call of the model does) is not an error.
void mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                               int64_t elementSizeBytes) {
  char *begin;
  size_t bytes;
  memrefRange(rank, static_cast<Descriptor *>(descriptor), elementSizeBytes,
              begin, bytes);
  if (bytes == 0)
    return;
  Driver &d = ready();
  unsigned flags = CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP;
  CUresult r = d.cuMemHostRegister(begin, bytes, flags);
  if (r != CUDA_SUCCESS && r != CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED)
    r = d.cuMemHostRegister(begin, bytes, flags | CU_MEMHOSTREGISTER_READ_ONLY);
  if (r == CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED)
    return;
  check(r, "cuMemHostRegister");
}

void mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                                 int64_t elementSizeBytes) {
  char *begin;
  size_t bytes;
  memrefRange(rank, static_cast<Descriptor *>(descriptor), elementSizeBytes,
              begin, bytes);
  if (bytes)
    ready().cuMemHostUnregister(begin);
}

void mgpuSetDefaultDevice(int32_t device) {
  if (device != 0) {
    fprintf(stderr, "onebit CUDA runtime: only device 0 is supported\n");
    abort();
  }
}

const OnebitCudaSymbol *onebitCudaRuntimeSymbols(size_t *count) {
#define ONEBIT_SYM(f) {#f, reinterpret_cast<void *>(&f)}
  static const OnebitCudaSymbol symbols[] = {
      ONEBIT_SYM(mgpuModuleLoad),
      ONEBIT_SYM(mgpuModuleLoadJIT),
      ONEBIT_SYM(mgpuModuleUnload),
      ONEBIT_SYM(mgpuModuleGetFunction),
      ONEBIT_SYM(mgpuLaunchKernel),
      ONEBIT_SYM(mgpuStreamCreate),
      ONEBIT_SYM(mgpuStreamDestroy),
      ONEBIT_SYM(mgpuStreamSynchronize),
      ONEBIT_SYM(mgpuStreamWaitEvent),
      ONEBIT_SYM(mgpuEventCreate),
      ONEBIT_SYM(mgpuEventDestroy),
      ONEBIT_SYM(mgpuEventSynchronize),
      ONEBIT_SYM(mgpuEventRecord),
      ONEBIT_SYM(mgpuMemAlloc),
      ONEBIT_SYM(mgpuMemFree),
      ONEBIT_SYM(mgpuMemcpy),
      ONEBIT_SYM(mgpuMemset16),
      ONEBIT_SYM(mgpuMemset32),
      ONEBIT_SYM(mgpuMemHostRegisterMemRef),
      ONEBIT_SYM(mgpuMemHostUnregisterMemRef),
      ONEBIT_SYM(mgpuSetDefaultDevice),
  };
#undef ONEBIT_SYM
  *count = sizeof(symbols) / sizeof(symbols[0]);
  return symbols;
}

} // extern "C"
