/* A stand-in for the CUDA driver (libcuda.so.1) for the artifact loader on
 * a machine without a GPU: it reports one device of compute capability
 * FAKE_CC_MAJOR.FAKE_CC_MINOR named FAKE_NAME and a driver of version
 * FAKE_DRIVER (cuDriverGetVersion's form), set when it is compiled
 * (test/CMakeLists.txt builds three).
 *
 * Without FAKE_HOST_MEMORY every other entry point fails: the loader must
 * refuse the artifact before any of its code (the kernels' module loads)
 * runs, so a test that reaches them fails loudly (the CUDA runtime aborts
 * on a failed call).
 *
 * With FAKE_HOST_MEMORY it keeps the books of a model's life without
 * running a kernel: device and managed memory are zeroed host memory,
 * copies and memsets are done, modules load and unload, launches are
 * counted and do nothing (results are therefore not the model's). At exit
 * it prints to stderr what was loaded, allocated and freed, and what was
 * left, so a test sees that the weights are uploaded once at load, freed
 * at unload, and every result and intermediate is freed. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL 999 /* CUDA_ERROR_UNKNOWN */

int cuInit(unsigned flags) { (void)flags; return 0; }
int cuDeviceGetCount(int *count) { *count = 1; return 0; }
int cuDeviceGet(int *device, int ordinal) { *device = ordinal; return 0; }
int cuDevicePrimaryCtxRetain(void **ctx, int device) {
  static int context;
  (void)device;
  *ctx = &context;
  return 0;
}
int cuCtxSetCurrent(void *ctx) { (void)ctx; return 0; }
int cuGetErrorString(int error, const char **text) {
  (void)error;
  *text = "not implemented by the test's fake driver";
  return 0;
}
int cuDeviceGetAttribute(int *value, int attribute, int device) {
  (void)device;
  if (attribute == 75) { *value = FAKE_CC_MAJOR; return 0; }
  if (attribute == 76) { *value = FAKE_CC_MINOR; return 0; }
  return FAIL;
}
int cuDeviceGetName(char *name, int size, int device) {
  (void)device;
  strncpy(name, FAKE_NAME, (size_t)size);
  return 0;
}
int cuDriverGetVersion(int *version) { *version = FAKE_DRIVER; return 0; }

#ifdef FAKE_HOST_MEMORY
typedef unsigned long long devptr;

/* Live allocations: pointer, bytes, managed or not. */
static struct { void *p; size_t bytes; int managed; } *live;
static size_t nlive, caplive;
static long loads, unloads, launches, allocs, managed, frees, managedFrees;
static size_t allocBytes;
/* Copies into device memory (cuMemAlloc's, not managed) from elsewhere, and
 * out of it: uploads and downloads. */
static long uploads, downloads;
static size_t uploadBytes, downloadBytes;

static void *track(size_t bytes, int isManaged) {
  void *p = calloc(1, bytes ? bytes : 1);
  if (nlive == caplive) {
    caplive = caplive ? 2 * caplive : 64;
    live = realloc(live, caplive * sizeof(*live));
  }
  live[nlive].p = p;
  live[nlive].bytes = bytes;
  live[nlive].managed = isManaged;
  ++nlive;
  if (isManaged)
    ++managed;
  else {
    ++allocs;
    allocBytes += bytes;
  }
  return p;
}

__attribute__((destructor)) static void report(void) {
  size_t leftBytes = 0;
  for (size_t i = 0; i < nlive; ++i)
    leftBytes += live[i].bytes;
  fprintf(stderr,
          "fake-cuda: modules loaded %ld unloaded %ld; launches %ld; device "
          "allocations %ld (%zu bytes) managed %ld; freed device %ld managed "
          "%ld; live at exit %zu (%zu bytes)\n",
          loads, unloads, launches, allocs, allocBytes, managed, frees,
          managedFrees, nlive, leftBytes);
  fprintf(stderr,
          "fake-cuda: copies into device memory %ld (%zu bytes), out of "
          "device memory %ld (%zu bytes)\n",
          uploads, uploadBytes, downloads, downloadBytes);
}

/* Whether p lies in a live device (not managed) allocation. */
static int inDevice(const void *p) {
  for (size_t i = 0; i < nlive; ++i)
    if (!live[i].managed && (const char *)p >= (const char *)live[i].p &&
        (const char *)p < (const char *)live[i].p + live[i].bytes)
      return 1;
  return 0;
}

int cuMemAlloc_v2(devptr *p, size_t bytes) {
  *p = (devptr)track(bytes, 0);
  return 0;
}
int cuMemAllocManaged(devptr *p, size_t bytes, unsigned flags) {
  (void)flags;
  *p = (devptr)track(bytes, 1);
  return 0;
}
int cuMemFree_v2(devptr p) {
  for (size_t i = 0; i < nlive; ++i)
    if (live[i].p == (void *)p) {
      if (live[i].managed)
        ++managedFrees;
      else
        ++frees;
      free(live[i].p);
      live[i] = live[--nlive];
      return 0;
    }
  fprintf(stderr, "fake-cuda: cuMemFree of %p, which is not allocated\n",
          (void *)p);
  return 1; /* CUDA_ERROR_INVALID_VALUE */
}
int cuMemcpyAsync(devptr dst, devptr src, size_t bytes, void *stream) {
  const int toDevice = inDevice((void *)dst),
            fromDevice = inDevice((void *)src);
  (void)stream;
  if (toDevice && !fromDevice) {
    ++uploads;
    uploadBytes += bytes;
  } else if (fromDevice && !toDevice) {
    ++downloads;
    downloadBytes += bytes;
  }
  memmove((void *)dst, (const void *)src, bytes);
  return 0;
}
int cuMemsetD16Async(devptr p, unsigned short v, size_t n, void *stream) {
  (void)stream;
  for (size_t i = 0; i < n; ++i)
    ((unsigned short *)p)[i] = v;
  return 0;
}
int cuMemsetD32Async(devptr p, unsigned v, size_t n, void *stream) {
  (void)stream;
  for (size_t i = 0; i < n; ++i)
    ((unsigned *)p)[i] = v;
  return 0;
}
int cuMemHostRegister_v2(void *p, size_t bytes, unsigned flags) {
  (void)p; (void)bytes; (void)flags;
  return 0;
}
int cuMemHostUnregister(void *p) { (void)p; return 0; }
static int handle;
int cuModuleLoadData(void **module, const void *image) {
  (void)image;
  ++loads;
  *module = &handle;
  return 0;
}
int cuModuleLoadDataEx(void **module, const void *image, unsigned n,
                       void *options, void **values) {
  (void)n; (void)options; (void)values;
  return cuModuleLoadData(module, image);
}
int cuModuleUnload(void *module) { (void)module; ++unloads; return 0; }
int cuModuleGetFunction(void **fn, void *module, const char *name) {
  (void)module; (void)name;
  *fn = &handle;
  return 0;
}
int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz,
                   unsigned bx, unsigned by, unsigned bz, unsigned shared,
                   void *stream, void **params, void **extra) {
  (void)f; (void)gx; (void)gy; (void)gz; (void)bx; (void)by; (void)bz;
  (void)shared; (void)stream; (void)params; (void)extra;
  ++launches;
  return 0;
}
int cuStreamCreate(void **s, unsigned flags) {
  (void)flags;
  *s = &handle;
  return 0;
}
int cuStreamDestroy_v2(void *s) { (void)s; return 0; }
int cuStreamSynchronize(void *s) { (void)s; return 0; }
int cuStreamWaitEvent(void *s, void *e, unsigned f) {
  (void)s; (void)e; (void)f;
  return 0;
}
int cuEventCreate(void **e, unsigned flags) {
  (void)flags;
  *e = &handle;
  return 0;
}
int cuEventDestroy_v2(void *e) { (void)e; return 0; }
int cuEventSynchronize(void *e) { (void)e; return 0; }
int cuEventRecord(void *e, void *s) { (void)e; (void)s; return 0; }
#else
/* The rest of what libonebit_cuda_runtime.so looks up: failures. */
#define STUB(name) int name(void) { return FAIL; }
STUB(cuModuleLoadData)
STUB(cuModuleLoadDataEx)
STUB(cuModuleUnload)
STUB(cuModuleGetFunction)
STUB(cuLaunchKernel)
STUB(cuStreamCreate)
STUB(cuStreamDestroy_v2)
STUB(cuStreamSynchronize)
STUB(cuStreamWaitEvent)
STUB(cuEventCreate)
STUB(cuEventDestroy_v2)
STUB(cuEventSynchronize)
STUB(cuEventRecord)
STUB(cuMemAlloc_v2)
STUB(cuMemAllocManaged)
STUB(cuMemFree_v2)
STUB(cuMemcpyAsync)
STUB(cuMemsetD16Async)
STUB(cuMemsetD32Async)
STUB(cuMemHostRegister_v2)
STUB(cuMemHostUnregister)
#endif
