//===- MatmulToRuntime.cpp - dense f32 contractions to runtime calls ------===//
//
// Rewrites f32 linalg contractions (matmul, batch_matmul, equivalent
// generics) into calls of onebit_matmul_f32 on rank-4 strided memref views;
// see the pass description in Passes.td and docs/kernels.md.
//
//===----------------------------------------------------------------------===//

#include "onebit/Conversion/MatmulToRuntime/MatmulToRuntime.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Matchers.h"

#include <limits>

namespace onebit {
#define GEN_PASS_DEF_CONVERTMATMULTORUNTIME
#include "onebit/Conversion/Passes.h.inc"
} // namespace onebit

using namespace mlir;
using namespace onebit;

namespace {

constexpr int kViewRank = 4;
constexpr int kMaxOuter = kViewRank - 2;
/// Outer dimensions a contraction may have: the kernel's two, plus one the
/// generated code loops over (scf.for, one call per index), e.g. the batch
/// of the attention products [b, kv, g, s, s2] whose key operand is
/// broadcast over g.
constexpr int kMaxOuterLooped = kMaxOuter + 1;

/// How one contraction maps onto the kernel's [B0, B1, rows, cols] views.
/// A loop dimension of -1 is a unit dimension (size 1, stride 0).
struct GemmPlan {
  /// Outermost first, padded with -1 at the front: outer[0] is the
  /// dimension the generated code loops over, outer[1..] the kernel's two.
  SmallVector<int64_t, kMaxOuterLooped> outer;
  int64_t m = -1, n = -1, k = -1;
};

/// Position of loop dimension `dim` among the results of `map`, or -1.
int64_t resultPos(AffineMap map, int64_t dim) {
  if (dim < 0)
    return -1;
  for (unsigned i = 0; i < map.getNumResults(); ++i)
    if (auto d = dyn_cast<AffineDimExpr>(map.getResult(i)))
      if (d.getPosition() == static_cast<unsigned>(dim))
        return i;
  return -1;
}

/// Why `op` is not rewritten, or a plan.
FailureOr<GemmPlan> planFor(linalg::LinalgOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op->getNumResults() != 1)
    return failure();
  for (OpOperand &o : op->getOpOperands()) {
    auto t = dyn_cast<RankedTensorType>(o.get().getType());
    if (!t || !t.getElementType().isF32())
      return failure();
  }
  if (!isa<RankedTensorType>(op->getResult(0).getType()))
    return failure();
  if (!linalg::isaContractionOpInterface(op))
    return failure();
  for (AffineMap map : op.getIndexingMapsArray())
    if (!map.isProjectedPermutation(/*allowZeroInResults=*/false))
      return failure();
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->k.size() != 1 || dims->m.empty() || dims->n.empty())
    return failure();
  // Every loop dimension must be classified (no reduction-only extras).
  if (dims->batch.size() + dims->m.size() + dims->n.size() + 1 !=
      op.getNumLoops())
    return failure();

  AffineMap outMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  auto innermost = [&](ArrayRef<unsigned> ds) {
    int64_t best = -1, bestPos = -1;
    for (unsigned d : ds) {
      int64_t p = resultPos(outMap, d);
      if (p > bestPos)
        best = d, bestPos = p;
    }
    return best;
  };
  // The rows: of several m dims, the longest, a dynamic one (a sequence)
  // before any static one, the innermost among equals. The attention
  // values product [b, s, kv, g, d] then runs as GEMMs over the s tokens
  // of a prefill, not one 3-row product per token (a decode step's s of 1
  // is folded with g at run time).
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  auto longest = [&](ArrayRef<unsigned> ds) {
    int64_t best = -1, bestPos = -1, bestSize = -1;
    for (unsigned d : ds) {
      int64_t size = ShapedType::isDynamic(ranges[d])
                         ? std::numeric_limits<int64_t>::max()
                         : ranges[d];
      int64_t p = resultPos(outMap, d);
      if (size > bestSize || (size == bestSize && p > bestPos))
        best = d, bestPos = p, bestSize = size;
    }
    return best;
  };
  GemmPlan plan;
  plan.m = longest(dims->m);
  plan.n = innermost(dims->n);
  plan.k = dims->k.front();
  // The remaining parallel dimensions, in the output's order.
  SmallVector<int64_t> outer;
  for (unsigned i = 0; i < outMap.getNumResults(); ++i) {
    int64_t d = cast<AffineDimExpr>(outMap.getResult(i)).getPosition();
    if (d != plan.m && d != plan.n)
      outer.push_back(d);
  }
  if (outer.size() > static_cast<size_t>(kMaxOuterLooped))
    return failure();
  while (outer.size() < static_cast<size_t>(kMaxOuterLooped))
    outer.insert(outer.begin(), -1);
  plan.outer.assign(outer.begin(), outer.end());
  return plan;
}

/// True when `init` is known to be all zeros (or undefined).
bool isZeroInit(Value init) {
  if (init.getDefiningOp<tensor::EmptyOp>())
    return true;
  if (auto fill = init.getDefiningOp<linalg::FillOp>()) {
    FloatAttr::ValueType v(0.0f);
    if (matchPattern(fill.getInputs()[0], m_ConstantFloat(&v)))
      return v.isZero();
    return false;
  }
  DenseFPElementsAttr attr;
  if (matchPattern(init, m_Constant(&attr)) && attr.isSplat())
    return attr.getSplatValue<APFloat>().isZero();
  return false;
}

/// True when `v` is the float constant `want`.
bool isConstant(Value v, double want) {
  FloatAttr::ValueType f(0.0f);
  return matchPattern(v, m_ConstantFloat(&f)) &&
         f.convertToDouble() == want;
}

/// W when `v` is the result of a sign generic over a rank-2 f32 tensor W:
/// `select(cmpf olt %w, 0.0, -1.0, +1.0)` elementwise with identity maps
/// (the straight-through sign of onebit-decompose-train-form), else null.
Value signSource(Value v) {
  auto g = v.getDefiningOp<linalg::GenericOp>();
  if (!g || g.getNumDpsInputs() != 1 || g.getNumDpsInits() != 1 ||
      g.getNumLoops() != 2 || g.getNumReductionLoops() != 0)
    return nullptr;
  for (AffineMap m : g.getIndexingMapsArray())
    if (!m.isIdentity())
      return nullptr;
  Value w = g.getDpsInputOperand(0)->get();
  auto wt = dyn_cast<RankedTensorType>(w.getType());
  if (!wt || !wt.getElementType().isF32() || wt != v.getType())
    return nullptr;
  Block &body = g.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto sel = yield.getValues()[0].getDefiningOp<arith::SelectOp>();
  if (!sel || sel->getBlock() != &body || body.getOperations().size() != 3)
    return nullptr;
  auto cmp = sel.getCondition().getDefiningOp<arith::CmpFOp>();
  if (!cmp || cmp->getBlock() != &body ||
      cmp.getPredicate() != arith::CmpFPredicate::OLT ||
      cmp.getLhs() != body.getArgument(0) || !isConstant(cmp.getRhs(), 0.0) ||
      !isConstant(sel.getTrueValue(), -1.0) ||
      !isConstant(sel.getFalseValue(), 1.0))
    return nullptr;
  return w;
}

/// f16 when `v` is the result of an extf generic over an f16 tensor (one
/// input, identity maps, all parallel, body `arith.extf`), and that tensor;
/// else null.
Value extfSource(Value v) {
  auto g = v.getDefiningOp<linalg::GenericOp>();
  if (!g || g.getNumDpsInputs() != 1 || g.getNumDpsInits() != 1 ||
      g->getNumResults() != 1 || !g.hasPureTensorSemantics() ||
      g.getNumReductionLoops() != 0)
    return {};
  for (AffineMap m : g.getIndexingMapsArray())
    if (!m.isIdentity())
      return {};
  Value in = g.getDpsInputOperand(0)->get();
  auto inType = dyn_cast<RankedTensorType>(in.getType());
  if (!inType || !inType.getElementType().isF16())
    return {};
  Block &body = g.getRegion().front();
  if (body.getOperations().size() != 2)
    return {};
  auto ext = dyn_cast<arith::ExtFOp>(body.front());
  auto yield = dyn_cast<linalg::YieldOp>(body.getTerminator());
  if (!ext || ext.getIn() != body.getArgument(0) || !yield ||
      yield.getNumOperands() != 1 || yield.getOperand(0) != ext.getResult())
    return {};
  return in;
}

MemRefType viewType(MLIRContext *ctx, Type elt = {}) {
  SmallVector<int64_t> dyn(kViewRank, ShapedType::kDynamic);
  auto layout = StridedLayoutAttr::get(ctx, ShapedType::kDynamic, dyn);
  return MemRefType::get(dyn, elt ? elt : Float32Type::get(ctx), layout);
}

func::FuncOp getOrDeclareKernel(ModuleOp module, OpBuilder &b,
                                StringRef name) {
  if (auto f = module.lookupSymbol<func::FuncOp>(name))
    return f;
  MLIRContext *ctx = module.getContext();
  MemRefType v = viewType(ctx);
  MemRefType rhs =
      name == kMatmulF16BKernel ? viewType(ctx, Float16Type::get(ctx)) : v;
  auto type = FunctionType::get(ctx, {v, rhs, v, Float32Type::get(ctx)}, {});
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(module.getBody());
  auto f = func::FuncOp::create(b, module.getLoc(), name, type);
  f.setPrivate();
  f->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  return f;
}

/// Views `buf` (a memref of an operand indexed by `map`) as the rank-4
/// [outer0, outer1, rows, cols] matrix stack of the kernel, at index `iv`
/// of loop dimension `loopDim` when there is one (>= 0).
Value view(OpBuilder &b, Location loc, Value buf, AffineMap map,
           ArrayRef<int64_t> viewDims, ArrayRef<OpFoldResult> loopSizes,
           Value zero, Value one, int64_t loopDim = -1, Value iv = {}) {
  auto meta = memref::ExtractStridedMetadataOp::create(b, loc, buf);
  Value offset = meta.getOffset();
  if (int64_t p = resultPos(map, loopDim); p >= 0)
    offset = arith::AddIOp::create(
        b, loc, offset,
        arith::MulIOp::create(b, loc, iv, meta.getStrides()[p]));
  SmallVector<Value> sizes, strides;
  Type elt = cast<MemRefType>(buf.getType()).getElementType();
  for (int64_t d : viewDims) {
    int64_t p = resultPos(map, d);
    sizes.push_back(
        d < 0 ? one : getValueOrCreateConstantIndexOp(b, loc, loopSizes[d]));
    strides.push_back(p < 0 ? zero : meta.getStrides()[p]);
  }
  return memref::ReinterpretCastOp::create(
      b, loc, viewType(b.getContext(), elt), buf, offset, sizes, strides);
}

/// Which operand of a contraction is a sign generic's result (0 lhs, 1 rhs),
/// and the latent weights under it.
struct SignOperand {
  int index = -1;
  Value latent;
};

SignOperand findSignOperand(linalg::LinalgOp op) {
  for (int i : {1, 0})
    if (Value w = signSource(op.getDpsInputOperand(i)->get()))
      return {i, w};
  return {};
}

void rewrite(linalg::LinalgOp op, const GemmPlan &plan, func::FuncOp kernel,
             const SignOperand &sign, Value rhsF16) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  Value lhs = op.getDpsInputOperand(0)->get();
  Value rhs = op.getDpsInputOperand(1)->get();
  // An f16 source of the same shape (the maps are unchanged); taking the
  // sizes from it too leaves the extf generic without users.
  if (rhsF16)
    rhs = rhsF16;
  Value init = op.getDpsInitOperand(0)->get();
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();

  // The size of every loop dimension, from the first operand indexing it.
  SmallVector<OpFoldResult> loopSizes(op.getNumLoops());
  SmallVector<bool> known(op.getNumLoops(), false);
  Value operands[] = {lhs, rhs, init};
  for (int i = 0; i < 3; ++i)
    for (unsigned r = 0; r < maps[i].getNumResults(); ++r) {
      unsigned d = cast<AffineDimExpr>(maps[i].getResult(r)).getPosition();
      if (!known[d]) {
        loopSizes[d] = tensor::getMixedSize(b, loc, operands[i], r);
        known[d] = true;
      }
    }

  // The operands' buffers with a fully dynamic strided layout, so that an
  // operand that is a slice of a larger buffer (a KV cache's first pos + T
  // positions) is viewed in place; an identity layout would make
  // bufferization copy it. The accumulator is copied anyway.
  auto buffer = [&](Value t, bool anyLayout = true) -> Value {
    auto type = cast<RankedTensorType>(t.getType());
    MemRefLayoutAttrInterface layout;
    if (anyLayout)
      layout = StridedLayoutAttr::get(
          b.getContext(), ShapedType::kDynamic,
          SmallVector<int64_t>(type.getRank(), ShapedType::kDynamic));
    return bufferization::ToBufferOp::create(
        b, loc, MemRefType::get(type.getShape(), type.getElementType(), layout),
        t, /*read_only=*/true);
  };
  const int64_t loopDim = plan.outer.front();
  SmallVector<int64_t> aDims(std::next(plan.outer.begin()), plan.outer.end());
  SmallVector<int64_t> bDims(aDims), cDims(aDims);
  aDims.append({plan.m, plan.k});
  bDims.append({plan.k, plan.n});
  cDims.append({plan.m, plan.n});

  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  // The sign kernel takes sign(W) as its right operand: with the sign on the
  // left, C^T = B^T . sign(W)^T, i.e. every view with its two matrix
  // dimensions swapped.
  const bool swap = sign.index == 0;
  if (sign.index == 0)
    lhs = sign.latent;
  else if (sign.index == 1)
    rhs = sign.latent;
  if (swap) {
    std::swap(aDims[kMaxOuter], aDims[kMaxOuter + 1]);
    std::swap(bDims[kMaxOuter], bDims[kMaxOuter + 1]);
    std::swap(cDims[kMaxOuter], cDims[kMaxOuter + 1]);
  }
  // Without a looped dimension the A and B views are built right after
  // their buffers; with one, inside the loop.
  Value lhsBuf = buffer(lhs), a, bv;
  if (loopDim < 0)
    a = view(b, loc, lhsBuf, maps[0], aDims, loopSizes, zero, one);
  Value rhsBuf = buffer(rhs);
  if (loopDim < 0)
    bv = view(b, loc, rhsBuf, maps[1], bDims, loopSizes, zero, one);

  // The result buffer: C's own shape and identity layout.
  auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
  SmallVector<Value> dynSizes;
  for (int64_t d = 0; d < resultType.getRank(); ++d)
    if (resultType.isDynamicDim(d))
      dynSizes.push_back(tensor::DimOp::create(b, loc, init, d));
  auto outType =
      MemRefType::get(resultType.getShape(), resultType.getElementType());
  Value out = memref::AllocOp::create(b, loc, outType, dynSizes);
  float beta = 0.0f;
  if (!isZeroInit(init)) {
    memref::CopyOp::create(b, loc, buffer(init, /*anyLayout=*/false), out);
    beta = 1.0f;
  }
  // One call, or one per index of the looped outer dimension.
  auto call = [&](OpBuilder &cb, Location l, Value va, Value vb, Value iv) {
    if (swap)
      std::swap(va, vb);
    Value c = view(cb, l, out, maps[2], cDims, loopSizes, zero, one, loopDim,
                   iv);
    Value betaValue =
        arith::ConstantOp::create(cb, l, cb.getF32FloatAttr(beta));
    func::CallOp::create(cb, l, kernel, ValueRange{va, vb, c, betaValue});
  };
  if (loopDim < 0) {
    call(b, loc, a, bv, Value());
  } else {
    Value count = getValueOrCreateConstantIndexOp(b, loc, loopSizes[loopDim]);
    scf::ForOp::create(b, loc, zero, count, one, ValueRange{},
                       [&](OpBuilder &lb, Location l, Value iv, ValueRange) {
                         call(lb, l,
                              view(lb, l, lhsBuf, maps[0], aDims, loopSizes,
                                   zero, one, loopDim, iv),
                              view(lb, l, rhsBuf, maps[1], bDims, loopSizes,
                                   zero, one, loopDim, iv),
                              iv);
                         scf::YieldOp::create(lb, l);
                       });
  }
  Value y = bufferization::ToTensorOp::create(b, loc, resultType, out,
                                              /*restrict=*/true,
                                              /*writable=*/true);
  op->getResult(0).replaceAllUsesWith(y);
  op->erase();
}

struct ConvertMatmulToRuntimePass
    : public onebit::impl::ConvertMatmulToRuntimeBase<
          ConvertMatmulToRuntimePass> {
  using ConvertMatmulToRuntimeBase::ConvertMatmulToRuntimeBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<std::pair<linalg::LinalgOp, GemmPlan>> todo;
    module.walk([&](linalg::LinalgOp op) {
      FailureOr<GemmPlan> plan = planFor(op);
      if (succeeded(plan))
        todo.emplace_back(op, *plan);
    });
    if (todo.empty())
      return;
    OpBuilder b(module.getContext());
    for (auto &[op, plan] : todo) {
      SignOperand sign;
      if (signKernel)
        sign = findSignOperand(op);
      Value rhsF16;
      if (!sign.latent)
        rhsF16 = extfSource(op.getDpsInputOperand(1)->get());
      func::FuncOp kernel = getOrDeclareKernel(module, b,
                                               sign.latent ? kSignMatmulKernel
                                               : rhsF16    ? kMatmulF16BKernel
                                                           : kMatmulKernel);
      rewrite(op, plan, kernel, sign, rhsF16);
    }
  }
};

} // namespace
