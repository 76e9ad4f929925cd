//===- Int8Weights.cpp - weight-only int8 for the remaining FP linears ----===//
//
// Implements --onebit-int8-weights: every constant-weight linear layer (the
// matcher of --onebit-quantize) becomes onebit.int8_linear with symmetric
// per-row scales.
//
//===----------------------------------------------------------------------===//

#include "onebit/Dialect/OneBit/IR/OneBit.h"
#include "onebit/Dialect/OneBit/Transforms/LinearMatch.h"
#include "onebit/Dialect/OneBit/Transforms/Passes.h"
#include "onebit/Dialect/OneBit/Utils/ConstantData.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

namespace onebit {
#define GEN_PASS_DEF_ONEBITINT8WEIGHTS
#include "onebit/Dialect/OneBit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;
using namespace onebit;

namespace {

/// Quantizes the N x K row-major matrix `w` row by row; returns the relative
/// Frobenius error of the reconstruction.
double quantizeRows(const float *w, int64_t n, int64_t k,
                    std::vector<int8_t> &q, std::vector<float> &scales) {
  q.resize(static_cast<size_t>(n * k));
  scales.resize(static_cast<size_t>(n));
  double err = 0, norm = 0;
  for (int64_t r = 0; r < n; ++r) {
    const float *row = w + r * k;
    float amax = 0;
    for (int64_t c = 0; c < k; ++c)
      amax = std::max(amax, std::fabs(row[c]));
    const float scale = amax / 127.0f;
    scales[r] = scale;
    for (int64_t c = 0; c < k; ++c) {
      float v = scale > 0 ? std::nearbyint(row[c] / scale) : 0.0f;
      v = std::min(127.0f, std::max(-127.0f, v));
      q[r * k + c] = static_cast<int8_t>(v);
      double d = double(row[c]) - double(v) * scale;
      err += d * d;
      norm += double(row[c]) * row[c];
    }
  }
  return norm > 0 ? std::sqrt(err / norm) : 0.0;
}

/// The int8 form of one constant matrix, N x K (rows are output features of a
/// linear layer, or entries of a lookup table).
struct Int8Constant {
  Value weights, scales;
};

/// The int8 attributes already made for a weight's value (and whether it was
/// transposed), so a weight that several functions use -- a model's full
/// forward and its KV-cache entries -- stays one copy.
using Int8AttrCache =
    DenseMap<std::pair<Attribute, unsigned>, std::pair<Attribute, Attribute>>;

/// Builds the int8 constants of the N x K f32 matrix `w` right after
/// `anchor` (the original constant, so they dominate all of its uses).
/// `reused`: another function's constants of the same weight were taken.
Int8Constant makeInt8Constant(Operation *anchor, StringRef base,
                              bool transposed, const float *w, int64_t n,
                              int64_t k, Int8AttrCache &cache,
                              double &relError, bool &reused) {
  MLIRContext *ctx = anchor->getContext();
  OpBuilder b(ctx);
  b.setInsertionPointAfter(anchor);
  Location loc = anchor->getLoc();
  auto key = std::make_pair(cast<arith::ConstantOp>(anchor).getValue(),
                            unsigned(transposed));
  auto named = [&](StringRef suffix) {
    return NameLoc::get(StringAttr::get(ctx, base.str() + "." + suffix.str()),
                        loc);
  };
  if (auto it = cache.find(key); it != cache.end()) {
    reused = true;
    relError = 0;
    Int8Constant c;
    c.weights = arith::ConstantOp::create(b, named("int8"),
                                          cast<TypedAttr>(it->second.first));
    c.scales = arith::ConstantOp::create(b, named("scales"),
                                         cast<TypedAttr>(it->second.second));
    return c;
  }
  reused = false;
  std::vector<int8_t> q;
  std::vector<float> scales;
  relError = quantizeRows(w, n, k, q, scales);
  auto mkConst = [&](RankedTensorType t, StringRef suffix,
                     ArrayRef<char> bytes) -> Value {
    std::string name = base.str() + "." + suffix.str();
    return arith::ConstantOp::create(b, named(suffix), t,
                                     makeResource(t, name, bytes));
  };
  Int8Constant c;
  c.weights = mkConst(RankedTensorType::get({n, k}, b.getI8Type()), "int8",
                      ArrayRef<char>(reinterpret_cast<const char *>(q.data()),
                                     q.size()));
  c.scales = mkConst(
      RankedTensorType::get({n}, b.getF32Type()), "scales",
      ArrayRef<char>(reinterpret_cast<const char *>(scales.data()),
                     scales.size() * sizeof(float)));
  cache[key] = {c.weights.getDefiningOp<arith::ConstantOp>().getValue(),
                c.scales.getDefiningOp<arith::ConstantOp>().getValue()};
  return c;
}

LogicalResult rewrite(LinearLayer &layer, unsigned index, bool printStats,
                      DenseMap<Operation *, Int8Constant> &done,
                      Int8AttrCache &attrs) {
  const int64_t n = layer.n, k = layer.k;
  std::string base = !layer.weightName.empty()
                         ? layer.weightName
                         : !layer.layerName.empty()
                               ? layer.layerName
                               : llvm::formatv("onebit_int8_{0}", index).str();
  // A weight shared by several layers (or a tied table) is quantized once,
  // when it is stored N x K; a K x N one gets a transposed copy per use.
  Int8Constant c;
  Operation *key = layer.weight.getOperation();
  auto it = done.find(key);
  if (!layer.weightIsKxN && it != done.end()) {
    c = it->second;
  } else {
    std::vector<float> storage;
    FailureOr<const float *> w = readMatrixNxK(
        layer.op, layer.weight, base, layer.weightIsKxN, n, k, storage);
    if (failed(w))
      return failure();
    double relError;
    bool reused;
    c = makeInt8Constant(key, base, layer.weightIsKxN, *w, n, k, attrs,
                         relError, reused);
    if (!layer.weightIsKxN)
      done[key] = c;
    if (printStats && !reused)
      llvm::errs() << llvm::formatv(
          "onebit-int8-weights: layer '{0}' {1}x{2} rel_error={3:F6} "
          "bits_per_weight={4:F4}\n",
          base, n, k, relError, 8.0 + 32.0 / double(k));
  }
  OpBuilder b(layer.lastOp());
  Location loc = layer.op->getLoc();
  Value bias;
  if (layer.biasConst)
    bias = layer.biasConst.getResult();

  auto resultType = cast<RankedTensorType>(layer.op->getResult(0).getType());
  auto op = Int8LinearOp::create(b, loc, resultType, layer.input(),
                                 c.weights, c.scales, bias);
  op->setAttr("onebit.name", b.getStringAttr(base));
  replaceLinear(layer, b, op.getResult());
  return success();
}

/// Lookup tables: a constant 2-D float matrix read only by
/// `tensor.extract %table[%row, %col]` (embedding gathers) becomes its int8
/// form, each read `sitofp(Wq[row, col]) * scale[row]`. A table that is also
/// the (N x K) weight of a rewritten layer -- a tied embedding -- shares that
/// layer's int8 constants, so the FP table disappears.
/// True when `v` (the row index of a table read) is a token id: an integer
/// argument of the function, read element by element by the enclosing
/// linalg.generic, through index casts, clamps and the wrap of negative
/// ids, and through reshapes of the argument. Tables indexed otherwise (a
/// RoPE cache read at computed positions, linalg.index) stay FP.
bool isTokenIdIndex(Value v) {
  for (int depth = 0; depth < 16; ++depth) {
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      auto generic = dyn_cast<linalg::GenericOp>(arg.getOwner()->getParentOp());
      if (!generic || arg.getArgNumber() >= generic.getNumDpsInputs())
        return false;
      Value src = generic.getDpsInputOperand(arg.getArgNumber())->get();
      while (Operation *def = src.getDefiningOp()) {
        if (!isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp,
                 tensor::ReshapeOp, tensor::CastOp, tensor::ExtractSliceOp>(
                def))
          return false;
        src = def->getOperand(0);
      }
      auto fnArg = dyn_cast<BlockArgument>(src);
      return fnArg && isa<func::FuncOp>(fnArg.getOwner()->getParentOp()) &&
             isa<IntegerType>(getElementTypeOrSelf(fnArg.getType()));
    }
    Operation *def = v.getDefiningOp();
    if (!def)
      return false;
    if (isa<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp,
            arith::ExtUIOp, arith::TruncIOp>(def)) {
      v = def->getOperand(0);
    } else if (isa<arith::MaxSIOp, arith::MinSIOp, arith::MaxUIOp,
                   arith::MinUIOp, arith::AddIOp>(def)) {
      // clamp(id, 0, n - 1) / id + n: follow the non-constant side.
      Value a = def->getOperand(0), b = def->getOperand(1);
      v = matchPattern(b, m_Constant()) ? a : b;
    } else if (auto sel = dyn_cast<arith::SelectOp>(def)) {
      // id < 0 ? id + n : id
      v = sel.getFalseValue();
    } else {
      return false;
    }
  }
  return false;
}

LogicalResult rewriteTables(func::FuncOp func, bool printStats,
                            DenseMap<Operation *, Int8Constant> &done,
                            Int8AttrCache &attrs, unsigned &numTables) {
  SmallVector<arith::ConstantOp> tables;
  func.walk([&](arith::ConstantOp c) {
    auto t = dyn_cast<RankedTensorType>(c.getType());
    if (!t || t.getRank() != 2 || !t.hasStaticShape() ||
        !isa<FloatType>(t.getElementType()) || c->use_empty() ||
        !isa<ElementsAttr>(c.getValue()))
      return;
    for (Operation *user : c->getUsers()) {
      auto ex = dyn_cast<tensor::ExtractOp>(user);
      if (!ex || ex.getTensor() != c.getResult() ||
          !isTokenIdIndex(ex.getIndices()[0]))
        return;
    }
    tables.push_back(c);
  });
  for (arith::ConstantOp table : tables) {
    auto t = cast<RankedTensorType>(table.getType());
    const int64_t n = t.getDimSize(0), k = t.getDimSize(1);
    std::string base = getConstantName(table);
    if (base.empty())
      base = llvm::formatv("onebit_table_{0}", numTables).str();
    Int8Constant c;
    auto it = done.find(table.getOperation());
    if (it != done.end()) {
      c = it->second;
    } else {
      std::vector<float> storage;
      FailureOr<const float *> w = readMatrixNxK(
          table, table, base, /*kxn=*/false, n, k, storage);
      if (failed(w))
        return failure();
      double relError;
      bool reused;
      c = makeInt8Constant(table, base, /*transposed=*/false, *w, n, k, attrs,
                           relError, reused);
      if (printStats && !reused)
        llvm::errs() << llvm::formatv(
            "onebit-int8-weights: table '{0}' {1}x{2} rel_error={3:F6} "
            "bits_per_weight={4:F4}\n",
            base, n, k, relError, 8.0 + 32.0 / double(k));
    }
    for (Operation *user : llvm::make_early_inc_range(table->getUsers())) {
      auto ex = cast<tensor::ExtractOp>(user);
      OpBuilder b(ex);
      Location loc = ex.getLoc();
      Value row = ex.getIndices()[0], col = ex.getIndices()[1];
      Value q = tensor::ExtractOp::create(b, loc, c.weights,
                                          ValueRange{row, col});
      Value v = arith::SIToFPOp::create(b, loc, b.getF32Type(), q);
      Value sc = tensor::ExtractOp::create(b, loc, c.scales, ValueRange{row});
      v = arith::MulFOp::create(b, loc, v, sc);
      if (!t.getElementType().isF32())
        v = arith::TruncFOp::create(b, loc, t.getElementType(), v);
      ex.getResult().replaceAllUsesWith(v);
      ex->erase();
    }
    table->erase();
    ++numTables;
  }
  return success();
}

struct Int8WeightsPass
    : public onebit::impl::OneBitInt8WeightsBase<Int8WeightsPass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<LinearLayer> layers;
    getOperation().walk([&](linalg::LinalgOp op) {
      auto f = op->getParentOfType<func::FuncOp>();
      if (f && f->hasAttr("onebit.teacher"))
        return;
      if (auto layer = matchLinear(op)) {
        matchBias(*layer);
        if (double(layer->n) * layer->k >= double(minElements))
          layers.push_back(std::move(*layer));
      }
    });
    unsigned index = 0;
    DenseMap<Operation *, Int8Constant> done;
    Int8AttrCache attrs;
    for (LinearLayer &layer : layers) {
      // A bias must be a 1-D vector of the op's element type.
      if (layer.biasConst) {
        auto bt = cast<RankedTensorType>(layer.biasConst.getType());
        auto rt = cast<RankedTensorType>(layer.op->getResult(0).getType());
        if (bt.getRank() != 1 || bt.getElementType() != rt.getElementType()) {
          layer.biasAdd = nullptr;
          layer.biasConst = nullptr;
        }
      }
      if (failed(rewrite(layer, index++, printStats, done, attrs)))
        return signalPassFailure();
      ++numRewritten;
    }
    if (!tables)
      return;
    unsigned count = 0;
    for (auto f : getOperation().getOps<func::FuncOp>()) {
      if (f->hasAttr("onebit.teacher"))
        continue;
      if (failed(rewriteTables(f, printStats, done, attrs, count)))
        return signalPassFailure();
    }
    numTables += count;
  }
};

} // namespace
