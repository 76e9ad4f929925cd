//===- ReverseModeTensorRules.cpp - reverse-mode AD: structural adjoints --===//
//
// Adjoints of ops that only move, copy or broadcast elements (tensor reshapes,
// slices, concatenation, padding, element access, linalg.fill): the adjoint
// moves the output adjoint back, adding where the forward op copied.
//
//===----------------------------------------------------------------------===//

#include "ReverseMode.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"

using namespace mlir;
using namespace onebit::autodiff;

LogicalResult ReverseMode::visitStructural(linalg::FillOp f) {
  Location loc = f.getLoc();
  Value v = f.getInputs()[0];
  if (isVaried(v)) {
    ScalarMath m(b, loc);
    accumulate(v,
               m.convert(sumAll(loc, adjointOf(f.getResult(0))), v.getType()));
  }
  return success();
}

LogicalResult ReverseMode::visitStructural(tensor::ExpandShapeOp e) {
  Location loc = e.getLoc();
  Value d = adjointOf(e.getResult());
  accumulate(e.getSrc(),
             tensor::CollapseShapeOp::create(b, loc, e.getSrcType(), d,
                                             e.getReassociationIndices()));
  return success();
}

LogicalResult ReverseMode::visitStructural(tensor::CollapseShapeOp c) {
  Location loc = c.getLoc();
  Value d = adjointOf(c.getResult());
  SmallVector<OpFoldResult> shape = tensor::getMixedSizes(b, loc, c.getSrc());
  accumulate(c.getSrc(),
             tensor::ExpandShapeOp::create(b, loc, c.getSrcType(), d,
                                           c.getReassociationIndices(), shape));
  return success();
}

LogicalResult ReverseMode::visitStructural(tensor::ReshapeOp r) {
  Location loc = r.getLoc();
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
  accumulate(src, tensor::ReshapeOp::create(b, loc, src.getType(), d, shape));
  return success();
}

LogicalResult ReverseMode::visitStructural(tensor::CastOp c) {
  Location loc = c.getLoc();
  accumulate(c.getSource(),
             tensor::CastOp::create(b, loc, c.getSource().getType(),
                                    adjointOf(c.getResult())));
  return success();
}

LogicalResult ReverseMode::visitStructural(tensor::ExtractSliceOp s) {
  Location loc = s.getLoc();
  Value d = adjointOf(s.getResult());
  Value src = s.getSource();
  if (Value cur = adjointOf(src)) {
    // Add into the running adjoint's window in place.
    Value win = tensor::ExtractSliceOp::create(
        b, loc, s.getType(), cur, s.getMixedOffsets(), s.getMixedSizes(),
        s.getMixedStrides());
    Value sum = addTensors(loc, win, d);
    adjoints[src] =
        tensor::InsertSliceOp::create(b, loc, sum, cur, s.getMixedOffsets(),
                                      s.getMixedSizes(), s.getMixedStrides());
    return success();
  }
  adjoints[src] = tensor::InsertSliceOp::create(
      b, loc, d, zerosLike(loc, src), s.getMixedOffsets(), s.getMixedSizes(),
      s.getMixedStrides());
  return success();
}

LogicalResult ReverseMode::visitStructural(tensor::InsertSliceOp s) {
  Location loc = s.getLoc();
  Value d = adjointOf(s.getResult());
  if (isVaried(s.getSource()))
    accumulate(s.getSource(),
               tensor::ExtractSliceOp::create(
                   b, loc, s.getSourceType(), d, s.getMixedOffsets(),
                   s.getMixedSizes(), s.getMixedStrides()));
  if (isVaried(s.getDest()))
    accumulate(s.getDest(), tensor::InsertSliceOp::create(
                                b, loc, zerosLike(loc, s.getSource()), d,
                                s.getMixedOffsets(), s.getMixedSizes(),
                                s.getMixedStrides()));
  return success();
}

LogicalResult ReverseMode::visitStructural(tensor::ConcatOp c) {
  Location loc = c.getLoc();
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
      accumulate(in, tensor::ExtractSliceOp::create(b, loc, type, d, offsets,
                                                    sizes, strides));
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
}

LogicalResult ReverseMode::visitStructural(tensor::PadOp p) {
  Location loc = p.getLoc();
  Value pad = p.getConstantPaddingValue();
  if (!pad || isVaried(pad))
    return p->emitOpError("autodiff: only a padding value that does not depend "
                          "on the differentiated arguments is supported"),
           failure();
  Value src = p.getSource();
  auto type = cast<RankedTensorType>(src.getType());
  SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
  accumulate(src,
             tensor::ExtractSliceOp::create(
                 b, loc, type, adjointOf(p.getResult()), p.getMixedLowPad(),
                 tensor::getMixedSizes(b, loc, src), strides));
  return success();
}

LogicalResult ReverseMode::visitStructural(tensor::ExtractOp e) {
  Location loc = e.getLoc();
  Value d = adjointOf(e.getResult());
  Value t = e.getTensor();
  if (Value cur = adjointOf(t)) {
    Value old = tensor::ExtractOp::create(b, loc, cur, e.getIndices());
    Value sum = arith::AddFOp::create(b, loc, old, d);
    adjoints[t] = tensor::InsertOp::create(b, loc, sum, cur, e.getIndices());
  } else {
    adjoints[t] =
        tensor::InsertOp::create(b, loc, d, zerosLike(loc, t), e.getIndices());
  }
  return success();
}

LogicalResult ReverseMode::visitStructural(tensor::InsertOp ins) {
  Location loc = ins.getLoc();
  Value d = adjointOf(ins.getResult());
  if (isVaried(ins.getScalar()))
    accumulate(ins.getScalar(),
               tensor::ExtractOp::create(b, loc, d, ins.getIndices()));
  if (isVaried(ins.getDest()))
    accumulate(ins.getDest(),
               tensor::InsertOp::create(b, loc, zerosLike(loc, ins.getScalar()),
                                        d, ins.getIndices()));
  return success();
}

LogicalResult ReverseMode::visitStructural(tensor::FromElementsOp f) {
  Location loc = f.getLoc();
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
}

LogicalResult ReverseMode::visitStructural(tensor::SplatOp s) {
  Location loc = s.getLoc();
  accumulate(s.getInput(), sumAll(loc, adjointOf(s.getResult())));
  return success();
}
