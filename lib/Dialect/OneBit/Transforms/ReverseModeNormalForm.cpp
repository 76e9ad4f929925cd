//===- ReverseModeNormalForm.cpp - reverse-mode AD: before and after ------===//
//
// The sweep has rules for linalg.generic, tensor ops and scalar ops only, so
// the gradient function is first brought to that form; afterwards the
// adjoint code is simplified, since the rules favour uniformity over economy.
//
//===----------------------------------------------------------------------===//

#include "ReverseMode.h"
#include "onebit/Dialect/OneBit/IR/OneBit.h"
#include "onebit/Dialect/OneBit/Transforms/TrainForm.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/CSE.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

using namespace mlir;
using namespace onebit;

LogicalResult onebit::autodiff::normalize(func::FuncOp fn,
                                          llvm::DenseSet<Value> &ste) {
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

void onebit::autodiff::simplify(func::FuncOp fn) {
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
