//===- FuseElementwise.cpp - elementwise fusion that keeps in-place writes ===//
//
// Implements --onebit-fuse-elementwise (Passes.td): the pattern set of
// MLIR's linalg-fuse-elementwise-ops with one more condition on fusion. The
// fused op replaces the consumer, so every operand the producer read is
// then read where the consumer was. When an op between the two writes into
// such an operand as its destination (an Adam update of a parameter that a
// train step updates in place), the read would follow the write: the
// producer is left alone instead.
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITFUSEELEMENTWISE
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

/// Whether an op strictly between `producer` and `consumer` (same block)
/// takes a block argument (a function's argument: the caller's buffer once
/// bufferized) that the producer reads as a destination.
bool writesProducerOperandBetween(Operation *producer, Operation *consumer) {
  if (producer->getBlock() != consumer->getBlock() ||
      !producer->isBeforeInBlock(consumer))
    return false;
  for (Value read : producer->getOperands()) {
    if (!isa<BlockArgument>(read) || !isa<TensorType>(read.getType()))
      continue;
    for (OpOperand &use : read.getUses()) {
      Operation *user = use.getOwner();
      if (user == producer || user->getBlock() != producer->getBlock() ||
          !producer->isBeforeInBlock(user) || !user->isBeforeInBlock(consumer))
        continue;
      auto dps = dyn_cast<DestinationStyleOpInterface>(user);
      if (dps && dps.isDpsInit(&use))
        return true;
    }
  }
  return false;
}

struct OneBitFuseElementwisePass
    : public onebit::impl::OneBitFuseElementwiseBase<
          OneBitFuseElementwisePass> {
  void runOnOperation() override {
    Operation *op = getOperation();
    MLIRContext *context = op->getContext();
    RewritePatternSet patterns(context);
    // Upstream's condition (a producer with one use), and no write into
    // what the producer reads between it and its consumer.
    linalg::ControlFusionFn control = [](OpOperand *fused) {
      Operation *producer = fused->get().getDefiningOp();
      return producer && producer->hasOneUse() &&
             !writesProducerOperandBetween(producer, fused->getOwner());
    };
    linalg::populateElementwiseOpsFusionPatterns(patterns, control);
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, control);
    tensor::populateBubbleUpExpandShapePatterns(patterns);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, context);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, context);
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, context);
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, context);
    context->getLoadedDialect<linalg::LinalgDialect>()
        ->getCanonicalizationPatterns(patterns);
    linalg::populateConstantFoldLinalgOperations(patterns, control);
    (void)applyPatternsGreedily(op, std::move(patterns),
                                GreedyRewriteConfig().setUseTopDownTraversal());
  }
};

} // namespace
