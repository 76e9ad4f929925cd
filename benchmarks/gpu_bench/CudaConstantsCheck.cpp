//===- CudaConstantsCheck.cpp - gpu_bench: the constants are the toolkit's ===//
//
// Compiled only when the CUDA toolkit's headers are found at configure time
// (never linked against CUDA): a build fails if a constant of
// CudaConstants.h differs from the headers'. Its own file because cuda.h
// renames driver functions with macros (cuMemAlloc -> cuMemAlloc_v2), which
// must not reach the code that binds them.
//
//===----------------------------------------------------------------------===//

#include "CudaConstants.h"

#include <cublas_api.h>
#include <cuda.h>
static_assert(gpubench::kAttrMultiprocessorCount ==
              CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
static_assert(gpubench::kAttrMemoryClockRate ==
              CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE);
static_assert(gpubench::kAttrGlobalMemoryBusWidth ==
              CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH);
static_assert(gpubench::kAttrComputeCapabilityMajor ==
              CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
static_assert(gpubench::kAttrComputeCapabilityMinor ==
              CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
static_assert(gpubench::kJitErrorLogBuffer == CU_JIT_ERROR_LOG_BUFFER);
static_assert(gpubench::kJitErrorLogBufferSizeBytes ==
              CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
static_assert(gpubench::kCublasOpN == CUBLAS_OP_N);
static_assert(gpubench::kCublasOpT == CUBLAS_OP_T);
static_assert(gpubench::kCudaR16F == CUDA_R_16F);
static_assert(gpubench::kCublasCompute32F == CUBLAS_COMPUTE_32F);
static_assert(gpubench::kCublasGemmDefaultTensorOp ==
              CUBLAS_GEMM_DEFAULT_TENSOR_OP);
static_assert(gpubench::kCublasTensorOpMath == CUBLAS_TENSOR_OP_MATH);
