//===- MatmulToRuntime.h - dense f32 contractions to BLAS calls -*- C++ -*-===//

#ifndef ONEBIT_CONVERSION_MATMULTORUNTIME_MATMULTORUNTIME_H
#define ONEBIT_CONVERSION_MATMULTORUNTIME_MATMULTORUNTIME_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace onebit {

#define GEN_PASS_DECL_CONVERTMATMULTORUNTIME
#include "onebit/Conversion/Passes.h.inc"

/// The dense kernel the lowering calls (C interface name: _mlir_ciface_ +
/// this), implemented in runtime/lib/DenseMatmul.cpp.
inline constexpr const char *kMatmulKernel = "onebit_matmul_f32";
/// The product with sign(W) of latent weights W, on the 1-bit kernels
/// (runtime/lib/SignMatmul.cpp).
inline constexpr const char *kSignMatmulKernel = "onebit_sign_matmul_f32";
/// The dense kernel with an f16 right operand (an f16 KV cache), read in
/// place and widened in the kernel.
inline constexpr const char *kMatmulF16BKernel = "onebit_matmul_f32_f16b";

} // namespace onebit

#endif // ONEBIT_CONVERSION_MATMULTORUNTIME_MATMULTORUNTIME_H
