//===- DestinationInits.cpp - results computed in their destination -------===//
//
// Implements --onebit-destination-inits (Passes.td): a value materialized
// into a function argument by bufferization.materialize_in_destination is
// computed there, its op's empty (or zero-filled empty) init replaced by the
// argument, so that bufferization does not copy it in afterwards.
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITDESTINATIONINITS
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

struct DestinationInitsPass
    : public onebit::impl::OneBitDestinationInitsBase<DestinationInitsPass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (fn.isDeclaration())
      return;
    Block &entry = fn.getBody().front();
    SmallVector<bufferization::MaterializeInDestinationOp> into;
    fn.walk([&](bufferization::MaterializeInDestinationOp op) {
      into.push_back(op);
    });
    for (bufferization::MaterializeInDestinationOp op : into) {
      auto dest = dyn_cast<BlockArgument>(op.getDest());
      // Written nowhere else and read by nothing else: the value may be
      // computed there as early as its op runs.
      if (!dest || dest.getOwner() != &entry || !dest.hasOneUse() ||
          !isa<RankedTensorType>(dest.getType()))
        continue;
      auto value = dyn_cast<OpResult>(op.getSource());
      if (!value || value.getType() != dest.getType())
        continue;
      auto producer = dyn_cast<DestinationStyleOpInterface>(value.getOwner());
      if (!producer || producer->getBlock() != op->getBlock() ||
          !producer.hasPureTensorSemantics())
        continue;
      OpOperand *init = producer.getTiedOpOperand(value);
      Operation *def = init->get().getDefiningOp();
      if (isa_and_nonnull<tensor::EmptyOp>(def)) {
        init->set(dest);
        continue;
      }
      // A zero accumulator: the fill is made again, into the destination
      // (the original may be shared by other ops).
      auto fill = dyn_cast_or_null<linalg::FillOp>(def);
      if (!fill || !fill.hasPureTensorSemantics() ||
          !fill.getOutputs()[0].getDefiningOp<tensor::EmptyOp>())
        continue;
      OpBuilder b(producer);
      auto refill = linalg::FillOp::create(b, fill.getLoc(),
                                           fill.getInputs()[0], Value(dest));
      init->set(refill.getResult(0));
    }
  }
};

} // namespace
