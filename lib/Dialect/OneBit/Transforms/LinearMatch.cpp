//===- LinearMatch.cpp - FP linear layers with constant weights -----------===//

#include "onebit/Dialect/OneBit/Transforms/LinearMatch.h"
#include "onebit/Dialect/OneBit/Utils/ConstantData.h"

#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <cmath>

using namespace mlir;
using namespace onebit;

namespace {

bool isZeroFill(Value v) {
  auto fill = v.getDefiningOp<linalg::FillOp>();
  if (!fill)
    return false;
  return matchPattern(fill.getInputs()[0], m_AnyZeroFloat());
}

/// Matches `a + b` payloads: one addf of the two block inputs, then yield.
bool isAddBody(Block &body) {
  if (body.getNumArguments() != 3 || !llvm::hasSingleElement(
                                         body.without_terminator()))
    return false;
  auto add = dyn_cast<arith::AddFOp>(&body.front());
  auto yield = dyn_cast<linalg::YieldOp>(body.getTerminator());
  if (!add || !yield || yield->getOperand(0) != add.getResult())
    return false;
  Value a = body.getArgument(0), b = body.getArgument(1);
  return (add.getLhs() == a && add.getRhs() == b) ||
         (add.getLhs() == b && add.getRhs() == a);
}

/// The constant `w` widens when it is `linalg.generic` { arith.extf } of a
/// float constant over identity maps (how the GGUF importer reads its f16
/// weights), with that generic in `widen`; null otherwise.
arith::ConstantOp widenedConstant(Value w, linalg::GenericOp &widen) {
  auto g = w.getDefiningOp<linalg::GenericOp>();
  if (!g || g.getNumDpsInputs() != 1 || g.getNumDpsInits() != 1 ||
      g.getNumParallelLoops() != g.getNumLoops() ||
      !llvm::all_of(g.getIndexingMapsArray(),
                    [](AffineMap m) { return m.isIdentity(); }))
    return nullptr;
  Block &body = g.getRegion().front();
  if (!llvm::hasSingleElement(body.without_terminator()))
    return nullptr;
  auto ext = dyn_cast<arith::ExtFOp>(&body.front());
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  if (!ext || ext.getIn() != body.getArgument(0) ||
      yield->getOperand(0) != ext.getResult())
    return nullptr;
  auto cst = g.getDpsInputOperand(0)->get().getDefiningOp<arith::ConstantOp>();
  if (!cst)
    return nullptr;
  widen = g;
  return cst;
}

} // namespace

/// Recognises a constant-weight contraction whose activation operand has the
/// `... x K` layout binary_linear takes and whose output is `... x N`.
std::optional<LinearLayer> onebit::matchLinear(linalg::LinalgOp op) {
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      !op.hasPureTensorSemantics() || !linalg::isaContractionOpInterface(op))
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  for (AffineMap m : maps)
    if (!m.isProjectedPermutation(/*allowZeroInResults=*/false))
      return std::nullopt;
  SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
  int64_t kDim = -1;
  for (auto [i, it] : llvm::enumerate(iters)) {
    if (it != utils::IteratorType::reduction)
      continue;
    if (kDim >= 0)
      return std::nullopt; // more than one reduction dim
    kDim = i;
  }
  if (kDim < 0)
    return std::nullopt;

  AffineMap outMap = maps[2];
  auto resultType = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  if (!resultType || outMap.getNumResults() < 1)
    return std::nullopt;
  unsigned nDim = outMap.getDimPosition(outMap.getNumResults() - 1);

  for (int wIdx = 0; wIdx < 2; ++wIdx) {
    Value w = op.getDpsInputOperand(wIdx)->get();
    auto cst = w.getDefiningOp<arith::ConstantOp>();
    linalg::GenericOp widen;
    if (!cst)
      cst = widenedConstant(w, widen);
    if (!cst)
      continue;
    auto attr = dyn_cast<ElementsAttr>(cst.getValue());
    auto wType = dyn_cast<RankedTensorType>(cst.getType());
    if (!attr || !wType || wType.getRank() != 2 || !wType.hasStaticShape() ||
        !isa<FloatType>(wType.getElementType()))
      continue;
    AffineMap wMap = maps[wIdx], xMap = maps[1 - wIdx];
    unsigned w0 = wMap.getDimPosition(0), w1 = wMap.getDimPosition(1);
    bool kxn = w0 == unsigned(kDim) && w1 == nDim;
    bool nxk = w0 == nDim && w1 == unsigned(kDim);
    if (!kxn && !nxk)
      continue;
    // Activations: output dims with n replaced by k, in the same order.
    if (xMap.getNumResults() != outMap.getNumResults() ||
        xMap.getDimPosition(xMap.getNumResults() - 1) != unsigned(kDim))
      continue;
    bool sameLeading = true;
    for (unsigned r = 0; r + 1 < outMap.getNumResults(); ++r)
      sameLeading &= xMap.getDimPosition(r) == outMap.getDimPosition(r);
    if (!sameLeading)
      continue;
    Value x = op.getDpsInputOperand(1 - wIdx)->get();
    auto xType = dyn_cast<RankedTensorType>(x.getType());
    Type et = resultType.getElementType();
    if (!xType || xType.getElementType() != et || !(et.isF32() || et.isF16()))
      continue;

    LinearLayer layer;
    layer.op = op;
    layer.inputIdx = 1 - wIdx;
    layer.weight = cst;
    layer.weightWiden = widen;
    layer.weightIsKxN = kxn;
    layer.k = kxn ? wType.getDimSize(0) : wType.getDimSize(1);
    layer.n = kxn ? wType.getDimSize(1) : wType.getDimSize(0);
    Value init = op.getDpsInitOperand(0)->get();
    layer.accumulates = !isZeroFill(init);
    layer.weightName = getConstantName(cst);
    layer.layerName = getLocationName(op->getLoc());
    return layer;
  }
  return std::nullopt;
}

/// Folds a following `+ bias` (a linalg.generic adding a constant vector
/// broadcast over the output features) into the layer.
void onebit::matchBias(LinearLayer &layer) {
  Value out = layer.op->getResult(0);
  if (!out.hasOneUse() || layer.accumulates)
    return;
  auto add = dyn_cast<linalg::GenericOp>(*out.getUsers().begin());
  if (!add || add.getNumDpsInputs() != 2 || add.getNumDpsInits() != 1 ||
      add.getNumParallelLoops() != add.getNumLoops() ||
      !isAddBody(add.getRegion().front()) ||
      add->getResult(0).getType() != out.getType())
    return;
  SmallVector<AffineMap> maps = add.getIndexingMapsArray();
  if (!maps[2].isIdentity())
    return;
  for (int i = 0; i < 2; ++i) {
    if (add.getDpsInputOperand(i)->get() != out || !maps[i].isIdentity())
      continue;
    Value b = add.getDpsInputOperand(1 - i)->get();
    auto cst = b.getDefiningOp<arith::ConstantOp>();
    auto bType = dyn_cast<RankedTensorType>(b.getType());
    if (!cst || !bType || !bType.hasStaticShape() ||
        !isa<ElementsAttr>(cst.getValue()) ||
        bType.getNumElements() != layer.n)
      return;
    // The bias must vary only along the last (feature) loop.
    AffineMap bm = maps[1 - i];
    unsigned last = maps[2].getNumDims() - 1;
    for (unsigned r = 0; r < bm.getNumResults(); ++r) {
      auto d = dyn_cast<AffineDimExpr>(bm.getResult(r));
      auto c = dyn_cast<AffineConstantExpr>(bm.getResult(r));
      bool isFeature = d && d.getPosition() == last;
      if (!isFeature && !(c && c.getValue() == 0) &&
          bType.getDimSize(r) != 1)
        return;
      if (!isFeature && bType.getDimSize(r) != 1)
        return;
    }
    layer.biasAdd = add;
    layer.biasConst = cst;
    return;
  }
}

void onebit::replaceLinear(LinearLayer &layer, OpBuilder &b, Value result) {
  if (layer.accumulates)
    result = arith::AddFOp::create(b, layer.op->getLoc(), result,
                                   layer.op.getDpsInitOperand(0)->get());

  Value oldOut = layer.output();
  oldOut.replaceAllUsesWith(result);
  Operation *initOp = layer.op.getDpsInitOperand(0)->get().getDefiningOp();
  if (layer.biasAdd)
    layer.biasAdd->erase();
  layer.op->erase();
  if (initOp && initOp->use_empty() && isa<linalg::FillOp>(initOp)) {
    SmallVector<Operation *> fillInputs;
    for (Value v : initOp->getOperands())
      if (Operation *def = v.getDefiningOp())
        fillInputs.push_back(def);
    initOp->erase();
    for (Operation *def : fillInputs)
      if (isOpTriviallyDead(def))
        def->erase();
  }
  if (layer.weightWiden && layer.weightWiden->use_empty()) {
    Operation *init =
        layer.weightWiden.getDpsInitOperand(0)->get().getDefiningOp();
    layer.weightWiden->erase();
    if (init && isOpTriviallyDead(init))
      init->erase();
  }
  for (Operation *c : {layer.weight.getOperation(),
                       layer.biasConst ? layer.biasConst.getOperation()
                                       : nullptr})
    if (c && c->use_empty())
      c->erase();
}

bool onebit::isLastWeightUse(LinearLayer &layer) {
  if (!layer.weight->hasOneUse())
    return false;
  return !layer.weightWiden || layer.weightWiden->hasOneUse();
}

FailureOr<const float *> onebit::readMatrixNxK(Operation *errorAt,
                                               arith::ConstantOp cst,
                                               StringRef name, bool kxn,
                                               int64_t n, int64_t k,
                                               std::vector<float> &storage) {
  FailureOr<RawConstant> raw =
      getRawConstant(cast<ElementsAttr>(cst.getValue()));
  if (failed(raw)) {
    errorAt->emitError() << "cannot read the data of weight '" << name << "'";
    return failure();
  }
  const float *w;
  if (raw->type.getElementType().isF32() && !raw->splat && !kxn) {
    w = reinterpret_cast<const float *>(raw->bytes.data());
  } else {
    toFloat32(*raw, storage);
    if (kxn) {
      std::vector<float> t(static_cast<size_t>(n * k));
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < n; ++j)
          t[j * k + i] = storage[i * n + j];
      storage.swap(t);
    }
    w = storage.data();
  }
  for (int64_t i = 0; i < n * k; ++i)
    if (!std::isfinite(w[i])) {
      errorAt->emitError()
          << "weight '" << name << "' has a non-finite value ("
          << (std::isnan(w[i]) ? "NaN" : w[i] > 0 ? "+Inf" : "-Inf")
          << ") at output feature " << i / k << ", input feature " << i % k
          << "; refusing to quantize it";
      return failure();
    }
  return w;
}
