//===- OutlineLoopNests.cpp - loop nests of large functions to functions --===//
//
// LLVM's function passes are superlinear in the size of a function; a
// generated train step is one function with thousands of loop nests. Each
// top-level loop nest of such a function becomes a private function of its
// own (constants cloned in, other values read passed as arguments), so the
// JIT's per-function work stays small; the straight-line rest is marked
// optnone, since LLVM's schedulers are superlinear in the size of a block.
// Nests that outline to the same function (the same ops, types and cloned
// constants: the Adam update of every parameter of one shape, a layer's
// gradient glue repeated per layer) share one, so the code LLVM compiles
// follows the distinct nests, not the depth of the model.
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITOUTLINELOOPNESTS
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

bool isLoopNest(Operation &op) {
  return isa<scf::ForOp, scf::ParallelOp>(op);
}

/// A loop over layers (onebit-period-loops, onebit-layer-loops): glue that
/// calls functions and picks each layer's values, not a loop nest. Its body
/// is glue like the function's, and the nests in it are outlined.
bool isGlueLoop(Operation &op) {
  auto loop = dyn_cast<scf::ForOp>(op);
  if (!loop)
    return false;
  for (Operation &inner : *loop.getBody())
    if (isa<func::CallOp, scf::IndexSwitchOp>(inner))
      return true;
  return false;
}

/// A linalg op on buffers: with linalg-ops=true, the unit outlined (before
/// vectorization and loop lowering, so that these run once per distinct op).
bool isBufferLinalgOp(Operation &op) {
  auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
  return linalgOp && linalgOp.hasPureBufferSemantics();
}

struct OutlineLoopNestsPass
    : public onebit::impl::OneBitOutlineLoopNestsBase<OutlineLoopNestsPass> {
  using Base::Base;

  /// What this pass outlines: loop nests, or with linalg-ops linalg ops
  /// (but a glue loop, checked first, is not one: the units in its body
  /// are).
  bool isUnit(Operation &op) const {
    return linalgOps ? isBufferLinalgOp(op) : isLoopNest(op);
  }

  /// A function of at least `minOps` ops besides the units (an entry that
  /// returns hundreds of constants: a deep model's @F_train_init copies
  /// each into a buffer of its own, thousands of calls in one block). Not
  /// a loop to optimise, and a block on which the schedulers are
  /// superlinear. minOps = 0: never.
  bool isLargeGlue(func::FuncOp f) const {
    if (!minOps)
      return false;
    unsigned count = 0;
    for (Block &block : f.getBody())
      for (Operation &op : block)
        if ((!isUnit(op) || isGlueLoop(op)) && ++count >= minOps)
          return true;
    return false;
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> funcs(module.getOps<func::FuncOp>());
    llvm::StringMap<func::FuncOp> outlined; // body text -> function
    for (func::FuncOp f : funcs) {
      if (f.isExternal())
        continue;
      SmallVector<Operation *> nests;
      for (Block &block : f.getBody())
        collect(block, nests);
      if (nests.size() < minLoops && !isLargeGlue(f))
        continue;
      // What stays is straight-line glue (allocations, calls, descriptor
      // plumbing): code generation at -O0 (optnone) keeps the JIT linear in
      // its size, where the instruction schedulers are not.
      OpBuilder b(f);
      f->setAttr("passthrough", b.getStrArrayAttr({"optnone", "noinline"}));
      unsigned index = 0;
      Operation *after = f; // keeps the new functions in program order
      for (Operation *nest : nests)
        after = outline(nest, f, after, symbols, outlined, index);
    }
  }

  /// The units to outline in `block`, and in the glue loops in it.
  void collect(Block &block, SmallVector<Operation *> &nests) {
    for (Operation &op : block) {
      if (isGlueLoop(op)) {
        collect(*cast<scf::ForOp>(op).getBody(), nests);
        continue;
      }
      if (isUnit(op))
        nests.push_back(&op);
    }
  }

  /// The function's text with its name left out: equal keys, equal
  /// functions (the printer numbers values in order, locations omitted).
  static std::string bodyKey(func::FuncOp fn) {
    std::string name = fn.getSymName().str();
    fn.setSymName("k");
    std::string key;
    llvm::raw_string_ostream os(key);
    fn->print(os, OpPrintingFlags().useLocalScope().printGenericOpForm());
    fn.setSymName(name);
    return key;
  }

  /// Moves `nest` into a private function (or calls an equal one outlined
  /// before). Returns the op after which the next function goes.
  Operation *outline(Operation *nest, func::FuncOp parent, Operation *after,
                     SymbolTable &symbols,
                     llvm::StringMap<func::FuncOp> &outlined, unsigned &index) {
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
    Block *body = fn.addEntryBlock();
    b.setInsertionPointToStart(body);
    IRMapping map;
    for (auto [v, arg] : llvm::zip(args, body->getArguments()))
      map.map(v, arg);
    for (Operation *c : constants)
      b.clone(*c, map);
    Operation *copy = b.clone(*nest, map);
    func::ReturnOp::create(b, nest->getLoc(), copy->getResults());
    auto [it, added] = outlined.try_emplace(bodyKey(fn), fn);
    if (added) {
      symbols.insert(fn); // renames on a clash
      after = fn;
      ++index;
    } else {
      fn.erase();
      fn = it->second;
    }

    b.setInsertionPoint(nest);
    auto call = func::CallOp::create(b, nest->getLoc(), fn, args);
    nest->replaceAllUsesWith(call.getResults());
    nest->erase();
    return after;
  }
};

} // namespace
