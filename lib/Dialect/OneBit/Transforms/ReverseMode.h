//===- ReverseMode.h - reverse-mode AD: the sweep and its rules -*- C++ -*-===//
//
// Internal to MLIROneBitTransforms: the interface between the reverse sweep
// (ReverseMode.cpp) and the rule families it dispatches to, one file each:
//
//   ReverseModeScalarRules.cpp   derivatives of scalar arith/math ops, used
//                                both on scalars and inside generic payloads;
//   ReverseModeTensorRules.cpp   structural adjoints of tensor ops and fill;
//   ReverseModeGenericRules.cpp  adjoints of linalg.generic (elementwise,
//                                reductions, contractions, gathers, the
//                                straight-through sign);
//   ReverseModeNormalForm.cpp    the normal form the sweep expects, and the
//                                clean-up after it.
//
// The public entry point is buildGradientFunction (Autodiff.h).
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_LIB_DIALECT_ONEBIT_TRANSFORMS_REVERSEMODE_H
#define ONEBIT_LIB_DIALECT_ONEBIT_TRANSFORMS_REVERSEMODE_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::onebit::autodiff {

/// Floating-point scalars and ranked tensors of them carry adjoints.
bool isDifferentiable(Type t);

//===----------------------------------------------------------------------===//
// Scalar derivative arithmetic (ReverseModeScalarRules.cpp)
//===----------------------------------------------------------------------===//

/// A tangent: zero, +1, -1 or a value. The constants keep the emitted
/// derivative code free of multiplications by one (a contraction's adjoint
/// payload is then exactly `acc + dy * b`).
struct Tan {
  enum Kind { Zero, One, MinusOne, Val } kind = Zero;
  Value v;
  static Tan zero() { return {}; }
  static Tan one() { return {One, {}}; }
  static Tan of(Value v) { return {Val, v}; }
  bool isZero() const { return kind == Zero; }
};

class ScalarMath {
public:
  ScalarMath(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  Value cst(Type t, double v) {
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(t, v));
  }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value neg(Value x) { return arith::NegFOp::create(b, loc, x); }

  Value materialize(Tan t, Type type);
  Tan neg(Tan t);
  Tan add(Tan x, Tan y, Type type);
  /// t * v.
  Tan mul(Tan t, Value v);
  /// t / v.
  Tan div(Tan t, Value v);
  Tan select(Value cond, Tan x, Tan y, Type type);
  /// Converts a tangent to another float type (extf / truncf).
  Tan convert(Tan t, Type to);
  Value convert(Value v, Type to) { return convert(Tan::of(v), to).v; }

  OpBuilder &b;
  Location loc;
};

/// The tangent of `op`'s (single, floating-point) result given the tangents
/// of its operands; `op`'s operands and result are the values the derivative
/// may use. Fails for ops without a rule.
FailureOr<Tan> tangentRule(ScalarMath &m, Operation *op, ArrayRef<Tan> tans);

//===----------------------------------------------------------------------===//
// Normal form (ReverseModeNormalForm.cpp)
//===----------------------------------------------------------------------===//

/// Puts `fn` in the form the sweep has rules for: composite linalg ops and
/// the training form of the 1-bit layer decomposed, named linalg ops
/// generalised, elementwise arith/math on tensors turned into generics. The
/// sign tensors of decomposed 1-bit layers are added to `ste`.
LogicalResult normalize(func::FuncOp fn, llvm::DenseSet<Value> &ste);

/// Canonicalization and CSE of the gradient function.
void simplify(func::FuncOp fn);

//===----------------------------------------------------------------------===//
// The reverse sweep (ReverseMode.cpp) and its rules
//===----------------------------------------------------------------------===//

/// How an output of a linalg.generic depends on its payload.
struct GenericOutput {
  enum Kind { Elementwise, Sum, Max, Min };
  unsigned index;   ///< output number
  Kind kind;
  Value expr;       ///< payload value whose derivative flows to the inputs
  Operation *combiner = nullptr; ///< reductions: acc <op> expr
  Value adjoint;    ///< adjoint of the op's result
};

class ReverseMode {
public:
  ReverseMode(func::FuncOp fn, const llvm::DenseSet<Value> &ste)
      : fn(fn), ste(ste), b(fn.getContext()) {}

  LogicalResult run(ArrayRef<unsigned> wrt);

private:
  LogicalResult visit(Operation *op);

  // Generic adjoints (ReverseModeGenericRules.cpp).
  LogicalResult visitGeneric(linalg::GenericOp op);
  LogicalResult visitSte(linalg::GenericOp op);
  LogicalResult visitGather(linalg::GenericOp op, tensor::ExtractOp read);
  LogicalResult emitOperandAdjoint(linalg::GenericOp op, unsigned operand,
                                   ArrayRef<GenericOutput> outs);
  Value operandAdjointInit(Location loc, Value primal, bool adjointReduces,
                           bool &accumulateInPlace);

  // Scalar ops (ReverseModeScalarRules.cpp).
  LogicalResult visitScalar(Operation *op);

  // Structural adjoints (ReverseModeTensorRules.cpp).
  LogicalResult visitStructural(linalg::FillOp op);
  LogicalResult visitStructural(tensor::ExpandShapeOp op);
  LogicalResult visitStructural(tensor::CollapseShapeOp op);
  LogicalResult visitStructural(tensor::ReshapeOp op);
  LogicalResult visitStructural(tensor::CastOp op);
  LogicalResult visitStructural(tensor::ExtractSliceOp op);
  LogicalResult visitStructural(tensor::InsertSliceOp op);
  LogicalResult visitStructural(tensor::ConcatOp op);
  LogicalResult visitStructural(tensor::PadOp op);
  LogicalResult visitStructural(tensor::ExtractOp op);
  LogicalResult visitStructural(tensor::InsertOp op);
  LogicalResult visitStructural(tensor::FromElementsOp op);
  LogicalResult visitStructural(tensor::SplatOp op);

  bool isVaried(Value v) const { return varied.contains(v); }
  /// Whether `op`'s payload reads a differentiated value from above (other
  /// than `except`).
  bool readsVariedFromAbove(linalg::GenericOp op, Value except = {}) const;
  Value adjointOf(Value v) const { return adjoints.lookup(v); }
  void accumulate(Value v, Value contribution);

  // Tensor helpers, at the builder's insertion point.
  Value emptyLike(Location loc, Value v);
  Value zerosLike(Location loc, Value v);
  Value addTensors(Location loc, Value x, Value y);
  Value sumAll(Location loc, Value t);
  SmallVector<AffineMap> identityMaps(unsigned rank, unsigned n);

  func::FuncOp fn;
  const llvm::DenseSet<Value> &ste;
  OpBuilder b;
  llvm::DenseSet<Value> varied;
  llvm::DenseMap<Value, Value> adjoints;
};

} // namespace mlir::onebit::autodiff

#endif // ONEBIT_LIB_DIALECT_ONEBIT_TRANSFORMS_REVERSEMODE_H
