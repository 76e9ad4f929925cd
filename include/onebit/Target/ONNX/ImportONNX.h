//===- ImportONNX.h - ONNX models to linalg-on-tensors MLIR -----*- C++ -*-===//
//
// Imports an ONNX model (opsets 13-21) into one func.func (three for a
// with-past decoder imported with its KV-cache entries) in the
// linalg-on-tensors form the rest of onebit consumes. Initializers become
// dense_resource constants keyed by their ONNX names whose bytes stay in the
// parsed model or in the memory-mapped external data file.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TARGET_ONNX_IMPORTONNX_H
#define ONEBIT_TARGET_ONNX_IMPORTONNX_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace onebit {

/// Whether the import also emits the KV-cache entries @prefill and @decode
/// (docs/design.md, "Generation with a KV cache") from a decoder exported
/// with past keys and values.
enum class ONNXKVCache {
  /// The graph as it is, in one function.
  Off,
  /// The entries when the graph has the with-past form, else as Off.
  IfWithPast,
  /// The entries; an import fails, saying why, when the graph does not have
  /// the with-past form.
  Required,
};

struct ONNXImportOptions {
  /// Name of the generated function.
  std::string entryName = "main";
  /// Fixed shapes for graph inputs (`name` -> dims); dims not fixed here keep
  /// the model's static size or become dynamic.
  llvm::StringMap<llvm::SmallVector<int64_t>> inputShapes;
  /// Run ONNX shape inference before importing.
  bool inferShapes = true;
  /// With-past decoders (past key/values in, present ones out) become three
  /// entries sharing one copy of the weights: `entryName`, the full forward
  /// with an empty past (token ids -> logits [batch, seq, vocab]), and
  /// @prefill/@decode over two stacked in-place caches
  /// [layers, batch, context, kv_heads, head_dim].
  ONNXKVCache kvCache = ONNXKVCache::Off;
};

/// Parses `spec` ("name=2x128[,name2=...]") into `options.inputShapes`.
/// Returns an error message, or "" on success.
std::string parseInputShapes(llvm::StringRef spec, ONNXImportOptions &options);

/// Imports the model at `path`. On failure emits an error diagnostic (naming
/// the file and the problem) through `context` and returns null. The weight
/// bytes are referenced, not copied: they are released when their resource
/// blobs are (with the context at the latest).
mlir::OwningOpRef<mlir::ModuleOp>
importONNXFile(llvm::StringRef path, mlir::MLIRContext &context,
               const ONNXImportOptions &options = {});

/// Imports a serialized ModelProto held in memory. External data locations
/// are resolved against `baseDir` ("" rejects external data).
mlir::OwningOpRef<mlir::ModuleOp>
importONNXBuffer(llvm::StringRef bytes, llvm::StringRef bufferName,
                 llvm::StringRef baseDir, mlir::MLIRContext &context,
                 const ONNXImportOptions &options = {});

/// Registers the dialects the importer emits.
void registerONNXImportDialects(mlir::DialectRegistry &registry);

} // namespace onebit

#endif // ONEBIT_TARGET_ONNX_IMPORTONNX_H
