//===- ReverseMode.cpp - reverse-mode AD of linalg-on-tensors functions ---===//
//
// Builds the gradient function of a scalar loss. The function is first put in
// a normal form (named linalg ops generalised, linalg.softmax decomposed,
// elementwise arith/math on tensors turned into linalg.generic, the training
// form of the 1-bit layer decomposed), then its ops are visited in reverse
// and each emits the vector-Jacobian product of its operands:
//
//  * linalg.generic: for every differentiated operand j, one adjoint generic
//    over the same iteration space. Its payload recomputes the primal payload,
//    propagates a unit tangent from operand j through it (forward mode on
//    scalars), multiplies by the output adjoint and accumulates into an
//    output indexed by operand j's map. Loops absent from that map become
//    reductions, so broadcasts turn into sums, reductions into broadcasts,
//    and contractions into contractions of the adjoint with the other
//    operands. Reductions must be `acc <combiner> expr` with combiner addf
//    (sum) or max/min (the adjoint flows through an equality mask).
//  * tensor structural ops have structural adjoints.
//  * scalar arith/math ops use the same derivative rules as payloads.
//
// Adjoints of values used several times accumulate, preferably in place (a
// later adjoint generic takes the running adjoint as its init).
//
//===----------------------------------------------------------------------===//

#include "onebit/Dialect/OneBit/Transforms/Autodiff.h"
#include "onebit/Dialect/OneBit/IR/OneBit.h"
#include "onebit/Dialect/OneBit/Transforms/TrainForm.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/CSE.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::onebit;

namespace {

/// Floating-point scalars and ranked tensors of them carry adjoints.
bool isDifferentiable(Type t) {
  if (isa<FloatType>(t))
    return true;
  auto rt = dyn_cast<RankedTensorType>(t);
  return rt && isa<FloatType>(rt.getElementType());
}

//===----------------------------------------------------------------------===//
// Scalar derivative arithmetic
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

  Value materialize(Tan t, Type type) {
    switch (t.kind) {
    case Tan::Zero:
      return cst(type, 0.0);
    case Tan::One:
      return cst(type, 1.0);
    case Tan::MinusOne:
      return cst(type, -1.0);
    case Tan::Val:
      return t.v;
    }
    llvm_unreachable("tangent kind");
  }

  Tan neg(Tan t) {
    switch (t.kind) {
    case Tan::Zero:
      return t;
    case Tan::One:
      return {Tan::MinusOne, {}};
    case Tan::MinusOne:
      return Tan::one();
    case Tan::Val:
      return Tan::of(neg(t.v));
    }
    llvm_unreachable("tangent kind");
  }

  Tan add(Tan x, Tan y, Type type) {
    if (x.isZero())
      return y;
    if (y.isZero())
      return x;
    if (x.kind == Tan::MinusOne && y.kind == Tan::Val)
      return Tan::of(sub(y.v, cst(type, 1.0)) /*y - 1*/);
    if (y.kind == Tan::MinusOne && x.kind == Tan::Val)
      return Tan::of(sub(x.v, cst(type, 1.0)));
    return Tan::of(add(materialize(x, type), materialize(y, type)));
  }

  /// t * v.
  Tan mul(Tan t, Value v) {
    switch (t.kind) {
    case Tan::Zero:
      return t;
    case Tan::One:
      return Tan::of(v);
    case Tan::MinusOne:
      return Tan::of(neg(v));
    case Tan::Val:
      return Tan::of(mul(t.v, v));
    }
    llvm_unreachable("tangent kind");
  }

  /// t / v.
  Tan div(Tan t, Value v) {
    switch (t.kind) {
    case Tan::Zero:
      return t;
    case Tan::One:
      return Tan::of(div(cst(v.getType(), 1.0), v));
    case Tan::MinusOne:
      return Tan::of(div(cst(v.getType(), -1.0), v));
    case Tan::Val:
      return Tan::of(div(t.v, v));
    }
    llvm_unreachable("tangent kind");
  }

  Tan select(Value cond, Tan x, Tan y, Type type) {
    if (x.isZero() && y.isZero())
      return Tan::zero();
    return Tan::of(arith::SelectOp::create(b, loc, cond, materialize(x, type),
                                           materialize(y, type)));
  }

  /// Converts a tangent to another float type (extf / truncf).
  Tan convert(Tan t, Type to) {
    if (t.kind != Tan::Val || t.v.getType() == to)
      return t;
    if (to.getIntOrFloatBitWidth() > t.v.getType().getIntOrFloatBitWidth())
      return Tan::of(arith::ExtFOp::create(b, loc, to, t.v));
    return Tan::of(arith::TruncFOp::create(b, loc, to, t.v));
  }

  Value convert(Value v, Type to) {
    return convert(Tan::of(v), to).v;
  }

  OpBuilder &b;
  Location loc;
};

/// The tangent of `op`'s (single, floating-point) result given the tangents
/// of its operands; `op`'s operands and result are the values the derivative
/// may use. Fails for ops without a rule.
FailureOr<Tan> tangentRule(ScalarMath &m, Operation *op, ArrayRef<Tan> tans) {
  if (op->getNumResults() != 1 || !isa<FloatType>(op->getResult(0).getType()))
    return failure();
  Value r = op->getResult(0);
  Type ty = r.getType();
  auto a = [&](unsigned i) { return op->getOperand(i); };
  auto t = [&](unsigned i) { return i < tans.size() ? tans[i] : Tan::zero(); };
  OpBuilder &b = m.b;
  Location loc = m.loc;
  using R = FailureOr<Tan>;
  return llvm::TypeSwitch<Operation *, R>(op)
      .Case<arith::AddFOp>([&](auto) -> R { return m.add(t(0), t(1), ty); })
      .Case<arith::SubFOp>(
          [&](auto) -> R { return m.add(t(0), m.neg(t(1)), ty); })
      .Case<arith::MulFOp>([&](auto) -> R {
        return m.add(m.mul(t(0), a(1)), m.mul(t(1), a(0)), ty);
      })
      .Case<arith::DivFOp>([&](auto) -> R {
        // d(a/b) = (da - r db) / b
        return m.div(m.add(t(0), m.neg(m.mul(t(1), r)), ty), a(1));
      })
      .Case<arith::NegFOp>([&](auto) -> R { return m.neg(t(0)); })
      .Case<arith::MaximumFOp, arith::MaxNumFOp>([&](auto) -> R {
        Value c = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE,
                                        a(0), a(1));
        return m.select(c, t(0), t(1), ty);
      })
      .Case<arith::MinimumFOp, arith::MinNumFOp>([&](auto) -> R {
        Value c = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLE,
                                        a(0), a(1));
        return m.select(c, t(0), t(1), ty);
      })
      .Case<arith::SelectOp>([&](auto) -> R {
        if (!a(0).getType().isInteger(1))
          return failure();
        return m.select(a(0), t(1), t(2), ty);
      })
      .Case<arith::ExtFOp, arith::TruncFOp>(
          [&](auto) -> R { return m.convert(t(0), ty); })
      .Case<arith::ConstantOp, arith::SIToFPOp, arith::UIToFPOp, math::FloorOp,
            math::CeilOp, math::RoundOp, math::RoundEvenOp, math::TruncOp>(
          [&](auto) -> R { return Tan::zero(); })
      .Case<math::ExpOp>([&](auto) -> R { return m.mul(t(0), r); })
      .Case<math::Exp2Op>([&](auto) -> R {
        return m.mul(t(0), m.mul(r, m.cst(ty, std::log(2.0))));
      })
      .Case<math::ExpM1Op>(
          [&](auto) -> R { return m.mul(t(0), m.add(r, m.cst(ty, 1.0))); })
      .Case<math::LogOp>([&](auto) -> R { return m.div(t(0), a(0)); })
      .Case<math::Log2Op>([&](auto) -> R {
        return m.div(t(0), m.mul(a(0), m.cst(ty, std::log(2.0))));
      })
      .Case<math::Log10Op>([&](auto) -> R {
        return m.div(t(0), m.mul(a(0), m.cst(ty, std::log(10.0))));
      })
      .Case<math::Log1pOp>(
          [&](auto) -> R { return m.div(t(0), m.add(a(0), m.cst(ty, 1.0))); })
      .Case<math::TanhOp>([&](auto) -> R {
        return m.mul(t(0), m.sub(m.cst(ty, 1.0), m.mul(r, r)));
      })
      .Case<math::RsqrtOp>([&](auto) -> R {
        // d rsqrt(a) = -1/2 a^(-3/2) = -1/2 r^3
        return m.mul(t(0), m.mul(m.mul(m.mul(r, r), r), m.cst(ty, -0.5)));
      })
      .Case<math::SqrtOp>([&](auto) -> R {
        return m.div(t(0), m.mul(r, m.cst(ty, 2.0)));
      })
      .Case<math::PowFOp>([&](auto) -> R {
        Tan d0, d1;
        if (!t(0).isZero()) {
          Value em1 = m.sub(a(1), m.cst(ty, 1.0));
          d0 = m.mul(t(0),
                     m.mul(a(1), math::PowFOp::create(b, loc, a(0), em1)));
        }
        if (!t(1).isZero())
          d1 = m.mul(t(1), m.mul(r, math::LogOp::create(b, loc, a(0))));
        return m.add(d0, d1, ty);
      })
      .Case<math::FPowIOp>([&](auto) -> R {
        Value n = a(1);
        Value one = arith::ConstantOp::create(
            b, loc, b.getIntegerAttr(n.getType(), 1));
        Value nm1 = arith::SubIOp::create(b, loc, n, one);
        Value nf = arith::SIToFPOp::create(b, loc, ty, n);
        return m.mul(t(0),
                     m.mul(nf, math::FPowIOp::create(b, loc, a(0), nm1)));
      })
      .Case<math::ErfOp, math::ErfcOp>([&](auto) -> R {
        // d erf(a) = 2/sqrt(pi) exp(-a^2)
        double c = 2.0 / std::sqrt(M_PI);
        if (isa<math::ErfcOp>(op))
          c = -c;
        Value e = math::ExpOp::create(b, loc, m.neg(m.mul(a(0), a(0))));
        return m.mul(t(0), m.mul(e, m.cst(ty, c)));
      })
      .Case<math::AbsFOp>([&](auto) -> R {
        return m.mul(t(0),
                     math::CopySignOp::create(b, loc, m.cst(ty, 1.0), a(0)));
      })
      .Case<math::CopySignOp>([&](auto) -> R {
        // copysign(a, b) = |a| sgn(b): d/da = sgn(a) sgn(b) (b: no tangent).
        Value s0 = math::CopySignOp::create(b, loc, m.cst(ty, 1.0), a(0));
        Value s1 = math::CopySignOp::create(b, loc, m.cst(ty, 1.0), a(1));
        return m.mul(t(0), m.mul(s0, s1));
      })
      .Case<math::SinOp>([&](auto) -> R {
        return m.mul(t(0), math::CosOp::create(b, loc, a(0)));
      })
      .Case<math::CosOp>([&](auto) -> R {
        return m.mul(t(0), m.neg(math::SinOp::create(b, loc, a(0))));
      })
      .Case<math::AtanOp>([&](auto) -> R {
        return m.div(t(0), m.add(m.mul(a(0), a(0)), m.cst(ty, 1.0)));
      })
      .Case<math::FmaOp>([&](auto) -> R {
        return m.add(m.add(m.mul(t(0), a(1)), m.mul(t(1), a(0)), ty), t(2),
                     ty);
      })
      .Case<arith::RemFOp>([&](auto) -> R {
        // remf(a, b) = a - trunc(a/b) b
        Tan d1;
        if (!t(1).isZero())
          d1 = m.mul(t(1),
                     m.neg(math::TruncOp::create(b, loc, m.div(a(0), a(1)))));
        return m.add(t(0), d1, ty);
      })
      .Default([&](Operation *) -> R { return failure(); });
}

//===----------------------------------------------------------------------===//
// The reverse pass
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
  LogicalResult visitGeneric(linalg::GenericOp op);
  LogicalResult visitSte(linalg::GenericOp op);
  LogicalResult visitGather(linalg::GenericOp op, tensor::ExtractOp read);
  LogicalResult emitOperandAdjoint(linalg::GenericOp op, unsigned operand,
                                   ArrayRef<GenericOutput> outs);
  LogicalResult visitScalar(Operation *op);

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

SmallVector<AffineMap> ReverseMode::identityMaps(unsigned rank, unsigned n) {
  return SmallVector<AffineMap>(
      n, AffineMap::getMultiDimIdentityMap(rank, b.getContext()));
}

Value ReverseMode::emptyLike(Location loc, Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, v);
  return tensor::EmptyOp::create(b, loc, sizes, type.getElementType());
}

Value ReverseMode::zerosLike(Location loc, Value v) {
  Type et = getElementTypeOrSelf(v.getType());
  Value zero = arith::ConstantOp::create(b, loc, b.getFloatAttr(et, 0.0));
  if (isa<FloatType>(v.getType()))
    return zero;
  return linalg::FillOp::create(b, loc, zero, emptyLike(loc, v)).getResult(0);
}

Value ReverseMode::addTensors(Location loc, Value x, Value y) {
  auto type = cast<RankedTensorType>(x.getType());
  unsigned rank = type.getRank();
  SmallVector<utils::IteratorType> its(rank, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, type, ValueRange{x, y}, ValueRange{emptyLike(loc, x)},
             identityMaps(rank, 3), its,
             [](OpBuilder &nb, Location l, ValueRange args) {
               Value s = arith::AddFOp::create(nb, l, args[0], args[1]);
               linalg::YieldOp::create(nb, l, s);
             })
      .getResult(0);
}

/// The sum of every element of `t`, as a scalar.
Value ReverseMode::sumAll(Location loc, Value t) {
  auto type = cast<RankedTensorType>(t.getType());
  Type et = type.getElementType();
  unsigned rank = type.getRank();
  Value zero = arith::ConstantOp::create(b, loc, b.getFloatAttr(et, 0.0));
  Value init = linalg::FillOp::create(
                   b, loc, zero,
                   tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{}, et)
                       .getResult())
                   .getResult(0);
  SmallVector<AffineMap> maps = {
      AffineMap::getMultiDimIdentityMap(rank, b.getContext()),
      AffineMap::get(rank, 0, {}, b.getContext())};
  SmallVector<utils::IteratorType> its(rank, utils::IteratorType::reduction);
  Value r = linalg::GenericOp::create(
                b, loc, init.getType(), ValueRange{t}, ValueRange{init}, maps,
                its,
                [](OpBuilder &nb, Location l, ValueRange args) {
                  Value s = arith::AddFOp::create(nb, l, args[1], args[0]);
                  linalg::YieldOp::create(nb, l, s);
                })
                .getResult(0);
  return tensor::ExtractOp::create(b, loc, r, ValueRange{});
}

void ReverseMode::accumulate(Value v, Value c) {
  Location loc = v.getLoc();
  if (c.getType() != v.getType())
    c = tensor::CastOp::create(b, loc, v.getType(), c);
  Value existing = adjointOf(v);
  if (!existing) {
    adjoints[v] = c;
    return;
  }
  if (isa<FloatType>(v.getType()))
    adjoints[v] = arith::AddFOp::create(b, loc, existing, c);
  else
    adjoints[v] = addTensors(loc, existing, c);
}

LogicalResult ReverseMode::run(ArrayRef<unsigned> wrt) {
  Block &block = fn.getBody().front();
  auto ret = cast<func::ReturnOp>(block.getTerminator());

  // Activity: values that depend on a differentiated argument.
  for (unsigned i : wrt)
    varied.insert(block.getArgument(i));
  for (Operation &op : block.without_terminator()) {
    bool uses = false;
    op.walk([&](Operation *nested) {
      for (Value v : nested->getOperands())
        if (varied.contains(v))
          uses = true;
    });
    if (!uses)
      continue;
    for (Value r : op.getResults())
      if (isDifferentiable(r.getType()))
        varied.insert(r);
  }

  // Seed: d loss / d loss = 1.
  b.setInsertionPoint(ret);
  Value loss = ret.getOperand(0);
  Location loc = ret.getLoc();
  Value seed;
  if (auto ft = dyn_cast<FloatType>(loss.getType()))
    seed = arith::ConstantOp::create(b, loc, b.getFloatAttr(ft, 1.0));
  else {
    auto tt = cast<RankedTensorType>(loss.getType());
    seed = arith::ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(tt, b.getFloatAttr(tt.getElementType(), 1.0)));
  }
  adjoints[loss] = seed;

  SmallVector<Operation *> ops;
  for (Operation &op : block.without_terminator())
    ops.push_back(&op);
  for (Operation *op : llvm::reverse(ops))
    if (failed(visit(op)))
      return failure();

  SmallVector<Value> results(ret.getOperands());
  for (unsigned i : wrt) {
    Value arg = block.getArgument(i);
    Value g = adjointOf(arg);
    results.push_back(g ? g : zerosLike(loc, arg));
  }
  ret->setOperands(results);
  fn.setType(FunctionType::get(fn.getContext(), block.getArgumentTypes(),
                               ValueRange(results).getTypes()));
  return success();
}

LogicalResult ReverseMode::visit(Operation *op) {
  bool hasAdjoint = llvm::any_of(op->getResults(), [&](Value r) {
    return static_cast<bool>(adjointOf(r));
  });
  if (!hasAdjoint)
    return success();
  bool anyVaried = false;
  op->walk([&](Operation *nested) {
    for (Value v : nested->getOperands())
      anyVaried |= isVaried(v);
  });
  if (!anyVaried)
    return success();

  b.setInsertionPoint(fn.getBody().front().getTerminator());
  Location loc = op->getLoc();
  auto fail = [&]() {
    return op->emitOpError(
        "autodiff: no reverse-mode rule for this op (supported: "
        "linalg ops, tensor.expand_shape/collapse_shape/reshape/cast/"
        "extract_slice/insert_slice/concat/pad/extract/insert/"
        "from_elements/splat, scalar arith and math ops, "
        "onebit.binary_linear_train)");
  };

  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case<linalg::GenericOp>([&](linalg::GenericOp g) {
        if (g->getNumResults() == 1 && ste.contains(g->getResult(0)))
          return visitSte(g);
        return visitGeneric(g);
      })
      .Case<linalg::FillOp>([&](linalg::FillOp f) {
        Value v = f.getInputs()[0];
        if (isVaried(v)) {
          ScalarMath m(b, loc);
          accumulate(v, m.convert(sumAll(loc, adjointOf(f.getResult(0))),
                                  v.getType()));
        }
        return success();
      })
      .Case<tensor::ExpandShapeOp>([&](tensor::ExpandShapeOp e) {
        Value d = adjointOf(e.getResult());
        accumulate(e.getSrc(),
                   tensor::CollapseShapeOp::create(b, loc, e.getSrcType(), d,
                                                   e.getReassociationIndices()));
        return success();
      })
      .Case<tensor::CollapseShapeOp>([&](tensor::CollapseShapeOp c) {
        Value d = adjointOf(c.getResult());
        SmallVector<OpFoldResult> shape =
            tensor::getMixedSizes(b, loc, c.getSrc());
        accumulate(c.getSrc(), tensor::ExpandShapeOp::create(
                                   b, loc, c.getSrcType(), d,
                                   c.getReassociationIndices(), shape));
        return success();
      })
      .Case<tensor::ReshapeOp>([&](tensor::ReshapeOp r) {
        Value d = adjointOf(r.getResult());
        Value src = r.getSource();
        auto shapeType = r.getShape().getType();
        Type it = shapeType.getElementType();
        SmallVector<Value> dims;
        for (OpFoldResult s : tensor::getMixedSizes(b, loc, src)) {
          Value v = getValueOrCreateConstantIndexOp(b, loc, s);
          if (!it.isIndex())
            v = arith::IndexCastOp::create(b, loc, it, v);
          dims.push_back(v);
        }
        Value shape = tensor::FromElementsOp::create(b, loc, dims);
        accumulate(src, tensor::ReshapeOp::create(b, loc, src.getType(), d,
                                                  shape));
        return success();
      })
      .Case<tensor::CastOp>([&](tensor::CastOp c) {
        accumulate(c.getSource(),
                   tensor::CastOp::create(b, loc, c.getSource().getType(),
                                          adjointOf(c.getResult())));
        return success();
      })
      .Case<tensor::ExtractSliceOp>([&](tensor::ExtractSliceOp s) {
        Value d = adjointOf(s.getResult());
        Value src = s.getSource();
        if (Value cur = adjointOf(src)) {
          // Add into the running adjoint's window in place.
          Value win = tensor::ExtractSliceOp::create(
              b, loc, s.getType(), cur, s.getMixedOffsets(),
              s.getMixedSizes(), s.getMixedStrides());
          Value sum = addTensors(loc, win, d);
          adjoints[src] = tensor::InsertSliceOp::create(
              b, loc, sum, cur, s.getMixedOffsets(), s.getMixedSizes(),
              s.getMixedStrides());
          return success();
        }
        adjoints[src] = tensor::InsertSliceOp::create(
            b, loc, d, zerosLike(loc, src), s.getMixedOffsets(),
            s.getMixedSizes(), s.getMixedStrides());
        return success();
      })
      .Case<tensor::InsertSliceOp>([&](tensor::InsertSliceOp s) {
        Value d = adjointOf(s.getResult());
        if (isVaried(s.getSource()))
          accumulate(s.getSource(),
                     tensor::ExtractSliceOp::create(
                         b, loc, s.getSourceType(), d, s.getMixedOffsets(),
                         s.getMixedSizes(), s.getMixedStrides()));
        if (isVaried(s.getDest()))
          accumulate(s.getDest(),
                     tensor::InsertSliceOp::create(
                         b, loc, zerosLike(loc, s.getSource()), d,
                         s.getMixedOffsets(), s.getMixedSizes(),
                         s.getMixedStrides()));
        return success();
      })
      .Case<tensor::ConcatOp>([&](tensor::ConcatOp c) {
        Value d = adjointOf(c.getResult());
        int64_t dim = c.getDim();
        OpFoldResult offset = b.getIndexAttr(0);
        for (Value in : c.getInputs()) {
          auto type = cast<RankedTensorType>(in.getType());
          SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, in);
          SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
          SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
          offsets[dim] = offset;
          if (isVaried(in))
            accumulate(in, tensor::ExtractSliceOp::create(
                               b, loc, type, d, offsets, sizes, strides));
          std::optional<int64_t> o = getConstantIntValue(offset);
          std::optional<int64_t> n = getConstantIntValue(sizes[dim]);
          if (o && n)
            offset = b.getIndexAttr(*o + *n);
          else
            offset = arith::AddIOp::create(
                         b, loc, getValueOrCreateConstantIndexOp(b, loc, offset),
                         getValueOrCreateConstantIndexOp(b, loc, sizes[dim]))
                         .getResult();
        }
        return success();
      })
      .Case<tensor::PadOp>([&](tensor::PadOp p) {
        Value pad = p.getConstantPaddingValue();
        if (!pad || isVaried(pad))
          return p->emitOpError(
                     "autodiff: only a padding value that does not depend "
                     "on the differentiated arguments is supported"),
                 failure();
        Value src = p.getSource();
        auto type = cast<RankedTensorType>(src.getType());
        SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
        accumulate(src, tensor::ExtractSliceOp::create(
                            b, loc, type, adjointOf(p.getResult()),
                            p.getMixedLowPad(),
                            tensor::getMixedSizes(b, loc, src), strides));
        return success();
      })
      .Case<tensor::ExtractOp>([&](tensor::ExtractOp e) {
        Value d = adjointOf(e.getResult());
        Value t = e.getTensor();
        if (Value cur = adjointOf(t)) {
          Value old = tensor::ExtractOp::create(b, loc, cur, e.getIndices());
          Value sum = arith::AddFOp::create(b, loc, old, d);
          adjoints[t] =
              tensor::InsertOp::create(b, loc, sum, cur, e.getIndices());
        } else {
          adjoints[t] = tensor::InsertOp::create(b, loc, d, zerosLike(loc, t),
                                                 e.getIndices());
        }
        return success();
      })
      .Case<tensor::InsertOp>([&](tensor::InsertOp ins) {
        Value d = adjointOf(ins.getResult());
        if (isVaried(ins.getScalar()))
          accumulate(ins.getScalar(),
                     tensor::ExtractOp::create(b, loc, d, ins.getIndices()));
        if (isVaried(ins.getDest()))
          accumulate(ins.getDest(),
                     tensor::InsertOp::create(b, loc,
                                              zerosLike(loc, ins.getScalar()),
                                              d, ins.getIndices()));
        return success();
      })
      .Case<tensor::FromElementsOp>([&](tensor::FromElementsOp f) {
        Value d = adjointOf(f.getResult());
        ArrayRef<int64_t> shape = f.getType().getShape();
        for (auto [i, e] : llvm::enumerate(f.getElements())) {
          if (!isVaried(e))
            continue;
          SmallVector<Value> idx(shape.size());
          int64_t rest = i;
          for (int64_t k = shape.size() - 1; k >= 0; --k) {
            idx[k] = arith::ConstantIndexOp::create(b, loc, rest % shape[k]);
            rest /= shape[k];
          }
          accumulate(e, tensor::ExtractOp::create(b, loc, d, idx));
        }
        return success();
      })
      .Case<tensor::SplatOp>([&](tensor::SplatOp s) {
        accumulate(s.getInput(), sumAll(loc, adjointOf(s.getResult())));
        return success();
      })
      .Default([&](Operation *o) -> LogicalResult {
        if (o->getNumRegions() == 0 && o->getNumResults() == 1 &&
            isa<FloatType>(o->getResult(0).getType()))
          return visitScalar(o);
        return fail();
      });
}

LogicalResult ReverseMode::visitScalar(Operation *op) {
  Value d = adjointOf(op->getResult(0));
  ScalarMath m(b, op->getLoc());
  for (auto [i, operand] : llvm::enumerate(op->getOperands())) {
    if (!isVaried(operand) || !isa<FloatType>(operand.getType()))
      continue;
    SmallVector<Tan> tans(op->getNumOperands());
    tans[i] = Tan::one();
    FailureOr<Tan> t = tangentRule(m, op, tans);
    if (failed(t))
      return op->emitOpError("autodiff: no derivative rule for this op");
    if (t->isZero())
      continue;
    Value c = m.mul(m.convert(*t, d.getType()), d).v;
    accumulate(operand, m.convert(c, operand.getType()));
  }
  return success();
}

LogicalResult ReverseMode::visitSte(linalg::GenericOp op) {
  // sign(w) forward, grad * (1.001 - tanh(w)^2) backward.
  Value w = op.getDpsInputOperand(0)->get();
  if (!isVaried(w))
    return success();
  Location loc = op.getLoc();
  Value d = adjointOf(op.getResult(0));
  Value existing = adjointOf(w);
  Value init = existing ? existing : emptyLike(loc, w);
  unsigned rank = cast<RankedTensorType>(w.getType()).getRank();
  SmallVector<utils::IteratorType> its(rank, utils::IteratorType::parallel);
  Value r =
      linalg::GenericOp::create(
          b, loc, w.getType(), ValueRange{w, d}, ValueRange{init},
          identityMaps(rank, 3), its,
          [&](OpBuilder &nb, Location l, ValueRange args) {
            ScalarMath m(nb, l);
            Type t = args[0].getType();
            Value th = math::TanhOp::create(nb, l, args[0]);
            Value f = m.sub(m.cst(t, 1.001), m.mul(th, th));
            Value c = m.mul(args[1], f);
            if (existing)
              c = m.add(args[2], c);
            linalg::YieldOp::create(nb, l, c);
          })
          .getResult(0);
  adjoints[w] = r;
  return success();
}

bool ReverseMode::readsVariedFromAbove(linalg::GenericOp op,
                                       Value except) const {
  return op.getRegion()
      .walk([&](Operation *nested) {
        for (Value v : nested->getOperands())
          if (v != except && isVaried(v))
            return WalkResult::interrupt();
        return WalkResult::advance();
      })
      .wasInterrupted();
}

/// The adjoint of a gather `out[i] = T[idx(i)]` (T from above, idx from the
/// op's integer operands and linalg.index): dT[idx(i)] += dout[i] for every
/// point i of the iteration space, by an scf.for nest that recomputes the
/// indices from the payload. Only the tensor read from above gets an adjoint
/// (the yielded value depends on nothing else).
LogicalResult ReverseMode::visitGather(linalg::GenericOp op,
                                       tensor::ExtractOp read) {
  Location loc = op.getLoc();
  Value table = read.getTensor();
  Value d = adjointOf(op.getResult(0));
  if (readsVariedFromAbove(op, table))
    return op.emitOpError(
        "autodiff: a gather whose payload also reads another differentiated "
        "value from above is not supported");
  for (AffineMap m : op.getIndexingMapsArray())
    for (AffineExpr e : m.getResults())
      if (!isa<AffineDimExpr, AffineConstantExpr>(e))
        return op.emitOpError("autodiff: a gather's indexing maps must be "
                              "projections (dims or constants)");

  SmallVector<Range, 4> ranges =
      cast<linalg::LinalgOp>(op.getOperation()).createLoopRanges(b, loc);
  SmallVector<Value> lbs, ubs, steps;
  for (Range &r : ranges) {
    lbs.push_back(getValueOrCreateConstantIndexOp(b, loc, r.offset));
    ubs.push_back(getValueOrCreateConstantIndexOp(b, loc, r.size));
    steps.push_back(getValueOrCreateConstantIndexOp(b, loc, r.stride));
  }
  Value init = adjointOf(table);
  if (!init)
    init = zerosLike(loc, table);
  Block &body = op.getRegion().front();
  auto at = [&](OpBuilder &nb, Location l, AffineMap m, ValueRange ivs) {
    SmallVector<Value> idx;
    for (AffineExpr e : m.getResults()) {
      if (auto dim = dyn_cast<AffineDimExpr>(e))
        idx.push_back(ivs[dim.getPosition()]);
      else
        idx.push_back(arith::ConstantIndexOp::create(
            nb, l, cast<AffineConstantExpr>(e).getValue()));
    }
    return idx;
  };
  scf::LoopNest nest = scf::buildLoopNest(
      b, loc, lbs, ubs, steps, ValueRange{init},
      [&](OpBuilder &nb, Location l, ValueRange ivs,
          ValueRange iter) -> scf::ValueVector {
        IRMapping map;
        for (OpOperand &operand : op->getOpOperands()) {
          BlockArgument arg = body.getArgument(operand.getOperandNumber());
          if (arg.use_empty())
            continue;
          map.map(arg, tensor::ExtractOp::create(
                           nb, l, operand.get(),
                           at(nb, l, op.getMatchingIndexingMap(&operand), ivs)));
        }
        for (Operation &inner : body.without_terminator()) {
          if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
            map.map(index.getResult(), ivs[index.getDim()]);
            continue;
          }
          if (&inner == read.getOperation())
            break;
          nb.clone(inner, map);
        }
        SmallVector<Value> idx;
        for (Value v : read.getIndices())
          idx.push_back(map.lookupOrDefault(v));
        Value dy = tensor::ExtractOp::create(
            nb, l, d,
            at(nb, l, op.getMatchingIndexingMap(op.getDpsInitOperand(0)), ivs));
        Value old = tensor::ExtractOp::create(nb, l, iter[0], idx);
        Value sum = arith::AddFOp::create(nb, l, old, dy);
        return {tensor::InsertOp::create(nb, l, sum, iter[0], idx)};
      });
  adjoints[table] = nest.results[0];
  return success();
}

LogicalResult ReverseMode::visitGeneric(linalg::GenericOp op) {
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  unsigned nIn = op.getNumDpsInputs();
  bool reduction = op.getNumReductionLoops() > 0;

  // A gather: the payload yields an element of a differentiated tensor
  // from above, read at data-dependent indices.
  if (op.getNumDpsInits() == 1 && !reduction)
    if (auto read = yield.getOperand(0).getDefiningOp<tensor::ExtractOp>())
      if (read->getParentOp() == op && isVaried(read.getTensor()) &&
          !op.getRegion().isAncestor(read.getTensor().getParentRegion()))
        return visitGather(op, read);

  // A payload that reads a differentiated value from above hides a data
  // dependence the maps do not describe.
  if (readsVariedFromAbove(op))
    return op.emitOpError(
        "autodiff: the payload uses a value defined outside the op that "
        "depends on the differentiated arguments; pass it as an operand");

  SmallVector<GenericOutput> outs;
  for (unsigned k = 0, e = op.getNumDpsInits(); k < e; ++k) {
    Value d = adjointOf(op.getResult(k));
    if (!d)
      continue;
    Value y = yield.getOperand(k);
    if (!reduction) {
      outs.push_back({k, GenericOutput::Elementwise, y, nullptr, d});
      continue;
    }
    BlockArgument acc = body.getArgument(nIn + k);
    Operation *comb = y.getDefiningOp();
    GenericOutput::Kind kind;
    bool ok = comb && comb->getBlock() == &body &&
              comb->getNumOperands() == 2 && acc.hasOneUse() &&
              comb->hasOneUse() &&
              (comb->getOperand(0) == acc) != (comb->getOperand(1) == acc);
    if (ok) {
      if (isa<arith::AddFOp>(comb))
        kind = GenericOutput::Sum;
      else if (isa<arith::MaximumFOp, arith::MaxNumFOp>(comb))
        kind = GenericOutput::Max;
      else if (isa<arith::MinimumFOp, arith::MinNumFOp>(comb))
        kind = GenericOutput::Min;
      else
        ok = false;
    }
    if (!ok)
      return op.emitOpError()
             << "autodiff: the payload of reduction output #" << k
             << " is not `acc <combiner> expr` with combiner arith.addf, "
                "arith.maximumf/maxnumf or arith.minimumf/minnumf";
    Value expr = comb->getOperand(0) == acc ? comb->getOperand(1)
                                            : comb->getOperand(0);
    outs.push_back({k, kind, expr, comb, d});
  }
  if (outs.empty())
    return success();

  for (unsigned j = 0, e = op->getNumOperands(); j < e; ++j) {
    Value v = op->getOperand(j);
    if (!isVaried(v))
      continue;
    if (j >= nIn && reduction) {
      // The init of a reduction: sum -> the adjoint itself; max/min -> the
      // adjoint where the init won.
      unsigned k = j - nIn;
      const GenericOutput *o = llvm::find_if(
          outs, [&](const GenericOutput &x) { return x.index == k; });
      if (o == outs.end())
        continue;
      if (o->kind == GenericOutput::Sum) {
        accumulate(v, o->adjoint);
        continue;
      }
      Location loc = op.getLoc();
      unsigned rank = cast<RankedTensorType>(v.getType()).getRank();
      SmallVector<utils::IteratorType> its(rank,
                                           utils::IteratorType::parallel);
      Value r = op.getResult(k);
      Value masked =
          linalg::GenericOp::create(
              b, loc, v.getType(), ValueRange{v, r, o->adjoint},
              ValueRange{emptyLike(loc, v)}, identityMaps(rank, 4), its,
              [&](OpBuilder &nb, Location l, ValueRange args) {
                ScalarMath m(nb, l);
                Value eq = arith::CmpFOp::create(
                    nb, l, arith::CmpFPredicate::OEQ, args[0], args[1]);
                Value z = m.cst(args[2].getType(), 0.0);
                linalg::YieldOp::create(
                    nb, l,
                    Value(arith::SelectOp::create(nb, l, eq, args[2], z)));
              })
              .getResult(0);
      accumulate(v, masked);
      continue;
    }
    if (failed(emitOperandAdjoint(op, j, outs)))
      return failure();
  }
  return success();
}

LogicalResult ReverseMode::emitOperandAdjoint(linalg::GenericOp op,
                                              unsigned j,
                                              ArrayRef<GenericOutput> outs) {
  Block &body = op.getRegion().front();
  unsigned nIn = op.getNumDpsInputs();
  unsigned nOut = op.getNumDpsInits();
  bool reduction = op.getNumReductionLoops() > 0;
  BlockArgument seedArg = body.getArgument(j);
  Value primal = op->getOperand(j);
  Location loc = op.getLoc();

  // Payload values that depend on operand j.
  llvm::DenseSet<Value> dep;
  dep.insert(seedArg);
  for (Operation &o : body.without_terminator()) {
    if (llvm::any_of(o.getOperands(),
                     [&](Value v) { return dep.contains(v); }))
      for (Value r : o.getResults())
        dep.insert(r);
  }
  if (llvm::none_of(outs, [&](const GenericOutput &o) {
        return dep.contains(o.expr);
      }))
    return success();

  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  AffineMap mj = maps[j];
  if (!mj.isProjectedPermutation(/*allowZeroInResults=*/true))
    return op.emitOpError() << "autodiff: the indexing map of operand #" << j
                            << " (" << AffineMapAttr::get(mj)
                            << ") is not a projected permutation";
  unsigned nLoops = op.getNumLoops();
  SmallVector<utils::IteratorType> its(nLoops,
                                       utils::IteratorType::reduction);
  for (AffineExpr e : mj.getResults())
    if (auto d = dyn_cast<AffineDimExpr>(e))
      its[d.getPosition()] = utils::IteratorType::parallel;
  bool adjointReduces = llvm::is_contained(its, utils::IteratorType::reduction);

  // The accumulator: the running adjoint if there is one, else zeros (when
  // several iterations add into one element) or an empty tensor.
  bool scalar = !isa<ShapedType>(primal.getType());
  Type elemType = getElementTypeOrSelf(primal.getType());
  Value existing = adjointOf(primal);
  Value acc;
  bool accumulateInPlace = true;
  if (scalar) {
    auto t0 = RankedTensorType::get({}, elemType);
    acc = existing ? tensor::FromElementsOp::create(b, loc, t0, existing)
                         .getResult()
                   : linalg::FillOp::create(
                         b, loc,
                         arith::ConstantOp::create(
                             b, loc, b.getFloatAttr(elemType, 0.0))
                             .getResult(),
                         tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{},
                                                 elemType)
                             .getResult())
                         .getResult(0);
  } else if (existing) {
    acc = existing;
  } else if (adjointReduces) {
    acc = zerosLike(loc, primal);
  } else {
    acc = emptyLike(loc, primal);
    accumulateInPlace = false;
  }

  // Operands of the adjoint generic: the primal inputs, the inits whose
  // values the payload reads (elementwise ops), the results of max/min
  // reductions (for the mask) and the output adjoints.
  SmallVector<Value> ins;
  SmallVector<AffineMap> insMaps;
  for (unsigned i = 0; i < nIn; ++i) {
    ins.push_back(op->getOperand(i));
    insMaps.push_back(maps[i]);
  }
  SmallVector<int> initPos(nOut, -1);
  if (!reduction)
    for (unsigned k = 0; k < nOut; ++k)
      if (!body.getArgument(nIn + k).use_empty()) {
        initPos[k] = ins.size();
        ins.push_back(op->getOperand(nIn + k));
        insMaps.push_back(maps[nIn + k]);
      }
  SmallVector<int> resultPos(outs.size(), -1), adjPos(outs.size(), -1);
  for (auto [i, o] : llvm::enumerate(outs))
    if (o.kind == GenericOutput::Max || o.kind == GenericOutput::Min) {
      resultPos[i] = ins.size();
      ins.push_back(op.getResult(o.index));
      insMaps.push_back(maps[nIn + o.index]);
    }
  for (auto [i, o] : llvm::enumerate(outs)) {
    adjPos[i] = ins.size();
    ins.push_back(o.adjoint);
    insMaps.push_back(maps[nIn + o.index]);
  }
  insMaps.push_back(mj);

  llvm::SmallPtrSet<Operation *, 4> combiners;
  for (const GenericOutput &o : outs)
    if (o.combiner)
      combiners.insert(o.combiner);

  Operation *unsupported = nullptr;
  auto gen = linalg::GenericOp::create(
      b, loc, acc.getType(), ins, ValueRange{acc}, insMaps, its,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        IRMapping map;
        for (unsigned i = 0; i < nIn; ++i)
          map.map(body.getArgument(i), args[i]);
        for (unsigned k = 0; k < nOut; ++k)
          if (initPos[k] >= 0)
            map.map(body.getArgument(nIn + k), args[initPos[k]]);
        ScalarMath m(nb, l);
        llvm::DenseMap<Value, Tan> tans;
        tans[seedArg] = Tan::one();
        for (Operation &o : body.without_terminator()) {
          if (combiners.contains(&o))
            continue;
          Operation *c = nb.clone(o, map);
          if (!llvm::any_of(o.getOperands(),
                            [&](Value v) { return dep.contains(v); }))
            continue;
          if (o.getNumResults() != 1 ||
              !isa<FloatType>(o.getResult(0).getType()))
            continue; // comparisons, casts to integers: no tangent
          SmallVector<Tan> ot;
          for (Value v : o.getOperands())
            ot.push_back(tans.lookup(v));
          FailureOr<Tan> t = tangentRule(m, c, ot);
          if (failed(t)) {
            if (!unsupported)
              unsupported = &o;
            continue;
          }
          tans[o.getResult(0)] = *t;
        }
        Type accType = args.back().getType();
        Tan total;
        for (auto [i, o] : llvm::enumerate(outs)) {
          Tan te = tans.lookup(o.expr);
          if (te.isZero())
            continue;
          Value dy = args[adjPos[i]];
          Tan c = m.mul(m.convert(te, dy.getType()), dy);
          if (resultPos[i] >= 0) {
            Value e = map.lookupOrDefault(o.expr);
            Value eq = arith::CmpFOp::create(
                nb, l, arith::CmpFPredicate::OEQ, e, args[resultPos[i]]);
            c = m.select(eq, c, Tan::zero(), dy.getType());
          }
          total = m.add(m.convert(total, dy.getType()), c, dy.getType());
        }
        Value contrib = m.convert(m.materialize(total, accType), accType);
        if (accumulateInPlace)
          contrib = m.add(args.back(), contrib);
        linalg::YieldOp::create(nb, l, contrib);
      });
  if (unsupported) {
    gen.erase();
    return unsupported->emitOpError(
        "autodiff: no derivative rule for this op in a linalg.generic "
        "payload");
  }
  Value r = gen.getResult(0);
  if (scalar)
    r = tensor::ExtractOp::create(b, loc, r, ValueRange{});
  adjoints[primal] = r;
  return success();
}

//===----------------------------------------------------------------------===//
// Normal form
//===----------------------------------------------------------------------===//

LogicalResult normalize(func::FuncOp fn, llvm::DenseSet<Value> &ste) {
  MLIRContext *ctx = fn.getContext();
  IRRewriter rewriter(ctx);

  SmallVector<Operation *> composite;
  fn.walk([&](Operation *op) {
    if (isa<linalg::AggregatedOpInterface, BinaryLinearTrainOp>(op))
      composite.push_back(op);
  });
  for (Operation *op : composite) {
    rewriter.setInsertionPoint(op);
    if (auto train = dyn_cast<BinaryLinearTrainOp>(op)) {
      Value signs;
      FailureOr<Value> r = decomposeBinaryLinearTrain(rewriter, train, &signs);
      if (failed(r))
        return failure();
      ste.insert(signs);
      rewriter.replaceOp(op, *r);
      continue;
    }
    FailureOr<SmallVector<Value>> r =
        cast<linalg::AggregatedOpInterface>(op).decomposeOperation(rewriter);
    if (failed(r))
      return op->emitOpError("autodiff: cannot decompose this op");
    rewriter.replaceOp(op, *r);
  }

  RewritePatternSet patterns(ctx);
  linalg::populateElementwiseToLinalgConversionPatterns(patterns);
  walkAndApplyPatterns(fn, std::move(patterns));

  SmallVector<linalg::LinalgOp> named;
  fn.walk([&](linalg::LinalgOp op) {
    // A fill's init is overwritten: only its scalar can need an adjoint,
    // which the reverse pass handles on the named op.
    if (!isa<linalg::GenericOp, linalg::FillOp>(op))
      named.push_back(op);
  });
  for (linalg::LinalgOp op : named) {
    rewriter.setInsertionPoint(op);
    if (failed(linalg::generalizeNamedOp(rewriter, op)))
      return op->emitOpError("autodiff: cannot generalize this linalg op");
  }
  return success();
}

void simplify(func::FuncOp fn) {
  MLIRContext *ctx = fn.getContext();
  RewritePatternSet patterns(ctx);
  for (Dialect *d : ctx->getLoadedDialects())
    d->getCanonicalizationPatterns(patterns);
  for (RegisteredOperationName op : ctx->getRegisteredOperations())
    op.getCanonicalizationPatterns(patterns, ctx);
  // Adjoint generics take every primal input so their loop bounds are known;
  // drop the ones their payload does not read where the bounds allow.
  linalg::populateEraseUnusedOperandsAndResultsPatterns(patterns);
  (void)applyPatternsGreedily(fn.getOperation(), std::move(patterns));
  IRRewriter rewriter(ctx);
  DominanceInfo dom(fn);
  eliminateCommonSubExpressions(rewriter, dom, fn);
}

} // namespace

FailureOr<func::FuncOp>
mlir::onebit::buildGradientFunction(func::FuncOp f, ArrayRef<unsigned> wrt,
                                    const GradientOptions &options) {
  if (f.isExternal() || !f.getBody().hasOneBlock())
    return f.emitOpError("autodiff: the function must have a body of one "
                         "block");
  if (f.getNumResults() == 0)
    return f.emitOpError("autodiff: the function returns nothing; result #0 "
                         "must be the loss");
  Type lossType = f.getResultTypes()[0];
  auto lossTensor = dyn_cast<RankedTensorType>(lossType);
  bool scalarLoss =
      isa<FloatType>(lossType) ||
      (lossTensor && isa<FloatType>(lossTensor.getElementType()) &&
       lossTensor.hasStaticShape() && lossTensor.getNumElements() == 1);
  if (!scalarLoss)
    return f.emitOpError() << "autodiff: result #0 must be a floating-point "
                              "scalar or one-element tensor (the loss), got "
                           << lossType;
  for (unsigned i : wrt) {
    if (i >= f.getNumArguments())
      return f.emitOpError() << "autodiff: argument #" << i
                             << " does not exist (the function has "
                             << f.getNumArguments() << ")";
    if (!isDifferentiable(f.getArgumentTypes()[i]))
      return f.emitOpError() << "autodiff: argument #" << i << " has type "
                             << f.getArgumentTypes()[i]
                             << "; only floating-point scalars and tensors "
                                "can be differentiated";
  }

  std::string name =
      options.name.empty() ? (f.getName() + "_grad").str() : options.name;
  auto module = f->getParentOfType<ModuleOp>();
  if (module && SymbolTable::lookupSymbolIn(module, name))
    return f.emitOpError() << "autodiff: a symbol named '" << name
                           << "' already exists";

  OpBuilder b(f);
  b.setInsertionPointAfter(f);
  auto g = cast<func::FuncOp>(b.clone(*f));
  g.setName(name);

  llvm::DenseSet<Value> ste;
  if (failed(normalize(g, ste))) {
    g.erase();
    return failure();
  }
  ReverseMode rm(g, ste);
  if (failed(rm.run(wrt))) {
    g.erase();
    return failure();
  }
  if (options.simplify)
    simplify(g);
  return g;
}
