//===- ReverseModeGenericRules.cpp - reverse-mode AD of linalg.generic ----===//
//
// For every differentiated operand j of a linalg.generic, one adjoint generic
// over the same iteration space. Its payload recomputes the primal payload,
// propagates a unit tangent from operand j through it with the scalar rules
// (forward mode on scalars), multiplies by the output adjoint and accumulates
// into an output indexed by operand j's map. Loops absent from that map
// become reductions, so broadcasts turn into sums, reductions into
// broadcasts, and contractions into contractions of the adjoint with the
// other operands. Reductions must be `acc <combiner> expr` with combiner addf
// (sum) or max/min (the adjoint flows through an equality mask). Gathers and
// the straight-through sign of the 1-bit layer have rules of their own.
//
//===----------------------------------------------------------------------===//

#include "ReverseMode.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;
using namespace onebit::autodiff;

LogicalResult ReverseMode::visitSte(linalg::GenericOp op) {
  // sign(w) forward, grad * (1.001 - tanh(w)^2) backward.
  Value w = op.getDpsInputOperand(0)->get();
  if (!isVaried(w))
    return success();
  Location loc = op.getLoc();
  Value d = adjointOf(op.getResult(0));
  Value existing = adjointOf(w);
  Value init = existing ? existing : emptyLike(loc, w);
  unsigned rank = cast<RankedTensorType>(w.getType()).getRank();
  SmallVector<utils::IteratorType> its(rank, utils::IteratorType::parallel);
  Value r =
      linalg::GenericOp::create(
          b, loc, w.getType(), ValueRange{w, d}, ValueRange{init},
          identityMaps(rank, 3), its,
          [&](OpBuilder &nb, Location l, ValueRange args) {
            ScalarMath m(nb, l);
            Type t = args[0].getType();
            Value th = math::TanhOp::create(nb, l, args[0]);
            Value f = m.sub(m.cst(t, 1.001), m.mul(th, th));
            Value c = m.mul(args[1], f);
            if (existing)
              c = m.add(args[2], c);
            linalg::YieldOp::create(nb, l, c);
          })
          .getResult(0);
  adjoints[w] = r;
  return success();
}

bool ReverseMode::readsVariedFromAbove(linalg::GenericOp op,
                                       Value except) const {
  return op.getRegion()
      .walk([&](Operation *nested) {
        for (Value v : nested->getOperands())
          if (v != except && isVaried(v))
            return WalkResult::interrupt();
        return WalkResult::advance();
      })
      .wasInterrupted();
}

/// The adjoint of a gather `out[i] = T[idx(i)]` (T from above, idx from the
/// op's integer operands and linalg.index): dT[idx(i)] += dout[i] for every
/// point i of the iteration space, by an scf.for nest that recomputes the
/// indices from the payload. Only the tensor read from above gets an adjoint
/// (the yielded value depends on nothing else).
LogicalResult ReverseMode::visitGather(linalg::GenericOp op,
                                       tensor::ExtractOp read) {
  Location loc = op.getLoc();
  Value table = read.getTensor();
  Value d = adjointOf(op.getResult(0));
  if (readsVariedFromAbove(op, table))
    return op.emitOpError(
        "autodiff: a gather whose payload also reads another differentiated "
        "value from above is not supported");
  for (AffineMap m : op.getIndexingMapsArray())
    for (AffineExpr e : m.getResults())
      if (!isa<AffineDimExpr, AffineConstantExpr>(e))
        return op.emitOpError("autodiff: a gather's indexing maps must be "
                              "projections (dims or constants)");

  SmallVector<Range, 4> ranges =
      cast<linalg::LinalgOp>(op.getOperation()).createLoopRanges(b, loc);
  SmallVector<Value> lbs, ubs, steps;
  for (Range &r : ranges) {
    lbs.push_back(getValueOrCreateConstantIndexOp(b, loc, r.offset));
    ubs.push_back(getValueOrCreateConstantIndexOp(b, loc, r.size));
    steps.push_back(getValueOrCreateConstantIndexOp(b, loc, r.stride));
  }
  Value init = adjointOf(table);
  if (!init)
    init = zerosLike(loc, table);
  Block &body = op.getRegion().front();
  auto at = [&](OpBuilder &nb, Location l, AffineMap m, ValueRange ivs) {
    SmallVector<Value> idx;
    for (AffineExpr e : m.getResults()) {
      if (auto dim = dyn_cast<AffineDimExpr>(e))
        idx.push_back(ivs[dim.getPosition()]);
      else
        idx.push_back(arith::ConstantIndexOp::create(
            nb, l, cast<AffineConstantExpr>(e).getValue()));
    }
    return idx;
  };
  scf::LoopNest nest = scf::buildLoopNest(
      b, loc, lbs, ubs, steps, ValueRange{init},
      [&](OpBuilder &nb, Location l, ValueRange ivs,
          ValueRange iter) -> scf::ValueVector {
        IRMapping map;
        for (OpOperand &operand : op->getOpOperands()) {
          BlockArgument arg = body.getArgument(operand.getOperandNumber());
          if (arg.use_empty())
            continue;
          map.map(arg, tensor::ExtractOp::create(
                           nb, l, operand.get(),
                           at(nb, l, op.getMatchingIndexingMap(&operand), ivs)));
        }
        for (Operation &inner : body.without_terminator()) {
          if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
            map.map(index.getResult(), ivs[index.getDim()]);
            continue;
          }
          if (&inner == read.getOperation())
            break;
          nb.clone(inner, map);
        }
        SmallVector<Value> idx;
        for (Value v : read.getIndices())
          idx.push_back(map.lookupOrDefault(v));
        Value dy = tensor::ExtractOp::create(
            nb, l, d,
            at(nb, l, op.getMatchingIndexingMap(op.getDpsInitOperand(0)), ivs));
        Value old = tensor::ExtractOp::create(nb, l, iter[0], idx);
        Value sum = arith::AddFOp::create(nb, l, old, dy);
        return {tensor::InsertOp::create(nb, l, sum, iter[0], idx)};
      });
  adjoints[table] = nest.results[0];
  return success();
}

LogicalResult ReverseMode::visitGeneric(linalg::GenericOp op) {
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  unsigned nIn = op.getNumDpsInputs();
  bool reduction = op.getNumReductionLoops() > 0;

  // A gather: the payload yields an element of a differentiated tensor
  // from above, read at data-dependent indices.
  if (op.getNumDpsInits() == 1 && !reduction)
    if (auto read = yield.getOperand(0).getDefiningOp<tensor::ExtractOp>())
      if (read->getParentOp() == op && isVaried(read.getTensor()) &&
          !op.getRegion().isAncestor(read.getTensor().getParentRegion()))
        return visitGather(op, read);

  // A payload that reads a differentiated value from above hides a data
  // dependence the maps do not describe.
  if (readsVariedFromAbove(op))
    return op.emitOpError(
        "autodiff: the payload uses a value defined outside the op that "
        "depends on the differentiated arguments; pass it as an operand");

  SmallVector<GenericOutput> outs;
  for (unsigned k = 0, e = op.getNumDpsInits(); k < e; ++k) {
    Value d = adjointOf(op.getResult(k));
    if (!d)
      continue;
    Value y = yield.getOperand(k);
    if (!reduction) {
      outs.push_back({k, GenericOutput::Elementwise, y, nullptr, d});
      continue;
    }
    BlockArgument acc = body.getArgument(nIn + k);
    Operation *comb = y.getDefiningOp();
    GenericOutput::Kind kind;
    bool ok = comb && comb->getBlock() == &body &&
              comb->getNumOperands() == 2 && acc.hasOneUse() &&
              comb->hasOneUse() &&
              (comb->getOperand(0) == acc) != (comb->getOperand(1) == acc);
    if (ok) {
      if (isa<arith::AddFOp>(comb))
        kind = GenericOutput::Sum;
      else if (isa<arith::MaximumFOp, arith::MaxNumFOp>(comb))
        kind = GenericOutput::Max;
      else if (isa<arith::MinimumFOp, arith::MinNumFOp>(comb))
        kind = GenericOutput::Min;
      else
        ok = false;
    }
    if (!ok)
      return op.emitOpError()
             << "autodiff: the payload of reduction output #" << k
             << " is not `acc <combiner> expr` with combiner arith.addf, "
                "arith.maximumf/maxnumf or arith.minimumf/minnumf";
    Value expr = comb->getOperand(0) == acc ? comb->getOperand(1)
                                            : comb->getOperand(0);
    outs.push_back({k, kind, expr, comb, d});
  }
  if (outs.empty())
    return success();

  for (unsigned j = 0, e = op->getNumOperands(); j < e; ++j) {
    Value v = op->getOperand(j);
    if (!isVaried(v))
      continue;
    if (j >= nIn && reduction) {
      // The init of a reduction: sum -> the adjoint itself; max/min -> the
      // adjoint where the init won.
      unsigned k = j - nIn;
      const GenericOutput *o = llvm::find_if(
          outs, [&](const GenericOutput &x) { return x.index == k; });
      if (o == outs.end())
        continue;
      if (o->kind == GenericOutput::Sum) {
        accumulate(v, o->adjoint);
        continue;
      }
      Location loc = op.getLoc();
      unsigned rank = cast<RankedTensorType>(v.getType()).getRank();
      SmallVector<utils::IteratorType> its(rank,
                                           utils::IteratorType::parallel);
      Value r = op.getResult(k);
      Value masked =
          linalg::GenericOp::create(
              b, loc, v.getType(), ValueRange{v, r, o->adjoint},
              ValueRange{emptyLike(loc, v)}, identityMaps(rank, 4), its,
              [&](OpBuilder &nb, Location l, ValueRange args) {
                ScalarMath m(nb, l);
                Value eq = arith::CmpFOp::create(
                    nb, l, arith::CmpFPredicate::OEQ, args[0], args[1]);
                Value z = m.cst(args[2].getType(), 0.0);
                linalg::YieldOp::create(
                    nb, l,
                    Value(arith::SelectOp::create(nb, l, eq, args[2], z)));
              })
              .getResult(0);
      accumulate(v, masked);
      continue;
    }
    if (failed(emitOperandAdjoint(op, j, outs)))
      return failure();
  }
  return success();
}

namespace {

/// Payload values of `body` that depend on `seed`.
llvm::DenseSet<Value> dependentsOf(Block &body, BlockArgument seed) {
  llvm::DenseSet<Value> dep;
  dep.insert(seed);
  for (Operation &o : body.without_terminator()) {
    if (llvm::any_of(o.getOperands(), [&](Value v) { return dep.contains(v); }))
      for (Value r : o.getResults())
        dep.insert(r);
  }
  return dep;
}

/// The inputs of an operand's adjoint generic with their indexing maps (the
/// last map is the operand's own, for the output), and the positions at
/// which its payload finds the primal inits, the max/min results and the
/// output adjoints (-1: not passed).
struct AdjointOperands {
  SmallVector<Value> ins;
  SmallVector<AffineMap> maps;
  SmallVector<int> initPos, resultPos, adjPos;
};

/// The primal inputs, the inits whose values the payload reads (elementwise
/// ops), the results of max/min reductions (for the mask) and the output
/// adjoints.
AdjointOperands collectAdjointOperands(linalg::GenericOp op, AffineMap mj,
                                       ArrayRef<GenericOutput> outs) {
  Block &body = op.getRegion().front();
  unsigned nIn = op.getNumDpsInputs();
  unsigned nOut = op.getNumDpsInits();
  bool reduction = op.getNumReductionLoops() > 0;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  AdjointOperands a;
  SmallVector<Value> &ins = a.ins;
  SmallVector<AffineMap> &insMaps = a.maps;
  for (unsigned i = 0; i < nIn; ++i) {
    ins.push_back(op->getOperand(i));
    insMaps.push_back(maps[i]);
  }
  a.initPos.assign(nOut, -1);
  if (!reduction)
    for (unsigned k = 0; k < nOut; ++k)
      if (!body.getArgument(nIn + k).use_empty()) {
        a.initPos[k] = ins.size();
        ins.push_back(op->getOperand(nIn + k));
        insMaps.push_back(maps[nIn + k]);
      }
  a.resultPos.assign(outs.size(), -1);
  a.adjPos.assign(outs.size(), -1);
  for (auto [i, o] : llvm::enumerate(outs))
    if (o.kind == GenericOutput::Max || o.kind == GenericOutput::Min) {
      a.resultPos[i] = ins.size();
      ins.push_back(op.getResult(o.index));
      insMaps.push_back(maps[nIn + o.index]);
    }
  for (auto [i, o] : llvm::enumerate(outs)) {
    a.adjPos[i] = ins.size();
    ins.push_back(o.adjoint);
    insMaps.push_back(maps[nIn + o.index]);
  }
  insMaps.push_back(mj);
  return a;
}

/// The payload of the adjoint generic of `op`'s operand `seedArg` (block
/// arguments `args`, laid out by `a`): the primal payload recomputed with
/// the tangent of `seedArg` pushed through the ops in `dep`, times the output
/// adjoints, added to the accumulator when `accumulateInPlace`. Returns the
/// first payload op without a derivative rule, or null.
Operation *buildAdjointPayload(OpBuilder &nb, Location l, ValueRange args,
                               linalg::GenericOp op, BlockArgument seedArg,
                               const llvm::DenseSet<Value> &dep,
                               ArrayRef<GenericOutput> outs,
                               const AdjointOperands &a,
                               bool accumulateInPlace) {
  Block &body = op.getRegion().front();
  unsigned nIn = op.getNumDpsInputs();
  unsigned nOut = op.getNumDpsInits();
  llvm::SmallPtrSet<Operation *, 4> combiners;
  for (const GenericOutput &o : outs)
    if (o.combiner)
      combiners.insert(o.combiner);

  Operation *unsupported = nullptr;
  IRMapping map;
  for (unsigned i = 0; i < nIn; ++i)
    map.map(body.getArgument(i), args[i]);
  for (unsigned k = 0; k < nOut; ++k)
    if (a.initPos[k] >= 0)
      map.map(body.getArgument(nIn + k), args[a.initPos[k]]);
  ScalarMath m(nb, l);
  llvm::DenseMap<Value, Tan> tans;
  tans[seedArg] = Tan::one();
  for (Operation &o : body.without_terminator()) {
    if (combiners.contains(&o))
      continue;
    Operation *c = nb.clone(o, map);
    if (!llvm::any_of(o.getOperands(),
                      [&](Value v) { return dep.contains(v); }))
      continue;
    if (o.getNumResults() != 1 || !isa<FloatType>(o.getResult(0).getType()))
      continue; // comparisons, casts to integers: no tangent
    SmallVector<Tan> ot;
    for (Value v : o.getOperands())
      ot.push_back(tans.lookup(v));
    FailureOr<Tan> t = tangentRule(m, c, ot);
    if (failed(t)) {
      if (!unsupported)
        unsupported = &o;
      continue;
    }
    tans[o.getResult(0)] = *t;
  }
  Type accType = args.back().getType();
  Tan total;
  for (auto [i, o] : llvm::enumerate(outs)) {
    Tan te = tans.lookup(o.expr);
    if (te.isZero())
      continue;
    Value dy = args[a.adjPos[i]];
    Tan c = m.mul(m.convert(te, dy.getType()), dy);
    if (a.resultPos[i] >= 0) {
      Value e = map.lookupOrDefault(o.expr);
      Value eq = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, e,
                                       args[a.resultPos[i]]);
      c = m.select(eq, c, Tan::zero(), dy.getType());
    }
    total = m.add(m.convert(total, dy.getType()), c, dy.getType());
  }
  Value contrib = m.convert(m.materialize(total, accType), accType);
  if (accumulateInPlace)
    contrib = m.add(args.back(), contrib);
  linalg::YieldOp::create(nb, l, contrib);
  return unsupported;
}

} // namespace

/// The accumulator of `primal`'s adjoint generic: the running adjoint if
/// there is one, else zeros (when several iterations add into one element)
/// or an empty tensor, which the generic then overwrites rather than adds to.
Value ReverseMode::operandAdjointInit(Location loc, Value primal,
                                      bool adjointReduces,
                                      bool &accumulateInPlace) {
  bool scalar = !isa<ShapedType>(primal.getType());
  Type elemType = getElementTypeOrSelf(primal.getType());
  Value existing = adjointOf(primal);
  accumulateInPlace = true;
  if (scalar) {
    auto t0 = RankedTensorType::get({}, elemType);
    return existing ? tensor::FromElementsOp::create(b, loc, t0, existing)
                          .getResult()
                    : linalg::FillOp::create(
                          b, loc,
                          arith::ConstantOp::create(
                              b, loc, b.getFloatAttr(elemType, 0.0))
                              .getResult(),
                          tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{},
                                                  elemType)
                              .getResult())
                          .getResult(0);
  }
  if (existing)
    return existing;
  if (adjointReduces)
    return zerosLike(loc, primal);
  accumulateInPlace = false;
  return emptyLike(loc, primal);
}

LogicalResult ReverseMode::emitOperandAdjoint(linalg::GenericOp op, unsigned j,
                                              ArrayRef<GenericOutput> outs) {
  Block &body = op.getRegion().front();
  BlockArgument seedArg = body.getArgument(j);
  Value primal = op->getOperand(j);
  Location loc = op.getLoc();

  llvm::DenseSet<Value> dep = dependentsOf(body, seedArg);
  if (llvm::none_of(
          outs, [&](const GenericOutput &o) { return dep.contains(o.expr); }))
    return success();

  AffineMap mj = op.getIndexingMapsArray()[j];
  if (!mj.isProjectedPermutation(/*allowZeroInResults=*/true))
    return op.emitOpError()
           << "autodiff: the indexing map of operand #" << j << " ("
           << AffineMapAttr::get(mj) << ") is not a projected permutation";
  unsigned nLoops = op.getNumLoops();
  SmallVector<utils::IteratorType> its(nLoops, utils::IteratorType::reduction);
  for (AffineExpr e : mj.getResults())
    if (auto d = dyn_cast<AffineDimExpr>(e))
      its[d.getPosition()] = utils::IteratorType::parallel;
  bool adjointReduces = llvm::is_contained(its, utils::IteratorType::reduction);

  bool accumulateInPlace;
  Value acc =
      operandAdjointInit(loc, primal, adjointReduces, accumulateInPlace);
  AdjointOperands operands = collectAdjointOperands(op, mj, outs);

  Operation *unsupported = nullptr;
  auto gen = linalg::GenericOp::create(
      b, loc, acc.getType(), operands.ins, ValueRange{acc}, operands.maps, its,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        unsupported = buildAdjointPayload(nb, l, args, op, seedArg, dep, outs,
                                          operands, accumulateInPlace);
      });
  if (unsupported) {
    gen.erase();
    return unsupported->emitOpError(
        "autodiff: no derivative rule for this op in a linalg.generic "
        "payload");
  }
  Value r = gen.getResult(0);
  if (!isa<ShapedType>(primal.getType()))
    r = tensor::ExtractOp::create(b, loc, r, ValueRange{});
  adjoints[primal] = r;
  return success();
}
