//===- Autodiff.h - reverse-mode differentiation of linalg on tensors -*- C++ -*-===//
//
// The library form of --onebit-autodiff, used by the pass and by the train
// step builder.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_DIALECT_ONEBIT_TRANSFORMS_AUTODIFF_H
#define ONEBIT_DIALECT_ONEBIT_TRANSFORMS_AUTODIFF_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Support/LLVM.h"

namespace onebit {

struct GradientOptions {
  /// Name of the new function; empty means `<f>_grad`.
  std::string name;
  /// Run canonicalization and CSE on the new function.
  bool simplify = true;
  /// Activation checkpointing for `func.call`s: the adjoint of a call
  /// recomputes the callee's forward from the call's operands. Otherwise
  /// the call is replaced by a call of a forward that also returns the
  /// activations its backward reads.
  bool checkpoint = false;
};

/// Builds, next to `f`, a function `name(args of f) -> (results of f...,
/// d result#0 / d arg[i] for i in wrt...)`. Result #0 of `f` must be a
/// floating-point scalar or a one-element float tensor (the loss); the other
/// results are passed through. `f` must be a single-block function built from
/// linalg-on-tensors, tensor, arith, math and onebit.binary_linear_train ops,
/// and calls of single-block functions built from the same: each callee gets
/// adjoint functions (`<callee>_fwd`/`<callee>_bwd`, or `<callee>_adj` with
/// `checkpoint`), made once per callee and use and called per call site.
/// Errors are emitted as diagnostics on the unsupported op.
mlir::FailureOr<mlir::func::FuncOp>
buildGradientFunction(mlir::func::FuncOp f, mlir::ArrayRef<unsigned> wrt,
                      const GradientOptions &options);

} // namespace onebit

#endif // ONEBIT_DIALECT_ONEBIT_TRANSFORMS_AUTODIFF_H
