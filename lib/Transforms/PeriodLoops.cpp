//===- PeriodLoops.cpp - a repeated sequence of ops as one loop -----------===//
//
// Implements --onebit-period-loops (Passes.td): in a block, P consecutive
// ops that begin with a call and repeat N times with the same structure
// (one layer's backward call and its parameters' updates, once per layer)
// become one scf.for of N iterations over one copy of them. Values that flow
// from one repetition into the next are iteration arguments; values from
// before the repetitions that differ between them are picked by an
// scf.index_switch on the induction variable (integer constants in
// arithmetic progression are computed from it).
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "Progression.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/OperationSupport.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/STLExtras.h"

#include <map>

namespace onebit {
#define GEN_PASS_DEF_ONEBITPERIODLOOPS
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

/// Where the value an operand slot (op j of a period, operand i) reads comes
/// from, the same in every period.
struct Slot {
  enum Kind {
    Internal,    ///< result `result` of op `op` of the same period
    Chain,       ///< result `result` of op `op` of the period before; the
                 ///< first period reads a value from before the periods
    Same,        ///< one value from before the periods, in every period
    Progression, ///< integer constants a + b * k
    Switch       ///< values from before the periods that differ
  } kind;
  unsigned op = 0, result = 0;
  APInt a{}, b{};

  static Slot of(Kind kind, unsigned op = 0, unsigned result = 0) {
    Slot s;
    s.kind = kind;
    s.op = op;
    s.result = result;
    return s;
  }
};

/// The ops of a block, with their positions.
struct Ops {
  SmallVector<Operation *> list;
  llvm::DenseMap<Operation *, unsigned> index;
};

/// The candidate: `count` periods of `period` ops from `start`.
struct Periods {
  unsigned start, period, count;
};

class Roller {
public:
  Roller(const Ops &ops, Periods p) : ops_(ops), p_(p) {}

  Operation *at(unsigned k, unsigned j) const {
    return ops_.list[p_.start + k * p_.period + j];
  }

  /// (period, op in period) of `v`'s defining op when inside the periods.
  std::optional<std::pair<unsigned, unsigned>> where(Value v) const {
    Operation *def = v.getDefiningOp();
    if (!def)
      return std::nullopt;
    auto it = ops_.index.find(def);
    if (it == ops_.index.end() || it->second < p_.start ||
        it->second >= p_.start + p_.count * p_.period)
      return std::nullopt;
    unsigned rel = it->second - p_.start;
    return std::make_pair(rel / p_.period, rel % p_.period);
  }

  /// The largest number of leading periods (at most p_.count) that share
  /// period 0's structure; fills slots_ for them.
  unsigned matchingPeriods() {
    unsigned n = 1;
    for (unsigned k = 1; k < p_.count; ++k, ++n)
      if (!matches(k))
        break;
    return n;
  }

  /// Whether the periods' operands and results fit a loop; fills slots_.
  bool classify();
  /// Replaces the periods by the loop (after classify()).
  void roll();

private:
  /// Same op structure as period 0 for period k (k >= 1).
  bool matches(unsigned k) {
    for (unsigned j = 0; j < p_.period; ++j) {
      Operation *a = at(0, j), *b = at(k, j);
      if (a->getName() != b->getName() ||
          a->getNumOperands() != b->getNumOperands() ||
          a->getResultTypes() != b->getResultTypes() ||
          a->getNumRegions() != b->getNumRegions() ||
          a->getAttrDictionary() != b->getAttrDictionary())
        return false;
      for (auto [x, y] : llvm::zip(a->getOperands(), b->getOperands()))
        if (x.getType() != y.getType())
          return false;
      // Regions: equal op by op; what they read from outside must be the
      // same value or the corresponding value of the period.
      for (auto [ra, rb] : llvm::zip(a->getRegions(), b->getRegions())) {
        llvm::DenseMap<Value, Value> inner;
        auto check = [&](Value x, Value y) -> LogicalResult {
          if (x == y)
            return success();
          if (Value m = inner.lookup(x))
            return success(m == y);
          auto wx = where(x), wy = where(y);
          return success(wx && wy && wx->first == 0 && wy->first == k &&
                         wx->second == wy->second &&
                         cast<OpResult>(x).getResultNumber() ==
                             cast<OpResult>(y).getResultNumber());
        };
        auto mark = [&](Value x, Value y) { inner[x] = y; };
        if (!OperationEquivalence::isRegionEquivalentTo(
                &ra, &rb, check, mark, OperationEquivalence::IgnoreLocations))
          return false;
      }
    }
    return true;
  }

  const Ops &ops_;
  Periods p_;
  /// Per op of the period, per operand.
  SmallVector<SmallVector<Slot>> slots_;
};

bool Roller::classify() {
  const unsigned count = p_.count;
  slots_.assign(p_.period, {});
  for (unsigned j = 0; j < p_.period; ++j) {
    for (unsigned i = 0; i < at(0, j)->getNumOperands(); ++i) {
      SmallVector<Value> values;
      for (unsigned k = 0; k < count; ++k)
        values.push_back(at(k, j)->getOperand(i));
      Slot slot = Slot::of(Slot::Same);
      auto w0 = where(values[0]);
      auto w1 = where(values[1]);
      if (w0 && w0->first == 0) {
        slot = Slot::of(Slot::Internal, w0->second,
                        cast<OpResult>(values[0]).getResultNumber());
      } else if (w1 && w1->first == 0) {
        if (w0)
          return false; // read from inside the periods, not the one before
        slot = Slot::of(Slot::Chain, w1->second,
                        cast<OpResult>(values[1]).getResultNumber());
      } else if (w0 || w1) {
        return false;
      } else if (llvm::all_equal(values)) {
        slot = Slot::of(Slot::Same);
      } else {
        slot = Slot::of(Slot::Switch);
        if (auto ab = onebit::matchProgression(values)) {
          slot = Slot::of(Slot::Progression);
          slot.a = ab->first;
          slot.b = ab->second;
        }
      }
      // Every period must agree with the slot.
      for (unsigned k = 1; k < count; ++k) {
        Value v = values[k];
        auto w = where(v);
        switch (slot.kind) {
        case Slot::Internal:
        case Slot::Chain: {
          unsigned from = slot.kind == Slot::Internal ? k : k - 1;
          if (!w || w->first != from || w->second != slot.op ||
              cast<OpResult>(v).getResultNumber() != slot.result)
            return false;
          break;
        }
        case Slot::Same:
        case Slot::Progression:
        case Slot::Switch:
          // From before the periods (checked for 0 and 1 above).
          if (w)
            return false;
          break;
        }
      }
      slots_[j].push_back(slot);
    }
  }
  // A result of a rolled period may be read by its own period, by the next
  // one at a chain slot reading it, or, for the last period's chain
  // sources, after the loop (a loop result). Anything else the loop could
  // not provide.
  llvm::DenseSet<std::pair<unsigned, unsigned>> sources;
  for (unsigned j = 0; j < p_.period; ++j)
    for (const Slot &s : slots_[j])
      if (s.kind == Slot::Chain)
        sources.insert({s.op, s.result});
  Block *block = at(0, 0)->getBlock();
  unsigned end = p_.start + count * p_.period;
  for (unsigned k = 0; k < count; ++k)
    for (unsigned j = 0; j < p_.period; ++j)
      for (OpResult r : at(k, j)->getResults())
        for (OpOperand &use : r.getUses()) {
          Operation *user = use.getOwner();
          Operation *top = block->findAncestorOpInBlock(*user);
          if (!top)
            return false;
          auto it = ops_.index.find(top);
          // The terminator (not in the list) comes after every op.
          unsigned pos = it != ops_.index.end() ? it->second : ~0u;
          unsigned own = p_.start + k * p_.period;
          if (pos >= own && pos < own + p_.period)
            continue;
          bool source = sources.contains({j, r.getResultNumber()});
          if (pos >= end) {
            if (k + 1 == count && source)
              continue;
            return false;
          }
          unsigned rel = pos - p_.start;
          if (user != top || rel / p_.period != k + 1)
            return false;
          const Slot &s = slots_[rel % p_.period][use.getOperandNumber()];
          if (s.kind != Slot::Chain || s.op != j ||
              s.result != r.getResultNumber())
            return false;
        }
  return true;
}

void Roller::roll() {
  const unsigned count = p_.count;
  Operation *first = at(0, 0);
  Location loc = first->getLoc();
  OpBuilder b(first);
  // One iteration argument per (chain slot's source, initial value).
  struct Carried {
    unsigned op, result;
    Value init;
  };
  SmallVector<Carried> carried;
  llvm::DenseMap<std::pair<unsigned, unsigned>, unsigned> carriedOf; // slot
  for (unsigned j = 0; j < p_.period; ++j)
    for (auto [i, s] : llvm::enumerate(slots_[j])) {
      if (s.kind != Slot::Chain)
        continue;
      Value init = at(0, j)->getOperand(i);
      const Slot &slot = s;
      auto *it = llvm::find_if(carried, [&](const Carried &c) {
        return c.op == slot.op && c.result == slot.result && c.init == init;
      });
      if (it == carried.end()) {
        carried.push_back({s.op, s.result, init});
        it = carried.end() - 1;
      }
      carriedOf[{j, unsigned(i)}] = it - carried.begin();
    }
  SmallVector<Value> inits;
  for (const Carried &c : carried)
    inits.push_back(c.init);

  Value lb = arith::ConstantIndexOp::create(b, loc, 0);
  Value ub = arith::ConstantIndexOp::create(b, loc, count);
  Value step = arith::ConstantIndexOp::create(b, loc, 1);
  auto loop = scf::ForOp::create(
      b, loc, lb, ub, step, inits,
      [&](OpBuilder &nb, Location loc, Value iv, ValueRange iterArgs) {
        // The switch: one result per distinct sequence of values that switch
        // slots read (a weight read by the adjoint and by its update is
        // picked once).
        SmallVector<std::pair<unsigned, unsigned>> switched;
        llvm::DenseMap<std::pair<unsigned, unsigned>, unsigned> resultOf;
        std::map<SmallVector<void *>, unsigned> bySequence;
        for (unsigned j = 0; j < p_.period; ++j)
          for (auto [i, s] : llvm::enumerate(slots_[j])) {
            if (s.kind != Slot::Switch)
              continue;
            SmallVector<void *> sequence;
            for (unsigned k = 0; k < count; ++k)
              sequence.push_back(at(k, j)->getOperand(i).getAsOpaquePointer());
            auto [it, inserted] =
                bySequence.try_emplace(sequence, switched.size());
            if (inserted)
              switched.push_back({j, unsigned(i)});
            resultOf[{j, unsigned(i)}] = it->second;
          }
        llvm::DenseMap<std::pair<unsigned, unsigned>, Value> picked;
        if (!switched.empty()) {
          SmallVector<Type> types;
          for (auto [j, i] : switched)
            types.push_back(at(0, j)->getOperand(i).getType());
          SmallVector<int64_t> cases;
          for (int64_t k = 1; k < int64_t(count); ++k)
            cases.push_back(k);
          auto sw = scf::IndexSwitchOp::create(nb, loc, types, iv, cases,
                                               cases.size());
          auto fill = [&](Region &region, unsigned k) {
            OpBuilder rb = OpBuilder::atBlockBegin(&region.emplaceBlock());
            SmallVector<Value> yielded;
            for (auto [j, i] : switched)
              yielded.push_back(at(k, j)->getOperand(i));
            scf::YieldOp::create(rb, loc, yielded);
          };
          fill(sw.getDefaultRegion(), 0);
          for (auto [k, region] : llvm::enumerate(sw.getCaseRegions()))
            fill(region, k + 1);
          for (auto [ji, n] : resultOf)
            picked[ji] = sw.getResult(n);
        }
        IRMapping map;
        SmallVector<Operation *> clones;
        for (unsigned j = 0; j < p_.period; ++j) {
          Operation *op = at(0, j);
          Operation *clone = nb.clone(*op, map);
          // Values computed for the clone go before it.
          OpBuilder::InsertionGuard guard(nb);
          nb.setInsertionPoint(clone);
          for (auto [i, s] : llvm::enumerate(slots_[j])) {
            Value v;
            switch (s.kind) {
            case Slot::Internal:
              v = clones[s.op]->getResult(s.result);
              break;
            case Slot::Chain:
              v = iterArgs[carriedOf.lookup({j, unsigned(i)})];
              break;
            case Slot::Same:
              v = op->getOperand(i);
              break;
            case Slot::Switch:
              v = picked.lookup({j, unsigned(i)});
              break;
            case Slot::Progression:
              v = onebit::buildProgression(nb, loc, op->getOperand(i).getType(),
                                           iv, s.a, s.b);
              break;
            }
            clone->setOperand(i, v);
          }
          clones.push_back(clone);
        }
        SmallVector<Value> next;
        for (const Carried &c : carried)
          next.push_back(clones[c.op]->getResult(c.result));
        scf::YieldOp::create(nb, loc, next);
      });

  // The last rolled period's chain sources read after the loop.
  for (unsigned j = 0; j < p_.period; ++j)
    for (OpResult r : at(count - 1, j)->getResults()) {
      auto *it = llvm::find_if(carried, [&](const Carried &c) {
        return c.op == j && c.result == r.getResultNumber();
      });
      if (it != carried.end())
        r.replaceAllUsesWith(loop.getResult(it - carried.begin()));
    }
  for (unsigned k = count; k-- > 0;)
    for (unsigned j = p_.period; j-- > 0;)
      at(k, j)->erase();
}

/// Rolls the first periodic run of `block` it can; true if it rolled one.
bool rollOne(Block &block, unsigned minPeriods) {
  Ops ops;
  for (Operation &op : block.without_terminator()) {
    ops.index[&op] = ops.list.size();
    ops.list.push_back(&op);
  }
  // Positions of the calls of each callee.
  llvm::MapVector<StringAttr, SmallVector<unsigned>> calls;
  for (auto [n, op] : llvm::enumerate(ops.list))
    if (auto call = dyn_cast<func::CallOp>(op))
      calls[call.getCalleeAttr().getAttr()].push_back(n);
  for (auto &[callee, at] : calls) {
    for (size_t s = 0; s + 1 < at.size();) {
      unsigned period = at[s + 1] - at[s];
      size_t e = s + 1;
      while (e + 1 < at.size() && at[e + 1] - at[e] == period)
        ++e;
      // Calls s..e are `period` apart; the last period must fit the block.
      unsigned count = e - s + 1;
      while (count > 0 && at[s] + count * period > ops.list.size())
        --count;
      if (count >= std::max(minPeriods, 2u)) {
        unsigned n = Roller(ops, {at[s], period, count}).matchingPeriods();
        // The last matching period's results may be read in ways a loop
        // cannot return: then roll one period fewer (the periods before it
        // still match period 0).
        for (; n >= std::max(minPeriods, 2u); --n) {
          Roller r(ops, {at[s], period, n});
          if (r.classify()) {
            r.roll();
            return true;
          }
        }
      }
      s = e;
    }
  }
  return false;
}

struct PeriodLoopsPass
    : public onebit::impl::OneBitPeriodLoopsBase<PeriodLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    getOperation().walk([&](func::FuncOp fn) {
      if (fn.isExternal())
        return;
      for (Block &block : fn.getBody())
        while (rollOne(block, minPeriods)) {
        }
    });
  }
};

} // namespace
