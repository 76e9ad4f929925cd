//===- TrainForm.h - the training form of the 1-bit layer -------*- C++ -*-===//
//
// Shared by --onebit-decompose-train-form and the autodiff normal form.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_DIALECT_ONEBIT_TRANSFORMS_TRAINFORM_H
#define ONEBIT_DIALECT_ONEBIT_TRANSFORMS_TRAINFORM_H

#include "onebit/Dialect/OneBit/IR/OneBit.h"

#include "mlir/IR/PatternMatch.h"

namespace onebit {

/// Emits `op` as linalg-on-tensors at the rewriter's insertion point and
/// returns the value replacing its result (the op itself is left alone).
/// `signs`, when given, receives the `sign(W)` tensor: the result of an
/// elementwise linalg.generic with the latent weight as its only input, which
/// autodiff differentiates with the straight-through estimator.
mlir::FailureOr<mlir::Value>
decomposeBinaryLinearTrain(mlir::RewriterBase &rewriter, BinaryLinearTrainOp op,
                           mlir::Value *signs = nullptr);

/// Replaces `op` by `onebit.binary_linear_train` whose latent weight is
/// sign(W) * latentScale (the --onebit-to-train-form rewrite of one layer).
mlir::LogicalResult convertToTrainForm(BinaryLinearOp op, double latentScale);

} // namespace onebit

#endif // ONEBIT_DIALECT_ONEBIT_TRANSFORMS_TRAINFORM_H
