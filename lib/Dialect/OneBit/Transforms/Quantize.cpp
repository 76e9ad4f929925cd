//===- Quantize.cpp - SVID rewrite of FP linear layers --------------------===//
//
// Implements --onebit-quantize: constant-weight linalg contractions become
// onebit.binary_linear with packed sign(W) and SVID value vectors.
//
//===----------------------------------------------------------------------===//

#include "onebit/Dialect/OneBit/IR/OneBit.h"
#include "onebit/Dialect/OneBit/Transforms/Passes.h"
#include "onebit/Dialect/OneBit/Transforms/LinearMatch.h"
#include "onebit/Dialect/OneBit/Transforms/Quantize.h"
#include "onebit/Dialect/OneBit/Utils/ConstantData.h"
#include "onebit/Support/SVID.h"
#include "onebit/Support/SignPacking.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/GlobPattern.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstring>
#include <tuple>

namespace onebit {
#define GEN_PASS_DEF_ONEBITQUANTIZE
#include "onebit/Dialect/OneBit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;
using namespace onebit;

namespace {

/// A name matches an exclude pattern when the glob matches it whole, or, for
/// a pattern without glob characters, when the pattern is a substring.
bool nameMatches(StringRef name, StringRef pattern,
                 const llvm::GlobPattern &glob) {
  if (name.empty())
    return false;
  if (glob.match(name))
    return true;
  return pattern.find_first_of("*?[]{}") == StringRef::npos &&
         name.contains(pattern);
}

/// The logits layer of `func`: the last matched layer (in program order)
/// whose output reaches a func.return without passing through another
/// matched layer, or any layer named like an lm_head.
DenseSet<Operation *> findHeads(func::FuncOp func,
                                MutableArrayRef<LinearLayer> layers) {
  DenseSet<Operation *> heads;
  DenseMap<Operation *, LinearLayer *> byOp;
  for (LinearLayer &l : layers) {
    byOp[l.op.getOperation()] = &l;
    if (StringRef(l.weightName).contains("lm_head") ||
        StringRef(l.layerName).contains("lm_head"))
      heads.insert(l.op.getOperation());
  }
  Operation *lastReaching = nullptr;
  for (LinearLayer &l : layers) {
    if (l.op->getParentOfType<func::FuncOp>() != func)
      continue;
    SmallVector<Value> work{l.output()};
    DenseSet<Operation *> seen;
    bool reaches = false;
    while (!work.empty() && !reaches) {
      Value v = work.pop_back_val();
      for (Operation *user : v.getUsers()) {
        if (isa<func::ReturnOp>(user)) {
          reaches = true;
          break;
        }
        if (byOp.count(user) || !seen.insert(user).second)
          continue;
        for (Value r : user->getResults())
          work.push_back(r);
        // Values yielded out of a region continue through the parent op.
        if (user->hasTrait<OpTrait::IsTerminator>())
          if (Operation *parent = user->getParentOp())
            if (!isa<func::FuncOp>(parent))
              for (Value r : parent->getResults())
                work.push_back(r);
      }
    }
    if (reaches && (!lastReaching || lastReaching->isBeforeInBlock(l.op) ||
                    lastReaching->getBlock() != l.op->getBlock()))
      lastReaching = l.op.getOperation();
  }
  if (lastReaching)
    heads.insert(lastReaching);
  return heads;
}

/// Writes `v` as `type` (f32 or f16) raw bytes.
std::vector<char> encodeValues(ArrayRef<float> v, FloatType type) {
  std::vector<char> out;
  if (type.isF32()) {
    out.resize(v.size() * 4);
    std::memcpy(out.data(), v.data(), out.size());
    return out;
  }
  out.resize(v.size() * 2);
  for (size_t i = 0; i < v.size(); ++i) {
    APFloat f(v[i]);
    bool lost;
    f.convert(APFloat::IEEEhalf(), APFloat::rmNearestTiesToEven, &lost);
    uint16_t bits = static_cast<uint16_t>(f.bitcastToAPInt().getZExtValue());
    std::memcpy(out.data() + 2 * i, &bits, 2);
  }
  return out;
}

/// The constants a weight quantized to, so that a weight several functions
/// use (a model's full forward and its KV-cache entries) is quantized once
/// and stays one copy: keyed by the weight's and bias's attributes and the
/// weight's layout.
struct QuantizedConstants {
  TypedAttr signs, g, h, bias;
  QuantizedLayer stats;
};
using QuantizedCache =
    llvm::DenseMap<std::tuple<Attribute, Attribute, unsigned>, QuantizedConstants>;

/// Bits of a constant tensor (0 for anything else), as the model-wide figure
/// counts them.
double constantBitsOf(arith::ConstantOp c, double &elems) {
  auto t = dyn_cast<RankedTensorType>(c.getType());
  if (!t || !t.hasStaticShape())
    return 0;
  elems += double(t.getNumElements());
  return double(t.getNumElements()) * t.getElementTypeBitWidth();
}

bool isTeacherOp(Operation *op) {
  auto f = op->getParentOfType<func::FuncOp>();
  return f && f->hasAttr("onebit.teacher");
}

/// Every non-teacher constant's bits, for the model-wide figure.
double moduleConstantBits(ModuleOp module, double *elems = nullptr) {
  double bits = 0, n = 0;
  module.walk([&](arith::ConstantOp c) {
    if (isTeacherOp(c))
      return;
    auto t = dyn_cast<RankedTensorType>(c.getType());
    if (!t || !t.hasStaticShape())
      return;
    bits += double(t.getNumElements()) * t.getElementTypeBitWidth();
    n += t.getNumElements();
  });
  if (elems)
    *elems = n;
  return bits;
}

} // namespace

/// The state of one rewrite, whole (quantizeLinearLayers) or in steps
/// (StreamingQuantizer).
struct onebit::StreamingQuantizer::State {
  QuantizeConfig config;
  ::onebit::SvidOptions svidOpts;
  FloatType valueType;
  SmallVector<std::pair<std::string, llvm::GlobPattern>> patterns;
  QuantizedCache cache;
  QuantizeReport report;
  /// Layers left in full precision by an earlier step (they stay matched).
  DenseSet<Operation *> kept;
  double linearParams = 0, linearBits = 0;
  /// Constant bits the rewrites removed and added, for the model-wide
  /// figure of a module that was never whole in FP.
  double removedBits = 0, addedBits = 0;
  double removedElems = 0, addedElems = 0;
  unsigned index = 0;
  /// Per step: how many constant ops hold each weight attribute, so that a
  /// weight's data is released when its last constant goes.
  DenseMap<Attribute, unsigned> attrUses;
  /// Weights whose data was released: no constant may hold them after the
  /// final step.
  DenseSet<Attribute> released;

  LogicalResult quantizeLayer(LinearLayer &layer, QuantizedLayer &stats,
                              bool &reused);
  void noteErased(arith::ConstantOp c);
};

/// Called for a weight constant the rewrite is about to erase: counts its
/// bits and, with `releaseWeights`, drops the data of a dense_resource no
/// other constant holds (the importer's mapping or heap copy).
void onebit::StreamingQuantizer::State::noteErased(arith::ConstantOp c) {
  removedBits += constantBitsOf(c, removedElems);
  Attribute a = c.getValue();
  auto it = attrUses.find(a);
  if (it == attrUses.end() || --it->second != 0)
    return;
  attrUses.erase(it);
  if (!config.releaseWeights)
    return;
  if (auto res = dyn_cast<DenseResourceElementsAttr>(a))
    if (auto *entry = res.getRawHandle().getResource())
      if (entry->getBlob()) {
        entry->setBlob(AsmResourceBlob());
        released.insert(a);
      }
}

LogicalResult onebit::StreamingQuantizer::State::quantizeLayer(
    LinearLayer &layer, QuantizedLayer &stats, bool &reused) {
  const int64_t n = layer.n, k = layer.k;
  MLIRContext *ctx = layer.op->getContext();
  OpBuilder b(layer.lastOp());
  Location loc = layer.op->getLoc();
  auto key = std::make_tuple(
      layer.weight.getValue(),
      layer.biasAdd ? layer.biasConst.getValue() : Attribute(),
      unsigned(layer.weightIsKxN));
  auto build = [&](const QuantizedConstants &q) {
    auto mk = [&](TypedAttr a, StringRef suffix) -> Value {
      if (!a)
        return Value();
      auto c = arith::ConstantOp::create(
          b,
          NameLoc::get(StringAttr::get(ctx, q.stats.name + "." + suffix.str()),
                       loc),
          a);
      addedBits += constantBitsOf(c, addedElems);
      return c;
    };
    auto resultType =
        cast<RankedTensorType>(layer.op->getResult(0).getType());
    FloatAttr eps =
        config.postNorm ? b.getF64FloatAttr(config.normEps) : FloatAttr();
    // Operands are read now: earlier rewrites may have replaced them.
    Value input = layer.op.getDpsInputOperand(layer.inputIdx)->get();
    auto bl = BinaryLinearOp::create(
        b, loc, resultType, input, mk(q.signs, "signs"), mk(q.g, "g"),
        mk(q.h, "h"), mk(q.bias, "bias"), PackingAttr::getCanonical(ctx), eps);
    bl->setAttr("onebit.name", b.getStringAttr(q.stats.name));
    // The constants replaceLinear erases (those this layer alone uses).
    if (isLastWeightUse(layer))
      noteErased(layer.weight);
    if (layer.biasConst && layer.biasConst->hasOneUse())
      noteErased(layer.biasConst);
    replaceLinear(layer, b, bl.getResult());
    return bl;
  };
  if (auto it = cache.find(key); it != cache.end()) {
    build(it->second);
    stats = it->second.stats;
    reused = true;
    return success();
  }
  reused = false;
  // sign(W) and SVID work on the N x K row-major f32 matrix.
  std::vector<float> converted;
  FailureOr<const float *> wOr =
      readMatrixNxK(layer.weight, layer.weight, layer.weightName,
                    layer.weightIsKxN, n, k, converted);
  if (failed(wOr))
    return failure();
  const float *w = *wOr;

  ::onebit::SvidResult svid = ::onebit::svid(w, n, k, svidOpts);
  ::onebit::SignLayout canon = ::onebit::SignLayout::canonical();
  std::vector<char> packed(canon.bytes(n, k));
  ::onebit::packSigns(w, n, k, canon, packed.data());
  // The f32 copy is not needed any more: free it before the constants are
  // built (a streamed import holds one layer's copy at a time).
  std::vector<float>().swap(converted);

  std::string base = !layer.weightName.empty()
                         ? layer.weightName
                         : !layer.layerName.empty()
                               ? layer.layerName
                               : llvm::formatv("onebit_layer_{0}", index).str();
  ++index;

  auto signsType = RankedTensorType::get({n, canon.wordsPerRow(k)},
                                         IntegerType::get(ctx, 32));
  auto gType = RankedTensorType::get({k}, valueType);
  auto hType = RankedTensorType::get({n}, valueType);
  auto mkConst = [&](RankedTensorType t, StringRef suffix,
                     ArrayRef<char> bytes) -> TypedAttr {
    return cast<TypedAttr>(makeResource(t, base + "." + suffix.str(), bytes));
  };
  QuantizedConstants q;
  q.signs = mkConst(signsType, "signs", packed);
  std::vector<char>().swap(packed);
  q.g = mkConst(gType, "g", encodeValues(svid.b, valueType));
  q.h = mkConst(hType, "h", encodeValues(svid.a, valueType));

  if (layer.biasAdd) {
    FailureOr<RawConstant> rb =
        getRawConstant(cast<ElementsAttr>(layer.biasConst.getValue()));
    if (failed(rb))
      return layer.biasConst.emitError("cannot read the bias data");
    std::vector<float> bv;
    toFloat32(*rb, bv);
    q.bias = mkConst(hType, "bias", encodeValues(bv, valueType));
  }

  stats.name = base;
  stats.outFeatures = n;
  stats.inFeatures = k;
  stats.iterations = svid.iterations;
  stats.relError = svid.relError;
  unsigned vbits = valueType.getWidth();
  stats.bitsPerWeight =
      double(n * k + vbits * (n + k)) / double(n * k);
  q.stats = stats;
  cache[key] = q;
  BinaryLinearOp bl = build(q);
  if (config.emitRemarks)
    bl.emitRemark() << llvm::formatv(
        "quantized '{0}' ({1}x{2}): init={3} iterations={4} "
        "rel_error={5:F6} bits_per_weight={6:F4}",
        base, n, k, config.init, svid.iterations, svid.relError,
        stats.bitsPerWeight);
  return success();
}

onebit::StreamingQuantizer::StreamingQuantizer() = default;
onebit::StreamingQuantizer::~StreamingQuantizer() = default;

FailureOr<std::unique_ptr<onebit::StreamingQuantizer>>
onebit::StreamingQuantizer::create(Operation *errorAt,
                                   const QuantizeConfig &config) {
  auto q = std::unique_ptr<StreamingQuantizer>(new StreamingQuantizer());
  q->state = std::make_unique<State>();
  State &s = *q->state;
  s.config = config;
  if (!::onebit::parseSvidInit(config.init, s.svidOpts.init))
    return errorAt->emitError() << "onebit-quantize: unknown init '"
                                << config.init
                                << "' (expected nmf, svd or mean)";
  s.svidOpts.maxIters = config.maxIters;
  s.svidOpts.tolerance = config.tolerance;
  s.svidOpts.seed = config.seed;
  if (config.valueType == "f32")
    s.valueType = Float32Type::get(errorAt->getContext());
  else if (config.valueType == "f16")
    s.valueType = Float16Type::get(errorAt->getContext());
  else
    return errorAt->emitError()
           << "onebit-quantize: unknown value-type '" << config.valueType
           << "' (expected f32 or f16)";
  if (!(config.normEps > 0))
    return errorAt->emitError() << "onebit-quantize: norm-eps must be positive";
  for (const std::string &p : config.exclude) {
    auto glob = llvm::GlobPattern::create(p);
    if (!glob)
      return errorAt->emitError() << "onebit-quantize: bad exclude pattern '"
                                  << p << "': "
                                  << llvm::toString(glob.takeError());
    s.patterns.emplace_back(p, std::move(*glob));
  }
  return q;
}

LogicalResult onebit::StreamingQuantizer::step(ModuleOp module, bool final) {
  State &s = *state;
  // A function still being built has no terminator yet; before the final
  // step only its layers are rewritten, and never one named like a head.
  auto complete = [](func::FuncOp f) {
    if (f.isExternal())
      return true;
    Block &last = f.getBody().back();
    return !last.empty() && last.back().hasTrait<OpTrait::IsTerminator>();
  };
  SmallVector<LinearLayer> layers;
  module.walk([&](linalg::LinalgOp op) {
    if (isTeacherOp(op) || s.kept.contains(op.getOperation()))
      return;
    if (!final && complete(op->getParentOfType<func::FuncOp>()))
      return;
    if (auto layer = matchLinear(op)) {
      if (!final && (StringRef(layer->weightName).contains("lm_head") ||
                     StringRef(layer->layerName).contains("lm_head")))
        return;
      matchBias(*layer);
      layers.push_back(std::move(*layer));
    }
  });
  if (layers.empty())
    return success();

  s.attrUses.clear();
  module.walk([&](arith::ConstantOp c) {
    if (isa<DenseResourceElementsAttr>(c.getValue()))
      ++s.attrUses[c.getValue()];
  });

  DenseSet<Operation *> heads;
  if (s.config.keepHead && final)
    module.walk([&](func::FuncOp f) {
      if (f->hasAttr("onebit.teacher"))
        return;
      for (Operation *h : findHeads(f, layers))
        heads.insert(h);
    });

  for (LinearLayer &layer : layers) {
    double params = double(layer.n) * layer.k;
    s.linearParams += params;
    auto wt = cast<RankedTensorType>(layer.weight.getType());
    bool excluded = llvm::any_of(s.patterns, [&](auto &p) {
      return nameMatches(layer.weightName, p.first, p.second) ||
             nameMatches(layer.layerName, p.first, p.second);
    });
    const char *reason = excluded ? "excluded"
                         : heads.contains(layer.op.getOperation())
                             ? "head"
                         : params < double(s.config.minElements)
                             ? "min-elements"
                             : nullptr;
    if (reason) {
      std::string name =
          !layer.weightName.empty() ? layer.weightName : layer.layerName;
      s.report.skipped.push_back({name, layer.n, layer.k, reason});
      s.linearBits += params * wt.getElementTypeBitWidth();
      s.kept.insert(layer.op.getOperation());
      continue;
    }
    QuantizedLayer q;
    bool reused = false;
    if (failed(s.quantizeLayer(layer, q, reused)))
      return failure();
    s.linearBits += q.bitsPerWeight * params;
    // The same weight in another function: one layer of the model.
    if (!reused)
      s.report.quantized.push_back(q);
  }
  s.attrUses.clear();
  if (!final || s.released.empty())
    return success();
  // A weight released after its rewrite must not be held by a constant the
  // rewrite did not replace (an importer reusing it in another role).
  WalkResult stale = module.walk([&](arith::ConstantOp c) {
    if (!s.released.contains(c.getValue()))
      return WalkResult::advance();
    c.emitError() << "onebit-quantize: the data of weight '"
                  << getConstantName(c)
                  << "' was released after its layer was rewritten, but "
                     "this constant still uses it";
    return WalkResult::interrupt();
  });
  return failure(stale.wasInterrupted());
}

QuantizeReport onebit::StreamingQuantizer::finish(ModuleOp module) {
  State &s = *state;
  QuantizeReport report = std::move(s.report);
  double elemsAfter = 0;
  double bitsAfter = moduleConstantBits(module, &elemsAfter);
  // What the module held in FP: today's constants, less the rewrites' new
  // ones, plus the weights and biases they replaced (a streamed import never
  // held them all at once).
  double bitsBefore = bitsAfter - s.addedBits + s.removedBits;
  double elemsBefore = elemsAfter - s.addedElems + s.removedElems;
  report.linearBitsPerWeight =
      s.linearParams ? s.linearBits / s.linearParams : 0.0;
  report.constantBytesBefore = int64_t(bitsBefore / 8);
  report.constantBytesAfter = int64_t(bitsAfter / 8);
  report.modelBitsPerWeight =
      elemsBefore ? bitsAfter / elemsBefore : 0.0;
  return report;
}

FailureOr<QuantizeReport>
onebit::quantizeLinearLayers(ModuleOp module, const QuantizeConfig &config) {
  auto quantizer = StreamingQuantizer::create(module, config);
  if (failed(quantizer))
    return failure();

  // The frozen FP teacher of distillation: a private copy of every public
  // function, left unquantized (see --onebit-build-train-step).
  if (config.keepTeacher) {
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> publics;
    for (auto f : module.getOps<func::FuncOp>())
      if (f.isPublic() && !f.isExternal() && !f->hasAttr("onebit.teacher"))
        publics.push_back(f);
    for (func::FuncOp f : publics) {
      std::string name = (f.getSymName() + "_teacher").str();
      if (symbols.lookup(name)) {
        module.emitError() << "onebit-quantize: keep-teacher: a symbol named '"
                           << name << "' already exists";
        return failure();
      }
      auto t = cast<func::FuncOp>(f->clone());
      t.setSymName(name);
      t.setPrivate();
      t->setAttr("onebit.teacher", FlatSymbolRefAttr::get(f.getSymNameAttr()));
      symbols.insert(t, std::next(Block::iterator(f)));
    }
  }
  if (failed((*quantizer)->step(module, /*final=*/true)))
    return failure();
  return (*quantizer)->finish(module);
}

void onebit::printQuantizeReport(const QuantizeReport &report, StringRef init,
                                 llvm::raw_ostream &os) {
  for (const QuantizedLayer &s : report.quantized)
    os << llvm::formatv("onebit-quantize: layer '{0}' {1}x{2} init={3} "
                        "iterations={4} rel_error={5:F6} "
                        "bits_per_weight={6:F4}\n",
                        s.name, s.outFeatures, s.inFeatures, init,
                        s.iterations, s.relError, s.bitsPerWeight);
  for (const SkippedLayer &s : report.skipped)
    os << llvm::formatv("onebit-quantize: kept '{0}' {1}x{2} in full "
                        "precision ({3})\n",
                        s.name, s.outFeatures, s.inFeatures, s.reason);
  os << llvm::formatv(
      "onebit-quantize: {0} of {1} linear layers quantized; linear "
      "layers {2:F4} bits/weight; model {3:F4} bits/weight ({4} -> {5} "
      "bytes of constants)\n",
      report.quantized.size(),
      report.quantized.size() + report.skipped.size(),
      report.linearBitsPerWeight, report.modelBitsPerWeight,
      report.constantBytesBefore, report.constantBytesAfter);
}

namespace {
struct QuantizePass : public onebit::impl::OneBitQuantizeBase<QuantizePass> {
  using Base::Base;
  void runOnOperation() override {
    QuantizeConfig config;
    config.init = init;
    config.maxIters = maxIters;
    config.tolerance = tolerance;
    config.seed = seed;
    config.exclude.assign(exclude.begin(), exclude.end());
    config.minElements = minElements;
    config.keepHead = keepHead;
    config.postNorm = postNorm;
    config.normEps = normEps;
    config.valueType = valueTypeName;
    config.emitRemarks = emitRemarks;
    config.keepTeacher = keepTeacher;
    FailureOr<QuantizeReport> report =
        quantizeLinearLayers(getOperation(), config);
    if (failed(report))
      return signalPassFailure();
    numQuantized += report->quantized.size();
    numSkipped += report->skipped.size();
    if (printStats)
      printQuantizeReport(*report, config.init, llvm::errs());
  }
};
} // namespace
