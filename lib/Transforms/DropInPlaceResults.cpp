//===- DropInPlaceResults.cpp - results written into arguments ------------===//
//
// Implements --onebit-drop-inplace-results (Passes.td): after One-Shot
// Bufferize, a result tied to an argument by `onebit.inplace_arg` must be
// that argument's buffer; it is removed from the signature so the caller's
// buffer is updated in place instead of cloned on return. A function
// called in the module (an outlined layer) loses it too, and its calls use
// the operand the result was written into; a loop over such calls then
// yields its iteration argument unchanged.
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "CallResults.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/BitVector.h"
#include "llvm/ADT/DenseMap.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITDROPINPLACERESULTS
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

constexpr StringLiteral kInPlaceArg = "onebit.inplace_arg";

/// `v` with memref.cast ops looked through, and the results of scf.for
/// loops that yield their iteration argument unchanged (a KV cache carried
/// by a loop over the layers, onebit-layer-loops): the loop's initial value.
Value stripCasts(Value v) {
  while (true) {
    if (auto cast = v.getDefiningOp<memref::CastOp>()) {
      v = cast.getSource();
      continue;
    }
    auto loop = v.getDefiningOp<scf::ForOp>();
    if (!loop)
      return v;
    unsigned k = cast<OpResult>(v).getResultNumber();
    if (loop.getYieldedValues()[k] != loop.getRegionIterArgs()[k])
      return v;
    v = loop.getInitArgs()[k];
  }
}

/// Drops the results of `fn` tied to an argument. `calls`: every call of
/// `fn`; each dropped result of a call is replaced by the operand it was
/// written into.
LogicalResult dropResults(func::FuncOp fn, ArrayRef<func::CallOp> calls) {
  if (fn.isDeclaration())
    return success();
  llvm::BitVector drop(fn.getNumResults());
  // The function's returns, collected once (not one walk per result).
  SmallVector<func::ReturnOp> returns;
  fn.walk([&](func::ReturnOp ret) { returns.push_back(ret); });
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
    for (func::ReturnOp ret : returns) {
      if (stripCasts(ret.getOperand(r)) == fn.getArgument(arg))
        continue;
      return ret.emitError()
             << "result " << r << " of @" << fn.getSymName()
             << " should be written in place into argument " << arg
             << ", but bufferization returns another buffer (the argument is "
                "read after it is overwritten, or is not writable)";
    }
    drop.set(r);
  }
  if (drop.none())
    return success();
  for (func::CallOp call : calls)
    onebit::dropCallResults(
        call, drop, [&](OpBuilder &b, unsigned r, ArrayRef<Value>) -> Value {
          int64_t arg =
              fn.getResultAttrOfType<IntegerAttr>(r, kInPlaceArg).getInt();
          Value operand = call.getOperand(arg);
          Type type = call.getResult(r).getType();
          if (operand.getType() != type)
            operand = memref::CastOp::create(b, call.getLoc(), type, operand);
          return operand;
        });
  for (func::ReturnOp ret : returns)
    ret->eraseOperands(drop);
  return fn.eraseResults(drop);
}

struct DropInPlaceResults
    : onebit::impl::OneBitDropInPlaceResultsBase<DropInPlaceResults> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Functions called inside the module first (outlined layers that write a
    // KV cache: onebit-outline-layers), then the entry points: once a
    // callee's tied results are gone, its caller returns its own argument
    // again. A function used other than by calls is left alone.
    // The users of every symbol, from one walk of the module (a walk per
    // function was quadratic in the number of outlined functions).
    std::optional<SymbolTable::UseRange> allUses =
        SymbolTable::getSymbolUses(&module.getBodyRegion());
    if (!allUses)
      return;
    llvm::DenseMap<StringAttr, SmallVector<Operation *>> users;
    for (const SymbolTable::SymbolUse &use : *allUses)
      users[use.getSymbolRef().getRootReference()].push_back(use.getUser());
    SmallVector<std::pair<func::FuncOp, SmallVector<func::CallOp>>> callees;
    SmallVector<func::FuncOp> entries;
    for (auto fn : module.getOps<func::FuncOp>()) {
      auto it = users.find(fn.getSymNameAttr());
      if (it == users.end()) {
        entries.push_back(fn);
        continue;
      }
      // A public function called in the module too (a data-parallel
      // gradient that the fused step also calls) is treated as a callee:
      // its signature changes as an entry's would, and its calls follow.
      SmallVector<func::CallOp> calls;
      bool onlyCalls = true;
      for (Operation *user : it->second) {
        auto call = dyn_cast<func::CallOp>(user);
        if (!call)
          onlyCalls = false;
        else
          calls.push_back(call);
      }
      if (onlyCalls)
        callees.push_back({fn, std::move(calls)});
    }
    for (auto &[fn, calls] : callees)
      if (failed(dropResults(fn, calls)))
        return signalPassFailure();
    for (func::FuncOp fn : entries)
      if (failed(dropResults(fn, {})))
        return signalPassFailure();
  }
};

} // namespace
