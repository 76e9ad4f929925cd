//===- DecomposeAggregates.cpp - aggregated linalg ops to their parts -----===//
//
// linalg.softmax (and any op implementing AggregatedOpInterface) has no loop
// lowering of its own: --convert-linalg-to-loops leaves it in place and the
// LLVM translation fails. This pass replaces each such op on tensors by the
// sequence of linalg ops it is defined as.
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITDECOMPOSEAGGREGATES
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

struct DecomposeAggregatesPass
    : public onebit::impl::OneBitDecomposeAggregatesBase<
          DecomposeAggregatesPass> {
  void runOnOperation() override {
    SmallVector<linalg::AggregatedOpInterface> ops;
    getOperation()->walk(
        [&](linalg::AggregatedOpInterface op) { ops.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (linalg::AggregatedOpInterface op : ops) {
      if (op->getNumResults() == 0 ||
          llvm::any_of(op->getResultTypes(),
                       [](Type t) { return !isa<RankedTensorType>(t); })) {
        op->emitOpError("onebit-decompose-aggregates: only the tensor form "
                        "is decomposed");
        return signalPassFailure();
      }
      rewriter.setInsertionPoint(op);
      FailureOr<SmallVector<Value>> parts = op.decomposeOperation(rewriter);
      if (failed(parts)) {
        op->emitOpError("onebit-decompose-aggregates: cannot decompose");
        return signalPassFailure();
      }
      rewriter.replaceOp(op, *parts);
    }
  }
};

} // namespace
