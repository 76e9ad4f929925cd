//===- LegalizeExpandShape.cpp - expand_shape the CPU lowering can take ---===//

#include "onebit/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITLEGALIZEEXPANDSHAPE
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

/// Whether a group of `op`'s result has more than one dynamic size, which
/// the CPU lowering cannot take.
static bool needsReshape(tensor::ExpandShapeOp op) {
  RankedTensorType type = op.getResultType();
  for (const ReassociationIndices &group : op.getReassociationIndices()) {
    int dynamic = 0;
    for (int64_t d : group)
      dynamic += type.isDynamicDim(d);
    if (dynamic > 1)
      return true;
  }
  return false;
}

static void rewriteAsReshape(tensor::ExpandShapeOp op, RewriterBase &rewriter) {
  rewriter.setInsertionPoint(op);
  Location loc = op.getLoc();
  SmallVector<Value> sizes;
  for (OpFoldResult s : op.getMixedOutputShape())
    sizes.push_back(getValueOrCreateConstantIndexOp(rewriter, loc, s));
  Value shape = tensor::FromElementsOp::create(rewriter, loc, sizes);
  rewriter.replaceOpWithNewOp<tensor::ReshapeOp>(op, op.getResultType(),
                                                 op.getSrc(), shape);
}

struct LegalizeExpandShapePass
    : public onebit::impl::OneBitLegalizeExpandShapeBase<
          LegalizeExpandShapePass> {
  // One walk and a rewrite per op that needs it: no pattern driver, whose
  // folding and region simplification over a deep model's unrolled step
  // cost more than the rewrite (the canonicalizer that follows in the
  // pipelines folds).
  void runOnOperation() override {
    SmallVector<tensor::ExpandShapeOp> ops;
    getOperation()->walk([&](tensor::ExpandShapeOp op) {
      if (needsReshape(op))
        ops.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (tensor::ExpandShapeOp op : ops)
      rewriteAsReshape(op, rewriter);
  }
};

} // namespace
