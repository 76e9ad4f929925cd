//===- LayerLoops.cpp - a run of layer calls as one loop ------------------===//
//
// Implements --onebit-layer-loops (Passes.td): consecutive calls of one
// function, each fed by the one before, become one scf.for over the calls.
// The operands that differ from call to call are constant-like ops; the loop
// computes them from its induction variable (an arithmetic progression) or
// picks them with an scf.index_switch, so the caller's code no longer grows
// with the number of calls.
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "Progression.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SetVector.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITLAYERLOOPS
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

/// An op that can be copied anywhere: no operands, no regions, no memory
/// effects (arith.constant, memref.get_global of a constant global).
bool isConstantLike(Operation *op) {
  return op && op->getNumOperands() == 0 && op->getNumRegions() == 0 &&
         op->getNumResults() == 1 && isMemoryEffectFree(op);
}

/// Which result of the previous call each operand position takes: the
/// positions a run carries from call to call, with the result feeding each.
using Chain = SmallVector<std::pair<unsigned, unsigned>>; // (operand, result)

/// The chain from `prev` to `next` when every used result of `prev` is an
/// operand of `next` and nothing else uses it; empty otherwise.
Chain chainBetween(func::CallOp prev, func::CallOp next) {
  Chain chain;
  for (OpOperand &use : next->getOpOperands())
    if (auto r = dyn_cast<OpResult>(use.get()); r && r.getOwner() == prev)
      chain.push_back({use.getOperandNumber(), r.getResultNumber()});
  for (Value r : prev.getResults())
    for (Operation *user : r.getUsers())
      if (user != next.getOperation())
        return {};
  return chain;
}

/// Rolls `calls` (a run: one callee, each call fed by the previous one) into
/// one scf.for. Returns false, changing nothing, when an operand differs
/// between calls and is not constant-like.
bool rollRun(ArrayRef<func::CallOp> calls, unsigned minCalls) {
  // The last call stays out of the loop when it has a used result that is
  // no operand of a next call: the loop could not return it.
  Chain chain = chainBetween(calls[0], calls[1]);
  llvm::SmallDenseSet<unsigned> carried;
  for (auto [p, r] : chain)
    carried.insert(r);
  func::CallOp last = calls.back();
  bool peel = llvm::any_of(last.getResults(), [&](OpResult r) {
    return !r.use_empty() && !carried.contains(r.getResultNumber());
  });
  ArrayRef<func::CallOp> rolled = peel ? calls.drop_back() : calls;
  if (rolled.size() < std::max(minCalls, 2u))
    return false;

  // Classify the operands that are not carried.
  llvm::SmallDenseSet<unsigned> carriedPos;
  for (auto [p, r] : chain)
    carriedPos.insert(p);
  enum class Kind { Same, Progression, Switch };
  struct Varying {
    unsigned pos;
    Kind kind;
    APInt a, b;
  };
  SmallVector<Varying> operands;
  func::CallOp first = rolled.front();
  for (unsigned p = 0; p < first.getNumOperands(); ++p) {
    if (carriedPos.contains(p))
      continue;
    SmallVector<Value> values;
    for (func::CallOp call : rolled)
      values.push_back(call.getOperand(p));
    if (llvm::all_equal(values)) {
      operands.push_back({p, Kind::Same, APInt(), APInt()});
      continue;
    }
    if (auto ab = onebit::matchProgression(values)) {
      operands.push_back({p, Kind::Progression, ab->first, ab->second});
      continue;
    }
    if (!llvm::all_of(
            values, [](Value v) { return isConstantLike(v.getDefiningOp()); }))
      return false;
    operands.push_back({p, Kind::Switch, APInt(), APInt()});
  }

  OpBuilder b(rolled.back());
  Location loc = first.getLoc();
  Value lb = arith::ConstantIndexOp::create(b, loc, 0);
  Value ub = arith::ConstantIndexOp::create(b, loc, rolled.size());
  Value step = arith::ConstantIndexOp::create(b, loc, 1);
  SmallVector<Value> inits;
  for (auto [p, r] : chain)
    inits.push_back(first.getOperand(p));

  auto loop = scf::ForOp::create(
      b, loc, lb, ub, step, inits,
      [&](OpBuilder &nb, Location loc, Value iv, ValueRange iterArgs) {
        SmallVector<Value> args(first.getNumOperands());
        for (auto [k, pr] : llvm::enumerate(chain))
          args[pr.first] = iterArgs[k];

        // One switch picks every differing constant of the layer.
        SmallVector<unsigned> switched;
        for (const Varying &v : operands)
          if (v.kind == Kind::Switch)
            switched.push_back(v.pos);
        if (!switched.empty()) {
          SmallVector<Type> types;
          for (unsigned p : switched)
            types.push_back(first.getOperand(p).getType());
          SmallVector<int64_t> cases;
          for (int64_t k = 1; k < int64_t(rolled.size()); ++k)
            cases.push_back(k);
          auto sw = scf::IndexSwitchOp::create(nb, loc, types, iv, cases,
                                               cases.size());
          auto fill = [&](Region &region, func::CallOp call) {
            OpBuilder rb = OpBuilder::atBlockBegin(&region.emplaceBlock());
            IRMapping map;
            SmallVector<Value> yielded;
            for (unsigned p : switched) {
              Value v = call.getOperand(p);
              if (!map.contains(v))
                rb.clone(*v.getDefiningOp(), map);
              yielded.push_back(map.lookup(v));
            }
            scf::YieldOp::create(rb, loc, yielded);
          };
          fill(sw.getDefaultRegion(), rolled[0]);
          for (auto [k, region] : llvm::enumerate(sw.getCaseRegions()))
            fill(region, rolled[k + 1]);
          for (auto [p, v] : llvm::zip(switched, sw.getResults()))
            args[p] = v;
        }

        for (const Varying &v : operands) {
          Value orig = first.getOperand(v.pos);
          if (v.kind == Kind::Same) {
            args[v.pos] = orig;
          } else if (v.kind == Kind::Progression) {
            args[v.pos] =
                onebit::buildProgression(nb, loc, orig.getType(), iv, v.a, v.b);
          }
        }
        auto call = func::CallOp::create(nb, loc, first.getCallee(),
                                         first.getResultTypes(), args);
        call->setDiscardableAttrs(first->getDiscardableAttrDictionary());
        SmallVector<Value> next;
        for (auto [p, r] : chain)
          next.push_back(call.getResult(r));
        scf::YieldOp::create(nb, loc, next);
      });

  // The rolled run's last call's results are the loop's.
  func::CallOp end = rolled.back();
  for (OpResult r : end.getResults()) {
    if (r.use_empty())
      continue;
    auto *it = llvm::find_if(
        chain, [&](auto pr) { return pr.second == r.getResultNumber(); });
    r.replaceAllUsesWith(loop.getResult(it - chain.begin()));
  }
  // A constant may feed several calls (tied weights): each erased once.
  llvm::SetVector<Operation *> defs;
  for (func::CallOp call : llvm::reverse(rolled)) {
    for (Value v : call.getOperands())
      if (isConstantLike(v.getDefiningOp()))
        defs.insert(v.getDefiningOp());
    call.erase();
  }
  for (Operation *def : defs)
    if (def->use_empty())
      def->erase();
  return true;
}

/// The runs of `block`, in order.
SmallVector<SmallVector<func::CallOp>> findRuns(Block &block) {
  SmallVector<SmallVector<func::CallOp>> runs;
  SmallVector<func::CallOp> run;
  Chain chain;
  auto flush = [&] {
    if (run.size() >= 2)
      runs.push_back(run);
    run.clear();
    chain.clear();
  };
  for (Operation &op : block) {
    if (isConstantLike(&op))
      continue;
    auto call = dyn_cast<func::CallOp>(op);
    if (!call) {
      flush();
      continue;
    }
    if (!run.empty() && run.back().getCallee() == call.getCallee()) {
      Chain c = chainBetween(run.back(), call);
      if (!c.empty() && (run.size() == 1 || c == chain)) {
        chain = c;
        run.push_back(call);
        continue;
      }
    }
    flush();
    run.push_back(call);
  }
  flush();
  return runs;
}

struct LayerLoopsPass
    : public onebit::impl::OneBitLayerLoopsBase<LayerLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<Block *> blocks;
    getOperation().walk([&](func::FuncOp fn) {
      fn.walk([&](Block *block) { blocks.push_back(block); });
    });
    for (Block *block : blocks)
      for (auto &run : findRuns(*block))
        rollRun(run, minCalls);
  }
};

} // namespace
