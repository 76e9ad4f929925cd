//===- DecomposeTrainForm.cpp - binary_linear_train as linalg on tensors --===//
//
// The training layer as plain linalg.generic ops, so the CPU and GPU
// pipelines compile the train step like any other tensor program:
//
//   xg = x * g            (g broadcast over the rows)
//   S  = sign(W)          (0 -> +1)
//   y  = xg . S^T         (contraction over K)
//   y  = y * h
//   y  = (y - mean) * rsqrt(var + eps)   (optional, biased variance)
//   y  = y + bias                         (optional)
//
//===----------------------------------------------------------------------===//

#include "onebit/Dialect/OneBit/Transforms/Passes.h"
#include "onebit/Dialect/OneBit/Transforms/TrainForm.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::onebit {
#define GEN_PASS_DEF_ONEBITDECOMPOSETRAINFORM
#include "onebit/Dialect/OneBit/Transforms/Passes.h.inc"
} // namespace mlir::onebit

using namespace mlir;
using namespace mlir::onebit;

// One function (about 160 lines) on purpose: the generics share the shape
// and indexing-map helpers set up at the top and follow the formula in the
// file header line by line.
FailureOr<Value>
mlir::onebit::decomposeBinaryLinearTrain(RewriterBase &rewriter,
                                         BinaryLinearTrainOp op,
                                         Value *signsOut) {
  Location loc = op.getLoc();
  MLIRContext *ctx = op.getContext();
  OpBuilder &b = rewriter;
  Value x = op.getInput();
  auto xType = op.getInput().getType();
  Type et = xType.getElementType();
  unsigned rank = xType.getRank();
  int64_t n = op.getOutFeatures();
  auto par = utils::IteratorType::parallel;
  auto red = utils::IteratorType::reduction;

  auto cst = [&](OpBuilder &nb, Location l, double v) -> Value {
    return arith::ConstantOp::create(nb, l, nb.getFloatAttr(et, v));
  };
  // Shapes: the leading dims of x with `last` appended (or nothing).
  SmallVector<OpFoldResult> lead = tensor::getMixedSizes(b, loc, x);
  lead.pop_back();
  auto emptyWith = [&](std::optional<int64_t> last) -> Value {
    SmallVector<OpFoldResult> sizes = lead;
    if (last)
      sizes.push_back(b.getIndexAttr(*last));
    return tensor::EmptyOp::create(b, loc, sizes, et);
  };
  auto zerosWith = [&](std::optional<int64_t> last) -> Value {
    return linalg::FillOp::create(b, loc, cst(b, loc, 0.0), emptyWith(last))
        .getResult(0);
  };
  auto dims = [&](unsigned count, ArrayRef<unsigned> pick) {
    SmallVector<AffineExpr> e;
    for (unsigned p : pick)
      e.push_back(getAffineDimExpr(p, ctx));
    return AffineMap::get(count, 0, e, ctx);
  };
  SmallVector<unsigned> all, leadDims;
  for (unsigned i = 0; i < rank; ++i)
    all.push_back(i);
  leadDims.assign(all.begin(), all.end() - 1);
  AffineMap id = dims(rank, all);
  AffineMap feature = dims(rank, {rank - 1});
  AffineMap rowMap = dims(rank, leadDims);
  SmallVector<utils::IteratorType> pars(rank, par);
  SmallVector<utils::IteratorType> rowRed(rank, par);
  rowRed.back() = red;

  // Elementwise `a <op> v[feature]` over the rows.
  auto withVector = [&](Value a, Value v, auto makeOp) -> Value {
    auto type = cast<RankedTensorType>(a.getType());
    return linalg::GenericOp::create(
               b, loc, type, ValueRange{a, v},
               ValueRange{emptyWith(type.getShape().back())},
               ArrayRef<AffineMap>{id, feature, id}, pars,
               [&](OpBuilder &nb, Location l, ValueRange args) {
                 linalg::YieldOp::create(nb, l,
                                         makeOp(nb, l, args[0], args[1]));
               })
        .getResult(0);
  };
  auto mulOp = [](OpBuilder &nb, Location l, Value p, Value q) -> Value {
    return arith::MulFOp::create(nb, l, p, q);
  };
  auto addOp = [](OpBuilder &nb, Location l, Value p, Value q) -> Value {
    return arith::AddFOp::create(nb, l, p, q);
  };

  Value xg = withVector(x, op.getG(), mulOp);

  auto wType = op.getWeight().getType();
  Value signs =
      linalg::GenericOp::create(
          b, loc, wType, ValueRange{op.getWeight()},
          ValueRange{tensor::EmptyOp::create(b, loc, wType.getShape(), et)
                         .getResult()},
          ArrayRef<AffineMap>{dims(2, {0, 1}), dims(2, {0, 1})},
          ArrayRef<utils::IteratorType>{par, par},
          [&](OpBuilder &nb, Location l, ValueRange args) {
            // -1 only below zero, as the sign packer does (0, -0 -> +1).
            Value lt = arith::CmpFOp::create(
                nb, l, arith::CmpFPredicate::OLT, args[0], cst(nb, l, 0.0));
            Value s = arith::SelectOp::create(nb, l, lt, cst(nb, l, -1.0),
                                              cst(nb, l, 1.0));
            linalg::YieldOp::create(nb, l, s);
          })
          .getResult(0);
  if (signsOut)
    *signsOut = signs;

  // y[lead, n] = sum_k xg[lead, k] * S[n, k]: loops (lead..., n, k).
  SmallVector<unsigned> xgDims(leadDims), outDims(leadDims);
  xgDims.push_back(rank);
  outDims.push_back(rank - 1);
  SmallVector<utils::IteratorType> mm(rank, par);
  mm.push_back(red);
  Value y = linalg::GenericOp::create(
                b, loc, op.getResult().getType(), ValueRange{xg, signs},
                ValueRange{zerosWith(n)},
                ArrayRef<AffineMap>{dims(rank + 1, xgDims),
                                    dims(rank + 1, {rank - 1, rank}),
                                    dims(rank + 1, outDims)},
                mm,
                [&](OpBuilder &nb, Location l, ValueRange args) {
                  Value p = arith::MulFOp::create(nb, l, args[0], args[1]);
                  Value s = arith::AddFOp::create(nb, l, args[2], p);
                  linalg::YieldOp::create(nb, l, s);
                })
                .getResult(0);
  y = withVector(y, op.getH(), mulOp);

  if (auto eps = op.getNormEps()) {
    double epsV = eps->convertToDouble();
    auto rowSum = [&](Value a, bool square) -> Value {
      Value init = zerosWith(std::nullopt);
      return linalg::GenericOp::create(
                 b, loc, init.getType(), ValueRange{a}, ValueRange{init},
                 ArrayRef<AffineMap>{id, rowMap}, rowRed,
                 [&](OpBuilder &nb, Location l, ValueRange args) {
                   Value v = args[0];
                   if (square)
                     v = arith::MulFOp::create(nb, l, v, v);
                   Value s = arith::AddFOp::create(nb, l, args[1], v);
                   linalg::YieldOp::create(nb, l, s);
                 })
          .getResult(0);
    };
    auto perRow = [&](Value a, Value row, auto makeOp) -> Value {
      return linalg::GenericOp::create(
                 b, loc, a.getType(), ValueRange{a, row},
                 ValueRange{emptyWith(n)},
                 ArrayRef<AffineMap>{id, rowMap, id}, pars,
                 [&](OpBuilder &nb, Location l, ValueRange args) {
                   linalg::YieldOp::create(nb, l,
                                           makeOp(nb, l, args[0], args[1]));
                 })
          .getResult(0);
    };
    double invN = 1.0 / double(n);
    Value centered = perRow(y, rowSum(y, false),
                            [&](OpBuilder &nb, Location l, Value v, Value s) {
                              Value mean = arith::MulFOp::create(
                                  nb, l, s, cst(nb, l, invN));
                              return Value(
                                  arith::SubFOp::create(nb, l, v, mean));
                            });
    y = perRow(centered, rowSum(centered, true),
               [&](OpBuilder &nb, Location l, Value c, Value ss) {
                 Value var = arith::MulFOp::create(nb, l, ss, cst(nb, l, invN));
                 Value r = math::RsqrtOp::create(
                     nb, l, arith::AddFOp::create(nb, l, var, cst(nb, l, epsV)));
                 return Value(arith::MulFOp::create(nb, l, c, r));
               });
  }
  if (Value bias = op.getBias())
    y = withVector(y, bias, addOp);
  if (y.getType() != op.getResult().getType())
    y = tensor::CastOp::create(b, loc, op.getResult().getType(), y);
  return y;
}

namespace {

struct DecomposeTrainFormPass
    : public mlir::onebit::impl::OneBitDecomposeTrainFormBase<
          DecomposeTrainFormPass> {
  void runOnOperation() override {
    SmallVector<BinaryLinearTrainOp> ops;
    getOperation()->walk([&](BinaryLinearTrainOp op) { ops.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (BinaryLinearTrainOp op : ops) {
      rewriter.setInsertionPoint(op);
      FailureOr<Value> r = decomposeBinaryLinearTrain(rewriter, op);
      if (failed(r))
        return signalPassFailure();
      rewriter.replaceOp(op, *r);
    }
  }
};

} // namespace
