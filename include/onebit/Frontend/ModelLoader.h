//===- ModelLoader.h - Load a model file into MLIR --------------*- C++ -*-===//
//
// The one place that turns a model file into a module, for onebit-run,
// onebit-eval, the trainer and the Python module: MLIR text or bytecode goes
// through MLIR's parser, .onnx and .gguf through their importers. It sits
// above the runner so the runner, which only compiles modules, links no
// importer.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_FRONTEND_MODELLOADER_H
#define ONEBIT_FRONTEND_MODELLOADER_H

#include "onebit/Target/GGUF/ImportGGUF.h"
#include "onebit/Target/ONNX/ImportONNX.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"

#include <string>
#include <vector>

namespace mlir {
class DialectRegistry;
class MLIRContext;
} // namespace mlir

namespace onebit {

/// How to import the files that need an importer; MLIR files take none.
struct ModelLoadOptions {
  /// For a .onnx file (input shapes, shape inference).
  ONNXImportOptions onnx;
  /// For a .gguf file (static [batch, seqLen] token ids, number of layers).
  GGUFImportOptions gguf;
  /// For an MLIR bytecode file: when not empty, only these functions and what
  /// they reach are read, and every other function is skipped unread
  /// (EntryReader.h). A tool that compiles some entries of a train step's
  /// module thus does not parse the forward passes the step was built from.
  std::vector<std::string> entries;
};

/// Adds every dialect a model file may use: upstream MLIR's with their
/// extensions, and onebit's.
void registerModelDialects(mlir::DialectRegistry &registry);

/// Loads `path` by its extension: .onnx and .gguf through their importers,
/// anything else (.mlir, .mlirbc) through MLIR's parser, which needs the
/// file's dialects registered in `context`. On failure the reason goes out as
/// diagnostics on `context` and the result is null.
mlir::OwningOpRef<mlir::ModuleOp>
loadModel(llvm::StringRef path, mlir::MLIRContext &context,
          const ModelLoadOptions &options = {});

/// Registers the model dialects in `context` (registerModelDialects), then
/// loads `path` with default options. Null and `error` on failure: the
/// diagnostics, one per line, or "<path>: cannot load the model" when there
/// were none.
mlir::OwningOpRef<mlir::ModuleOp> loadModel(const std::string &path,
                                            mlir::MLIRContext &context,
                                            std::string &error);
/// The same with import options.
mlir::OwningOpRef<mlir::ModuleOp> loadModel(const std::string &path,
                                            mlir::MLIRContext &context,
                                            const ModelLoadOptions &options,
                                            std::string &error);

/// Whether the model file at `path` carries its own tokenizer, so text for it
/// is tokenized with the file itself unless told otherwise: a GGUF does (its
/// vocabulary; the import keeps it as `onebit.tokenizer`).
bool carriesTokenizer(llvm::StringRef path);

} // namespace onebit

#endif // ONEBIT_FRONTEND_MODELLOADER_H
