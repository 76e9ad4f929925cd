//===- OutlineLoopNests.cpp - loop nests of large functions to functions --===//
//
// LLVM's function passes are superlinear in the size of a function; a
// generated train step is one function with thousands of loop nests. Each
// top-level loop nest of such a function becomes a private function of its
// own (constants cloned in, other values read passed as arguments), so the
// JIT's per-function work stays small; the straight-line rest is marked
// optnone, since LLVM's schedulers are superlinear in the size of a block.
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITOUTLINELOOPNESTS
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

bool isLoopNest(Operation &op) {
  return isa<scf::ForOp, scf::ParallelOp>(op);
}

struct OutlineLoopNestsPass
    : public onebit::impl::OneBitOutlineLoopNestsBase<OutlineLoopNestsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> funcs(module.getOps<func::FuncOp>());
    for (func::FuncOp f : funcs) {
      if (f.isExternal())
        continue;
      SmallVector<Operation *> nests;
      for (Block &block : f.getBody())
        for (Operation &op : block)
          if (isLoopNest(op))
            nests.push_back(&op);
      if (nests.size() < minLoops)
        continue;
      // What stays is straight-line glue (allocations, calls, descriptor
      // plumbing): code generation at -O0 (optnone) keeps the JIT linear in
      // its size, where the instruction schedulers are not.
      OpBuilder b(f);
      f->setAttr("passthrough", b.getStrArrayAttr({"optnone", "noinline"}));
      unsigned index = 0;
      Operation *after = f; // keeps the new functions in program order
      for (Operation *nest : nests)
        after = outline(nest, f, after, symbols, index++);
    }
  }

  func::FuncOp outline(Operation *nest, func::FuncOp parent,
                       Operation *after, SymbolTable &symbols,
                       unsigned index) {
    // What the nest reads from outside: its operands and the values its
    // regions use. Constants are cloned into the new function.
    llvm::SetVector<Value> read;
    read.insert(nest->getOperands().begin(), nest->getOperands().end());
    getUsedValuesDefinedAbove(nest->getRegions(), read);
    SmallVector<Value> args;
    SmallVector<Operation *> constants;
    for (Value v : read) {
      Operation *def = v.getDefiningOp();
      if (def && def->getNumResults() == 1 && matchPattern(v, m_Constant()))
        constants.push_back(def);
      else
        args.push_back(v);
    }

    OpBuilder b(parent);
    b.setInsertionPointAfter(after);
    auto type = b.getFunctionType(ValueRange(args).getTypes(),
                                  nest->getResultTypes());
    auto fn = func::FuncOp::create(
        b, nest->getLoc(),
        (parent.getSymName() + "__loop" + Twine(index)).str(), type);
    fn.setPrivate();
    symbols.insert(fn); // renames on a clash
    Block *body = fn.addEntryBlock();
    b.setInsertionPointToStart(body);
    IRMapping map;
    for (auto [v, arg] : llvm::zip(args, body->getArguments()))
      map.map(v, arg);
    for (Operation *c : constants)
      b.clone(*c, map);
    Operation *copy = b.clone(*nest, map);
    func::ReturnOp::create(b, nest->getLoc(), copy->getResults());

    b.setInsertionPoint(nest);
    auto call = func::CallOp::create(b, nest->getLoc(), fn, args);
    nest->replaceAllUsesWith(call.getResults());
    nest->erase();
    return fn;
  }
};

} // namespace
