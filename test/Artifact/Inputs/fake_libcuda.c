/* A stand-in for the CUDA driver (libcuda.so.1) for the artifact loader's
 * device checks on a machine without a GPU: it reports one device of
 * compute capability FAKE_CC_MAJOR.FAKE_CC_MINOR named FAKE_NAME and a
 * driver of version FAKE_DRIVER (cuDriverGetVersion's form), set when it
 * is compiled (test/CMakeLists.txt builds two). Every other entry point
 * fails: the loader must refuse the artifact before any of its code (the
 * kernels' module loads) runs, so a test that reaches them fails loudly
 * (the CUDA runtime aborts on a failed call). */
#include <stddef.h>
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
