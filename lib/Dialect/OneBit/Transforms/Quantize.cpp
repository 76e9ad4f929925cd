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

LogicalResult quantizeLayer(LinearLayer &layer, unsigned index,
                            const QuantizeConfig &config,
                            const ::onebit::SvidOptions &svidOpts,
                            FloatType valueType, QuantizedCache &cache,
                            QuantizedLayer &stats, bool &reused) {
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
      return arith::ConstantOp::create(
          b,
          NameLoc::get(StringAttr::get(ctx, q.stats.name + "." + suffix.str()),
                       loc),
          a);
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

  std::string base = !layer.weightName.empty()
                         ? layer.weightName
                         : !layer.layerName.empty()
                               ? layer.layerName
                               : llvm::formatv("onebit_layer_{0}", index).str();

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
  BinaryLinearOp bl = build(q);
  cache[key] = q;
  if (config.emitRemarks)
    bl.emitRemark() << llvm::formatv(
        "quantized '{0}' ({1}x{2}): init={3} iterations={4} "
        "rel_error={5:F6} bits_per_weight={6:F4}",
        base, n, k, config.init, svid.iterations, svid.relError,
        stats.bitsPerWeight);
  return success();
}

} // namespace

FailureOr<QuantizeReport>
onebit::quantizeLinearLayers(ModuleOp module, const QuantizeConfig &config) {
  ::onebit::SvidOptions svidOpts;
  if (!::onebit::parseSvidInit(config.init, svidOpts.init))
    return module.emitError() << "onebit-quantize: unknown init '"
                              << config.init << "' (expected nmf, svd or mean)";
  svidOpts.maxIters = config.maxIters;
  svidOpts.tolerance = config.tolerance;
  svidOpts.seed = config.seed;
  FloatType valueType;
  if (config.valueType == "f32")
    valueType = Float32Type::get(module.getContext());
  else if (config.valueType == "f16")
    valueType = Float16Type::get(module.getContext());
  else
    return module.emitError() << "onebit-quantize: unknown value-type '"
                              << config.valueType << "' (expected f32 or f16)";
  if (!(config.normEps > 0))
    return module.emitError() << "onebit-quantize: norm-eps must be positive";
  SmallVector<std::pair<std::string, llvm::GlobPattern>> patterns;
  for (const std::string &p : config.exclude) {
    auto glob = llvm::GlobPattern::create(p);
    if (!glob)
      return module.emitError() << "onebit-quantize: bad exclude pattern '"
                                << p << "': "
                                << llvm::toString(glob.takeError());
    patterns.emplace_back(p, std::move(*glob));
  }

  // The frozen FP teacher of distillation: a private copy of every public
  // function, left unquantized (see --onebit-build-train-step).
  auto isTeacher = [](Operation *op) {
    auto f = op->getParentOfType<func::FuncOp>();
    return f && f->hasAttr("onebit.teacher");
  };
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

  // Every constant's bits before and after, for the model-wide figure.
  auto constantBits = [&]() {
    double bits = 0, elems = 0;
    module.walk([&](arith::ConstantOp c) {
      if (isTeacher(c))
        return;
      auto t = dyn_cast<RankedTensorType>(c.getType());
      if (!t || !t.hasStaticShape())
        return;
      bits += double(t.getNumElements()) * t.getElementTypeBitWidth();
      elems += t.getNumElements();
    });
    return std::make_pair(bits, elems);
  };
  auto [bitsBefore, elemsBefore] = constantBits();

  SmallVector<LinearLayer> layers;
  module.walk([&](linalg::LinalgOp op) {
    if (isTeacher(op))
      return;
    if (auto layer = matchLinear(op)) {
      matchBias(*layer);
      layers.push_back(std::move(*layer));
    }
  });

  DenseSet<Operation *> heads;
  if (config.keepHead)
    module.walk([&](func::FuncOp f) {
      if (f->hasAttr("onebit.teacher"))
        return;
      for (Operation *h : findHeads(f, layers))
        heads.insert(h);
    });

  QuantizeReport report;
  double linearParams = 0, linearBits = 0;
  unsigned index = 0;
  QuantizedCache cache;
  for (LinearLayer &layer : layers) {
    double params = double(layer.n) * layer.k;
    linearParams += params;
    auto wt = cast<RankedTensorType>(layer.weight.getType());
    bool excluded = llvm::any_of(patterns, [&](auto &p) {
      return nameMatches(layer.weightName, p.first, p.second) ||
             nameMatches(layer.layerName, p.first, p.second);
    });
    const char *reason = excluded ? "excluded"
                         : heads.contains(layer.op.getOperation())
                             ? "head"
                         : params < double(config.minElements) ? "min-elements"
                                                               : nullptr;
    if (reason) {
      std::string name =
          !layer.weightName.empty() ? layer.weightName : layer.layerName;
      report.skipped.push_back({name, layer.n, layer.k, reason});
      linearBits += params * wt.getElementTypeBitWidth();
      continue;
    }
    QuantizedLayer s;
    bool reused = false;
    if (failed(quantizeLayer(layer, index++, config, svidOpts, valueType,
                             cache, s, reused)))
      return failure();
    linearBits += s.bitsPerWeight * params;
    // The same weight in another function: one layer of the model.
    if (!reused)
      report.quantized.push_back(s);
  }
  auto [bitsAfter, elemsAfter] = constantBits();
  (void)elemsAfter;
  report.linearBitsPerWeight = linearParams ? linearBits / linearParams : 0.0;
  report.modelBitsPerWeight = elemsBefore ? bitsAfter / elemsBefore : 0.0;
  report.constantBytesBefore = int64_t(bitsBefore / 8);
  report.constantBytesAfter = int64_t(bitsAfter / 8);
  return report;
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
