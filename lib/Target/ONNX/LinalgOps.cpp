//===- LinalgOps.cpp - ONNX contractions, reductions, norms and gathers --===//
//
// MatMul of activations with a 2-D weight becomes collapse_shape + fill +
// linalg.matmul + expand_shape and Gemm a linalg.matmul (transposed operands
// through indexing_maps) plus a broadcast bias add, the forms
// --onebit-quantize recognizes as linear layers. Everything else is a
// linalg.generic.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <climits>

using namespace mlir;
using namespace onebit::onnx_import;

namespace {

Type elemOf(Value v) { return cast<ShapedType>(v.getType()).getElementType(); }
int64_t rankOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getRank();
}

/// A sum-of-products over the loops the output map does not index.
Value contraction(Importer &im, ValueRange ins, ArrayRef<AffineMap> maps,
                  ArrayRef<OpFoldResult> outSizes, Type et) {
  unsigned nLoops = maps.back().getNumDims();
  SmallVector<utils::IteratorType> iters(nLoops,
                                         utils::IteratorType::reduction);
  for (AffineExpr e : maps.back().getResults())
    iters[cast<AffineDimExpr>(e).getPosition()] = utils::IteratorType::parallel;
  Value acc = im.filled(outSizes, et, 0.0);
  return linalg::GenericOp::create(
             im.b, im.loc, acc.getType(), ins, acc, maps, iters,
             [&](OpBuilder &b, Location l, ValueRange a) {
               Value p = a[0];
               for (unsigned i = 1; i + 1 < a.size(); ++i)
                 p = isa<FloatType>(p.getType())
                         ? arith::MulFOp::create(b, l, p, a[i]).getResult()
                         : arith::MulIOp::create(b, l, p, a[i]).getResult();
               Value r =
                   isa<FloatType>(p.getType())
                       ? arith::AddFOp::create(b, l, a.back(), p).getResult()
                       : arith::AddIOp::create(b, l, a.back(), p).getResult();
               linalg::YieldOp::create(b, l, r);
             })
      .getResult(0);
}

/// Errors when two static sizes that must agree differ.
LogicalResult checkSame(Importer &im, OpFoldResult a, OpFoldResult b,
                        StringRef what) {
  auto x = getConstantIntValue(a), y = getConstantIntValue(b);
  if (x && y && *x != *y)
    return im.error() << what << " sizes differ (" << *x << " vs " << *y << ")";
  return success();
}

/// [M, K] x [K, N] (or transposed operands) as linalg.matmul.
Value matmul2D(Importer &im, Value a, Value bm, bool transA, bool transB) {
  MLIRContext *ctx = im.ctx;
  OpFoldResult m = im.dim(a, transA ? 1 : 0);
  OpFoldResult n = im.dim(bm, transB ? 0 : 1);
  Value init = im.filled({m, n}, elemOf(a), 0.0);
  auto op = linalg::MatmulOp::create(im.b, im.loc, TypeRange{init.getType()},
                                     ValueRange{a, bm}, ValueRange{init});
  if (transA || transB) {
    AffineExpr d0, d1, d2;
    bindDims(ctx, d0, d1, d2);
    auto mapA = transA ? AffineMap::get(3, 0, {d2, d0}, ctx)
                       : AffineMap::get(3, 0, {d0, d2}, ctx);
    auto mapB = transB ? AffineMap::get(3, 0, {d1, d2}, ctx)
                       : AffineMap::get(3, 0, {d2, d1}, ctx);
    auto mapC = AffineMap::get(3, 0, {d0, d1}, ctx);
    op->setAttr("indexing_maps",
                im.b.getAffineMapArrayAttr({mapA, mapB, mapC}));
  }
  return op.getResult(0);
}

LogicalResult convertMatMul(Importer &im, const onnx::NodeProto &) {
  auto a = im.input(0), bv = im.input(1);
  if (failed(a) || failed(bv))
    return failure();
  if (elemOf(*a) != elemOf(*bv))
    return im.error() << "operand element types differ";
  int64_t ra = rankOf(*a), rb = rankOf(*bv);
  if (ra == 0 || rb == 0)
    return im.error() << "operands must have rank >= 1";
  Value x = *a, w = *bv;
  // Vectors: promote to matrices and drop the unit dim afterwards.
  bool vecA = ra == 1, vecB = rb == 1;
  if (vecA) {
    x = im.reshape(x, {im.b.getIndexAttr(1), im.dim(x, 0)});
    ra = 2;
  }
  if (vecB) {
    w = im.reshape(w, {im.dim(w, 0), im.b.getIndexAttr(1)});
    rb = 2;
  }
  if (failed(checkSame(im, im.dim(x, ra - 1), im.dim(w, rb - 2),
                       "contraction (K)")))
    return failure();
  Value result;
  if (rb == 2) {
    // Activations [..., K] x weight [K, N]: a 2-D linalg.matmul.
    SmallVector<OpFoldResult> lead;
    for (int64_t i = 0; i + 1 < ra; ++i)
      lead.push_back(im.dim(x, i));
    Value x2 = x;
    if (ra > 2) {
      SmallVector<ReassociationIndices> re(2);
      for (int64_t i = 0; i + 1 < ra; ++i)
        re[0].push_back(i);
      re[1].push_back(ra - 1);
      x2 = tensor::CollapseShapeOp::create(im.b, im.loc, x, re);
    }
    Value y = matmul2D(im, x2, w, false, false);
    if (ra > 2) {
      SmallVector<OpFoldResult> sizes = lead;
      sizes.push_back(im.dim(w, 1));
      SmallVector<ReassociationIndices> re(2);
      for (int64_t i = 0; i + 1 < ra; ++i)
        re[0].push_back(i);
      re[1].push_back(ra - 1);
      y = tensor::ExpandShapeOp::create(
          im.b, im.loc, Importer::tensorType(sizes, elemOf(y)), y, re, sizes);
    }
    result = y;
  } else {
    // Batched with numpy broadcasting of the batch dims.
    int64_t batch = std::max(ra, rb) - 2;
    int64_t nLoops = batch + 3; // batch..., m, n, k
    MLIRContext *ctx = im.ctx;
    SmallVector<OpFoldResult> sizes;
    SmallVector<Value> sizeSrc;
    auto operandMap = [&](Value v, bool isA) {
      auto t = cast<RankedTensorType>(v.getType());
      int64_t r = t.getRank();
      SmallVector<AffineExpr> e;
      for (int64_t i = 0; i + 2 < r; ++i) {
        int64_t d = batch - (r - 2) + i;
        Value other = isA ? w : x;
        auto ot = cast<RankedTensorType>(other.getType());
        int64_t oi = d - (batch - (ot.getRank() - 2));
        bool otherBig = oi >= 0 && ot.getDimSize(oi) != 1;
        e.push_back(t.getDimSize(i) == 1 && otherBig
                        ? getAffineConstantExpr(0, ctx)
                        : getAffineDimExpr(d, ctx));
      }
      if (isA) {
        e.push_back(getAffineDimExpr(batch, ctx));
        e.push_back(getAffineDimExpr(batch + 2, ctx));
      } else {
        e.push_back(getAffineDimExpr(batch + 2, ctx));
        e.push_back(getAffineDimExpr(batch + 1, ctx));
      }
      return AffineMap::get(nLoops, 0, e, ctx);
    };
    for (int64_t d = 0; d < batch; ++d) {
      OpFoldResult s = im.b.getIndexAttr(1);
      for (Value v : {x, w}) {
        int64_t r = rankOf(v), i = d - (batch - (r - 2));
        if (i < 0)
          continue;
        auto t = cast<RankedTensorType>(v.getType());
        if (t.getDimSize(i) == 1)
          continue;
        if (getConstantIntValue(s) != std::optional<int64_t>(1) &&
            failed(checkSame(im, s, im.dim(v, i), "broadcast batch")))
          return failure();
        s = im.dim(v, i);
      }
      sizes.push_back(s);
    }
    sizes.push_back(im.dim(x, ra - 2));
    sizes.push_back(im.dim(w, rb - 1));
    SmallVector<AffineExpr> outE;
    for (int64_t d = 0; d < batch + 2; ++d)
      outE.push_back(getAffineDimExpr(d, ctx));
    SmallVector<AffineMap> maps = {operandMap(x, true), operandMap(w, false),
                                   AffineMap::get(nLoops, 0, outE, ctx)};
    result = contraction(im, {x, w}, maps, sizes, elemOf(x));
  }
  if (vecA || vecB) {
    SmallVector<OpFoldResult> sizes = im.dims(result);
    int64_t r = sizes.size();
    if (vecB)
      sizes.erase(sizes.begin() + r - 1);
    if (vecA)
      sizes.erase(sizes.begin() + r - 2);
    result = im.reshape(result, sizes);
  }
  im.setOutput(0, result);
  return success();
}

LogicalResult convertGemm(Importer &im, const onnx::NodeProto &) {
  auto a = im.input(0), bv = im.input(1);
  if (failed(a) || failed(bv))
    return failure();
  if (rankOf(*a) != 2 || rankOf(*bv) != 2)
    return im.error() << "A and B must be matrices";
  float alpha = im.attrFloat("alpha", 1.0f), beta = im.attrFloat("beta", 1.0f);
  bool tA = im.attrInt("transA", 0) != 0, tB = im.attrInt("transB", 0) != 0;
  if (failed(checkSame(im, im.dim(*a, tA ? 0 : 1), im.dim(*bv, tB ? 1 : 0),
                       "contraction (K)")))
    return failure();
  Value y = matmul2D(im, *a, *bv, im.attrInt("transA", 0) != 0,
                     im.attrInt("transB", 0) != 0);
  Type et = elemOf(y);
  if (alpha != 1.0f) {
    auto r = im.elementwise(
        {y}, et, [&](OpBuilder &b, Location l, ValueRange x) -> Value {
          return arith::MulFOp::create(b, l, x[0],
                                       Importer::scalar(b, l, et, alpha));
        });
    if (failed(r))
      return failure();
    y = *r;
  }
  if (im.hasInput(2) && beta != 0.0f) {
    auto c = im.input(2);
    if (failed(c))
      return failure();
    auto r = im.elementwise(
        {y, *c}, et, [&](OpBuilder &b, Location l, ValueRange x) -> Value {
          Value bias = x[1];
          if (beta != 1.0f)
            bias = arith::MulFOp::create(b, l, bias,
                                         Importer::scalar(b, l, et, beta));
          return arith::AddFOp::create(b, l, x[0], bias);
        });
    if (failed(r))
      return failure();
    y = *r;
  }
  im.setOutput(0, y);
  return success();
}

LogicalResult convertEinsum(Importer &im, const onnx::NodeProto &n) {
  std::string eq = im.attrString("equation", "");
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  if (StringRef(eq).contains("..."))
    return im.error() << "equations with '...' are not supported: " << eq;
  auto [lhs, rhs] = StringRef(eq).split("->");
  bool explicitOut = StringRef(eq).contains("->");
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  if (int(terms.size()) != n.input_size())
    return im.error() << "equation '" << eq << "' has " << terms.size()
                      << " operands but the node has " << n.input_size();
  std::string letters; // loop order: first appearance
  llvm::StringMap<int> count;
  for (StringRef t : terms)
    for (char c : t) {
      if (!llvm::isAlpha(c))
        return im.error() << "invalid equation '" << eq << "'";
      if (letters.find(c) == std::string::npos)
        letters.push_back(c);
      count[StringRef(&c, 1)]++;
    }
  std::string out;
  if (explicitOut) {
    out = rhs.str();
  } else {
    for (char c : letters)
      if (count[StringRef(&c, 1)] == 1)
        out.push_back(c);
    llvm::sort(out);
  }
  // Output letters first so that the result map is an identity prefix.
  std::string loops = out;
  for (char c : letters)
    if (out.find(c) == std::string::npos)
      loops.push_back(c);
  MLIRContext *ctx = im.ctx;
  SmallVector<Value> ins;
  SmallVector<AffineMap> maps;
  SmallVector<OpFoldResult> loopSizes(loops.size());
  for (auto [i, t] : llvm::enumerate(terms)) {
    auto v = im.input(i);
    if (failed(v))
      return failure();
    if (rankOf(*v) != int64_t(t.size()))
      return im.error() << "operand " << i << " has rank " << rankOf(*v)
                        << " but term '" << t << "' has " << t.size()
                        << " letters";
    SmallVector<AffineExpr> e;
    for (auto [j, c] : llvm::enumerate(t)) {
      if (t.count(c) != 1)
        return im.error() << "repeated index '" << c << "' in term '" << t
                          << "' (diagonals) is not supported";
      size_t pos = loops.find(c);
      e.push_back(getAffineDimExpr(pos, ctx));
      OpFoldResult d = im.dim(*v, j);
      if (loopSizes[pos] &&
          failed(checkSame(im, loopSizes[pos], d,
                           ("index '" + Twine(c) + "'").str())))
        return failure();
      if (!loopSizes[pos] || !getConstantIntValue(loopSizes[pos]))
        loopSizes[pos] = d;
    }
    if (!ins.empty() && elemOf(*v) != elemOf(ins[0]))
      return im.error() << "operand element types differ";
    ins.push_back(*v);
    maps.push_back(AffineMap::get(loops.size(), 0, e, ctx));
  }
  SmallVector<AffineExpr> oe;
  SmallVector<OpFoldResult> outSizes;
  for (size_t i = 0; i < out.size(); ++i) {
    if (letters.find(out[i]) == std::string::npos)
      return im.error() << "output index '" << out[i]
                        << "' does not appear in the inputs";
    if (out.find(out[i]) != i)
      return im.error() << "output index '" << out[i]
                        << "' is repeated in equation '" << eq << "'";
    oe.push_back(getAffineDimExpr(i, ctx));
    outSizes.push_back(loopSizes[i]);
  }
  maps.push_back(AffineMap::get(loops.size(), 0, oe, ctx));
  im.setOutput(0, contraction(im, ins, maps, outSizes, elemOf(ins[0])));
  return success();
}

/// The entry block argument whose values `v` carries unchanged (through
/// reshapes, tensor.cast and elementwise integer extensions/truncations that
/// keep every value in [-bound, bound)), or null.
BlockArgument valueSourceArg(Value v, int64_t bound) {
  while (v) {
    if (auto a = dyn_cast<BlockArgument>(v))
      return isa<func::FuncOp>(a.getOwner()->getParentOp()) ? a
                                                            : BlockArgument();
    Operation *op = v.getDefiningOp();
    if (isa<tensor::CastOp, tensor::ExpandShapeOp, tensor::CollapseShapeOp,
            tensor::ReshapeOp>(op)) {
      v = op->getOperand(0);
      continue;
    }
    // An elementwise Cast: one input, identity maps, a body that is a sign
    // extension, a truncation to a type wide enough for [-bound, bound), or
    // nothing.
    auto g = dyn_cast<linalg::GenericOp>(op);
    if (!g || g.getNumDpsInputs() != 1 || g.getNumDpsInits() != 1 ||
        g.getNumReductionLoops() != 0 ||
        !llvm::all_of(g.getIndexingMapsArray(),
                      [](AffineMap m) { return m.isIdentity(); }))
      return {};
    Block &body = g.getRegion().front();
    auto yield = cast<linalg::YieldOp>(body.getTerminator());
    Value y = yield.getOperand(0);
    if (Operation *c = y.getDefiningOp()) {
      if (c->getBlock() != &body || &body.front() != c ||
          c->getNextNode() != yield)
        return {};
      unsigned w = y.getType().getIntOrFloatBitWidth();
      bool fits = w >= 64 || bound <= (int64_t(1) << (w - 1));
      if (!isa<arith::ExtSIOp>(c) && !(isa<arith::TruncIOp>(c) && fits))
        return {};
      y = c->getOperand(0);
    }
    if (y != body.getArgument(0))
      return {};
    v = g.getDpsInputOperand(0)->get();
  }
  return {};
}

/// Records on the graph input feeding Gather indices (if any) the range the
/// runner must check its values against: [min, bound), the smallest over
/// the gathers that read it.
void recordIndexBound(Importer &im, Value indices, int64_t bound,
                      bool negativesWrap) {
  BlockArgument a = valueSourceArg(indices, bound);
  if (!a)
    return;
  auto fn = cast<func::FuncOp>(a.getOwner()->getParentOp());
  unsigned i = a.getArgNumber();
  if (auto old = fn.getArgAttrOfType<IntegerAttr>(i, "onebit.index_bound"))
    if (old.getInt() <= bound)
      return;
  // Unsigned inputs never wrap: the runner reads them as signed integers.
  auto name = fn.getArgAttrOfType<StringAttr>(i, "onebit.name");
  if (name && im.unsignedValues.contains(name.getValue()))
    negativesWrap = false;
  StringRef user = "Gather";
  if (auto nl = dyn_cast<NameLoc>(im.loc))
    user = nl.getName().getValue();
  fn.setArgAttr(i, "onebit.index_bound", im.b.getI64IntegerAttr(bound));
  fn.setArgAttr(i, "onebit.index_min",
                im.b.getI64IntegerAttr(negativesWrap ? -bound : 0));
  fn.setArgAttr(i, "onebit.index_user", im.b.getStringAttr(user));
}

/// Gather along axis 0 of a known 1-D tensor with constant indices (picking
/// dims out of a Shape).
bool foldGather(Importer &im, const onnx::NodeProto &n) {
  const KnownInts *a = im.knownInput(0), *idx = im.knownInput(1);
  if (!a || a->shape.size() != 1 || !idx || !idx->allConst() ||
      idx->shape.size() > 1 || im.attrInt("axis", 0) != 0)
    return false;
  KnownInts r;
  r.elemType = a->elemType;
  r.shape = idx->shape;
  for (const KnownElt &i : idx->elts) {
    int64_t at = i.c < 0 ? i.c + int64_t(a->elts.size()) : i.c;
    if (at < 0 || at >= int64_t(a->elts.size()))
      return false;
    r.elts.push_back(a->elts[at]);
  }
  im.setKnown(n.output(0), std::move(r));
  return true;
}

LogicalResult convertGather(Importer &im, const onnx::NodeProto &) {
  auto data = im.input(0), idx = im.input(1);
  if (failed(data) || failed(idx))
    return failure();
  if (!isa<IntegerType>(elemOf(*idx)) || elemOf(*idx).isInteger(1))
    return im.error() << "indices must be int32 or int64, got " << elemOf(*idx);
  int64_t r = rankOf(*data), q = rankOf(*idx);
  auto ax = im.axis(im.attrInt("axis", 0), r);
  if (failed(ax))
    return failure();
  SmallVector<OpFoldResult> sizes;
  for (int64_t i = 0; i < *ax; ++i)
    sizes.push_back(im.dim(*data, i));
  for (int64_t i = 0; i < q; ++i)
    sizes.push_back(im.dim(*idx, i));
  for (int64_t i = *ax + 1; i < r; ++i)
    sizes.push_back(im.dim(*data, i));
  int64_t outRank = sizes.size();
  MLIRContext *ctx = im.ctx;
  SmallVector<AffineExpr> ie;
  for (int64_t i = 0; i < q; ++i)
    ie.push_back(getAffineDimExpr(*ax + i, ctx));
  Value axisSize = im.indexValue(im.dim(*data, *ax));
  // Indices read from a graph input are checked by the runner; negative
  // ones wrap (the select below), so the accepted range is [-N, N).
  if (auto n = getConstantIntValue(im.dim(*data, *ax)))
    recordIndexBound(im, *idx, *n, /*negativesWrap=*/true);
  Value init = im.empty(sizes, elemOf(*data));
  SmallVector<AffineMap> maps = {
      AffineMap::get(outRank, 0, ie, ctx),
      AffineMap::getMultiDimIdentityMap(outRank, ctx)};
  Value d = *data;
  int64_t axv = *ax;
  auto op = linalg::GenericOp::create(
      im.b, im.loc, init.getType(), *idx, init, maps,
      SmallVector<utils::IteratorType>(outRank, utils::IteratorType::parallel),
      [&](OpBuilder &b, Location l, ValueRange a) {
        Value i = arith::IndexCastOp::create(b, l, b.getIndexType(), a[0]);
        Value zero = arith::ConstantIndexOp::create(b, l, 0);
        Value neg =
            arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, i, zero);
        i = arith::SelectOp::create(
            b, l, neg, arith::AddIOp::create(b, l, i, axisSize), i);
        SmallVector<Value> coords;
        for (int64_t k = 0; k < axv; ++k)
          coords.push_back(linalg::IndexOp::create(b, l, k));
        coords.push_back(i);
        for (int64_t k = axv + 1; k < r; ++k)
          coords.push_back(linalg::IndexOp::create(b, l, k - 1 + q));
        linalg::YieldOp::create(
            b, l, tensor::ExtractOp::create(b, l, d, coords).getResult());
      });
  im.setOutput(0, op.getResult(0));
  return success();
}

Value addF(OpBuilder &b, Location l, Value x, Value y) {
  if (isa<FloatType>(x.getType()))
    return arith::AddFOp::create(b, l, x, y);
  return arith::AddIOp::create(b, l, x, y);
}
Value maxF(OpBuilder &b, Location l, Value x, Value y) {
  if (isa<FloatType>(x.getType()))
    return arith::MaximumFOp::create(b, l, x, y);
  return arith::MaxSIOp::create(b, l, x, y);
}

double lowest(Type et) {
  if (isa<FloatType>(et))
    return -INFINITY;
  return et.isInteger(64) ? double(INT64_MIN) : double(INT32_MIN);
}

/// Number of elements over `axes` of `x`, as a scalar of `et`.
Value countOf(Importer &im, Value x, ArrayRef<int64_t> axes, Type et) {
  int64_t cs = 1;
  Value dyn;
  for (int64_t a : axes) {
    OpFoldResult d = im.dim(x, a);
    if (auto s = getConstantIntValue(d)) {
      cs *= *s;
    } else {
      Value v = cast<Value>(d);
      dyn = dyn ? arith::MulIOp::create(im.b, im.loc, dyn, v).getResult() : v;
    }
  }
  if (!dyn)
    return Importer::scalar(im.b, im.loc, et, double(cs));
  Value t = arith::MulIOp::create(
      im.b, im.loc, dyn, arith::ConstantIndexOp::create(im.b, im.loc, cs));
  t = arith::IndexCastOp::create(im.b, im.loc, im.b.getI64Type(), t);
  return Importer::castScalar(im.b, im.loc, t, et);
}

FailureOr<SmallVector<int64_t>> reduceAxes(Importer &im, Value x,
                                           bool axesAreInput, bool &noop) {
  int64_t rank = rankOf(x);
  std::optional<SmallVector<int64_t>> axes;
  if (axesAreInput) {
    if (im.hasInput(1)) {
      axes = im.constInts(1);
      if (!axes)
        return im.error() << "axes must be a constant";
    }
  } else {
    axes = im.attrInts("axes");
  }
  noop = false;
  SmallVector<int64_t> out;
  if (!axes || axes->empty()) {
    if (im.attrInt("noop_with_empty_axes", 0)) {
      noop = true;
      return out;
    }
    for (int64_t i = 0; i < rank; ++i)
      out.push_back(i);
    return out;
  }
  for (int64_t a : *axes) {
    auto n = im.axis(a, rank);
    if (failed(n))
      return failure();
    out.push_back(*n);
  }
  llvm::sort(out);
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

/// `AxesInput`: axes are input 1 (ReduceSum from opset 13, the others from
/// 18), not an attribute.
template <int Kind, bool AxesInput> // Kind: 0 sum, 1 mean, 2 max
LogicalResult convertReduce(Importer &im, const onnx::NodeProto &n) {
  auto x = im.input(0);
  if (failed(x))
    return failure();
  bool noop;
  auto axes = reduceAxes(im, *x, AxesInput, noop);
  if (failed(axes))
    return failure();
  if (noop) {
    im.setOutput(0, *x);
    return success();
  }
  bool keep = im.attrInt("keepdims", 1) != 0;
  Type et = elemOf(*x);
  if (Kind == 1 && !isa<FloatType>(et))
    return im.error() << "ReduceMean of integers is not supported";
  Value r = im.reduce(*x, *axes, keep, Kind == 2 ? lowest(et) : 0.0,
                      [](OpBuilder &b, Location l, ValueRange a) -> Value {
                        return Kind == 2 ? maxF(b, l, a[0], a[1])
                                         : addF(b, l, a[0], a[1]);
                      });
  if (Kind == 1) {
    Value cnt = countOf(im, *x, *axes, et);
    auto m =
        im.elementwise({r}, et, [&](OpBuilder &b, Location l, ValueRange a) {
          return arith::DivFOp::create(b, l, a[0], cnt).getResult();
        });
    if (failed(m))
      return failure();
    r = *m;
  }
  im.setOutput(0, r);
  return success();
}

/// `Flatten`: before opset 13 Softmax and LogSoftmax flatten to 2-D at
/// `axis`.
template <bool Log, bool Flatten>
LogicalResult convertSoftmax(Importer &im, const onnx::NodeProto &) {
  auto x = im.input(0);
  if (failed(x))
    return failure();
  Type et = elemOf(*x);
  if (!isa<FloatType>(et))
    return im.error() << "expects a float tensor";
  int64_t rank = rankOf(*x);
  auto ax = im.axis(im.attrInt("axis", -1), rank);
  if (failed(ax))
    return failure();
  // Flattening to 2-D at `axis` is reducing over all trailing dims.
  SmallVector<int64_t> axes = {*ax};
  if (Flatten)
    for (int64_t i = *ax + 1; i < rank; ++i)
      axes.push_back(i);
  auto maxBody = [](OpBuilder &b, Location l, ValueRange a) -> Value {
    return arith::MaximumFOp::create(b, l, a[0], a[1]);
  };
  auto sumBody = [](OpBuilder &b, Location l, ValueRange a) -> Value {
    return arith::AddFOp::create(b, l, a[0], a[1]);
  };
  Value m = im.reduce(*x, axes, true, -INFINITY, maxBody);
  auto shifted =
      im.elementwise({*x, m}, et, [](OpBuilder &b, Location l, ValueRange a) {
        return arith::SubFOp::create(b, l, a[0], a[1]).getResult();
      });
  if (failed(shifted))
    return failure();
  auto e = im.elementwise({*shifted}, et,
                          [](OpBuilder &b, Location l, ValueRange a) {
                            return math::ExpOp::create(b, l, a[0]).getResult();
                          });
  if (failed(e))
    return failure();
  Value s = im.reduce(*e, axes, true, 0.0, sumBody);
  FailureOr<Value> r;
  if (Log)
    r = im.elementwise({*shifted, s}, et,
                       [](OpBuilder &b, Location l, ValueRange a) {
                         return arith::SubFOp::create(
                                    b, l, a[0], math::LogOp::create(b, l, a[1]))
                             .getResult();
                       });
  else
    r = im.elementwise({*e, s}, et, [](OpBuilder &b, Location l, ValueRange a) {
      return arith::DivFOp::create(b, l, a[0], a[1]).getResult();
    });
  if (failed(r))
    return failure();
  im.setOutput(0, *r);
  return success();
}

LogicalResult convertLayerNorm(Importer &im, const onnx::NodeProto &n) {
  auto x = im.input(0), scale = im.input(1);
  if (failed(x) || failed(scale))
    return failure();
  Type et = elemOf(*x);
  if (!isa<FloatType>(et))
    return im.error() << "expects a float tensor";
  int64_t rank = rankOf(*x);
  auto ax = im.axis(im.attrInt("axis", -1), rank);
  if (failed(ax))
    return failure();
  double eps = im.attrFloat("epsilon", 1e-5f);
  SmallVector<int64_t> axes;
  for (int64_t i = *ax; i < rank; ++i)
    axes.push_back(i);
  auto sumBody = [](OpBuilder &b, Location l, ValueRange a) -> Value {
    return arith::AddFOp::create(b, l, a[0], a[1]);
  };
  Value cnt = countOf(im, *x, axes, et);
  auto divCnt = [&](OpBuilder &b, Location l, ValueRange a) -> Value {
    return arith::DivFOp::create(b, l, a[0], cnt);
  };
  auto mean =
      im.elementwise({im.reduce(*x, axes, true, 0.0, sumBody)}, et, divCnt);
  if (failed(mean))
    return failure();
  auto d = im.elementwise(
      {*x, *mean}, et, [](OpBuilder &b, Location l, ValueRange a) {
        return arith::SubFOp::create(b, l, a[0], a[1]).getResult();
      });
  if (failed(d))
    return failure();
  Value sq = im.reduce(*d, axes, true, 0.0,
                       [](OpBuilder &b, Location l, ValueRange a) -> Value {
                         Value p = arith::MulFOp::create(b, l, a[0], a[0]);
                         return arith::AddFOp::create(b, l, a[1], p);
                       });
  auto inv =
      im.elementwise({sq}, et, [&](OpBuilder &b, Location l, ValueRange a) {
        Value v = arith::DivFOp::create(b, l, a[0], cnt);
        v = arith::AddFOp::create(b, l, v, Importer::scalar(b, l, et, eps));
        return math::RsqrtOp::create(b, l, v).getResult();
      });
  if (failed(inv))
    return failure();
  SmallVector<Value> ins = {*d, *inv, *scale};
  if (im.hasInput(2)) {
    auto bias = im.input(2);
    if (failed(bias))
      return failure();
    ins.push_back(*bias);
  }
  bool hasBias = ins.size() == 4;
  auto y = im.elementwise(ins, et, [&](OpBuilder &b, Location l, ValueRange a) {
    Value v = arith::MulFOp::create(b, l, a[0], a[1]);
    v = arith::MulFOp::create(b, l, v, a[2]);
    if (hasBias)
      v = arith::AddFOp::create(b, l, v, a[3]);
    return v;
  });
  if (failed(y))
    return failure();
  im.setOutput(0, *y);
  if (n.output_size() > 1 && !n.output(1).empty())
    im.setOutput(1, *mean);
  if (n.output_size() > 2 && !n.output(2).empty())
    im.setOutput(2, *inv);
  return success();
}

LogicalResult convertCumSum(Importer &im, const onnx::NodeProto &) {
  auto x = im.input(0);
  if (failed(x))
    return failure();
  auto axv = im.constInts(1);
  if (!axv || axv->size() != 1)
    return im.error() << "axis must be a constant scalar";
  int64_t rank = rankOf(*x);
  auto ax = im.axis((*axv)[0], rank);
  if (failed(ax))
    return failure();
  bool exclusive = im.attrInt("exclusive", 0),
       reverse = im.attrInt("reverse", 0);
  MLIRContext *ctx = im.ctx;
  // out[.., i, ..] = sum_j x[.., j, ..] * [j <= i] (or the variants).
  SmallVector<AffineExpr> in, out;
  for (int64_t d = 0; d < rank; ++d) {
    in.push_back(getAffineDimExpr(d == *ax ? rank : d, ctx));
    out.push_back(getAffineDimExpr(d, ctx));
  }
  Type et = elemOf(*x);
  Value acc = im.filled(im.dims(*x), et, 0.0);
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  iters.push_back(utils::IteratorType::reduction);
  int64_t a = *ax;
  auto op = linalg::GenericOp::create(
      im.b, im.loc, acc.getType(), *x, acc,
      {AffineMap::get(rank + 1, 0, in, ctx),
       AffineMap::get(rank + 1, 0, out, ctx)},
      iters, [&](OpBuilder &b, Location l, ValueRange v) {
        Value i = linalg::IndexOp::create(b, l, a);
        Value j = linalg::IndexOp::create(b, l, rank);
        arith::CmpIPredicate p = reverse
                                     ? (exclusive ? arith::CmpIPredicate::sgt
                                                  : arith::CmpIPredicate::sge)
                                     : (exclusive ? arith::CmpIPredicate::slt
                                                  : arith::CmpIPredicate::sle);
        Value c = arith::CmpIOp::create(b, l, p, j, i);
        Value term = arith::SelectOp::create(b, l, c, v[0],
                                             Importer::scalar(b, l, et, 0.0));
        linalg::YieldOp::create(b, l, addF(b, l, v[1], term));
      });
  im.setOutput(0, op.getResult(0));
  return success();
}

LogicalResult convertTrilu(Importer &im, const onnx::NodeProto &) {
  auto x = im.input(0);
  if (failed(x))
    return failure();
  int64_t rank = rankOf(*x);
  if (rank < 2)
    return im.error() << "expects rank >= 2";
  int64_t k = 0;
  if (im.hasInput(1)) {
    auto kv = im.constInts(1);
    if (!kv || kv->size() != 1)
      return im.error() << "k must be a constant scalar";
    k = (*kv)[0];
  }
  bool upper = im.attrInt("upper", 1) != 0;
  Type et = elemOf(*x);
  auto r = im.elementwise(
      {*x}, et, [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value i = linalg::IndexOp::create(b, l, rank - 2);
        Value j = linalg::IndexOp::create(b, l, rank - 1);
        Value diff = arith::SubIOp::create(b, l, j, i);
        Value kk = arith::ConstantIndexOp::create(b, l, k);
        Value keep = arith::CmpIOp::create(
            b, l, upper ? arith::CmpIPredicate::sge : arith::CmpIPredicate::sle,
            diff, kk);
        return arith::SelectOp::create(b, l, keep, a[0],
                                       Importer::scalar(b, l, et, 0.0));
      });
  if (failed(r))
    return failure();
  im.setOutput(0, *r);
  return success();
}

} // namespace

void onebit::onnx_import::addLinalgOps(OpRegistry &r) {
  r.add({"MatMul", 1, convertMatMul});
  r.add({"Gemm", 1, convertGemm});
  r.add({"Einsum", 12, convertEinsum});
  r.add({"Gather", 1, convertGather, foldGather});
  // The reductions' axes became an input at opset 13 (ReduceSum) and 18.
  r.add({"ReduceSum", 1, convertReduce<0, /*AxesInput=*/false>});
  r.add({"ReduceSum", 13, convertReduce<0, /*AxesInput=*/true>});
  r.add({"ReduceMean", 1, convertReduce<1, /*AxesInput=*/false>});
  r.add({"ReduceMean", 18, convertReduce<1, /*AxesInput=*/true>});
  r.add({"ReduceMax", 1, convertReduce<2, /*AxesInput=*/false>});
  r.add({"ReduceMax", 18, convertReduce<2, /*AxesInput=*/true>});
  r.add({"Softmax", 1, convertSoftmax</*Log=*/false, /*Flatten=*/true>});
  r.add({"Softmax", 13, convertSoftmax</*Log=*/false, /*Flatten=*/false>});
  r.add({"LogSoftmax", 1, convertSoftmax</*Log=*/true, /*Flatten=*/true>});
  r.add({"LogSoftmax", 13, convertSoftmax</*Log=*/true, /*Flatten=*/false>});
  r.add({"LayerNormalization", 17, convertLayerNorm});
  r.add({"CumSum", 11, convertCumSum});
  r.add({"Trilu", 14, convertTrilu});
}
