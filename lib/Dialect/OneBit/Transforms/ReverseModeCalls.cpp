//===- ReverseModeCalls.cpp - reverse-mode AD: adjoints of func.call ------===//
//
// A call is differentiated through adjoint functions of its callee, made
// once per callee and use and called at every call site, so the backward of
// an outlined decoder layer is one function called once per layer:
//
//  * saved state (the default): the callee's normalized clone is swept in
//    adjoint mode (ReverseMode::runAdjoint), then cut in two. The primal
//    call becomes a call of `<callee>_fwd(args) -> (results...,
//    residuals...)`, which also returns the activations the backward reads,
//    and the backward `<callee>_bwd(residuals..., seeds...) -> (d args...)`
//    is called where the sweep reaches the call;
//  * recompute (activation checkpointing): the primal call stays and the
//    adjoint `<callee>_adj(args..., seeds...) -> (d args...)` runs the
//    callee's forward again from the call's operands before its backward,
//    so only the layer's inputs live from the forward to the backward.
//
//===----------------------------------------------------------------------===//

#include "ReverseMode.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/SetVector.h"

using namespace mlir;
using namespace onebit;
using namespace onebit::autodiff;

namespace {

/// A fresh private function name `<base>` or `<base>_<k>` in `module`.
std::string freshName(ModuleOp module, StringRef base) {
  std::string name = base.str();
  for (unsigned k = 1; SymbolTable::lookupSymbolIn(module, name); ++k)
    name = (base + "_" + Twine(k)).str();
  return name;
}

/// Forward ops the backward may recompute rather than take as residuals:
/// constants, and empty tensors of static shape.
bool isCheapToClone(Operation *op) {
  if (op->hasTrait<OpTrait::ConstantLike>())
    return true;
  auto empty = dyn_cast<tensor::EmptyOp>(op);
  return empty && empty->getNumOperands() == 0;
}

/// Cuts `adj`, a callee swept by runAdjoint whose original ops are
/// `forwardOps` and whose results were `primalResults`, into the backward
/// (a new function, returned) and the forward (`adj` itself, rewritten to
/// return the primal results and the residuals).
func::FuncOp splitAdjoint(func::FuncOp adj, unsigned numArgs,
                          const llvm::DenseSet<Operation *> &forwardOps,
                          ArrayRef<Value> primalResults, StringRef bwdName,
                          SmallVectorImpl<int64_t> &residualIndex) {
  Block &block = adj.getBody().front();
  Operation *ret = block.getTerminator();
  SmallVector<Operation *> reverseOps;
  for (Operation &op : block.without_terminator())
    if (!forwardOps.contains(&op))
      reverseOps.push_back(&op);

  // What the reverse ops (and the returned gradients) read from the
  // forward: callee arguments, cheap ops to clone, and residuals.
  llvm::SetVector<Value> residuals;
  llvm::SetVector<Operation *> clones;
  std::function<void(Value)> need = [&](Value v) {
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      if (arg.getOwner() == &block && arg.getArgNumber() < numArgs)
        residuals.insert(v);
      return;
    }
    Operation *def = block.findAncestorOpInBlock(*v.getDefiningOp());
    if (!def || !forwardOps.contains(def))
      return;
    if (isCheapToClone(def)) {
      if (clones.insert(def))
        for (Value o : def->getOperands())
          need(o);
      return;
    }
    residuals.insert(v);
  };
  for (Operation *op : reverseOps)
    op->walk([&](Operation *nested) {
      for (Value v : nested->getOperands())
        need(v);
    });
  for (Value v : ret->getOperands())
    need(v);

  // The backward: residuals, then the seeds (the arguments runAdjoint
  // appended), then the ops that use them.
  SmallVector<Type> argTypes;
  for (Value v : residuals)
    argTypes.push_back(v.getType());
  unsigned numSeeds = block.getNumArguments() - numArgs;
  for (unsigned s = 0; s < numSeeds; ++s)
    argTypes.push_back(block.getArgument(numArgs + s).getType());
  OpBuilder mb(adj);
  mb.setInsertionPointAfter(adj);
  auto bwd = func::FuncOp::create(
      mb, adj.getLoc(), bwdName,
      mb.getFunctionType(argTypes, ret->getOperandTypes()));
  bwd.setPrivate();
  Block *body = bwd.addEntryBlock();
  OpBuilder b = OpBuilder::atBlockBegin(body);
  IRMapping map;
  for (auto [i, v] : llvm::enumerate(residuals))
    map.map(v, body->getArgument(i));
  for (unsigned s = 0; s < numSeeds; ++s)
    map.map(block.getArgument(numArgs + s),
            body->getArgument(residuals.size() + s));
  for (Operation &op : block.without_terminator())
    if (clones.contains(&op))
      b.clone(op, map);
  for (Operation *op : reverseOps)
    b.clone(*op, map);
  SmallVector<Value> grads;
  for (Value v : ret->getOperands())
    grads.push_back(map.lookupOrDefault(v));
  func::ReturnOp::create(b, adj.getLoc(), grads);

  // The forward: the primal results, then the residuals that are not
  // arguments (those the call site has already).
  SmallVector<Value> fwdResults(primalResults);
  residualIndex.clear();
  for (Value v : residuals) {
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      residualIndex.push_back(arg.getArgNumber());
      continue;
    }
    // A value returned twice would be freed twice by the caller: a
    // residual that is a result already is read from that result.
    auto *at = llvm::find(fwdResults, v);
    residualIndex.push_back(~static_cast<int64_t>(at - fwdResults.begin()));
    if (at == fwdResults.end())
      fwdResults.push_back(v);
  }
  ret->setOperands(fwdResults);
  for (Operation *op : llvm::reverse(reverseOps))
    op->erase();
  llvm::BitVector seeds(block.getNumArguments());
  seeds.set(numArgs, block.getNumArguments());
  block.eraseArguments(seeds);
  adj.setType(FunctionType::get(adj.getContext(), block.getArgumentTypes(),
                                ValueRange(fwdResults).getTypes()));
  return bwd;
}

} // namespace

LogicalResult ReverseMode::visitCall(func::CallOp call) {
  auto module = fn->getParentOfType<ModuleOp>();
  auto callee = module ? dyn_cast_or_null<func::FuncOp>(
                             SymbolTable::lookupSymbolIn(module,
                                                         call.getCallee()))
                       : func::FuncOp();
  if (!callee || callee.isExternal() || !callee.getBody().hasOneBlock())
    return call.emitOpError()
           << "autodiff: cannot differentiate a call of '"
           << call.getCallee()
           << "': the callee must be a func.func with a body of one block";

  // The use: which operands are differentiated, which results carry an
  // adjoint.
  SmallVector<unsigned> wrt, seeded;
  std::string key = callee.getSymName().str() + "/";
  for (auto [i, v] : llvm::enumerate(call.getOperands())) {
    bool d = isVaried(v) && isDifferentiable(v.getType());
    if (d)
      wrt.push_back(i);
    key += d ? '1' : '0';
  }
  key += "/";
  for (auto [i, r] : llvm::enumerate(call.getResults())) {
    bool s = static_cast<bool>(adjointOf(r));
    if (s)
      seeded.push_back(i);
    key += s ? '1' : '0';
  }
  if (wrt.empty())
    return success();

  auto it = calls.entries.find(key);
  if (it == calls.entries.end()) {
    OpBuilder mb(callee);
    mb.setInsertionPointAfter(callee);
    auto adj = cast<func::FuncOp>(mb.clone(*callee));
    adj.setPrivate();
    StringRef base = callee.getSymName();
    adj.setName(freshName(module,
                          (base + (calls.recompute ? "_adj" : "_fwd")).str()));
    // The callee's argument and result attributes (a KV cache's in-place
    // ties) do not hold for the adjoint's signature.
    adj.removeArgAttrsAttr();
    adj.removeResAttrsAttr();
    llvm::DenseSet<Value> adjSte;
    if (failed(normalize(adj, adjSte))) {
      adj.erase();
      return failure();
    }
    unsigned numArgs = adj.getNumArguments();
    Block &block = adj.getBody().front();
    size_t numForward = block.getOperations().size() - 1;
    SmallVector<Value> primalResults(block.getTerminator()->getOperands());
    ReverseMode rm(adj, adjSte, calls);
    if (failed(rm.runAdjoint(wrt, seeded))) {
      adj.erase();
      return failure();
    }
    // The sweep emits the backward before the terminator; in the forward
    // it only replaces nested calls one for one, so the forward is still
    // the first ops of the block.
    llvm::DenseSet<Operation *> forwardOps;
    for (Operation &op : llvm::make_range(
             block.begin(), std::next(block.begin(), numForward)))
      forwardOps.insert(&op);
    CallAdjoints::Entry entry;
    if (calls.recompute) {
      entry.backward = adj;
      for (unsigned i = 0; i < numArgs; ++i)
        entry.residuals.push_back(i);
    } else {
      entry.forward = adj;
      entry.backward =
          splitAdjoint(adj, numArgs, forwardOps, primalResults,
                       freshName(module, (base + "_bwd").str()),
                       entry.residuals);
      simplify(entry.forward);
    }
    simplify(entry.backward);
    it = calls.entries.emplace(key, entry).first;
  }
  const CallAdjoints::Entry &entry = it->second;

  Location loc = call.getLoc();
  SmallVector<Value> operands;
  if (entry.forward) {
    // The primal call becomes the forward's, whose extra results are the
    // residuals.
    b.setInsertionPoint(call);
    auto fwd = func::CallOp::create(b, loc, entry.forward, call.getOperands());
    for (auto [old, now] : llvm::zip(call.getResults(), fwd.getResults()))
      old.replaceAllUsesWith(now);
    for (int64_t r : entry.residuals)
      operands.push_back(r >= 0 ? call.getOperand(r)
                                : fwd.getResult(~r));
    replacedCalls.push_back(call);
  } else {
    for (int64_t r : entry.residuals)
      operands.push_back(call.getOperand(r));
  }
  b.setInsertionPoint(fn.getBody().front().getTerminator());
  for (unsigned r : seeded)
    operands.push_back(adjointOf(call.getResult(r)));
  auto bwd = func::CallOp::create(b, loc, entry.backward, operands);
  for (auto [i, g] : llvm::zip(wrt, bwd.getResults()))
    accumulate(call.getOperand(i), g);
  return success();
}
