//===- Folding.cpp - index arithmetic for the ONNX importer's fold rules -===//

#include "Folding.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace onebit::onnx_import;

int64_t onebit::onnx_import::applyConst(IOp op, int64_t a, int64_t c) {
  // Wrapping two's-complement arithmetic, as arith.addi/subi/muli compute
  // at run time: hostile constants must not make the fold undefined.
  switch (op) {
  case IOp::Add:
    return int64_t(uint64_t(a) + uint64_t(c));
  case IOp::Sub:
    return int64_t(uint64_t(a) - uint64_t(c));
  case IOp::Mul:
    return int64_t(uint64_t(a) * uint64_t(c));
  case IOp::Div: {
    if (c == 0)
      return 0;
    if (c == -1)
      return int64_t(0 - uint64_t(a)); // INT64_MIN / -1 wraps
    int64_t q = a / c;                 // ONNX integer Div truncates like C
    return q;
  }
  case IOp::Max:
    return std::max(a, c);
  case IOp::Min:
    return std::min(a, c);
  }
  return 0;
}

KnownElt onebit::onnx_import::applyElt(Importer &im, IOp op, const KnownElt &a,
                                       const KnownElt &c) {
  if (a.isConst() && c.isConst())
    return {applyConst(op, a.c, c.c), Value(), applyConst(op, a.c, c.c) >= 0};
  // Identities keep expressions small: x*1, x+0, x/1.
  if (c.isConst() && ((op == IOp::Mul || op == IOp::Div) && c.c == 1))
    return a;
  if (c.isConst() && ((op == IOp::Add || op == IOp::Sub) && c.c == 0))
    return a;
  if (a.isConst() && op == IOp::Mul && a.c == 1)
    return c;
  if (a.isConst() && op == IOp::Add && a.c == 0)
    return c;
  OpBuilder &b = im.b;
  auto val = [&](const KnownElt &e) {
    return e.isConst() ? arith::ConstantIndexOp::create(b, im.loc, e.c) : e.v;
  };
  Value x = val(a), y = val(c), r;
  bool nn = false;
  bool an = a.isConst() ? a.c >= 0 : a.nonNeg;
  bool cn = c.isConst() ? c.c >= 0 : c.nonNeg;
  switch (op) {
  case IOp::Add:
    r = arith::AddIOp::create(b, im.loc, x, y);
    nn = an && cn;
    break;
  case IOp::Sub:
    r = arith::SubIOp::create(b, im.loc, x, y);
    break;
  case IOp::Mul:
    r = arith::MulIOp::create(b, im.loc, x, y);
    nn = an && cn;
    break;
  case IOp::Div:
    r = arith::DivSIOp::create(b, im.loc, x, y);
    nn = an && cn;
    break;
  case IOp::Max:
    r = arith::MaxSIOp::create(b, im.loc, x, y);
    nn = an || cn;
    break;
  case IOp::Min:
    r = arith::MinSIOp::create(b, im.loc, x, y);
    nn = an && cn;
    break;
  }
  return {0, r, nn};
}

OpFoldResult onebit::onnx_import::toOFR(Importer &im, const KnownElt &e) {
  if (e.isConst())
    return im.b.getIndexAttr(e.c);
  return e.v;
}

KnownElt onebit::onnx_import::fromOFR(OpFoldResult ofr) {
  if (auto c = getConstantIntValue(ofr))
    return {*c, Value(), *c >= 0};
  return {0, cast<Value>(ofr), true};
}

OpFoldResult onebit::onnx_import::arithOFR(Importer &im, IOp op, OpFoldResult a,
                                           OpFoldResult c) {
  return toOFR(im, applyElt(im, op, fromOFR(a), fromOFR(c)));
}

bool onebit::onnx_import::broadcast2(const KnownInts &a, const KnownInts &c,
                                     SmallVectorImpl<int64_t> &shape,
                                     size_t &n) {
  size_t na = a.elts.size(), nc = c.elts.size();
  if (na != nc && na != 1 && nc != 1)
    return false;
  n = std::max(na, nc);
  shape.clear();
  if (a.shape.size() == 1 || c.shape.size() == 1)
    shape.push_back(n);
  return true;
}
