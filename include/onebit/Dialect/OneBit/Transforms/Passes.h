//===- Passes.h - onebit dialect passes -------------------------*- C++ -*-===//

#ifndef ONEBIT_DIALECT_ONEBIT_TRANSFORMS_PASSES_H
#define ONEBIT_DIALECT_ONEBIT_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"
#include "onebit/Dialect/OneBit/IR/OneBit.h"

namespace onebit {

#define GEN_PASS_DECL
#include "onebit/Dialect/OneBit/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "onebit/Dialect/OneBit/Transforms/Passes.h.inc"

} // namespace onebit

#endif // ONEBIT_DIALECT_ONEBIT_TRANSFORMS_PASSES_H
