//===- DistinctResults.cpp - each call result its own buffer --------------===//
//
// Implements --onebit-distinct-results (Passes.td). After One-Shot Bufferize
// a function that returns one tensor in two places returns one buffer
// twice, and ownership-based deallocation hands the caller both results as
// owned. Later passes (onebit-free-after-last-use) free each owned call
// result on its own, so the buffer would be freed twice. This pass gives
// every memref result of a function called in the module a buffer of its
// own: a private function whose every return repeats one value drops the
// repeat and its calls reuse the first result (nothing copied); any other
// repeat, or a view of a buffer already returned, is cloned on return.
// Functions the module does not call (entries) are left alone: the runtime
// frees a buffer returned twice once.
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "CallResults.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/ADT/BitVector.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITDISTINCTRESULTS
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

/// `v` with memref.cast ops looked through.
Value stripCasts(Value v) {
  while (auto cast = v.getDefiningOp<memref::CastOp>())
    v = cast.getSource();
  return v;
}

/// For each result of `fn`, the earlier result it may share a buffer with
/// in some return (-1: none).
SmallVector<int> findRepeats(func::FuncOp fn) {
  SmallVector<int> repeatOf(fn.getNumResults(), -1);
  fn.walk([&](func::ReturnOp ret) {
    for (unsigned j = 0; j < ret.getNumOperands(); ++j) {
      if (repeatOf[j] >= 0 || !isa<BaseMemRefType>(ret.getOperand(j).getType()))
        continue;
      Value root = onebit::viewRoot(ret.getOperand(j));
      for (unsigned i = 0; i < j; ++i)
        if (isa<BaseMemRefType>(ret.getOperand(i).getType()) &&
            onebit::viewRoot(ret.getOperand(i)) == root) {
          repeatOf[j] = int(i);
          break;
        }
    }
  });
  return repeatOf;
}

/// Whether every return of `fn` has the same value at `i` and `j` (casts
/// aside) and the two results have one type: then result `j` can go.
bool sameValueEverywhere(func::FuncOp fn, unsigned i, unsigned j) {
  if (fn.getResultTypes()[i] != fn.getResultTypes()[j])
    return false;
  bool same = true;
  fn.walk([&](func::ReturnOp ret) {
    same &= stripCasts(ret.getOperand(i)) == stripCasts(ret.getOperand(j));
  });
  return same;
}

/// Makes the memref results of `fn` distinct buffers. `calls`: every use of
/// `fn` in the module when all of them are calls and `fn` is private (then
/// results may be dropped); empty otherwise.
LogicalResult makeDistinct(func::FuncOp fn, ArrayRef<func::CallOp> calls,
                           bool canDrop) {
  SmallVector<int> repeatOf = findRepeats(fn);
  llvm::BitVector drop(fn.getNumResults());
  for (unsigned j = 0; j < repeatOf.size(); ++j) {
    if (repeatOf[j] < 0)
      continue;
    unsigned i = unsigned(repeatOf[j]);
    // Result i may itself be a dropped repeat: follow it to what stays.
    while (repeatOf[i] >= 0 && drop.test(i))
      i = unsigned(repeatOf[i]);
    if (canDrop && sameValueEverywhere(fn, i, j)) {
      drop.set(j);
      repeatOf[j] = int(i);
      continue;
    }
    // A view of a buffer returned before, or the same buffer in only some
    // returns: return a copy the caller owns on its own.
    fn.walk([&](func::ReturnOp ret) {
      Value v = ret.getOperand(j);
      Value root = onebit::viewRoot(v);
      bool shared = false;
      for (unsigned k = 0; k < j; ++k)
        shared |= isa<BaseMemRefType>(ret.getOperand(k).getType()) &&
                  onebit::viewRoot(ret.getOperand(k)) == root;
      if (!shared)
        return;
      OpBuilder b(ret);
      ret.setOperand(j, bufferization::CloneOp::create(b, ret.getLoc(), v));
    });
    repeatOf[j] = -1;
  }
  if (drop.none())
    return success();
  for (func::CallOp call : calls)
    onebit::dropCallResults(call, drop,
                            [&](OpBuilder &, unsigned r, ArrayRef<Value> kept) {
                              return kept[unsigned(repeatOf[r])];
                            });
  fn.walk([&](func::ReturnOp ret) { ret->eraseOperands(drop); });
  return fn.eraseResults(drop);
}

struct DistinctResults
    : onebit::impl::OneBitDistinctResultsBase<DistinctResults> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Every function's users, found in one walk of the module (a walk per
    // function grew with the module times its functions).
    SymbolTableCollection symbolTables;
    SymbolUserMap users(symbolTables, module);
    for (auto fn : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (fn.isDeclaration())
        continue;
      ArrayRef<Operation *> userOps = users.getUsers(fn);
      if (userOps.empty())
        continue; // an entry: the runtime frees a repeated buffer once
      SmallVector<func::CallOp> calls;
      bool onlyCalls = true;
      for (Operation *user : userOps) {
        auto call = dyn_cast<func::CallOp>(user);
        onlyCalls &= bool(call);
        if (call)
          calls.push_back(call);
      }
      const bool canDrop = onlyCalls && fn.isPrivate();
      if (failed(makeDistinct(fn, canDrop ? ArrayRef(calls) : ArrayRef<func::CallOp>{},
                              canDrop)))
        return signalPassFailure();
    }
  }
};

} // namespace
