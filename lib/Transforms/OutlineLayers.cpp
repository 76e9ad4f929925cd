//===- OutlineLayers.cpp - repeated decoder layers to one function --------===//
//
// Implements --onebit-outline-layers (Passes.td): the ops of each decoder
// layer (found by location name) form a segment; segments with the same
// structure share one private function, called once per layer with that
// layer's weights. Compile time then follows the number of layer forms, not
// the depth of the model.
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Regex.h"

#include <map>

namespace onebit {
#define GEN_PASS_DEF_ONEBITOUTLINELAYERS
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

constexpr StringLiteral kName = "onebit.name";
constexpr StringLiteral kInPlaceArg = "onebit.inplace_arg";

/// A constant the body may hold itself: a scalar or a splat. Any other
/// constant (a weight) is passed in.
bool isClonableConstant(Value v) {
  Attribute attr;
  if (!v.getDefiningOp() || !matchPattern(v, m_Constant(&attr)))
    return false;
  if (auto elements = dyn_cast<ElementsAttr>(attr))
    return elements.isSplat() && !isa<DenseResourceElementsAttr>(attr);
  return true;
}

/// A value the segment reads from outside whose value may differ between
/// layers of one form: a clonable constant, or the static offsets of a slice.
struct Hole {
  Attribute value;     ///< the constant's attribute, or the offsets array
  Value constant;      ///< the constant (null for offsets)
  Operation *slice{};  ///< the slice op (null for constants)
};

/// One layer of one function: its ops and what they exchange with the rest.
struct Segment {
  int64_t layer;
  func::FuncOp func;
  SmallVector<Operation *> ops;   ///< top-level ops, program order
  SmallVector<Value> inputs;      ///< values passed in, first use order
  SmallVector<Hole> holes;        ///< in walk order
  SmallVector<Operation *> remat; ///< rematerialized ops read, in use order
  SmallVector<Value> outputs;     ///< results used after the segment
  std::string key;                ///< the structure, weights and holes left out
};

/// Ops a layer may share with others after CSE (a zero accumulator): cheap
/// to recompute, so each function body holds its own copy rather than the
/// op joining one layer. `tensor.empty`, and `linalg.fill` of a constant or
/// scalar operand into one.
bool isRematerializable(Operation *op) {
  if (isa<tensor::EmptyOp>(op))
    return true;
  auto fill = dyn_cast<linalg::FillOp>(op);
  return fill && fill.hasPureTensorSemantics() &&
         fill.getOutputs()[0].getDefiningOp<tensor::EmptyOp>() &&
         isClonableConstant(fill.getInputs()[0]);
}

bool isSlice(Operation *op) {
  return isa<tensor::ExtractSliceOp, tensor::InsertSliceOp>(op);
}

/// The printed form of types and attributes, each printed once: a key
/// prints the same few types and attribute dictionaries for every op of
/// every layer, and printing constructs printing flags each time.
class PrintCache {
public:
  StringRef operator()(Type t) { return get(t.getAsOpaquePointer(), t); }
  StringRef operator()(Attribute a) { return get(a.getAsOpaquePointer(), a); }

private:
  template <typename T> StringRef get(const void *key, T value) {
    auto [it, inserted] = text_.try_emplace(key);
    if (inserted) {
      llvm::raw_string_ostream os(it->second);
      os << value;
    }
    return it->second;
  }
  llvm::DenseMap<const void *, std::string> text_;
};

/// Builds `seg.key`, `inputs`, `holes` and `outputs`; false if the segment
/// cannot be outlined.
bool describe(Segment &seg, const llvm::DenseSet<Operation *> &inSomeSegment,
              PrintCache &print) {
  llvm::DenseSet<Operation *> inSeg(seg.ops.begin(), seg.ops.end());
  llvm::DenseMap<Value, std::string> names;
  Block *block = seg.ops.front()->getBlock();
  bool ok = true;
  unsigned next = 0;
  std::string key;
  llvm::raw_string_ostream os(key);

  std::function<std::string(Value)> nameOf = [&](Value v) -> std::string {
    auto it = names.find(v);
    if (it != names.end())
      return it->second;
    // Defined outside the segment (values defined inside are named when
    // their op or block is visited, which dominance puts first).
    std::string name;
    Operation *def = v.getDefiningOp();
    if (def && isRematerializable(def) && !inSomeSegment.contains(def)) {
      std::string operands;
      for (Value o : def->getOperands()) {
        // Computed from the segment's own values but outside it: the
        // segment is not a region a call can replace.
        if (Operation *d = o.getDefiningOp();
            d && inSeg.contains(block->findAncestorOpInBlock(*d)))
          ok = false;
        operands += nameOf(o) + ",";
      }
      name = "r" + std::to_string(seg.remat.size());
      seg.remat.push_back(def);
      std::string text;
      llvm::raw_string_ostream ts(text);
      ts << "{" << name << "=" << def->getName() << "(" << operands << ")"
         << print(v.getType()) << "}";
      os << text;
    } else if (isClonableConstant(v)) {
      name = "k" + std::to_string(seg.holes.size());
      Attribute attr;
      matchPattern(v, m_Constant(&attr));
      seg.holes.push_back({attr, v, nullptr});
    } else {
      name = "a" + std::to_string(seg.inputs.size());
      seg.inputs.push_back(v);
    }
    names[v] = name;
    return name;
  };

  std::function<void(Operation *)> visit = [&](Operation *op) {
    os << op->getName() << "(";
    for (Value v : op->getOperands())
      os << nameOf(v) << ":" << print(v.getType()) << ",";
    os << ")";
    // Each attribute by name and printed value, inherent (properties) ones
    // first: an op's whole attribute dictionary, built and uniqued for every
    // op of every layer, cost more than the rest of the key.
    auto attr = [&](StringAttr name, Attribute value) {
      if (name == kName)
        return;
      if (isSlice(op) && name == "static_offsets") {
        os << "{offsets=h" << seg.holes.size() << "}";
        seg.holes.push_back({value, Value(), op});
        return;
      }
      os << "{" << name.getValue() << "=" << print(value) << "}";
    };
    for (StringAttr name : op->getName().getAttributeNames())
      if (std::optional<Attribute> a = op->getInherentAttr(name); a && *a)
        attr(name, *a);
    os << "|";
    for (NamedAttribute a : op->getDiscardableAttrs())
      attr(a.getName(), a.getValue());
    os << "->(";
    for (Value r : op->getResults()) {
      names[r] = "%" + std::to_string(next++);
      os << print(r.getType()) << ",";
    }
    os << ")";
    for (Region &region : op->getRegions()) {
      os << "{";
      for (Block &block : region) {
        os << "^(";
        for (BlockArgument arg : block.getArguments()) {
          names[arg] = "%" + std::to_string(next++);
          os << print(arg.getType()) << ",";
        }
        os << ")";
        if (block.getNumSuccessors() && !block.empty() &&
            block.back().getNumSuccessors())
          ok = false; // multi-block regions: not worth the care
        for (Operation &inner : block)
          visit(&inner);
      }
      os << "}";
    }
    os << ";";
  };
  for (Operation *op : seg.ops) {
    if (op->getNumSuccessors() || op->hasTrait<OpTrait::IsTerminator>() ||
        !isMemoryEffectFree(op))
      return false;
    visit(op);
  }
  if (!ok)
    return false;

  // Results used outside; each such user must come after the segment's last
  // op, where the call will stand.
  Operation *last = seg.ops.back();
  for (Operation *op : seg.ops) {
    for (OpResult r : op->getResults()) {
      bool escapes = false;
      for (Operation *user : r.getUsers()) {
        Operation *top = block->findAncestorOpInBlock(*user);
        if (top && inSeg.contains(top))
          continue;
        if (!top || !last->isBeforeInBlock(top))
          return false;
        escapes = true;
      }
      if (escapes) {
        seg.outputs.push_back(r);
        os << "out" << r.getResultNumber() << "@"
           << names.lookup(r) << ";";
      }
    }
  }
  // Inputs defined inside the segment's span by ops outside it are fine:
  // they precede their users, hence the call.
  seg.key = std::move(key);
  return true;
}

/// The layer index a location names, or -1. `cache`: the index each name
/// gave (the regex engine is slow, and the entries of one model repeat the
/// same names).
int64_t layerOf(Location loc, llvm::Regex &pattern,
                llvm::DenseMap<StringAttr, int64_t> &cache) {
  int64_t found = -1;
  loc->walk([&](Location l) {
    auto name = dyn_cast<NameLoc>(l);
    if (!name)
      return WalkResult::advance();
    auto [it, inserted] = cache.try_emplace(name.getName(), -1);
    if (inserted) {
      StringRef text = name.getName().getValue();
      SmallVector<StringRef> groups;
      // The index is a group of digits: a name without any cannot give one.
      if (text.find_first_of("0123456789") != StringRef::npos &&
          pattern.match(text, &groups))
        for (StringRef g : llvm::reverse(groups)) {
          int64_t index;
          if (!g.empty() && !g.getAsInteger(10, index)) {
            it->second = index;
            break;
          }
        }
    }
    if (it->second < 0)
      return WalkResult::advance();
    found = it->second;
    return WalkResult::interrupt();
  });
  return found;
}

/// Follows `tensor.insert_slice` and `bufferization.materialize_in_destination`
/// destinations from `v` up to an argument of `body`; its index, or -1.
int64_t tiedArgument(Value v, Block *body) {
  while (true) {
    if (auto insert = v.getDefiningOp<tensor::InsertSliceOp>())
      v = insert.getDest();
    else if (auto into =
                 v.getDefiningOp<bufferization::MaterializeInDestinationOp>())
      v = into.getDest();
    else
      break;
  }
  auto arg = dyn_cast<BlockArgument>(v);
  if (!arg || arg.getOwner() != body)
    return -1;
  return arg.getArgNumber();
}

struct OutlineLayersPass
    : public onebit::impl::OneBitOutlineLayersBase<OutlineLayersPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::Regex pattern(layerPattern, llvm::Regex::IgnoreCase);
    std::string error;
    if (!pattern.isValid(error)) {
      module.emitError() << "onebit-outline-layers: invalid layer-pattern '"
                         << layerPattern << "': " << error;
      return signalPassFailure();
    }

    // Segments of every function, grouped by structure (std::map: a
    // deterministic order of forms).
    std::vector<Segment> candidates;
    llvm::DenseMap<StringAttr, int64_t> layerOfName;
    llvm::StringSet<> only(llvm::from_range, functions);
    for (const std::string &name : functions)
      if (!isa_and_nonnull<func::FuncOp>(
              SymbolTable::lookupSymbolIn(module, name))) {
        module.emitError() << "onebit-outline-layers: functions: no "
                              "func.func named '"
                           << name << "'";
        return signalPassFailure();
      }
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal() || !fn.getBody().hasOneBlock())
        continue;
      if (!only.empty() && !only.contains(fn.getSymName()))
        continue;
      // A layer's ops form runs not interrupted by another layer's ops: the
      // forward and the backward of a layer, or a loss term computed after
      // the last layer, are segments of their own.
      SmallVector<Operation *> run;
      llvm::DenseSet<Operation *> inRun;
      int64_t runLayer = -1;
      auto flush = [&] {
        if (!run.empty()) {
          // Zero tensors the run does not compute from its own values may be
          // shared with other layers: they stay outside and are recomputed
          // in the body.
          SmallVector<Operation *> ops;
          llvm::DenseSet<Operation *> kept;
          for (Operation *op : run) {
            if (isRematerializable(op) &&
                llvm::none_of(op->getOperands(), [&](Value v) {
                  return kept.contains(v.getDefiningOp());
                }))
              continue;
            kept.insert(op);
            ops.push_back(op);
          }
          if (!ops.empty())
            candidates.push_back(
                {runLayer, fn, std::move(ops), {}, {}, {}, {}, {}});
        }
        run.clear();
        inRun.clear();
      };
      auto readsRun = [&](Operation &op) {
        WalkResult walk = op.walk([&](Operation *inner) {
          for (Value v : inner->getOperands())
            if (inRun.contains(v.getDefiningOp()))
              return WalkResult::interrupt();
          return WalkResult::advance();
        });
        return walk.wasInterrupted();
      };
      for (Operation &op : fn.getBody().front()) {
        if (op.hasTrait<OpTrait::ConstantLike>() ||
            op.hasTrait<OpTrait::IsTerminator>())
          continue;
        int64_t layer = layerOf(op.getLoc(), pattern, layerOfName);
        if (layer < 0) {
          // An op of no layer that reads the run (the final norm after the
          // last layer, a loss term) ends it.
          if (!isRematerializable(&op) && !run.empty() && readsRun(op))
            flush();
          continue;
        }
        if (layer != runLayer)
          flush();
        runLayer = layer;
        run.push_back(&op);
        inRun.insert(&op);
      }
      flush();
    }
    // Described once every segment is known: a zero tensor of another
    // segment is that segment's result, not something to recompute.
    llvm::DenseSet<Operation *> inSomeSegment;
    for (Segment &seg : candidates)
      inSomeSegment.insert(seg.ops.begin(), seg.ops.end());
    std::vector<Segment> segments;
    PrintCache print;
    for (Segment &seg : candidates)
      if (describe(seg, inSomeSegment, print))
        segments.push_back(std::move(seg));
    llvm::MapVector<StringRef, SmallVector<Segment *>> forms;
    for (Segment &seg : segments)
      forms[seg.key].push_back(&seg);

    SymbolTable symbols(module);
    for (auto &[key, members] : forms) {
      if (members.size() < minLayers)
        continue;
      outline(members, symbols);
    }
    // Erased only now: a later segment's inputs may be an earlier one's
    // results, looked up in `replaced` until then.
    llvm::SetVector<func::FuncOp> touched;
    for (Operation *op : dead)
      touched.insert(op->getParentOfType<func::FuncOp>());
    for (Operation *op : llvm::reverse(dead))
      op->erase();
    // What the layers used to share and the callers no longer use: their
    // constants, empty tensors and zero fills.
    for (func::FuncOp fn : touched)
      for (Operation &op : llvm::make_early_inc_range(
               llvm::reverse(fn.getBody().front())))
        if ((op.hasTrait<OpTrait::ConstantLike>() || isRematerializable(&op)) &&
            op.use_empty())
          op.erase();
  }

  /// Values replaced by call results (ops erased at the end of the pass).
  llvm::DenseMap<Value, Value> replaced;
  SmallVector<Operation *> dead;
  llvm::DenseMap<Operation *, Operation *> lastOutlined;

  Value current(Value v) const {
    auto it = replaced.find(v);
    return it == replaced.end() ? v : it->second;
  }

  void outline(ArrayRef<Segment *> members, SymbolTable &symbols) {
    Segment &rep = *members.front();
    MLIRContext *ctx = rep.func.getContext();
    // Holes whose value differs between members become operands; for
    // offsets, only the positions that differ.
    SmallVector<SmallVector<bool>> varies(rep.holes.size());
    for (auto [h, hole] : llvm::enumerate(rep.holes)) {
      if (hole.slice) {
        ArrayRef<int64_t> first = cast<DenseI64ArrayAttr>(hole.value).asArrayRef();
        varies[h].assign(first.size(), false);
        for (Segment *m : members) {
          ArrayRef<int64_t> other =
              cast<DenseI64ArrayAttr>(m->holes[h].value).asArrayRef();
          for (auto [p, o] : llvm::enumerate(other))
            if (o != first[p])
              varies[h][p] = true;
        }
        // A dynamic offset stays dynamic (its value is an operand already).
        for (auto [p, o] : llvm::enumerate(first))
          if (ShapedType::isDynamic(o))
            varies[h][p] = false;
      } else {
        varies[h].assign(1, false);
        for (Segment *m : members)
          if (m->holes[h].value != hole.value)
            varies[h][0] = true;
      }
    }

    // The signature: inputs, then varying constants, then varying offsets;
    // offsets equal in every layer to another offset (the layer index, in
    // each slice of a KV cache) share its operand.
    SmallVector<Type> argTypes;
    for (Value v : rep.inputs)
      argTypes.push_back(v.getType());
    for (auto [h, hole] : llvm::enumerate(rep.holes))
      if (!hole.slice && varies[h][0])
        argTypes.push_back(hole.constant.getType());
    // Per varying offset (hole, position): its operand's index among the
    // offset operands; `offsetValues`: each operand's value per member.
    std::map<std::pair<size_t, size_t>, unsigned> offsetOperand;
    std::vector<std::vector<int64_t>> offsetValues;
    for (auto [h, hole] : llvm::enumerate(rep.holes)) {
      if (!hole.slice)
        continue;
      for (auto [p, v] : llvm::enumerate(varies[h])) {
        if (!v)
          continue;
        std::vector<int64_t> values;
        for (Segment *m : members)
          values.push_back(
              cast<DenseI64ArrayAttr>(m->holes[h].value).asArrayRef()[p]);
        auto it = llvm::find(offsetValues, values);
        offsetOperand[{h, p}] = it - offsetValues.begin();
        if (it == offsetValues.end()) {
          offsetValues.push_back(std::move(values));
          argTypes.push_back(IndexType::get(ctx));
        }
      }
    }
    SmallVector<Type> resultTypes;
    for (Value v : rep.outputs)
      resultTypes.push_back(v.getType());

    OpBuilder b(ctx);
    // After the caller and the functions already outlined from it, so the
    // forms stay in program order.
    Operation *&after = lastOutlined[rep.func];
    b.setInsertionPointAfter(after ? after : rep.func.getOperation());
    auto fn = func::FuncOp::create(
        b, rep.ops.front()->getLoc(),
        (rep.func.getSymName() + "__layer").str(),
        b.getFunctionType(argTypes, resultTypes));
    fn.setPrivate();
    symbols.insert(fn); // numbers the name on a clash
    after = fn;
    Block *body = fn.addEntryBlock();
    b.setInsertionPointToStart(body);
    IRMapping map;
    unsigned arg = 0;
    // An input another form's call has replaced already is read as that
    // call's result by now.
    for (Value v : rep.inputs) {
      map.map(v, body->getArgument(arg));
      map.map(current(v), body->getArgument(arg++));
    }
    for (auto [h, hole] : llvm::enumerate(rep.holes)) {
      if (hole.slice)
        continue;
      if (varies[h][0])
        map.map(hole.constant, body->getArgument(arg++));
      else
        map.map(hole.constant,
                b.clone(*hole.constant.getDefiningOp())->getResult(0));
    }
    // Offsets' operands per slice op of the representative, by position.
    unsigned firstOffset = arg;
    llvm::DenseMap<Operation *, SmallVector<Value>> offsetArgs;
    for (auto [h, hole] : llvm::enumerate(rep.holes)) {
      if (!hole.slice)
        continue;
      SmallVector<Value> &args = offsetArgs[hole.slice];
      for (auto [p, v] : llvm::enumerate(varies[h]))
        args.push_back(v ? body->getArgument(firstOffset +
                                             offsetOperand.at({h, p}))
                         : Value());
    }
    for (Operation *op : rep.remat)
      b.clone(*op, map);
    for (Operation *op : rep.ops)
      b.clone(*op, map);
    // The clones of slices whose offsets vary (nested ones too) take them
    // as operands.
    for (auto &[orig, args] : offsetArgs) {
      if (llvm::none_of(args, [](Value v) { return bool(v); }))
        continue;
      Operation *copy = map.lookup(orig->getResult(0)).getDefiningOp();
      auto iface = cast<OffsetSizeAndStrideOpInterface>(copy);
      SmallVector<OpFoldResult> offsets = iface.getMixedOffsets();
      for (auto [p, v] : llvm::enumerate(args))
        if (v)
          offsets[p] = v;
      OpBuilder rb(copy);
      Operation *replacement;
      if (auto extract = dyn_cast<tensor::ExtractSliceOp>(copy))
        replacement = tensor::ExtractSliceOp::create(
            rb, extract.getLoc(), extract.getType(), extract.getSource(),
            offsets, extract.getMixedSizes(), extract.getMixedStrides());
      else {
        auto insert = cast<tensor::InsertSliceOp>(copy);
        replacement = tensor::InsertSliceOp::create(
            rb, insert.getLoc(), insert.getSource(), insert.getDest(),
            offsets, insert.getMixedSizes(), insert.getMixedStrides());
      }
      replacement->setDiscardableAttrs(copy->getDiscardableAttrDictionary());
      copy->replaceAllUsesWith(replacement);
      map.map(orig->getResult(0), replacement->getResult(0));
      copy->erase();
    }
    SmallVector<Value> results;
    for (Value v : rep.outputs)
      results.push_back(map.lookup(v));
    func::ReturnOp::create(b, fn.getLoc(), results);
    for (auto [r, v] : llvm::enumerate(results)) {
      int64_t tied = tiedArgument(v, body);
      if (tied >= 0)
        fn.setResultAttr(r, kInPlaceArg, b.getI64IntegerAttr(tied));
    }

    // Each member becomes a call after its last op.
    for (auto [index, m] : llvm::enumerate(members)) {
      OpBuilder cb(m->ops.back()->getBlock(),
                   std::next(m->ops.back()->getIterator()));
      Location loc = m->ops.front()->getLoc();
      SmallVector<Value> operands;
      for (Value v : m->inputs)
        operands.push_back(current(v));
      for (auto [h, hole] : llvm::enumerate(m->holes))
        if (!hole.slice && varies[h][0])
          operands.push_back(hole.constant);
      for (const std::vector<int64_t> &values : offsetValues)
        operands.push_back(
            arith::ConstantIndexOp::create(cb, loc, values[index]));
      auto call = func::CallOp::create(cb, loc, fn, operands);
      for (auto [v, r] : llvm::zip(m->outputs, call.getResults())) {
        v.replaceAllUsesWith(r);
        replaced[v] = r;
      }
      dead.append(m->ops.begin(), m->ops.end());
    }
  }
};

} // namespace
