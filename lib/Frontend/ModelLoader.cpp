//===- ModelLoader.cpp - Load a model file into MLIR ----------------------===//

#include "onebit/Frontend/ModelLoader.h"
#include "onebit/Frontend/BytecodeCheck.h"
#include "onebit/Frontend/EntryReader.h"
#include "onebit/InitAllDialects.h"
#include "onebit/Support/DiagnosticCapture.h"

#include "mlir/Bytecode/BytecodeReader.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;

namespace onebit {

void registerModelDialects(DialectRegistry &registry) {
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  ::onebit::registerAllDialects(registry);
}

OwningOpRef<ModuleOp> loadModel(llvm::StringRef path, MLIRContext &ctx,
                                const ModelLoadOptions &options) {
  if (path.ends_with(".onnx"))
    return importONNXFile(path, ctx, options.onnx);
  if (path.ends_with(".gguf"))
    return importGGUFFile(path, ctx, options.gguf);
  auto sm = std::make_shared<llvm::SourceMgr>();
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> file =
      llvm::MemoryBuffer::getFileOrSTDIN(path);
  if (!file) {
    emitError(UnknownLoc::get(&ctx)) << "could not open input file " << path
                                     << ": " << file.getError().message();
    return nullptr;
  }
  const bool bytecode = isBytecode((*file)->getMemBufferRef());
  // What MLIR's reader would not catch before writing out of bounds.
  std::string why;
  if (bytecode && !checkBytecodeTables((*file)->getBuffer(), why)) {
    emitError(UnknownLoc::get(&ctx))
        << path << ": malformed MLIR bytecode: " << why;
    return nullptr;
  }
  sm->AddNewSourceBuffer(std::move(*file), llvm::SMLoc());
  if (bytecode && !options.entries.empty())
    return readBytecodeEntries(sm, ctx, options.entries);
  return parseSourceFile<ModuleOp>(sm, ParserConfig(&ctx));
}

OwningOpRef<ModuleOp> loadModel(const std::string &path, MLIRContext &ctx,
                                std::string &error) {
  return loadModel(path, ctx, ModelLoadOptions(), error);
}

OwningOpRef<ModuleOp> loadModel(const std::string &path, MLIRContext &ctx,
                                const ModelLoadOptions &options,
                                std::string &error) {
  DialectRegistry registry;
  registerModelDialects(registry);
  ctx.appendDialectRegistry(registry);
  ctx.loadDialect<func::FuncDialect>();
  DiagnosticCapture diags(ctx);
  OwningOpRef<ModuleOp> m = loadModel(llvm::StringRef(path), ctx, options);
  if (!m)
    error = diags.empty() ? path + ": cannot load the model" : diags.text();
  return m;
}

bool carriesTokenizer(llvm::StringRef path) { return path.ends_with(".gguf"); }

} // namespace onebit
