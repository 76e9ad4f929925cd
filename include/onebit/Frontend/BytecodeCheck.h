//===- BytecodeCheck.h - What MLIR's bytecode reader trusts -*- C++ -*-===//
//
// MLIR 22's bytecode reader trusts one count in a file: the attribute/type
// offset section declares how many attributes and types it has, then lists
// them in groups per dialect, and the reader writes each group's entries
// into a table of the declared size without checking that the groups stay
// within it. A file whose groups list more writes past the table's end
// (heap corruption; the tools then crash or hang in their crash handler).
// This check reads the file's sections before the reader does.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_FRONTEND_BYTECODECHECK_H
#define ONEBIT_FRONTEND_BYTECODECHECK_H

#include "llvm/ADT/StringRef.h"

#include <string>

namespace onebit {

/// Whether the MLIR bytecode `bytes` can be handed to MLIR's reader: its
/// sections are well formed and the attribute/type offset section's groups
/// list no more entries than it declares. False and `error` otherwise. Only
/// what the reader fails to check is checked here; the reader reports the
/// rest.
bool checkBytecodeTables(llvm::StringRef bytes, std::string &error);

} // namespace onebit

#endif // ONEBIT_FRONTEND_BYTECODECHECK_H
