//===- LegalizeExpandShape.cpp - expand_shape the CPU lowering can take ---===//

#include "onebit/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITLEGALIZEEXPANDSHAPE
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

struct ExpandToReshape : OpRewritePattern<tensor::ExpandShapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(tensor::ExpandShapeOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType type = op.getResultType();
    bool needed = false;
    for (const ReassociationIndices &group : op.getReassociationIndices()) {
      int dynamic = 0;
      for (int64_t d : group)
        dynamic += type.isDynamicDim(d);
      needed |= dynamic > 1;
    }
    if (!needed)
      return failure();
    Location loc = op.getLoc();
    SmallVector<Value> sizes;
    for (OpFoldResult s : op.getMixedOutputShape())
      sizes.push_back(getValueOrCreateConstantIndexOp(rewriter, loc, s));
    Value shape = tensor::FromElementsOp::create(rewriter, loc, sizes);
    rewriter.replaceOpWithNewOp<tensor::ReshapeOp>(op, type, op.getSrc(),
                                                   shape);
    return success();
  }
};

struct LegalizeExpandShapePass
    : public onebit::impl::OneBitLegalizeExpandShapeBase<
          LegalizeExpandShapePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<ExpandToReshape>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
