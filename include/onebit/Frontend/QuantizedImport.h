//===- QuantizedImport.h - Quantize a model as it is imported ---*- C++ -*-===//
//
// `onebit-translate --import-gguf/--import-onnx --quantize[=OPTIONS]`: the
// result of an import followed by --onebit-quantize with the same options,
// without ever holding the FP model whole. A GGUF import rewrites each
// decoder block's linear layers as soon as the block is built and releases
// their f32 weights; an ONNX import references its initializers in place
// (the mapped external data file, or the parsed model) and the rewrite then
// reads one weight at a time into a temporary f32 matrix and releases the
// mapping's pages behind it.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_FRONTEND_QUANTIZEDIMPORT_H
#define ONEBIT_FRONTEND_QUANTIZEDIMPORT_H

#include "onebit/Dialect/OneBit/Transforms/Quantize.h"
#include "onebit/Target/GGUF/ImportGGUF.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace onebit {

struct ONNXImportOptions;

/// Parses `spec`, the options of --onebit-quantize in its pass syntax
/// ("keep-head=false value-type=f16 exclude=a,b"), into `config`; `stats`
/// is set by `stats=true`. keep-teacher is refused: it needs the whole FP
/// model. Returns an error message naming the option, or "" on success.
std::string parseQuantizeOptions(llvm::StringRef spec, QuantizeConfig &config,
                                 bool &stats);

/// Imports the GGUF file at `path` with its linear layers quantized block by
/// block. Null on failure, with the reason as diagnostics on `context`.
mlir::OwningOpRef<mlir::ModuleOp>
importQuantizedGGUF(llvm::StringRef path, mlir::MLIRContext &context,
                    const GGUFImportOptions &options,
                    const QuantizeConfig &config,
                    QuantizeReport *report = nullptr);

/// Imports the ONNX model at `path` with its linear layers quantized. Null on
/// failure, with the reason as diagnostics on `context`.
mlir::OwningOpRef<mlir::ModuleOp>
importQuantizedONNX(llvm::StringRef path, mlir::MLIRContext &context,
                    const ONNXImportOptions &options,
                    const QuantizeConfig &config,
                    QuantizeReport *report = nullptr);

} // namespace onebit

#endif // ONEBIT_FRONTEND_QUANTIZEDIMPORT_H
