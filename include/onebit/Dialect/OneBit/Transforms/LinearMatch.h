//===- LinearMatch.h - FP linear layers with constant weights ---*- C++ -*-===//
//
// The matcher shared by the weight rewrites (--onebit-quantize,
// --onebit-int8-weights): a linalg contraction of activations `... x K` with a
// constant 2-D weight (N x K or K x N) into `... x N`, with an optional
// following `+ bias`, and the code that replaces such a layer by a new value.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_DIALECT_ONEBIT_TRANSFORMS_LINEARMATCH_H
#define ONEBIT_DIALECT_ONEBIT_TRANSFORMS_LINEARMATCH_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"

#include <optional>
#include <string>
#include <vector>

namespace onebit {

/// One matched FP linear layer.
struct LinearLayer {
  mlir::linalg::LinalgOp op;
  unsigned inputIdx = 0;       ///< DPS input holding the activations, ... x K
  mlir::arith::ConstantOp weight; ///< the constant weight
  /// The extf generic the weight is read through when it is stored in a
  /// narrower float type than the layer computes in (an f16 weight of an
  /// f32 layer), or null.
  mlir::linalg::GenericOp weightWiden;
  bool weightIsKxN = false;    ///< stored K x N (ONNX MatMul) vs N x K
  bool accumulates = false;    ///< the init is not a zero fill: add it back
  mlir::linalg::GenericOp biasAdd;   ///< a folded `+ bias`, or null
  mlir::arith::ConstantOp biasConst; ///< its constant
  int64_t n = 0, k = 0;
  std::string weightName, layerName;

  /// The value the rest of the program sees as the layer's output.
  mlir::Value output() {
    return biasAdd ? biasAdd->getResult(0) : op->getResult(0);
  }
  mlir::Operation *lastOp() {
    return biasAdd ? biasAdd.getOperation() : op.getOperation();
  }
  /// The activations operand, read now (earlier rewrites may replace it).
  mlir::Value input() { return op.getDpsInputOperand(inputIdx)->get(); }
};

/// Recognises a constant-weight contraction whose activation operand has the
/// `... x K` layout and whose output is `... x N` (f32 or f16). The weight
/// may be a constant itself or a narrower float constant widened by an
/// elementwise `arith.extf` generic (LinearLayer::weightWiden).
std::optional<LinearLayer> matchLinear(mlir::linalg::LinalgOp op);

/// Folds a following `+ bias` (a linalg.generic adding a constant vector
/// broadcast over the output features) into the layer.
void matchBias(LinearLayer &layer);

/// Replaces the layer's output by `result` (the layer without its init: the
/// init is added back when the layer accumulates) and erases the contraction,
/// the folded bias add, the zero fill, the weight's extf generic and the
/// constants left without uses.
void replaceLinear(LinearLayer &layer, mlir::OpBuilder &b, mlir::Value result);

/// The data of the constant `cst` as an N x K row-major f32 matrix (`kxn`:
/// it is stored K x N and is transposed). f32 N x K data is returned in
/// place; anything else is converted into `storage`. A NaN or an infinity is
/// an error at `errorAt` naming `name` and the position.
mlir::FailureOr<const float *> readMatrixNxK(mlir::Operation *errorAt,
                                             mlir::arith::ConstantOp cst,
                                             mlir::StringRef name, bool kxn,
                                             int64_t n, int64_t k,
                                             std::vector<float> &storage);

/// Whether the layer is the weight's last reader: the constant (and its
/// extf generic) have no other use, so replacing the layer erases them.
bool isLastWeightUse(LinearLayer &layer);

} // namespace onebit

#endif // ONEBIT_DIALECT_ONEBIT_TRANSFORMS_LINEARMATCH_H
