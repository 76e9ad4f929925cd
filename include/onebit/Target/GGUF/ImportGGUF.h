//===- ImportGGUF.h - GGUF models to linalg-on-tensors MLIR -----*- C++ -*-===//
//
// Builds the forward function of a GGUF model (the llama architecture) in the
// same linalg-on-tensors form the ONNX importer produces, with dequantized
// weights as named dense_resource constants.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TARGET_GGUF_IMPORTGGUF_H
#define ONEBIT_TARGET_GGUF_IMPORTGGUF_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace onebit {
namespace gguf {
class GGUFFile;
} // namespace gguf

class BPETokenizer;

struct GGUFImportOptions {
  std::string entryName = "main";
  /// Import only the first N decoder blocks (-1: all). For fast tests and
  /// for studying single layers; the final norm and head are kept.
  int numLayers = -1;
  /// Static token-id shape [batch, seqLen] of the entry (0: dynamic). With
  /// both set every tensor of the model is static (what training needs).
  int64_t batch = 0, seqLen = 0;
  /// Also emit the KV-cache entries `@prefill` and `@decode` (docs/design.md,
  /// "Generation with a KV cache"). They share the weights with the full
  /// forward `entryName`; the cache's context size is chosen by the caller
  /// when it allocates the cache.
  bool kvCache = false;
  /// With kvCache: also emit the full forward `entryName`. A caller that
  /// compiles only the KV-cache entries (onebit-compile
  /// --entries=prefill,decode) leaves it out and saves building it.
  bool fullEntry = true;
  /// Element type of the KV caches: f32 (exact: decoding gives the full
  /// forward's logits), or f16, which halves the cache's memory and the
  /// bytes a decode step reads at depth (keys and values are rounded to f16
  /// when written; attention computes in f32).
  enum class CacheType { F32, F16 };
  CacheType kvCacheType = CacheType::F32;
  /// Called after each decoder block of each entry is built, with the module
  /// (the entry being built has no terminator yet). A failure stops the
  /// import; the callback emits its own diagnostics. Quantize-at-import
  /// (onebit/Frontend/QuantizedImport.h) rewrites the block's layers here
  /// and releases their f32 weights, so the FP model is never whole.
  std::function<mlir::LogicalResult(mlir::ModuleOp)> afterBlock;
  /// Keep the F16 weights of the linear layers (the seven projections of
  /// each block and a separate head) in f16: each is an f16 constant (half
  /// the bytes of the f32 one) read through an `arith.extf` generic, which
  /// --convert-matmul-to-runtime folds into the f16-B matmul kernel, so the
  /// forward computes what the f32 import computes from the same values.
  /// Weights of other GGML types, the embedding and the norms stay f32.
  bool f16Weights = false;
  /// Static batch of the KV-cache entries' token ids: -1 takes `batch`, 0
  /// leaves it dynamic (a generator runs them one sequence at a time while
  /// the full forward has a training batch).
  int64_t cacheBatch = -1;
};

/// The cache type named `name` ("f32" or "f16"), or nullopt.
std::optional<GGUFImportOptions::CacheType>
parseKVCacheType(llvm::StringRef name);

/// Imports an opened GGUF file. On failure emits an error diagnostic (naming
/// the file and the problem) through `context` and returns null.
mlir::OwningOpRef<mlir::ModuleOp>
importGGUF(const gguf::GGUFFile &file, mlir::MLIRContext &context,
           const GGUFImportOptions &options = {});

/// Imports `path`. On failure emits an error diagnostic (naming the file and
/// the problem) through `context` and returns null. The module carries the
/// file's tokenizer (when it has one onebit reads) as `onebit.tokenizer`.
mlir::OwningOpRef<mlir::ModuleOp>
importGGUFFile(llvm::StringRef path, mlir::MLIRContext &context,
               const GGUFImportOptions &options = {});

/// The module attribute holding a model's tokenizer: a `dense_resource` of
/// i8 with BPETokenizer::serialize()'s bytes, so it survives text, bytecode
/// and the passes (which keep module attributes).
inline constexpr llvm::StringLiteral kTokenizerAttrName = "onebit.tokenizer";

/// Stores `tokenizer` in `module` as kTokenizerAttrName.
void attachTokenizer(mlir::ModuleOp module, const BPETokenizer &tokenizer);
/// The tokenizer `module` carries; null with `error` empty when it carries
/// none, null with `error` set when the attribute is malformed.
std::unique_ptr<BPETokenizer> tokenizerOf(mlir::ModuleOp module,
                                          std::string &error);

} // namespace onebit

#endif // ONEBIT_TARGET_GGUF_IMPORTGGUF_H
