//===- OneBitToRuntime.h - onebit ops to CPU kernel calls -------*- C++ -*-===//

#ifndef ONEBIT_CONVERSION_ONEBITTORUNTIME_ONEBITTORUNTIME_H
#define ONEBIT_CONVERSION_ONEBITTORUNTIME_ONEBITTORUNTIME_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace onebit {

#define GEN_PASS_DECL_CONVERTONEBITTORUNTIME
#include "onebit/Conversion/Passes.h.inc"

/// The kernel the lowering calls (C interface name: _mlir_ciface_ + this).
inline constexpr const char *kBinaryLinearKernel = "onebit_binary_linear_f32";
inline constexpr const char *kInt8LinearKernel = "onebit_int8_linear_f32";

} // namespace onebit

#endif // ONEBIT_CONVERSION_ONEBITTORUNTIME_ONEBITTORUNTIME_H
