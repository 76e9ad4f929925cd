//===- Lowering.h - from a loaded module to optimised LLVM IR ---*- C++ -*-===//
//
// The steps the JIT (CompiledModel::compile) and onebit-compile's artifact
// writer share, so that an artifact holds the code the JIT would run.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_RUNNER_LOWERING_H
#define ONEBIT_RUNNER_LOWERING_H

#include "onebit/Runner/Runner.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/CodeGen.h"
#include "llvm/Support/Error.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace llvm {
class Module;
class TargetMachine;
} // namespace llvm

namespace onebit {

class DiagnosticCapture;

/// The signatures of the public functions `names` of `module`, appended to
/// `entries`; false + `error` when one is missing or cannot be called
/// (types the runner does not pass, inconsistent KV-cache attributes).
bool describeEntries(mlir::ModuleOp module,
                     const std::vector<std::string> &names,
                     std::vector<Executable::Entry> &entries,
                     std::string &error);

/// Erases the functions (not declarations) and memref globals of `module`
/// that `entries` do not reach through symbol references.
void eraseNonEntries(mlir::ModuleOp module,
                     const std::vector<std::string> &entries);

/// Registers the translations to LLVM IR `target` needs and runs its
/// pipeline on `module`; false and `error` (with the diagnostics) on failure.
bool lowerForTarget(mlir::ModuleOp module, Target target,
                    const CompileOptions &options, DiagnosticCapture &diags,
                    std::string &error);

/// Reads, after lowering, which inputs each entry's code takes by address
/// (the `onebit.arg_table` attribute onebit-entry-arg-table leaves on the
/// lowered function) into Executable::Entry::tableArgs.
void readArgTables(mlir::ModuleOp module,
                   std::vector<Executable::Entry> &entries);

/// The optimisation of the translated LLVM module (see Lowering.cpp): the
/// runner's function pipeline or LLVM's default<On>, -O0 for the packed
/// argument wrappers (`_mlir_*`), huge blocks cut; with options.perfMap,
/// function names are kept external and collected into `perfNames`.
std::function<llvm::Error(llvm::Module *)>
makeJitTransformer(llvm::TargetMachine *tm, unsigned optLevel,
                   const CompileOptions &options,
                   std::shared_ptr<std::vector<std::string>> perfNames);

/// The code generator's level for an optimisation level 0-3.
llvm::CodeGenOptLevel codeGenOptLevel(unsigned optLevel);

} // namespace onebit

#endif // ONEBIT_RUNNER_LOWERING_H
