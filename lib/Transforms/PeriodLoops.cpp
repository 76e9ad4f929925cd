//===- PeriodLoops.cpp - a repeated sequence of ops as one loop -----------===//
//
// Implements --onebit-period-loops (Passes.td): in a block, P consecutive
// ops that repeat N times with the same structure (one layer's forward call,
// its loss term, its backward call and its parameters' updates, once per
// layer) become one scf.for of N iterations over one copy of them. Values
// that flow from one repetition into the next are iteration arguments;
// values from before the repetitions that differ between them are picked by
// an scf.index_switch on the induction variable (integer constants in
// arithmetic progression are computed from it); values read after the loop
// are kept per repetition in a stack (scalars in a memref, buffers in the
// slices of one byte buffer, read through memref.view).
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "CallResults.h"
#include "Progression.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/OperationSupport.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"

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
  /// Per op, a hash of what matching periods compare (name, attributes,
  /// types; a call's callee is an attribute).
  SmallVector<llvm::hash_code> key;
};

/// The candidate: `count` periods of `period` ops from `start`. `ref`, when
/// set, is the start of a period of the same structure before `start` (kept
/// out of the loop): the shapes of the buffers stacked per period are its.
struct Periods {
  unsigned start, period, count;
  std::optional<unsigned> ref = std::nullopt;
};

/// Whether result `r` of `op` is a buffer of its own: a `memref.alloc`, or
/// the result of a call of a private function whose every return gives an
/// allocation (or a view of one) there (onebit-distinct-results gave each
/// result its own).
bool freshBuffer(Operation *op, unsigned r) {
  if (auto alloc = dyn_cast<memref::AllocOp>(op))
    return alloc.getSymbolOperands().empty();
  auto call = dyn_cast<func::CallOp>(op);
  if (!call)
    return false;
  auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
      call, call.getCalleeAttr());
  if (!callee || callee.isExternal() || callee.isPublic())
    return false;
  for (Block &block : callee.getBody())
    if (auto ret = dyn_cast<func::ReturnOp>(block.getTerminator())) {
      Operation *def = onebit::viewRoot(ret.getOperand(r)).getDefiningOp();
      if (!def || !isa<memref::AllocOp>(def))
        return false;
    }
  return true;
}

/// Whether a value of type `t` can be kept per period after the loop: a
/// scalar in a memref<N x t>, a buffer with the identity layout in a byte
/// buffer of N slices.
bool stackableType(Type t) {
  if (t.isIntOrIndexOrFloat())
    return true;
  auto m = dyn_cast<MemRefType>(t);
  return m && m.getLayout().isIdentity() && !m.getMemorySpace() &&
         m.getElementType().isIntOrFloat() &&
         m.getElementType().getIntOrFloatBitWidth() % 8 == 0;
}

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
  /// period 0's structure.
  unsigned matchingPeriods() {
    unsigned n = 1;
    for (unsigned k = 1; k < p_.count; ++k, ++n)
      if (!matches(k))
        break;
    return n;
  }

  /// Whether the periods' operands and results fit a loop; fills slots_
  /// and stacked_.
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
          a->getDiscardableAttrDictionary() !=
              b->getDiscardableAttrDictionary() ||
          // Properties compared in place: building each op's whole
          // attribute dictionary was a third of the pass on a deep step.
          !a->getName().compareOpProperties(a->getPropertiesStorage(),
                                            b->getPropertiesStorage()))
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
  /// Results (op of the period, result) read after the loop for periods
  /// other than the last one's chain values: kept per period in a stack.
  llvm::SetVector<std::pair<unsigned, unsigned>> stacked_;
};

bool Roller::classify() {
  const unsigned count = p_.count;
  stacked_.clear();
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
            // Read after the loop: kept per period, if it can be (checked
            // once per result). Not a value returned: the caller owns each
            // returned buffer.
            if (pos == ~0u)
              return false;
            if (!stacked_.contains({j, r.getResultNumber()})) {
              if (!stackableType(r.getType()) ||
                  (isa<MemRefType>(r.getType()) &&
                   !freshBuffer(at(0, j), r.getResultNumber())))
                return false;
              stacked_.insert({j, r.getResultNumber()});
            }
            continue;
          }
          unsigned rel = pos - p_.start;
          if (user != top || rel / p_.period != k + 1)
            return false;
          const Slot &s = slots_[rel % p_.period][use.getOperandNumber()];
          if (s.kind != Slot::Chain || s.op != j ||
              s.result != r.getResultNumber())
            return false;
        }
  // A stacked buffer of dynamic shape takes its shape from a period kept
  // before the loop (tryRun tries that next).
  for (auto [j, r] : stacked_) {
    auto m = dyn_cast<MemRefType>(at(0, j)->getResult(r).getType());
    if (m && !m.hasStaticShape() && !p_.ref)
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

  // The stacks: N scalars in a memref<N x T>; N buffers in one byte buffer
  // of N slices (each rounded up to 64 bytes). With a reference period the
  // stack is made right after its op there, of its shape, and holds its
  // value too, first: every reader after the loop then reads a slice.
  struct Stack {
    Type type; ///< the stacked values' type
    Value buffer, sliceBytes;
    SmallVector<Value> sizes; ///< the dynamic sizes of a slice
  };
  SmallVector<Stack> stacks;
  const unsigned base = p_.ref ? 1 : 0;
  // Per stack with a reference period: the slice its buffer moved to, or
  // its scalar (also stored in slot 0).
  SmallVector<std::pair<unsigned, Value>> refSlices;
  auto index = [&](OpBuilder &ob, int64_t v) -> Value {
    return arith::ConstantIndexOp::create(ob, loc, v);
  };
  // Slice `k` of stack `s` as a buffer of the stacked type.
  auto slice = [&](OpBuilder &ob, unsigned s, Value k) -> Value {
    auto type = cast<MemRefType>(stacks[s].type);
    Value offset = arith::MulIOp::create(ob, loc, k, stacks[s].sliceBytes);
    return memref::ViewOp::create(ob, loc, type, stacks[s].buffer, offset,
                                  stacks[s].sizes);
  };
  for (auto [s, jr] : llvm::enumerate(stacked_)) {
    auto [j, r] = jr;
    Type type = at(0, j)->getResult(r).getType();
    Operation *refOp = p_.ref ? ops_.list[*p_.ref + j] : nullptr;
    OpBuilder sb(first);
    if (refOp)
      sb.setInsertionPointAfter(refOp);
    Stack st;
    st.type = type;
    auto m = dyn_cast<MemRefType>(type);
    if (!m) {
      st.buffer = memref::AllocOp::create(
          sb, loc, MemRefType::get({int64_t(count + base)}, type));
      stacks.push_back(st);
      if (refOp) {
        memref::StoreOp::create(sb, loc, refOp->getResult(r), st.buffer,
                                ValueRange{index(sb, 0)});
        refSlices.push_back({unsigned(s), refOp->getResult(r)});
      }
      continue;
    }
    SmallVector<Operation *> keep;
    int64_t staticBytes = m.getElementType().getIntOrFloatBitWidth() / 8;
    Value bytes;
    for (auto [d, size] : llvm::enumerate(m.getShape())) {
      if (!ShapedType::isDynamic(size)) {
        staticBytes *= size;
        continue;
      }
      auto dim =
          memref::DimOp::create(sb, loc, refOp->getResult(r), int64_t(d));
      keep.push_back(dim);
      st.sizes.push_back(dim);
      bytes = bytes ? arith::MulIOp::create(sb, loc, bytes, dim) : Value(dim);
    }
    Value c64 = index(sb, 64);
    bytes = bytes
                ? arith::MulIOp::create(sb, loc, bytes, index(sb, staticBytes))
                : index(sb, staticBytes);
    bytes = arith::MulIOp::create(
        sb, loc, arith::CeilDivUIOp::create(sb, loc, bytes, c64), c64);
    st.sliceBytes = bytes;
    Value total =
        arith::MulIOp::create(sb, loc, bytes, index(sb, count + base));
    st.buffer = memref::AllocOp::create(
        sb, loc, MemRefType::get({ShapedType::kDynamic}, sb.getI8Type()),
        ValueRange{total}, sb.getI64IntegerAttr(64));
    stacks.push_back(st);
    if (refOp) {
      // The reference period's buffer (its own, just made) lives in slice 0
      // from here on.
      Value v = refOp->getResult(r);
      Value view = slice(sb, s, index(sb, 0));
      // Just allocated, it holds nothing yet: nothing to copy.
      if (!isa<memref::AllocOp>(refOp))
        keep.push_back(memref::CopyOp::create(sb, loc, v, view));
      refSlices.push_back({unsigned(s), view});
      llvm::SmallPtrSet<Operation *, 8> except(keep.begin(), keep.end());
      v.replaceUsesWithIf(view, [&](OpOperand &use) {
        return !except.contains(use.getOwner());
      });
    }
  }
  // The iteration's value has the reference period's shape.
  auto checkShape = [&](OpBuilder &ob, unsigned s, ValueRange sizes) {
    if (sizes.empty())
      return;
    Value ok;
    for (auto [x, y] : llvm::zip(sizes, stacks[s].sizes)) {
      Value eq = arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::eq, x, y);
      ok = ok ? arith::AndIOp::create(ob, loc, ok, eq) : eq;
    }
    cf::AssertOp::create(ob, loc, ok,
                         "onebit-period-loops: a repetition's buffer has "
                         "another shape than the first one's");
  };

  // A chain's first value moved to its stack's slice 0.
  for (auto [s, view] : refSlices) {
    auto [j, r] = stacked_[s];
    Value v = ops_.list[*p_.ref + j]->getResult(r);
    for (Value &init : inits)
      if (init == v)
        init = view;
  }
  Value lb = index(b, 0);
  Value ub = index(b, count);
  Value step = index(b, 1);
  auto loop = scf::ForOp::create(
      b, loc, lb, ub, step, inits,
      [&](OpBuilder &nb, Location loc, Value iv, ValueRange iterArgs) {
        // The slice of this iteration in the stacks.
        Value k = stacked_.empty() || !base
                      ? iv
                      : arith::AddIOp::create(nb, loc, iv, index(nb, base))
                            .getResult();
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
        // What the copy's result (op, result) is in the loop: the clone's
        // result, or the slice of its stack that replaces it.
        IRMapping map;
        SmallVector<Operation *> clones;
        llvm::DenseMap<std::pair<unsigned, unsigned>, Value> replaced;
        auto valueOf = [&](unsigned j, unsigned r) {
          Value v = replaced.lookup({j, r});
          return v ? v : clones[j]->getResult(r);
        };
        for (unsigned j = 0; j < p_.period; ++j) {
          Operation *op = at(0, j);
          Operation *clone = nb.clone(*op, map);
          {
            // Values computed for the clone go before it.
            OpBuilder::InsertionGuard guard(nb);
            nb.setInsertionPoint(clone);
            for (auto [i, s] : llvm::enumerate(slots_[j])) {
              Value v;
              switch (s.kind) {
              case Slot::Internal:
                v = valueOf(s.op, s.result);
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
                v = onebit::buildProgression(
                    nb, loc, op->getOperand(i).getType(), iv, s.a, s.b);
                break;
              }
              clone->setOperand(i, v);
            }
          }
          clones.push_back(clone);
          // Results kept per period: an allocation becomes the iteration's
          // slice; another buffer is copied into it, and the slice is used
          // from then on; a scalar is stored.
          for (auto [s, jr] : llvm::enumerate(stacked_)) {
            if (jr.first != j)
              continue;
            unsigned r = jr.second;
            Value result = clone->getResult(r);
            if (!isa<MemRefType>(result.getType())) {
              memref::StoreOp::create(nb, loc, result, stacks[s].buffer,
                                      ValueRange{k});
              continue;
            }
            Value view;
            if (auto alloc = dyn_cast<memref::AllocOp>(clone)) {
              OpBuilder::InsertionGuard guard(nb);
              nb.setInsertionPoint(clone);
              checkShape(nb, s, alloc.getDynamicSizes());
              view = slice(nb, s, k);
            } else {
              SmallVector<Value> sizes;
              auto m = cast<MemRefType>(result.getType());
              for (int64_t d = 0; d < m.getRank(); ++d)
                if (m.isDynamicDim(d))
                  sizes.push_back(memref::DimOp::create(nb, loc, result, d));
              checkShape(nb, s, sizes);
              view = slice(nb, s, k);
              memref::CopyOp::create(nb, loc, result, view);
            }
            replaced[{j, r}] = view;
            map.map(op->getResult(r), view);
          }
        }
        SmallVector<Value> next;
        for (const Carried &c : carried)
          next.push_back(valueOf(c.op, c.result));
        scf::YieldOp::create(nb, loc, next);
        // Allocations replaced by their slices.
        for (auto [jr, v] : replaced)
          if (isa<memref::AllocOp>(clones[jr.first]))
            clones[jr.first]->erase();
      });

  // The last rolled period's chain sources read after the loop (those kept
  // per period are read from their stack, as the other periods' are).
  for (unsigned j = 0; j < p_.period; ++j)
    for (OpResult r : at(count - 1, j)->getResults()) {
      if (stacked_.contains({j, r.getResultNumber()}))
        continue;
      auto *it = llvm::find_if(carried, [&](const Carried &c) {
        return c.op == j && c.result == r.getResultNumber();
      });
      if (it != carried.end())
        r.replaceAllUsesWith(loop.getResult(it - carried.begin()));
    }
  // The other values read after the loop, from their stacks: the slice (or
  // the scalar) of period k, just before each reader, so that readers
  // repeated per layer stay alike but for the constant k.
  OpBuilder after(loop->getBlock(), std::next(loop->getIterator()));
  llvm::DenseMap<unsigned, Value> sliceIndex;
  auto sliceIndexOf = [&](unsigned n) {
    Value &v = sliceIndex[n];
    if (!v)
      v = index(after, n);
    return v;
  };
  // Before `user`, the slice (or scalar) `n` of stack `s`.
  auto readSlice = [&](OpOperand &use, unsigned s, unsigned n) {
    OpBuilder ub(use.getOwner());
    Value kv = sliceIndexOf(n);
    if (isa<MemRefType>(stacks[s].type))
      use.set(slice(ub, s, kv));
    else
      use.set(
          memref::LoadOp::create(ub, loc, stacks[s].buffer, ValueRange{kv}));
  };
  Block *block = loop->getBlock();
  const unsigned end = p_.start + count * p_.period;
  auto afterLoop = [&](OpOperand &use) {
    Operation *top = block->findAncestorOpInBlock(*use.getOwner());
    if (!top)
      return false;
    auto it = ops_.index.find(top);
    return it == ops_.index.end() ? top == block->getTerminator()
                                  : it->second >= end;
  };
  for (auto [s, jr] : llvm::enumerate(stacked_)) {
    auto [j, r] = jr;
    // The reference period's value (moved to slice 0), then the periods'.
    for (auto [rs, view] : refSlices)
      if (rs == s)
        for (OpOperand &use : llvm::make_early_inc_range(view.getUses()))
          if (afterLoop(use))
            readSlice(use, s, 0);
    for (unsigned k = 0; k < count; ++k)
      for (OpOperand &use :
           llvm::make_early_inc_range(at(k, j)->getResult(r).getUses()))
        if (afterLoop(use))
          readSlice(use, s, k + base);
  }
  for (unsigned k = count; k-- > 0;)
    for (unsigned j = p_.period; j-- > 0;) {
      at(k, j)->erase();
    }
}

/// Periods that do not begin with a call roll only with at least this many
/// ops (the per-layer glue between calls: loss terms, their gradients).
constexpr unsigned kMinOpsWithoutCall = 8;

/// A run: ops of one kind at positions at[s..e], `period` apart.
struct Run {
  ArrayRef<unsigned> at;
  size_t s, e;
  unsigned minOps;
};

/// The runs of `at` (positions of ops of one kind, ascending) with a
/// constant spacing.
void findRuns(ArrayRef<unsigned> at, unsigned minOps, SmallVector<Run> &runs) {
  for (size_t s = 0; s + 1 < at.size();) {
    unsigned period = at[s + 1] - at[s];
    size_t e = s + 1;
    while (e + 1 < at.size() && at[e + 1] - at[e] == period)
      ++e;
    if (period >= minOps)
      runs.push_back({at, s, e, minOps});
    s = e;
  }
}

/// Rolls `run`, or as much of it as fits a loop; true if it rolled.
bool tryRun(const Ops &ops, const Run &run, unsigned minPeriods) {
  const unsigned least = std::max(minPeriods, 2u);
  unsigned start = run.at[run.s];
  unsigned period = run.at[run.s + 1] - start;
  // The last period must fit the block.
  unsigned count = run.e - run.s + 1;
  while (count > 0 && start + count * period > ops.list.size())
    --count;
  if (count < least)
    return false;
  // The anchor of a run found from other ops than calls need not be a
  // period's first op: start as early as the ops before it repeat one period
  // later (ops of the layer before the anchor), so that the last period
  // ends inside the run.
  if (run.minOps > 1) {
    unsigned back = 0;
    while (back + 1 < period && start > back &&
           ops.key[start - back - 1] == ops.key[start - back - 1 + period])
      ++back;
    if (back) {
      start -= back;
      count = run.e - run.s + 2;
      while (count > 0 && start + count * period > ops.list.size())
        --count;
    }
  }
  unsigned n = Roller(ops, {start, period, count}).matchingPeriods();
  // The last matching period's results may be read in ways a loop cannot
  // return: then roll one period fewer (the periods before it still match
  // period 0).
  for (; n >= least; --n) {
    Roller r(ops, {start, period, n});
    if (r.classify()) {
      r.roll();
      return true;
    }
    // The first period stays before the loop: a stacked buffer of dynamic
    // shape takes its shape, or the first period differs in what it reads
    // (a sum's first term: 0 + x, then acc + x).
    if (n - 1 >= least) {
      Roller peeled(ops, {start + period, period, n - 1, start});
      if (peeled.classify()) {
        peeled.roll();
        return true;
      }
    }
  }
  return false;
}

/// Rolls the first periodic run of `block` it can, in the order of their
/// first ops (what a run stacks for later readers is then stacked before
/// those readers roll); true if it rolled one. Runs are found from the
/// calls of one callee and from ops of any other kind (same name,
/// attributes and types).
bool rollOne(Block &block, unsigned minPeriods) {
  Ops ops;
  for (Operation &op : block.without_terminator()) {
    ops.index[&op] = ops.list.size();
    ops.list.push_back(&op);
  }
  llvm::MapVector<StringAttr, SmallVector<unsigned>> calls;
  llvm::MapVector<llvm::hash_code, SmallVector<unsigned>> others;
  for (auto [n, op] : llvm::enumerate(ops.list)) {
    llvm::hash_code key = OperationEquivalence::computeHash(
        op, OperationEquivalence::ignoreHashValue,
        OperationEquivalence::ignoreHashValue,
        OperationEquivalence::IgnoreLocations);
    key = llvm::hash_combine(
        key, op->getNumRegions(),
        llvm::hash_combine_range(op->getOperandTypes().begin(),
                                 op->getOperandTypes().end()));
    ops.key.push_back(key);
    if (auto call = dyn_cast<func::CallOp>(op)) {
      calls[call.getCalleeAttr().getAttr()].push_back(n);
      continue;
    }
    if (op->hasTrait<OpTrait::ConstantLike>())
      continue;
    others[key].push_back(n);
  }
  SmallVector<Run> runs;
  for (auto &[callee, at] : calls)
    findRuns(at, 1, runs);
  for (auto &[key, at] : others)
    findRuns(at, kMinOpsWithoutCall, runs);
  // No two runs start at the same op.
  llvm::sort(runs,
             [](const Run &x, const Run &y) { return x.at[x.s] < y.at[y.s]; });
  for (const Run &run : runs)
    if (tryRun(ops, run, minPeriods))
      return true;
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
