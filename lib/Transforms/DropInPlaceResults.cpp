//===- DropInPlaceResults.cpp - results written into arguments ------------===//
//
// Implements --onebit-drop-inplace-results (Passes.td): after One-Shot
// Bufferize, a result tied to an argument by `onebit.inplace_arg` must be
// that argument's buffer; it is removed from the signature so the caller's
// buffer is updated in place instead of cloned on return.
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/ADT/BitVector.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITDROPINPLACERESULTS
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

constexpr StringLiteral kInPlaceArg = "onebit.inplace_arg";

/// `v` with memref.cast ops looked through.
Value stripCasts(Value v) {
  while (auto cast = v.getDefiningOp<memref::CastOp>())
    v = cast.getSource();
  return v;
}

LogicalResult dropResults(func::FuncOp fn) {
  if (fn.isDeclaration())
    return success();
  llvm::BitVector drop(fn.getNumResults());
  for (unsigned r = 0; r < fn.getNumResults(); ++r) {
    auto tied = fn.getResultAttrOfType<IntegerAttr>(r, kInPlaceArg);
    if (!tied)
      continue;
    int64_t arg = tied.getInt();
    if (arg < 0 || arg >= int64_t(fn.getNumArguments()))
      return fn.emitError() << "result " << r << " is tied to argument "
                            << arg << ", which does not exist";
    if (!isa<BaseMemRefType>(fn.getResultTypes()[r]))
      return fn.emitError() << "result " << r
                            << " is tied to an argument but is not a buffer "
                               "yet (run after bufferization)";
    WalkResult walk = fn.walk([&](func::ReturnOp ret) {
      if (stripCasts(ret.getOperand(r)) == fn.getArgument(arg))
        return WalkResult::advance();
      ret.emitError() << "result " << r << " of @" << fn.getSymName()
                      << " should be written in place into argument " << arg
                      << ", but bufferization returns another buffer (the "
                         "argument is read after it is overwritten, or is "
                         "not writable)";
      return WalkResult::interrupt();
    });
    if (walk.wasInterrupted())
      return failure();
    drop.set(r);
  }
  if (drop.none())
    return success();
  fn.walk([&](func::ReturnOp ret) { ret->eraseOperands(drop); });
  return fn.eraseResults(drop);
}

struct DropInPlaceResults
    : onebit::impl::OneBitDropInPlaceResultsBase<DropInPlaceResults> {
  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>()) {
      // A caller inside the module would still expect the results: only
      // entry points (functions nothing in the module calls) change.
      std::optional<SymbolTable::UseRange> uses =
          SymbolTable::getSymbolUses(fn, getOperation());
      if (!uses || !uses->empty())
        continue;
      if (failed(dropResults(fn)))
        return signalPassFailure();
    }
  }
};

} // namespace
