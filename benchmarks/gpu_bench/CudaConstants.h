//===- CudaConstants.h - gpu_bench: driver API and cuBLAS constants -*- C++ -*-===//
//
// The enumerators of cuda.h, library_types.h and cublas_api.h gpu_bench
// uses, written out so it builds without the toolkit (CudaConstantsCheck.cpp
// compares them with the headers when they are there).
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_BENCHMARKS_GPU_BENCH_CUDACONSTANTS_H
#define ONEBIT_BENCHMARKS_GPU_BENCH_CUDACONSTANTS_H

namespace gpubench {

constexpr int kAttrMultiprocessorCount = 16;  // CU_DEVICE_ATTRIBUTE_...
constexpr int kAttrMemoryClockRate = 36;      // kHz
constexpr int kAttrGlobalMemoryBusWidth = 37; // bits
constexpr int kAttrComputeCapabilityMajor = 75;
constexpr int kAttrComputeCapabilityMinor = 76;
constexpr int kJitErrorLogBuffer = 5;          // CUjit_option
constexpr int kJitErrorLogBufferSizeBytes = 6;
constexpr int kCublasOpN = 0, kCublasOpT = 1;
constexpr int kCudaR16F = 2;              // cudaDataType CUDA_R_16F
constexpr int kCublasCompute32F = 68;     // cublasComputeType_t
constexpr int kCublasGemmDefaultTensorOp = 99;
constexpr int kCublasTensorOpMath = 1;    // cublasMath_t

} // namespace gpubench

#endif // ONEBIT_BENCHMARKS_GPU_BENCH_CUDACONSTANTS_H
