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
//                                clean-up after it;
//   ReverseModeCalls.cpp         func.call: adjoint functions of callees.
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

#include <map>
#include <string>

namespace onebit::autodiff {

/// Floating-point scalars and ranked tensors of them carry adjoints.
bool isDifferentiable(mlir::Type t);

//===----------------------------------------------------------------------===//
// Scalar derivative arithmetic (ReverseModeScalarRules.cpp)
//===----------------------------------------------------------------------===//

/// A tangent: zero, +1, -1 or a value. The constants keep the emitted
/// derivative code free of multiplications by one (a contraction's adjoint
/// payload is then exactly `acc + dy * b`).
struct Tan {
  enum Kind { Zero, One, MinusOne, Val } kind = Zero;
  mlir::Value v;
  static Tan zero() { return {}; }
  static Tan one() { return {One, {}}; }
  static Tan of(mlir::Value v) { return {Val, v}; }
  bool isZero() const { return kind == Zero; }
};

class ScalarMath {
public:
  ScalarMath(mlir::OpBuilder &b, mlir::Location loc) : b(b), loc(loc) {}

  mlir::Value cst(mlir::Type t, double v) {
    return mlir::arith::ConstantOp::create(b, loc, b.getFloatAttr(t, v));
  }
  mlir::Value add(mlir::Value x, mlir::Value y) {
    return mlir::arith::AddFOp::create(b, loc, x, y);
  }
  mlir::Value sub(mlir::Value x, mlir::Value y) {
    return mlir::arith::SubFOp::create(b, loc, x, y);
  }
  mlir::Value mul(mlir::Value x, mlir::Value y) {
    return mlir::arith::MulFOp::create(b, loc, x, y);
  }
  mlir::Value div(mlir::Value x, mlir::Value y) {
    return mlir::arith::DivFOp::create(b, loc, x, y);
  }
  mlir::Value neg(mlir::Value x) {
    return mlir::arith::NegFOp::create(b, loc, x);
  }

  mlir::Value materialize(Tan t, mlir::Type type);
  Tan neg(Tan t);
  Tan add(Tan x, Tan y, mlir::Type type);
  /// t * v.
  Tan mul(Tan t, mlir::Value v);
  /// t / v.
  Tan div(Tan t, mlir::Value v);
  Tan select(mlir::Value cond, Tan x, Tan y, mlir::Type type);
  /// Converts a tangent to another float type (extf / truncf).
  Tan convert(Tan t, mlir::Type to);
  mlir::Value convert(mlir::Value v, mlir::Type to) {
    return convert(Tan::of(v), to).v;
  }

  mlir::OpBuilder &b;
  mlir::Location loc;
};

/// The tangent of `op`'s (single, floating-point) result given the tangents
/// of its operands; `op`'s operands and result are the values the derivative
/// may use. Fails for ops without a rule.
mlir::FailureOr<Tan> tangentRule(ScalarMath &m, mlir::Operation *op,
                                 mlir::ArrayRef<Tan> tans);

//===----------------------------------------------------------------------===//
// Normal form (ReverseModeNormalForm.cpp)
//===----------------------------------------------------------------------===//

/// Puts `fn` in the form the sweep has rules for: composite linalg ops and
/// the training form of the 1-bit layer decomposed, named linalg ops
/// generalised, elementwise arith/math on tensors turned into generics. The
/// sign tensors of decomposed 1-bit layers are added to `ste`.
mlir::LogicalResult normalize(mlir::func::FuncOp fn,
                              llvm::DenseSet<mlir::Value> &ste);

/// Canonicalization and CSE of the gradient function.
void simplify(mlir::func::FuncOp fn);

//===----------------------------------------------------------------------===//
// The reverse sweep (ReverseMode.cpp) and its rules
//===----------------------------------------------------------------------===//

/// How an output of a linalg.generic depends on its payload.
struct GenericOutput {
  enum Kind { Elementwise, Sum, Max, Min };
  unsigned index;   ///< output number
  Kind kind;
  mlir::Value expr; ///< payload value whose derivative flows to the inputs
  mlir::Operation *combiner = nullptr; ///< reductions: acc <op> expr
  mlir::Value adjoint;                 ///< adjoint of the op's result
};

/// The adjoints of called functions (ReverseModeCalls.cpp), made once per
/// callee and use (which arguments are differentiated, which results carry
/// an adjoint) and shared by every call site and by nested calls.
struct CallAdjoints {
  /// Activation checkpointing: the adjoint recomputes the callee's forward
  /// from its arguments. Otherwise the call becomes a call of a forward
  /// function that also returns what the backward reads (the residuals).
  bool recompute = false;

  struct Entry {
    /// Saved state: the forward, `(args) -> (results..., residuals...)`;
    /// null when recomputing.
    mlir::func::FuncOp forward;
    /// `(residuals or args..., seeds...) -> (d args...)`, the gradients of
    /// the differentiated arguments in order.
    mlir::func::FuncOp backward;
    /// Per backward operand before the seeds: the callee argument it is
    /// (>= 0), or the forward's result ~index (< 0).
    llvm::SmallVector<int64_t> residuals;
  };
  std::map<std::string, Entry> entries;
};

class ReverseMode {
public:
  ReverseMode(mlir::func::FuncOp fn, const llvm::DenseSet<mlir::Value> &ste,
              CallAdjoints &calls)
      : fn(fn), ste(ste), calls(calls), b(fn.getContext()) {}

  /// Gradient of result #0 (the loss): appends d result#0 / d arg[i] for
  /// each i in `wrt` to the results.
  mlir::LogicalResult run(mlir::ArrayRef<unsigned> wrt);
  /// Vector-Jacobian product: appends one argument per result in `seeded`
  /// (that result's adjoint) and returns only d args[i] for i in `wrt`.
  mlir::LogicalResult runAdjoint(mlir::ArrayRef<unsigned> wrt,
                                 mlir::ArrayRef<unsigned> seeded);

private:
  /// Visits every op in reverse, from the adjoints already seeded.
  mlir::LogicalResult sweep(mlir::ArrayRef<unsigned> wrt);
  /// sweep, then return `kept` followed by the adjoint of each argument in
  /// `wrt` (zeros where it has none).
  mlir::LogicalResult sweepAndReturn(mlir::ArrayRef<unsigned> wrt,
                                     mlir::ValueRange kept);
  mlir::LogicalResult visit(mlir::Operation *op);

  // Calls (ReverseModeCalls.cpp).
  mlir::LogicalResult visitCall(mlir::func::CallOp op);

  // Generic adjoints (ReverseModeGenericRules.cpp).
  mlir::LogicalResult visitGeneric(mlir::linalg::GenericOp op);
  mlir::LogicalResult visitSte(mlir::linalg::GenericOp op);
  mlir::LogicalResult visitGather(mlir::linalg::GenericOp op,
                                  mlir::tensor::ExtractOp read);
  mlir::LogicalResult emitOperandAdjoint(mlir::linalg::GenericOp op,
                                         unsigned operand,
                                         mlir::ArrayRef<GenericOutput> outs);
  mlir::Value operandAdjointInit(mlir::Location loc, mlir::Value primal,
                                 bool adjointReduces, bool &accumulateInPlace);

  // Scalar ops (ReverseModeScalarRules.cpp).
  mlir::LogicalResult visitScalar(mlir::Operation *op);

  // Structural adjoints (ReverseModeTensorRules.cpp).
  mlir::LogicalResult visitStructural(mlir::linalg::FillOp op);
  mlir::LogicalResult visitStructural(mlir::tensor::ExpandShapeOp op);
  mlir::LogicalResult visitStructural(mlir::tensor::CollapseShapeOp op);
  mlir::LogicalResult visitStructural(mlir::tensor::ReshapeOp op);
  mlir::LogicalResult visitStructural(mlir::tensor::CastOp op);
  mlir::LogicalResult visitStructural(mlir::tensor::ExtractSliceOp op);
  mlir::LogicalResult visitStructural(mlir::tensor::InsertSliceOp op);
  mlir::LogicalResult visitStructural(mlir::tensor::ConcatOp op);
  mlir::LogicalResult visitStructural(mlir::tensor::PadOp op);
  mlir::LogicalResult visitStructural(mlir::tensor::ExtractOp op);
  mlir::LogicalResult visitStructural(mlir::tensor::InsertOp op);
  mlir::LogicalResult visitStructural(mlir::tensor::FromElementsOp op);
  mlir::LogicalResult visitStructural(mlir::tensor::SplatOp op);

  bool isVaried(mlir::Value v) const { return varied.contains(v); }
  /// Whether `op`'s payload reads a differentiated value from above (other
  /// than `except`).
  bool readsVariedFromAbove(mlir::linalg::GenericOp op,
                            mlir::Value except = {}) const;
  mlir::Value adjointOf(mlir::Value v) const { return adjoints.lookup(v); }
  void accumulate(mlir::Value v, mlir::Value contribution);

  // Tensor helpers, at the builder's insertion point.
  mlir::Value emptyLike(mlir::Location loc, mlir::Value v);
  mlir::Value zerosLike(mlir::Location loc, mlir::Value v);
  mlir::Value addTensors(mlir::Location loc, mlir::Value x, mlir::Value y);
  mlir::Value sumAll(mlir::Location loc, mlir::Value t);
  mlir::SmallVector<mlir::AffineMap> identityMaps(unsigned rank, unsigned n);

  mlir::func::FuncOp fn;
  const llvm::DenseSet<mlir::Value> &ste;
  CallAdjoints &calls;
  mlir::OpBuilder b;
  /// Primal calls replaced by calls of their forward (saved state), erased
  /// after the sweep.
  llvm::SmallVector<mlir::Operation *> replacedCalls;
  llvm::DenseSet<mlir::Value> varied;
  llvm::DenseMap<mlir::Value, mlir::Value> adjoints;
};

} // namespace onebit::autodiff

#endif // ONEBIT_LIB_DIALECT_ONEBIT_TRANSFORMS_REVERSEMODE_H
