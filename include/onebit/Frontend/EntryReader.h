//===- EntryReader.h - What entries reach, read from bytecode -*- C++ -*-===//
//
// A train step's module also holds the student, the teacher, the loss and the
// inference forward it was built from, unrolled over every layer; the step
// calls none of them. A tool that compiles some entries reads the functions
// those entries reach from an MLIR bytecode file and leaves the rest of the
// file unread, instead of parsing and verifying all of it.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_FRONTEND_ENTRYREADER_H
#define ONEBIT_FRONTEND_ENTRYREADER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/ArrayRef.h"

#include <memory>
#include <string>

namespace llvm {
class SourceMgr;
} // namespace llvm

namespace onebit {

/// Reads the module in the MLIR bytecode buffer of `sourceMgr`'s main file,
/// materializing only the symbols `entries` name and those they reach through
/// symbol references (calls, and attributes naming a symbol), and function
/// declarations. Every other function body is skipped without being parsed.
/// The result is verified. An entry the module does not define is not an
/// error here: it simply reaches nothing (the caller reports missing entries
/// by name). On failure the reason goes out as diagnostics and the result is
/// null.
mlir::OwningOpRef<mlir::ModuleOp>
readBytecodeEntries(const std::shared_ptr<llvm::SourceMgr> &sourceMgr,
                    mlir::MLIRContext &context,
                    llvm::ArrayRef<std::string> entries);

} // namespace onebit

#endif // ONEBIT_FRONTEND_ENTRYREADER_H
