//===- SimplifyOwnership.cpp - what ownership-based deallocation added ----===//
//
// Implements --onebit-simplify-ownership (Passes.td): each
// bufferization.dealloc is rebuilt once without its (buffer, false) pairs,
// and each scf.index_switch once without the results that are one value in
// every case, before the canonicalizer, which removes them one per rewrite.
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "SwitchResults.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SetVector.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITSIMPLIFYOWNERSHIP
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

/// The constant `v` holds, or null.
Attribute constantOf(Value v) {
  auto cst = v.getDefiningOp<arith::ConstantOp>();
  return cst ? cst.getValue() : Attribute();
}

class SimplifyOwnership
    : public onebit::impl::OneBitSimplifyOwnershipBase<SimplifyOwnership> {
public:
  void runOnOperation() override {
    SmallVector<bufferization::DeallocOp> deallocs;
    SmallVector<scf::IndexSwitchOp> switches;
    getOperation().walk([&](Operation *op) {
      if (auto d = dyn_cast<bufferization::DeallocOp>(op))
        deallocs.push_back(d);
      else if (auto s = dyn_cast<scf::IndexSwitchOp>(op))
        switches.push_back(s);
    });
    for (bufferization::DeallocOp op : deallocs)
      simplify(op);
    for (scf::IndexSwitchOp op : switches)
      simplify(op);
    // Deallocation builds a `false` constant wherever it needs one: about
    // 8,500 in a 32-layer train step, most of them read by nothing once the
    // rewrites above are done. One walk erases them (the canonicalizer
    // after this pass would visit and erase each on its own).
    SmallVector<Operation *> dead;
    getOperation().walk([&](arith::ConstantOp op) {
      if (op->use_empty())
        dead.push_back(op);
    });
    for (Operation *op : dead)
      op->erase();
  }

private:
  static void simplify(bufferization::DeallocOp op) {
    SmallVector<Value> memrefs, conditions;
    // What defined the dropped pairs: the `false` constants and the base
    // buffers' metadata extraction, one per argument, erased here when
    // nothing else reads them.
    llvm::SetVector<Operation *> dropped;
    for (auto [m, c] : llvm::zip(op.getMemrefs(), op.getConditions())) {
      std::optional<int64_t> known = getConstantIntValue(c);
      if (known && *known == 0) {
        for (Value v : {m, c})
          if (Operation *def = v.getDefiningOp())
            dropped.insert(def);
        continue;
      }
      memrefs.push_back(m);
      conditions.push_back(c);
    }
    if (!memrefs.empty() && memrefs.size() == op.getMemrefs().size())
      return;
    OpBuilder b(op);
    if (memrefs.empty()) {
      // Nothing freed: each retained value's updated condition is false.
      Value no =
          arith::ConstantOp::create(b, op.getLoc(), b.getBoolAttr(false));
      for (Value r : op.getUpdatedConditions())
        r.replaceAllUsesWith(no);
    } else {
      auto kept = bufferization::DeallocOp::create(
          b, op.getLoc(), memrefs, conditions, op.getRetained());
      op.replaceAllUsesWith(kept.getResults());
    }
    op.erase();
    for (Operation *def : dropped)
      if (isOpTriviallyDead(def))
        def->erase();
  }

  /// A result every region yields as the same value from outside the
  /// switch, or as equal constants, is that value.
  static void simplify(scf::IndexSwitchOp op) {
    llvm::BitVector same(op.getNumResults());
    SmallVector<Operation *> yields;
    for (Region &region : op->getRegions())
      yields.push_back(region.front().getTerminator());
    OpBuilder b(op);
    for (unsigned r = 0; r < op.getNumResults(); ++r) {
      Value first = yields.front()->getOperand(r);
      Attribute cst = constantOf(first);
      bool outside = !op->isAncestor(first.getParentRegion()->getParentOp());
      for (Operation *y : yields) {
        Value v = y->getOperand(r);
        if (cst ? constantOf(v) != cst : v != first) {
          cst = nullptr;
          outside = false;
          break;
        }
      }
      if (cst) {
        auto c = cast<arith::ConstantOp>(first.getDefiningOp());
        op.getResult(r).replaceAllUsesWith(
            arith::ConstantOp::create(b, op.getLoc(), c.getType(),
                                      cast<TypedAttr>(cst))
                .getResult());
      } else if (outside) {
        op.getResult(r).replaceAllUsesWith(first);
      } else {
        continue;
      }
      same.set(r);
    }
    if (same.none())
      return;
    llvm::SetVector<Operation *> defs;
    for (Operation *y : yields)
      for (unsigned r = 0; r < op.getNumResults(); ++r)
        if (same.test(r))
          if (Operation *def = y->getOperand(r).getDefiningOp())
            defs.insert(def);
    onebit::dropSwitchResults(op, same);
    for (Operation *def : defs)
      if (isOpTriviallyDead(def))
        def->erase();
  }
};

} // namespace
