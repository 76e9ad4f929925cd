//===- ReverseModeScalarRules.cpp - reverse-mode AD: scalar derivatives ---===//
//
// Derivative rules of scalar arith and math ops, written once as forward-mode
// tangent rules: the reverse sweep applies them to scalar ops with a unit
// tangent per operand, and the generic adjoints apply them inside payloads,
// so both agree by construction.
//
//===----------------------------------------------------------------------===//

#include "ReverseMode.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace onebit::autodiff;

Value ScalarMath::materialize(Tan t, Type type) {
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

Tan ScalarMath::neg(Tan t) {
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

Tan ScalarMath::add(Tan x, Tan y, Type type) {
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

Tan ScalarMath::mul(Tan t, Value v) {
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

Tan ScalarMath::div(Tan t, Value v) {
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

Tan ScalarMath::select(Value cond, Tan x, Tan y, Type type) {
  if (x.isZero() && y.isZero())
    return Tan::zero();
  return Tan::of(arith::SelectOp::create(b, loc, cond, materialize(x, type),
                                         materialize(y, type)));
}

Tan ScalarMath::convert(Tan t, Type to) {
  if (t.kind != Tan::Val || t.v.getType() == to)
    return t;
  if (to.getIntOrFloatBitWidth() > t.v.getType().getIntOrFloatBitWidth())
    return Tan::of(arith::ExtFOp::create(b, loc, to, t.v));
  return Tan::of(arith::TruncFOp::create(b, loc, to, t.v));
}

FailureOr<Tan> onebit::autodiff::tangentRule(ScalarMath &m, Operation *op,
                                             ArrayRef<Tan> tans) {
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
