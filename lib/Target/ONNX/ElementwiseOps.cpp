//===- ElementwiseOps.cpp - ONNX unary, binary and variadic pointwise ops -===//
//
// Every op here becomes one linalg.generic with parallel loops whose maps
// implement numpy broadcasting (see Importer::elementwise).
//
//===----------------------------------------------------------------------===//

#include "Folding.h"

#include "mlir/Dialect/Math/IR/Math.h"

#include <climits>
#include <cmath>

using namespace mlir;
using namespace onebit::onnx_import;

namespace {

Type elemOf(Value v) { return cast<ShapedType>(v.getType()).getElementType(); }

/// Applies `fn` to all inputs of the node, broadcasting; the result has
/// element type `outEt` (default: the first input's).
LogicalResult pointwise(Importer &im, BodyFn fn, Type outEt = {},
                        int maxInputs = INT_MAX) {
  SmallVector<Value> ins;
  for (int i = 0, e = std::min<int>(im.node->input_size(), maxInputs); i < e;
       ++i) {
    auto v = im.input(i);
    if (failed(v))
      return failure();
    ins.push_back(*v);
  }
  if (ins.empty())
    return im.error() << "expects at least one input";
  auto r = im.elementwise(ins, outEt ? outEt : elemOf(ins[0]), fn);
  if (failed(r))
    return failure();
  im.setOutput(0, *r);
  return success();
}

bool isF(Value v) { return isa<FloatType>(v.getType()); }

Value cst(OpBuilder &b, Location l, Value like, double v) {
  return Importer::scalar(b, l, like.getType(), v);
}

#define FLOAT_ONLY(NAME)                                                       \
  if (!isa<FloatType>(elemOf(*im.input(0))))                                   \
    return im.error() << NAME " on a non-float tensor is not supported";

LogicalResult unaryMath(Importer &im,
                        Value (*fn)(OpBuilder &, Location, Value)) {
  if (failed(im.input(0)))
    return failure();
  FLOAT_ONLY("this operator")
  return pointwise(im, [&](OpBuilder &b, Location l, ValueRange a) {
    return fn(b, l, a[0]);
  });
}

#define MATH_UNARY(NAME, OP)                                                   \
  LogicalResult convert##NAME(Importer &im, const onnx::NodeProto &) {         \
    return unaryMath(im, [](OpBuilder &b, Location l, Value x) -> Value {      \
      return OP::create(b, l, x);                                              \
    });                                                                        \
  }
MATH_UNARY(Sqrt, math::SqrtOp)
MATH_UNARY(Exp, math::ExpOp)
MATH_UNARY(Log, math::LogOp)
MATH_UNARY(Tanh, math::TanhOp)
MATH_UNARY(Erf, math::ErfOp)
MATH_UNARY(Cos, math::CosOp)
MATH_UNARY(Sin, math::SinOp)
MATH_UNARY(Floor, math::FloorOp)
MATH_UNARY(Ceil, math::CeilOp)
#undef MATH_UNARY

LogicalResult convertReciprocal(Importer &im, const onnx::NodeProto &) {
  return unaryMath(im, [](OpBuilder &b, Location l, Value x) -> Value {
    return arith::DivFOp::create(b, l, cst(b, l, x, 1.0), x);
  });
}

Value sigmoid(OpBuilder &b, Location l, Value x) {
  Value e = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, x));
  Value one = cst(b, l, x, 1.0);
  return arith::DivFOp::create(b, l, one, arith::AddFOp::create(b, l, one, e));
}

LogicalResult convertSigmoid(Importer &im, const onnx::NodeProto &) {
  return unaryMath(im, sigmoid);
}

LogicalResult convertRelu(Importer &im, const onnx::NodeProto &) {
  return unaryMath(im, [](OpBuilder &b, Location l, Value x) -> Value {
    return arith::MaximumFOp::create(b, l, x, cst(b, l, x, 0.0));
  });
}

LogicalResult convertGelu(Importer &im, const onnx::NodeProto &) {
  std::string approx = im.attrString("approximate", "none");
  if (approx != "none" && approx != "tanh")
    return im.error() << "approximate='" << approx << "' is not supported";
  bool useTanh = approx == "tanh";
  if (failed(im.input(0)))
    return failure();
  FLOAT_ONLY("Gelu")
  return pointwise(im, [&](OpBuilder &b, Location l, ValueRange a) -> Value {
    Value x = a[0];
    Value inner;
    if (useTanh) {
      Value x3 =
          arith::MulFOp::create(b, l, arith::MulFOp::create(b, l, x, x), x);
      Value s = arith::AddFOp::create(
          b, l, x, arith::MulFOp::create(b, l, cst(b, l, x, 0.044715), x3));
      inner = math::TanhOp::create(
          b, l,
          arith::MulFOp::create(b, l, cst(b, l, x, std::sqrt(2.0 / M_PI)), s));
    } else {
      inner = math::ErfOp::create(
          b, l, arith::MulFOp::create(b, l, x, cst(b, l, x, M_SQRT1_2)));
    }
    Value onePlus = arith::AddFOp::create(b, l, cst(b, l, x, 1.0), inner);
    return arith::MulFOp::create(
        b, l, arith::MulFOp::create(b, l, cst(b, l, x, 0.5), x), onePlus);
  });
}

LogicalResult convertNeg(Importer &im, const onnx::NodeProto &) {
  return pointwise(im, [](OpBuilder &b, Location l, ValueRange a) -> Value {
    if (isF(a[0]))
      return arith::NegFOp::create(b, l, a[0]);
    return arith::SubIOp::create(b, l, cst(b, l, a[0], 0), a[0]);
  });
}

LogicalResult convertAbs(Importer &im, const onnx::NodeProto &) {
  return pointwise(im, [](OpBuilder &b, Location l, ValueRange a) -> Value {
    if (isF(a[0]))
      return math::AbsFOp::create(b, l, a[0]);
    return math::AbsIOp::create(b, l, a[0]);
  });
}

LogicalResult convertIsNaN(Importer &im, const onnx::NodeProto &) {
  return pointwise(
      im,
      [](OpBuilder &b, Location l, ValueRange a) -> Value {
        return arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNO, a[0],
                                     a[0]);
      },
      im.b.getI1Type());
}

/// Errors unless inputs [0, n) are boolean tensors.
LogicalResult requireBool(Importer &im, int n) {
  for (int i = 0; i < n; ++i) {
    auto v = im.input(i);
    if (failed(v))
      return failure();
    if (!elemOf(*v).isInteger(1))
      return im.error() << "input " << i << " must be a bool tensor";
  }
  return success();
}

LogicalResult convertNot(Importer &im, const onnx::NodeProto &) {
  if (failed(requireBool(im, 1)))
    return failure();
  return pointwise(im, [](OpBuilder &b, Location l, ValueRange a) -> Value {
    return arith::XOrIOp::create(b, l, a[0], cst(b, l, a[0], 1));
  });
}

/// Add, Sub, Mul, Div, Max and Min of two known integer tensors of one type
/// (shape arithmetic), broadcasting rank <= 1.
template <IOp Op> bool foldArith(Importer &im, const onnx::NodeProto &n) {
  const KnownInts *a = im.knownInput(0), *c = im.knownInput(1);
  if (!a || n.input_size() != 2 || !c || c->elemType != a->elemType)
    return false;
  KnownInts r;
  size_t cnt;
  if (!broadcast2(*a, *c, r.shape, cnt))
    return false;
  r.elemType = a->elemType;
  for (size_t i = 0; i < cnt; ++i)
    r.elts.push_back(applyElt(im, Op, a->elts[a->elts.size() == 1 ? 0 : i],
                              c->elts[c->elts.size() == 1 ? 0 : i]));
  im.setKnown(n.output(0), std::move(r));
  return true;
}

/// Binary arithmetic; both operands must have the same element type.
template <typename FOp, typename IntOp> LogicalResult arith2(Importer &im) {
  auto a = im.input(0), c = im.input(1);
  if (failed(a) || failed(c))
    return failure();
  if (elemOf(*a) != elemOf(*c))
    return im.error() << "operand element types differ";
  return pointwise(im, [](OpBuilder &b, Location l, ValueRange x) -> Value {
    if (isF(x[0]))
      return FOp::create(b, l, x[0], x[1]);
    return IntOp::create(b, l, x[0], x[1]);
  });
}

LogicalResult convertAdd(Importer &im, const onnx::NodeProto &) {
  return arith2<arith::AddFOp, arith::AddIOp>(im);
}
LogicalResult convertSub(Importer &im, const onnx::NodeProto &) {
  return arith2<arith::SubFOp, arith::SubIOp>(im);
}
LogicalResult convertMul(Importer &im, const onnx::NodeProto &) {
  return arith2<arith::MulFOp, arith::MulIOp>(im);
}
LogicalResult convertDiv(Importer &im, const onnx::NodeProto &) {
  if (im.inputUnsigned(0))
    return arith2<arith::DivFOp, arith::DivUIOp>(im);
  return arith2<arith::DivFOp, arith::DivSIOp>(im);
}

LogicalResult convertPow(Importer &im, const onnx::NodeProto &) {
  auto a = im.input(0), c = im.input(1);
  if (failed(a) || failed(c))
    return failure();
  // x^2 is common (RMSNorm, variance); keep it cheap and exact.
  std::optional<double> e = im.constFloat(1);
  bool ub = im.inputUnsigned(0), ue = im.inputUnsigned(1);
  return pointwise(im, [&](OpBuilder &b, Location l, ValueRange x) -> Value {
    Value base = x[0], y = x[1];
    bool fb = isF(base), fe = isF(y);
    if (fb && e && *e == 2.0)
      return arith::MulFOp::create(b, l, base, base);
    // Float base: powf in the base's type (an integer exponent converted;
    // libm's pow is exact for integral exponents, negative bases included).
    if (fb) {
      if (y.getType() != base.getType())
        y = Importer::castScalar(b, l, y, base.getType(), ue);
      return math::PowFOp::create(b, l, base, y);
    }
    // Integer base: compute in f64 (integer exponent) or the exponent's float
    // type, then convert back (math.ipowi has no CPU lowering here).
    Type ct = fe ? y.getType() : Type(b.getF64Type());
    Value fbase = Importer::castScalar(b, l, base, ct, ub);
    Value fy = Importer::castScalar(b, l, y, ct, ue);
    Value p = math::PowFOp::create(b, l, fbase, fy);
    return Importer::castScalar(b, l, p, base.getType(), false, ub);
  });
}

/// A comparison; `UP` is the integer predicate for unsigned operands.
template <arith::CmpFPredicate FP, arith::CmpIPredicate IP,
          arith::CmpIPredicate UP = IP>
LogicalResult compare(Importer &im) {
  auto a = im.input(0), c = im.input(1);
  if (failed(a) || failed(c))
    return failure();
  if (elemOf(*a) != elemOf(*c))
    return im.error() << "operand element types differ";
  arith::CmpIPredicate ip = im.inputUnsigned(0) ? UP : IP;
  return pointwise(
      im,
      [&](OpBuilder &b, Location l, ValueRange x) -> Value {
        if (isF(x[0]))
          return arith::CmpFOp::create(b, l, FP, x[0], x[1]);
        return arith::CmpIOp::create(b, l, ip, x[0], x[1]);
      },
      im.b.getI1Type());
}

/// Equal of known integer tensors, where each pair of elements compares
/// statically: two constants, a negative constant and a size (never equal),
/// or one index value with itself.
bool foldEqual(Importer &im, const onnx::NodeProto &n) {
  const KnownInts *a = im.knownInput(0), *c = im.knownInput(1);
  if (!a || !c)
    return false;
  KnownInts r;
  size_t cnt;
  if (!broadcast2(*a, *c, r.shape, cnt))
    return false;
  r.elemType = im.b.getI1Type();
  for (size_t i = 0; i < cnt; ++i) {
    const KnownElt &x = a->elts[a->elts.size() == 1 ? 0 : i];
    const KnownElt &y = c->elts[c->elts.size() == 1 ? 0 : i];
    if (x.isConst() && y.isConst())
      r.elts.push_back({x.c == y.c, Value(), true});
    else if ((x.isConst() && x.c < 0 && y.nonNeg) ||
             (y.isConst() && y.c < 0 && x.nonNeg))
      r.elts.push_back({0, Value(), true});
    else if (x.v && x.v == y.v)
      r.elts.push_back({1, Value(), true});
    else
      return false;
  }
  im.setKnown(n.output(0), std::move(r));
  return true;
}

LogicalResult convertEqual(Importer &im, const onnx::NodeProto &) {
  return compare<arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq>(im);
}
LogicalResult convertLess(Importer &im, const onnx::NodeProto &) {
  return compare<arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt,
                 arith::CmpIPredicate::ult>(im);
}
LogicalResult convertGreater(Importer &im, const onnx::NodeProto &) {
  return compare<arith::CmpFPredicate::OGT, arith::CmpIPredicate::sgt,
                 arith::CmpIPredicate::ugt>(im);
}
LogicalResult convertLessOrEqual(Importer &im, const onnx::NodeProto &) {
  return compare<arith::CmpFPredicate::OLE, arith::CmpIPredicate::sle,
                 arith::CmpIPredicate::ule>(im);
}
LogicalResult convertGreaterOrEqual(Importer &im, const onnx::NodeProto &) {
  return compare<arith::CmpFPredicate::OGE, arith::CmpIPredicate::sge,
                 arith::CmpIPredicate::uge>(im);
}

LogicalResult convertAnd(Importer &im, const onnx::NodeProto &) {
  if (failed(requireBool(im, 2)))
    return failure();
  return pointwise(im, [](OpBuilder &b, Location l, ValueRange x) -> Value {
    return arith::AndIOp::create(b, l, x[0], x[1]);
  });
}
LogicalResult convertOr(Importer &im, const onnx::NodeProto &) {
  if (failed(requireBool(im, 2)))
    return failure();
  return pointwise(im, [](OpBuilder &b, Location l, ValueRange x) -> Value {
    return arith::OrIOp::create(b, l, x[0], x[1]);
  });
}

Value maxOf(OpBuilder &b, Location l, Value x, Value y, bool uns) {
  if (isF(x))
    return arith::MaximumFOp::create(b, l, x, y);
  if (uns)
    return arith::MaxUIOp::create(b, l, x, y);
  return arith::MaxSIOp::create(b, l, x, y);
}
Value minOf(OpBuilder &b, Location l, Value x, Value y, bool uns) {
  if (isF(x))
    return arith::MinimumFOp::create(b, l, x, y);
  if (uns)
    return arith::MinUIOp::create(b, l, x, y);
  return arith::MinSIOp::create(b, l, x, y);
}

LogicalResult convertMax(Importer &im, const onnx::NodeProto &) {
  bool uns = im.inputUnsigned(0);
  return pointwise(im, [&](OpBuilder &b, Location l, ValueRange x) -> Value {
    Value r = x[0];
    for (Value y : x.drop_front())
      r = maxOf(b, l, r, y, uns);
    return r;
  });
}
LogicalResult convertMin(Importer &im, const onnx::NodeProto &) {
  bool uns = im.inputUnsigned(0);
  return pointwise(im, [&](OpBuilder &b, Location l, ValueRange x) -> Value {
    Value r = x[0];
    for (Value y : x.drop_front())
      r = minOf(b, l, r, y, uns);
    return r;
  });
}

/// Where with a constant condition picks known elements.
bool foldWhere(Importer &im, const onnx::NodeProto &n) {
  const KnownInts *a = im.knownInput(0), *x = im.knownInput(1),
                  *y = im.knownInput(2);
  if (!a || !a->allConst() || !x || !y)
    return false;
  size_t cnt = std::max({a->elts.size(), x->elts.size(), y->elts.size()});
  for (size_t s : {a->elts.size(), x->elts.size(), y->elts.size()})
    if (s != cnt && s != 1)
      return false;
  KnownInts r;
  r.elemType = x->elemType;
  if (a->shape.size() || x->shape.size() || y->shape.size())
    r.shape = {int64_t(cnt)};
  auto at = [&](const KnownInts &t, size_t i) {
    return t.elts[t.elts.size() == 1 ? 0 : i];
  };
  for (size_t i = 0; i < cnt; ++i)
    r.elts.push_back(at(*a, i).c ? at(*x, i) : at(*y, i));
  im.setKnown(n.output(0), std::move(r));
  return true;
}

LogicalResult convertWhere(Importer &im, const onnx::NodeProto &) {
  auto c = im.input(0), x = im.input(1), y = im.input(2);
  if (failed(c) || failed(x) || failed(y))
    return failure();
  if (!elemOf(*c).isInteger(1) || elemOf(*x) != elemOf(*y))
    return im.error() << "expects a bool condition and two values of one type";
  auto r =
      im.elementwise({*c, *x, *y}, elemOf(*x),
                     [](OpBuilder &b, Location l, ValueRange a) -> Value {
                       return arith::SelectOp::create(b, l, a[0], a[1], a[2]);
                     });
  if (failed(r))
    return failure();
  im.setOutput(0, *r);
  return success();
}

LogicalResult convertClip(Importer &im, const onnx::NodeProto &) {
  auto x = im.input(0);
  if (failed(x))
    return failure();
  SmallVector<Value> ins = {*x};
  int minIdx = -1, maxIdx = -1;
  for (unsigned i : {1u, 2u}) {
    if (!im.hasInput(i))
      continue;
    auto v = im.input(i);
    if (failed(v))
      return failure();
    (i == 1 ? minIdx : maxIdx) = ins.size();
    ins.push_back(*v);
  }
  bool uns = im.inputUnsigned(0);
  auto r = im.elementwise(ins, elemOf(*x),
                          [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                            Value v = a[0];
                            if (minIdx >= 0)
                              v = maxOf(b, l, v, a[minIdx], uns);
                            if (maxIdx >= 0)
                              v = minOf(b, l, v, a[maxIdx], uns);
                            return v;
                          });
  if (failed(r))
    return failure();
  im.setOutput(0, *r);
  return success();
}

LogicalResult castTo(Importer &im, Type to, bool toUnsigned) {
  bool fromUnsigned = im.inputUnsigned(0);
  return pointwise(
      im,
      [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        return Importer::castScalar(b, l, a[0], to, fromUnsigned, toUnsigned);
      },
      to, /*maxInputs=*/1);
}

/// A cast of a known tensor to i16/i32/i64 keeps its elements; casts to
/// other types (bool and i8 included) go to the converter.
bool foldCast(Importer &im, const onnx::NodeProto &n) {
  const KnownInts *a = im.knownInput(0);
  if (!a)
    return false;
  Type et = elementTypeFor(im.ctx, im.attrInt("to", 0));
  if (!et || !isa<IntegerType>(et) || et.isInteger(1) || et.isInteger(8))
    return false;
  KnownInts r = *a;
  r.elemType = et;
  im.setKnown(n.output(0), std::move(r));
  return true;
}

LogicalResult convertCast(Importer &im, const onnx::NodeProto &) {
  int64_t to = im.attrInt("to", 0);
  Type et = elementTypeFor(im.ctx, to);
  if (!et)
    return im.error() << "cast to ONNX data type " << to << " is not supported";
  return castTo(im, et, isUnsignedType(to));
}

LogicalResult convertCastLike(Importer &im, const onnx::NodeProto &) {
  auto like = im.input(1);
  if (failed(like))
    return failure();
  return castTo(im, elemOf(*like), im.inputUnsigned(1));
}

} // namespace

void onebit::onnx_import::addElementwiseOps(OpRegistry &r) {
  r.add({"Sqrt", 1, convertSqrt});
  r.add({"Exp", 1, convertExp});
  r.add({"Log", 1, convertLog});
  r.add({"Tanh", 1, convertTanh});
  r.add({"Erf", 9, convertErf});
  r.add({"Cos", 7, convertCos});
  r.add({"Sin", 7, convertSin});
  r.add({"Floor", 1, convertFloor});
  r.add({"Ceil", 1, convertCeil});
  r.add({"Reciprocal", 1, convertReciprocal});
  r.add({"Sigmoid", 1, convertSigmoid});
  r.add({"Relu", 1, convertRelu});
  r.add({"Gelu", 20, convertGelu});
  r.add({"Neg", 1, convertNeg});
  r.add({"Abs", 1, convertAbs});
  r.add({"IsNaN", 9, convertIsNaN});
  r.add({"Not", 1, convertNot});
  r.add({"Add", 1, convertAdd, foldArith<IOp::Add>});
  r.add({"Sub", 1, convertSub, foldArith<IOp::Sub>});
  r.add({"Mul", 1, convertMul, foldArith<IOp::Mul>});
  r.add({"Div", 1, convertDiv, foldArith<IOp::Div>});
  r.add({"Pow", 1, convertPow});
  r.add({"Equal", 1, convertEqual, foldEqual});
  r.add({"Less", 1, convertLess});
  r.add({"Greater", 1, convertGreater});
  r.add({"LessOrEqual", 12, convertLessOrEqual});
  r.add({"GreaterOrEqual", 12, convertGreaterOrEqual});
  r.add({"And", 1, convertAnd});
  r.add({"Or", 1, convertOr});
  r.add({"Max", 1, convertMax, foldArith<IOp::Max>});
  r.add({"Min", 1, convertMin, foldArith<IOp::Min>});
  r.add({"Where", 9, convertWhere, foldWhere});
  r.add({"Clip", 1, convertClip});
  r.add({"Cast", 1, convertCast, foldCast});
  r.add({"CastLike", 15, convertCastLike});
}
