//===- EntryReader.cpp - Read only what entries reach from bytecode -------===//

#include "onebit/Frontend/EntryReader.h"
#include "onebit/Support/SymbolReach.h"

#include "mlir/Bytecode/BytecodeReader.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;

namespace onebit {

OwningOpRef<ModuleOp>
readBytecodeEntries(const std::shared_ptr<llvm::SourceMgr> &sourceMgr,
                    MLIRContext &context, llvm::ArrayRef<std::string> entries) {
  const llvm::MemoryBuffer *buffer =
      sourceMgr->getMemoryBuffer(sourceMgr->getMainFileID());
  Location fileLoc = FileLineColLoc::get(
      &context, buffer->getBufferIdentifier(), /*line=*/0, /*column=*/0);
  ParserConfig config(&context, /*verifyAfterParse=*/false);
  BytecodeReader reader(buffer->getMemBufferRef(), config, /*lazyLoad=*/true,
                        sourceMgr);
  // Function bodies are left unread; every other op with an isolated region
  // (the module itself, a gpu.module) is read at once. The callback answers
  // whether to read an op's regions now.
  auto readNow = [](Operation *op) { return !isa<func::FuncOp>(op); };
  Block top;
  if (failed(reader.readTopLevel(&top, readNow)))
    return nullptr;

  OwningOpRef<ModuleOp> module;
  if (llvm::hasSingleElement(top) && isa<ModuleOp>(top.front())) {
    module = cast<ModuleOp>(top.front());
    module.get()->remove();
  } else {
    // Top-level ops without a module around them, as the text parser
    // accepts: wrap them as it does.
    module = ModuleOp::create(fileLoc);
    Block *body = module->getBody();
    body->getOperations().splice(body->begin(), top.getOperations());
  }

  // The module op itself first (one region, one block, unique symbols):
  // a damaged file may hold a module the symbol lookups below cannot walk.
  if (failed(verify(*module, /*verifyRecursively=*/false)))
    return nullptr;
  SmallVector<Operation *> roots;
  for (const std::string &name : entries)
    roots.push_back(SymbolTable::lookupSymbolIn(*module, name));
  // What the module holds besides functions stays, and so does what it
  // refers to.
  for (Operation &op : module->getOps())
    if (!isa<func::FuncOp>(op))
      roots.push_back(&op);
  llvm::DenseSet<Operation *> reached;
  auto read = [&](Operation *op) -> LogicalResult {
    if (!reader.isMaterializable(op))
      return success();
    return reader.materialize(op, [](Operation *) { return true; });
  };
  if (failed(reachSymbols(*module, roots, reached, read)))
    return nullptr;
  // The functions no entry reaches are dropped unread.
  if (failed(reader.finalize([&](Operation *op) { return reached.count(op); })))
    return nullptr;
  if (failed(verify(*module)))
    return nullptr;
  return module;
}

} // namespace onebit
