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

namespace onebit {
#define GEN_PASS_DEF_ONEBITDECOMPOSETRAINFORM
#include "onebit/Dialect/OneBit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;
using namespace onebit;

namespace {

/// What the generics of one binary_linear_train share: x is [lead..., K],
/// the result [lead..., N]; the maps index loops over (lead..., last).
/// Each method emits one step of the formula in the file header.
struct TrainFormBuilder {
  TrainFormBuilder(OpBuilder &b, BinaryLinearTrainOp op)
      : b(b), op(op), loc(op.getLoc()), ctx(op.getContext()),
        et(op.getInput().getType().getElementType()),
        rank(op.getInput().getType().getRank()), n(op.getOutFeatures()) {
    // The leading dims of x, which every tensor made here starts with.
    lead = tensor::getMixedSizes(b, loc, op.getInput());
    lead.pop_back();
    SmallVector<unsigned> all;
    for (unsigned i = 0; i < rank; ++i)
      all.push_back(i);
    leadDims.assign(all.begin(), all.end() - 1);
    id = dims(rank, all);
    feature = dims(rank, {rank - 1});
    rowMap = dims(rank, leadDims);
    pars.assign(rank, par);
    rowRed.assign(rank, par);
    rowRed.back() = red;
  }

  Value cst(OpBuilder &nb, Location l, double v) const {
    return arith::ConstantOp::create(nb, l, nb.getFloatAttr(et, v));
  }
  /// A tensor of the leading dims with `last` appended (or nothing).
  Value emptyWith(std::optional<int64_t> last) {
    SmallVector<OpFoldResult> sizes = lead;
    if (last)
      sizes.push_back(b.getIndexAttr(*last));
    return tensor::EmptyOp::create(b, loc, sizes, et);
  }
  Value zerosWith(std::optional<int64_t> last) {
    return linalg::FillOp::create(b, loc, cst(b, loc, 0.0), emptyWith(last))
        .getResult(0);
  }
  AffineMap dims(unsigned count, ArrayRef<unsigned> pick) const {
    SmallVector<AffineExpr> e;
    for (unsigned p : pick)
      e.push_back(getAffineDimExpr(p, ctx));
    return AffineMap::get(count, 0, e, ctx);
  }

  /// Elementwise `a <op> v[feature]` over the rows.
  template <typename MakeOp> Value withVector(Value a, Value v, MakeOp makeOp) {
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
  }

  /// S = sign(W).
  Value signs() {
    auto wType = op.getWeight().getType();
    return linalg::GenericOp::create(
               b, loc, wType, ValueRange{op.getWeight()},
               ValueRange{tensor::EmptyOp::create(b, loc, wType.getShape(), et)
                              .getResult()},
               ArrayRef<AffineMap>{dims(2, {0, 1}), dims(2, {0, 1})},
               ArrayRef<utils::IteratorType>{par, par},
               [&](OpBuilder &nb, Location l, ValueRange args) {
                 // -1 only below zero, as the sign packer does (0, -0 -> +1).
                 Value lt =
                     arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OLT,
                                           args[0], cst(nb, l, 0.0));
                 Value s = arith::SelectOp::create(nb, l, lt, cst(nb, l, -1.0),
                                                   cst(nb, l, 1.0));
                 linalg::YieldOp::create(nb, l, s);
               })
        .getResult(0);
  }

  /// y[lead, n] = sum_k xg[lead, k] * S[n, k]: loops (lead..., n, k).
  Value contract(Value xg, Value signs) {
    SmallVector<unsigned> xgDims(leadDims), outDims(leadDims);
    xgDims.push_back(rank);
    outDims.push_back(rank - 1);
    SmallVector<utils::IteratorType> mm(rank, par);
    mm.push_back(red);
    return linalg::GenericOp::create(
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
  }

  /// The sum over each row of `a` (of its squares when `square`).
  Value rowSum(Value a, bool square) {
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
  }

  /// Elementwise `a <op> row[lead]` over the features.
  template <typename MakeOp> Value perRow(Value a, Value row, MakeOp makeOp) {
    return linalg::GenericOp::create(
               b, loc, a.getType(), ValueRange{a, row},
               ValueRange{emptyWith(n)}, ArrayRef<AffineMap>{id, rowMap, id},
               pars,
               [&](OpBuilder &nb, Location l, ValueRange args) {
                 linalg::YieldOp::create(nb, l,
                                         makeOp(nb, l, args[0], args[1]));
               })
        .getResult(0);
  }

  /// y = (y - mean) * rsqrt(var + eps) over each row, biased variance.
  Value normalizeRows(Value y, double epsV) {
    double invN = 1.0 / double(n);
    Value centered = perRow(
        y, rowSum(y, false), [&](OpBuilder &nb, Location l, Value v, Value s) {
          Value mean = arith::MulFOp::create(nb, l, s, cst(nb, l, invN));
          return Value(arith::SubFOp::create(nb, l, v, mean));
        });
    return perRow(
        centered, rowSum(centered, true),
        [&](OpBuilder &nb, Location l, Value c, Value ss) {
          Value var = arith::MulFOp::create(nb, l, ss, cst(nb, l, invN));
          Value r = math::RsqrtOp::create(
              nb, l, arith::AddFOp::create(nb, l, var, cst(nb, l, epsV)));
          return Value(arith::MulFOp::create(nb, l, c, r));
        });
  }

  static constexpr utils::IteratorType par = utils::IteratorType::parallel;
  static constexpr utils::IteratorType red = utils::IteratorType::reduction;

  OpBuilder &b;
  BinaryLinearTrainOp op;
  Location loc;
  MLIRContext *ctx;
  Type et;
  unsigned rank;
  int64_t n;
  SmallVector<OpFoldResult> lead;
  SmallVector<unsigned> leadDims;
  AffineMap id, feature, rowMap;
  SmallVector<utils::IteratorType> pars, rowRed;
};

Value mulOp(OpBuilder &nb, Location l, Value p, Value q) {
  return arith::MulFOp::create(nb, l, p, q);
}
Value addOp(OpBuilder &nb, Location l, Value p, Value q) {
  return arith::AddFOp::create(nb, l, p, q);
}

} // namespace

FailureOr<Value> onebit::decomposeBinaryLinearTrain(RewriterBase &rewriter,
                                                    BinaryLinearTrainOp op,
                                                    Value *signsOut) {
  TrainFormBuilder tf(rewriter, op);
  Value xg = tf.withVector(op.getInput(), op.getG(), mulOp);
  Value signs = tf.signs();
  if (signsOut)
    *signsOut = signs;
  Value y = tf.contract(xg, signs);
  y = tf.withVector(y, op.getH(), mulOp);
  if (auto eps = op.getNormEps())
    y = tf.normalizeRows(y, eps->convertToDouble());
  if (Value bias = op.getBias())
    y = tf.withVector(y, bias, addOp);
  if (y.getType() != op.getResult().getType())
    y = tensor::CastOp::create(rewriter, tf.loc, op.getResult().getType(), y);
  return y;
}

namespace {

struct DecomposeTrainFormPass
    : public onebit::impl::OneBitDecomposeTrainFormBase<
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
