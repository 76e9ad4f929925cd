//===- DecomposeInt8Linear.cpp - int8_linear as linalg on tensors ---------===//
//
//   acc[lead, n] = sum_k f32(x[lead, k]) * sitofp(W[n, k])   (one contraction)
//   y[lead, n]   = acc * scale[n] (+ bias[n]), converted to x's type
//
// The int8 weights are read as they are stored; the conversion is in the
// contraction's payload, so a target that tiles the generic keeps them int8
// in memory.
//
//===----------------------------------------------------------------------===//

#include "onebit/Dialect/OneBit/IR/OneBit.h"
#include "onebit/Dialect/OneBit/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITDECOMPOSEINT8LINEAR
#include "onebit/Dialect/OneBit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;
using namespace onebit;

namespace {

Value toF32(OpBuilder &b, Location loc, Value v) {
  if (v.getType().isF32())
    return v;
  return arith::ExtFOp::create(b, loc, b.getF32Type(), v);
}

Value decompose(OpBuilder &b, Int8LinearOp op) {
  Location loc = op.getLoc();
  MLIRContext *ctx = op.getContext();
  Value x = op.getInput();
  auto xType = op.getInput().getType();
  auto resultType = op.getResult().getType();
  Type et = xType.getElementType();
  Type f32 = b.getF32Type();
  unsigned rank = xType.getRank();
  int64_t n = op.getOutFeatures();
  auto par = utils::IteratorType::parallel;
  auto red = utils::IteratorType::reduction;

  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  sizes.back() = b.getIndexAttr(n);
  auto dims = [&](unsigned count, ArrayRef<unsigned> pick) {
    SmallVector<AffineExpr> e;
    for (unsigned p : pick)
      e.push_back(getAffineDimExpr(p, ctx));
    return AffineMap::get(count, 0, e, ctx);
  };
  SmallVector<unsigned> leadDims, xDims, outDims, all;
  for (unsigned i = 0; i + 1 < rank; ++i)
    leadDims.push_back(i);
  xDims.assign(leadDims.begin(), leadDims.end());
  xDims.push_back(rank); // k
  outDims.assign(leadDims.begin(), leadDims.end());
  outDims.push_back(rank - 1); // n
  for (unsigned i = 0; i < rank; ++i)
    all.push_back(i);

  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  Value acc0 =
      linalg::FillOp::create(b, loc, zero,
                             tensor::EmptyOp::create(b, loc, sizes, f32)
                                 .getResult())
          .getResult(0);
  SmallVector<utils::IteratorType> mm(rank, par);
  mm.push_back(red);
  Value acc = linalg::GenericOp::create(
                  b, loc, acc0.getType(), ValueRange{x, op.getWeights()},
                  ValueRange{acc0},
                  ArrayRef<AffineMap>{dims(rank + 1, xDims),
                                      dims(rank + 1, {rank - 1, rank}),
                                      dims(rank + 1, outDims)},
                  mm,
                  [&](OpBuilder &nb, Location l, ValueRange a) {
                    Value w = arith::SIToFPOp::create(nb, l, f32, a[1]);
                    Value p =
                        arith::MulFOp::create(nb, l, toF32(nb, l, a[0]), w);
                    linalg::YieldOp::create(
                        nb, l, Value(arith::AddFOp::create(nb, l, a[2], p)));
                  })
                  .getResult(0);

  SmallVector<Value> ins{acc, op.getScales()};
  AffineMap id = dims(rank, all), feature = dims(rank, {rank - 1});
  SmallVector<AffineMap> maps{id, feature};
  if (Value bias = op.getBias()) {
    ins.push_back(bias);
    maps.push_back(feature);
  }
  maps.push_back(id);
  Value yInit = tensor::EmptyOp::create(b, loc, sizes, et);
  Value y = linalg::GenericOp::create(
                b, loc, yInit.getType(), ins, ValueRange{yInit},
                maps, SmallVector<utils::IteratorType>(rank, par),
                [&](OpBuilder &nb, Location l, ValueRange a) {
                  Value v = arith::MulFOp::create(nb, l, a[0], a[1]);
                  if (a.size() == 4)
                    v = arith::AddFOp::create(nb, l, v, toF32(nb, l, a[2]));
                  if (et != f32)
                    v = arith::TruncFOp::create(nb, l, et, v);
                  linalg::YieldOp::create(nb, l, v);
                })
                .getResult(0);
  if (y.getType() != resultType)
    y = tensor::CastOp::create(b, loc, resultType, y);
  return y;
}

struct DecomposeInt8LinearPass
    : public onebit::impl::OneBitDecomposeInt8LinearBase<
          DecomposeInt8LinearPass> {
  void runOnOperation() override {
    SmallVector<Int8LinearOp> ops;
    getOperation()->walk([&](Int8LinearOp op) { ops.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (Int8LinearOp op : ops) {
      rewriter.setInsertionPoint(op);
      rewriter.replaceOp(op, decompose(rewriter, op));
    }
  }
};

} // namespace
