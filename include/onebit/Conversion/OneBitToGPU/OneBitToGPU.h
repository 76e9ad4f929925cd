//===- OneBitToGPU.h - onebit ops to GPU kernels ----------------*- C++ -*-===//

#ifndef ONEBIT_CONVERSION_ONEBITTOGPU_ONEBITTOGPU_H
#define ONEBIT_CONVERSION_ONEBITTOGPU_ONEBITTOGPU_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace onebit {

#define GEN_PASS_DECL_CONVERTONEBITTOGPU
#define GEN_PASS_DECL_ONEBITGPUBINARYLINEARKERNELS
#define GEN_PASS_DECL_ONEBITGPUCACHECOPIES
#define GEN_PASS_DECL_ONEBITGPUCONTRACTIONKERNELS
#define GEN_PASS_DECL_ONEBITGPUHOSTMEMORY
#define GEN_PASS_DECL_ONEBITGPURESIDENTCONSTANTS
#include "onebit/Conversion/Passes.h.inc"

/// Attribute on the kernel-stub calls of convert-onebit-to-gpu.
inline constexpr const char *kGpuBinaryLinearAttr = "onebit.gpu_binary_linear";

} // namespace onebit

#endif // ONEBIT_CONVERSION_ONEBITTOGPU_ONEBITTOGPU_H
