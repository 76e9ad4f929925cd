//===- CallResults.h - drop results from a function's calls -----*- C++ -*-===//
//
// Internal to lib/Transforms: the call rewrite shared by the passes that
// remove results from a function's signature (onebit-drop-inplace-results,
// onebit-distinct-results), and what a returned buffer is a view of
// (onebit-distinct-results, onebit-period-loops).
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_LIB_TRANSFORMS_CALLRESULTS_H
#define ONEBIT_LIB_TRANSFORMS_CALLRESULTS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/BitVector.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace onebit {

/// The buffer `v` is a view of: view-like ops (casts, reshapes, subviews)
/// looked through.
inline mlir::Value viewRoot(mlir::Value v) {
  while (auto view = v.getDefiningOp<mlir::ViewLikeOpInterface>())
    v = view.getViewSource();
  return v;
}

/// Replaces `call` by a call of the same callee without the results set in
/// `drop`. A kept result's uses go to the new call's result; a dropped
/// result r's uses go to `dropped(r, kept)`, where `kept[i]` is the new
/// call's value for old result i (null for dropped ones). `dropped` may
/// create ops: the builder's insertion point is before the new call.
inline void
dropCallResults(mlir::func::CallOp call, const llvm::BitVector &drop,
                llvm::function_ref<mlir::Value(mlir::OpBuilder &, unsigned,
                                               llvm::ArrayRef<mlir::Value>)>
                    dropped) {
  mlir::OpBuilder b(call);
  llvm::SmallVector<mlir::Type> types;
  for (unsigned r = 0; r < call.getNumResults(); ++r)
    if (!drop.test(r))
      types.push_back(call.getResult(r).getType());
  auto replacement = mlir::func::CallOp::create(
      b, call.getLoc(), call.getCallee(), types, call.getOperands());
  replacement->setDiscardableAttrs(call->getDiscardableAttrDictionary());
  llvm::SmallVector<mlir::Value> kept(call.getNumResults());
  unsigned next = 0;
  for (unsigned r = 0; r < call.getNumResults(); ++r)
    if (!drop.test(r))
      kept[r] = replacement.getResult(next++);
  b.setInsertionPoint(replacement);
  for (unsigned r = 0; r < call.getNumResults(); ++r)
    call.getResult(r).replaceAllUsesWith(drop.test(r) ? dropped(b, r, kept)
                                                      : kept[r]);
  call.erase();
}

} // namespace onebit

#endif // ONEBIT_LIB_TRANSFORMS_CALLRESULTS_H
