//===- SwitchResults.h - drop results from an scf.index_switch --*- C++ -*-===//
//
// Internal to lib/Transforms: rebuilding a switch without some of its
// results, in one step, shared by the passes that find results they can
// compute without the switch (onebit-entry-arg-table,
// onebit-simplify-ownership). Upstream's canonicalization removes one
// result per rewrite, each time rebuilding every case's yield: quadratic on
// the switches of a deep train step (65 results, 32 cases).
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_LIB_TRANSFORMS_SWITCHRESULTS_H
#define ONEBIT_LIB_TRANSFORMS_SWITCHRESULTS_H

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/BitVector.h"

namespace onebit {

/// Replaces `op` by a switch without the results set in `drop`, whose uses
/// the caller has already replaced; the kept results' uses go to the new
/// switch. Without results and with regions that only yield, `op` is erased
/// and nothing replaces it.
inline void dropSwitchResults(mlir::scf::IndexSwitchOp op,
                              const llvm::BitVector &drop) {
  llvm::SmallVector<mlir::Type> types;
  for (unsigned r = 0; r < op.getNumResults(); ++r)
    if (!drop.test(r))
      types.push_back(op.getResult(r).getType());
  if (types.empty() && llvm::all_of(op->getRegions(), [](mlir::Region &region) {
        return region.front().getOperations().size() == 1;
      })) {
    op.erase();
    return;
  }
  mlir::OpBuilder b(op);
  llvm::ArrayRef<int64_t> cases = op.getCases();
  auto kept = mlir::scf::IndexSwitchOp::create(
      b, op.getLoc(), types, op.getArg(), cases, cases.size());
  auto move = [&](mlir::Region &from, mlir::Region &to) {
    to.takeBody(from);
    mlir::Operation *yield = to.front().getTerminator();
    llvm::SmallVector<mlir::Value> operands;
    for (unsigned r = 0; r < yield->getNumOperands(); ++r)
      if (!drop.test(r))
        operands.push_back(yield->getOperand(r));
    yield->setOperands(operands);
  };
  move(op.getDefaultRegion(), kept.getDefaultRegion());
  for (unsigned k = 0; k < cases.size(); ++k)
    move(op.getCaseRegions()[k], kept.getCaseRegions()[k]);
  unsigned next = 0;
  for (unsigned r = 0; r < op.getNumResults(); ++r)
    if (!drop.test(r))
      op.getResult(r).replaceAllUsesWith(kept.getResult(next++));
  op.erase();
}

} // namespace onebit

#endif // ONEBIT_LIB_TRANSFORMS_SWITCHRESULTS_H
