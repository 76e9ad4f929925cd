//===- Passes.h - onebit codegen passes on upstream dialects ----*- C++ -*-===//
//
// These passes never see a onebit op, so they live apart from the dialect's
// transforms and link no onebit library: a pipeline can reuse them on any
// linalg/memref program.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TRANSFORMS_PASSES_H
#define ONEBIT_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace onebit {

#define GEN_PASS_DECL
#include "onebit/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "onebit/Transforms/Passes.h.inc"

} // namespace onebit

#endif // ONEBIT_TRANSFORMS_PASSES_H
