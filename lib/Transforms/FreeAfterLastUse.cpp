//===- FreeAfterLastUse.cpp - free buffers after their last use -----------===//
//
// Ownership-based deallocation frees every temporary of a straight-line
// function in one bufferization.dealloc before the return, and upstream's
// simplification then compares each of those buffers with each retained
// value: quadratic in the function size. This pass takes every buffer whose
// aliases it can see completely (a memref.alloc of the dealloc's block,
// reached only through view-like ops, passed on to nothing but calls of
// functions defined in the module, which return buffers of their own) out
// of that dealloc and frees it with memref.dealloc after its last use. One
// walk over the block numbers its ops; each buffer's uses are visited once.
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallBitVector.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITFREEAFTERLASTUSE
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

// The memref results of `op` that alias `operand` when `op` is a view of
// it; std::nullopt when `op` is not a view.
std::optional<SmallVector<Value>> viewResults(Operation *op, Value operand) {
  if (auto meta = dyn_cast<memref::ExtractStridedMetadataOp>(op))
    return SmallVector<Value>{meta.getBaseBuffer()};
  if (auto view = dyn_cast<ViewLikeOpInterface>(op)) {
    if (view.getViewSource() != operand)
      return std::nullopt;
    SmallVector<Value> out;
    for (Value r : op->getResults())
      if (isa<BaseMemRefType>(r.getType()))
        out.push_back(r);
    return out;
  }
  return std::nullopt;
}

bool hasMemRefResult(Operation *op) {
  return llvm::any_of(op->getResultTypes(), [](Type t) {
    return !isa<IntegerType, IndexType, FloatType, VectorType,
                RankedTensorType>(t);
  });
}

// The buffer a dealloc entry frees and that this pass can follow: a
// memref.alloc, bufferization.clone or func.call result of the dealloc's
// block (callees return buffers their caller owns), named either directly or
// through the base_buffer of an extract_strided_metadata that nothing else
// reads.
struct Root {
  Value buffer;
  Operation *metadata = nullptr; // the extract_strided_metadata, if any
};

std::optional<Root> findRoot(Value entry, Block *block) {
  Root root{entry};
  if (auto meta = entry.getDefiningOp<memref::ExtractStridedMetadataOp>()) {
    if (!entry.hasOneUse() ||
        llvm::any_of(meta->getResults().drop_front(),
                     [](Value v) { return !v.use_empty(); }))
      return std::nullopt;
    root = Root{meta.getSource(), meta};
  }
  Operation *def = root.buffer.getDefiningOp();
  if (!def || def->getBlock() != block ||
      !isa<memref::AllocOp, bufferization::CloneOp, func::CallOp>(def))
    return std::nullopt;
  return root;
}

struct FreeAfterLastUsePass
    : public onebit::impl::OneBitFreeAfterLastUseBase<FreeAfterLastUsePass> {
  void runOnOperation() override {
    SymbolTableCollection tables;
    symbolTables = &tables;
    SmallVector<bufferization::DeallocOp> deallocs;
    getOperation()->walk(
        [&](bufferization::DeallocOp op) { deallocs.push_back(op); });
    for (bufferization::DeallocOp d : deallocs)
      process(d);
  }

  // A call of a function defined in this module: after ownership-based
  // deallocation, each memref it returns is a buffer the caller owns, never
  // an alias of an argument (the callee clones what it does not own before
  // returning it), so passing a buffer to it is an ordinary use.
  bool returnsOwnedBuffers(Operation *op) {
    auto call = dyn_cast<func::CallOp>(op);
    if (!call)
      return false;
    auto callee = symbolTables->lookupNearestSymbolFrom<func::FuncOp>(
        call, call.getCalleeAttr());
    return callee && !callee.isExternal();
  }

  SymbolTableCollection *symbolTables = nullptr;

  // What to do with one entry of the dealloc.
  struct Plan {
    Operation *lastUse = nullptr;     // free after this op of the block ...
    SmallVector<unsigned> returned;   // ... unless these retained values
                                      // (the caller then owns the buffer)
  };

  // Follows every alias of `root`; std::nullopt when one escapes what this
  // pass can see.
  std::optional<Plan> follow(const Root &root, bufferization::DeallocOp d,
                             unsigned entry, Block *block,
                             const DenseMap<Operation *, unsigned> &order,
                             const DenseSet<Value> &retained) {
    Plan plan;
    Operation *def = root.buffer.getDefiningOp();
    plan.lastUse = def;
    unsigned lastIdx = order.lookup(def);
    const unsigned nMemrefs = d.getMemrefs().size();
    SmallVector<Value> work{root.buffer};
    while (!work.empty()) {
      Value v = work.pop_back_val();
      for (OpOperand &use : v.getUses()) {
        Operation *user = use.getOwner();
        if (user == root.metadata)
          continue; // only names the buffer for the dealloc
        if (user == d.getOperation()) {
          unsigned k = use.getOperandNumber();
          if (k == entry)
            continue;
          if (k < 2 * nMemrefs)
            return std::nullopt; // listed a second time
          plan.returned.push_back(k - 2 * nMemrefs);
          continue;
        }
        // Returned: the caller owns it, which the dealloc knows only if it
        // retains the value.
        if (isa<func::ReturnOp>(user) && user->getBlock() == block) {
          if (!retained.contains(v))
            return std::nullopt;
          continue;
        }
        if (user->hasTrait<OpTrait::IsTerminator>() ||
            isa<memref::DeallocOp, bufferization::DeallocOp>(user))
          return std::nullopt;
        if (auto views = viewResults(user, v))
          llvm::append_range(work, *views);
        else if (hasMemRefResult(user) && !isa<bufferization::CloneOp>(user) &&
                 !returnsOwnedBuffers(user))
          return std::nullopt; // may return an alias we cannot follow
        Operation *anchor = block->findAncestorOpInBlock(*user);
        if (!anchor)
          return std::nullopt;
        unsigned idx = order.lookup(anchor);
        if (idx > lastIdx) {
          lastIdx = idx;
          plan.lastUse = anchor;
        }
      }
    }
    if (lastIdx > order.lookup(d))
      return std::nullopt;
    return plan;
  }

  void process(bufferization::DeallocOp d) {
    Block *block = d->getBlock();
    DenseMap<Operation *, unsigned> order;
    unsigned n = 0;
    for (Operation &op : *block)
      order[&op] = n++;
    DenseSet<Value> retained(d.getRetained().begin(), d.getRetained().end());

    SmallVector<std::pair<Value, Operation *>> frees;
    SmallVector<Value> keptMemrefs, keptConds;
    llvm::SmallBitVector dropRetained(d.getRetained().size());
    for (auto [i, pair] :
         llvm::enumerate(llvm::zip(d.getMemrefs(), d.getConditions()))) {
      auto [memref, cond] = pair;
      std::optional<Plan> plan;
      std::optional<Root> root;
      if (matchPattern(cond, m_One()) && (root = findRoot(memref, block)))
        plan = follow(*root, d, i, block, order, retained);
      if (!plan) {
        keptMemrefs.push_back(memref);
        keptConds.push_back(cond);
        continue;
      }
      if (plan->returned.empty())
        frees.push_back({root->buffer, plan->lastUse});
      for (unsigned j : plan->returned)
        dropRetained.set(j);
    }
    if (keptMemrefs.size() == d.getMemrefs().size())
      return;

    OpBuilder b(d);
    for (auto [buffer, last] : frees) {
      b.setInsertionPointAfter(last);
      memref::DeallocOp::create(b, buffer.getLoc(), buffer);
    }
    // A dropped retained value aliased one of its entries, whose condition
    // was true: its ownership result is true.
    b.setInsertionPoint(d);
    SmallVector<Value> keptRetained;
    for (auto [j, r] : llvm::enumerate(d.getRetained()))
      if (!dropRetained.test(j))
        keptRetained.push_back(r);
    auto replacement = bufferization::DeallocOp::create(
        b, d.getLoc(), keptMemrefs, keptConds, keptRetained);
    Value trueValue;
    unsigned next = 0;
    for (auto [j, result] : llvm::enumerate(d.getResults())) {
      if (!dropRetained.test(j)) {
        result.replaceAllUsesWith(replacement.getResult(next++));
        continue;
      }
      if (result.use_empty())
        continue;
      if (!trueValue)
        trueValue = arith::ConstantIntOp::create(b, d.getLoc(), 1, 1);
      result.replaceAllUsesWith(trueValue);
    }
    d->erase();
  }
};

} // namespace
