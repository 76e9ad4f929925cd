//===- SymbolReach.h - The symbols some entries reach -----------*- C++ -*-===//
//
// A compiled artifact holds only what its entries reach: the runner erases
// the rest of a module before lowering it, and a lazy bytecode reader reads
// only that much of a file. Both walk from the entries through every symbol
// reference, and on a deep model's train step that walk touched every one of
// tens of thousands of ops' attributes; this one reads each distinct
// attribute and type once.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_SUPPORT_SYMBOLREACH_H
#define ONEBIT_SUPPORT_SYMBOLREACH_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseSet.h"

namespace onebit {

/// Adds to `reached` every top-level op of `module` that `roots` reach
/// through symbol references: calls, and any attribute of any nested op that
/// names a symbol (its root reference is looked up in `module`). `visit`
/// runs on each op when it is reached, before its references are read (a
/// lazy reader materializes the op there); a failed visit stops the walk and
/// is returned. Null roots are skipped.
llvm::LogicalResult reachSymbols(
    mlir::ModuleOp module, llvm::ArrayRef<mlir::Operation *> roots,
    llvm::DenseSet<mlir::Operation *> &reached,
    llvm::function_ref<llvm::LogicalResult(mlir::Operation *)> visit =
        [](mlir::Operation *) { return llvm::success(); });

} // namespace onebit

#endif // ONEBIT_SUPPORT_SYMBOLREACH_H
