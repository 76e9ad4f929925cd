//===- ShapeOps.cpp - ONNX shape computations and data movement ----------===//
//
// Shape subgraphs fold at import time on the KnownInts table (elements are
// constants or index values from tensor.dim); data movement becomes tensor
// ops (expand/collapse_shape, extract_slice, concat) and linalg.transpose.
//
//===----------------------------------------------------------------------===//

#include "Folding.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <climits>

using namespace mlir;
using namespace onebit::onnx_import;

namespace {

Type elemOf(Value v) { return cast<ShapedType>(v.getType()).getElementType(); }

//===----------------------------------------------------------------------===//
// Conversions, each op's fold rule before its converter
//===----------------------------------------------------------------------===//

/// The sizes named by a known shape input (elements may be dynamic).
FailureOr<SmallVector<OpFoldResult>> shapeInput(Importer &im, unsigned i) {
  if (!im.hasInput(i))
    return im.error() << "shape input " << i << " is missing";
  const KnownInts *k = im.getKnown(im.node->input(i));
  if (!k || k->shape.size() != 1)
    return im.error() << "shape input '" << im.node->input(i)
                      << "' is computed at run time from data, which is not "
                         "supported (only shapes derived from tensor shapes "
                         "and constants fold)";
  SmallVector<OpFoldResult> out;
  for (const KnownElt &e : k->elts) {
    if (!e.isConst() && !e.v.getType().isIndex())
      return failure();
    out.push_back(toOFR(im, e));
  }
  return out;
}

/// A known 1-D tensor reshaped to rank <= 1 keeps its elements.
bool foldReshape(Importer &im, const onnx::NodeProto &n) {
  const KnownInts *a = im.knownInput(0);
  if (!a)
    return false;
  auto s = im.constInts(1);
  if (!s || s->size() > 1)
    return false;
  KnownInts r = *a;
  r.shape.assign(s->begin(), s->end());
  if (!r.shape.empty())
    r.shape[0] = a->elts.size();
  im.setKnown(n.output(0), std::move(r));
  return true;
}

LogicalResult convertReshape(Importer &im, const onnx::NodeProto &) {
  auto x = im.input(0);
  if (failed(x))
    return failure();
  auto sizes = shapeInput(im, 1);
  if (failed(sizes))
    return failure();
  bool allowZero = im.attrInt("allowzero", 0) != 0;
  auto t = cast<RankedTensorType>(x->getType());
  int inferIdx = -1;
  OpFoldResult known = im.b.getIndexAttr(1);
  for (auto [i, s] : llvm::enumerate(*sizes)) {
    std::optional<int64_t> c = getConstantIntValue(s);
    if (c && *c == 0 && !allowZero) {
      if (int64_t(i) >= t.getRank())
        return im.error() << "shape element " << i
                          << " is 0 but the input has rank " << t.getRank();
      s = im.dim(*x, i);
    } else if (c && *c == -1) {
      if (inferIdx >= 0)
        return im.error() << "shape has more than one -1";
      inferIdx = i;
      continue;
    } else if (c && *c < 0) {
      return im.error() << "invalid shape element " << *c;
    }
    known = arithOFR(im, IOp::Mul, known, s);
  }
  if (inferIdx >= 0) {
    OpFoldResult total = im.b.getIndexAttr(1);
    for (int64_t i = 0; i < t.getRank(); ++i)
      total = arithOFR(im, IOp::Mul, total, im.dim(*x, i));
    (*sizes)[inferIdx] = arithOFR(im, IOp::Div, total, known);
  }
  im.refineSizes(im.node->output(0), *sizes);
  im.setOutput(0, im.reshape(*x, *sizes));
  return success();
}

/// Reassociation grouping each unit axis with a neighbouring kept axis.
SmallVector<ReassociationIndices> unitReassociation(int64_t rank,
                                                    ArrayRef<int64_t> unit) {
  SmallVector<ReassociationIndices> re;
  ReassociationIndices pending;
  for (int64_t d = 0; d < rank; ++d) {
    pending.push_back(d);
    if (!llvm::is_contained(unit, d)) {
      re.push_back(pending);
      pending.clear();
    }
  }
  if (!pending.empty() && !re.empty())
    re.back().append(pending.begin(), pending.end());
  return re;
}

/// Sorted, normalized axes from input 1 (`axesAreInput`, falling back to the
/// attribute) or from the `axes` attribute.
FailureOr<SmallVector<int64_t>> axesOf(Importer &im, int64_t rank,
                                       bool required, bool axesAreInput) {
  std::optional<SmallVector<int64_t>> axes;
  if (axesAreInput) {
    if (im.hasInput(1)) {
      axes = im.constInts(1);
      if (!axes)
        return im.error() << "axes must be a constant";
    }
  }
  if (!axes)
    axes = im.attrInts("axes");
  if (!axes) {
    if (required)
      return im.error() << "axes are required";
    return SmallVector<int64_t>();
  }
  SmallVector<int64_t> out;
  for (int64_t a : *axes) {
    auto n = im.axis(a, rank);
    if (failed(n))
      return failure();
    out.push_back(*n);
  }
  llvm::sort(out);
  return out;
}

bool foldUnsqueeze(Importer &im, const onnx::NodeProto &n) {
  const KnownInts *a = im.knownInput(0);
  if (!a || !a->shape.empty())
    return false;
  KnownInts r = *a;
  r.shape = {1};
  im.setKnown(n.output(0), std::move(r));
  return true;
}

LogicalResult convertUnsqueeze(Importer &im, const onnx::NodeProto &) {
  auto x = im.input(0);
  if (failed(x))
    return failure();
  auto t = cast<RankedTensorType>(x->getType());
  std::optional<SmallVector<int64_t>> raw =
      im.hasInput(1) ? im.constInts(1) : im.attrInts("axes");
  if (!raw)
    return im.error() << "axes must be a constant";
  int64_t outRank = t.getRank() + raw->size();
  SmallVector<int64_t> axes;
  for (int64_t a : *raw) {
    auto n = im.axis(a, outRank);
    if (failed(n))
      return failure();
    axes.push_back(*n);
  }
  SmallVector<OpFoldResult> sizes;
  int64_t src = 0;
  for (int64_t d = 0; d < outRank; ++d)
    sizes.push_back(llvm::is_contained(axes, d)
                        ? OpFoldResult(im.b.getIndexAttr(1))
                        : im.dim(*x, src++));
  auto dst = Importer::tensorType(sizes, t.getElementType());
  im.setOutput(
      0, tensor::ExpandShapeOp::create(
             im.b, im.loc, dst, *x, unitReassociation(outRank, axes), sizes));
  return success();
}

bool foldSqueeze(Importer &im, const onnx::NodeProto &n) {
  const KnownInts *a = im.knownInput(0);
  if (!a || a->shape.size() != 1 || a->elts.size() != 1)
    return false;
  KnownInts r = *a;
  r.shape = {};
  im.setKnown(n.output(0), std::move(r));
  return true;
}

template <bool AxesInput>
LogicalResult convertSqueeze(Importer &im, const onnx::NodeProto &) {
  auto x = im.input(0);
  if (failed(x))
    return failure();
  auto t = cast<RankedTensorType>(x->getType());
  auto axesOr = axesOf(im, t.getRank(), /*required=*/false, AxesInput);
  if (failed(axesOr))
    return failure();
  SmallVector<int64_t> axes = *axesOr;
  if (axes.empty())
    for (int64_t d = 0; d < t.getRank(); ++d)
      if (t.getDimSize(d) == 1)
        axes.push_back(d);
  SmallVector<int64_t> srcShape(t.getShape());
  SmallVector<int64_t> dstShape;
  for (int64_t d = 0; d < t.getRank(); ++d) {
    if (llvm::is_contained(axes, d)) {
      if (!t.isDynamicDim(d) && t.getDimSize(d) != 1)
        return im.error() << "cannot squeeze dim " << d << " of size "
                          << t.getDimSize(d);
      srcShape[d] = 1;
    } else {
      dstShape.push_back(t.getDimSize(d));
    }
  }
  Value v = *x;
  if (ArrayRef<int64_t>(srcShape) != t.getShape())
    v = tensor::CastOp::create(
        im.b, im.loc, RankedTensorType::get(srcShape, t.getElementType()), v);
  im.setOutput(0, tensor::CollapseShapeOp::create(
                      im.b, im.loc,
                      RankedTensorType::get(dstShape, t.getElementType()), v,
                      unitReassociation(t.getRank(), axes)));
  return success();
}

LogicalResult convertTranspose(Importer &im, const onnx::NodeProto &) {
  auto x = im.input(0);
  if (failed(x))
    return failure();
  int64_t rank = cast<RankedTensorType>(x->getType()).getRank();
  SmallVector<int64_t> perm;
  if (auto p = im.attrInts("perm")) {
    perm = *p;
  } else {
    for (int64_t i = rank - 1; i >= 0; --i)
      perm.push_back(i);
  }
  if (int64_t(perm.size()) != rank)
    return im.error() << "perm has " << perm.size() << " entries for rank "
                      << rank;
  SmallVector<bool> seen(rank, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p])
      return im.error() << "perm is not a permutation of the input's " << rank
                        << " dimensions";
    seen[p] = true;
  }
  // A scalar is its own transpose (linalg.transpose needs a dimension).
  if (rank == 0) {
    im.setOutput(0, *x);
    return success();
  }
  SmallVector<OpFoldResult> sizes;
  for (int64_t p : perm)
    sizes.push_back(im.dim(*x, p));
  Value init = im.empty(sizes, elemOf(*x));
  im.setOutput(
      0,
      linalg::TransposeOp::create(im.b, im.loc, *x, init, perm)->getResult(0));
  return success();
}

bool foldConcat(Importer &im, const onnx::NodeProto &n) {
  const KnownInts *a = im.knownInput(0);
  if (!a)
    return false;
  KnownInts r;
  r.elemType = a->elemType;
  for (int i = 0; i < n.input_size(); ++i) {
    const KnownInts *k = im.knownInput(i);
    if (!k || k->shape.size() != 1)
      return false;
    r.elts.append(k->elts.begin(), k->elts.end());
  }
  r.shape = {int64_t(r.elts.size())};
  im.setKnown(n.output(0), std::move(r));
  return true;
}

LogicalResult convertConcat(Importer &im, const onnx::NodeProto &n) {
  SmallVector<Value> ins;
  for (int i = 0; i < n.input_size(); ++i) {
    auto v = im.input(i);
    if (failed(v))
      return failure();
    // Empty tensors contribute nothing (torch exports concat with []).
    auto t = cast<RankedTensorType>(v->getType());
    if (t.hasStaticShape() && t.getNumElements() == 0 && n.input_size() > 1)
      continue;
    ins.push_back(*v);
  }
  if (ins.empty())
    return im.error() << "has no non-empty inputs";
  auto ax = im.axis(im.attrInt("axis", 0),
                    cast<RankedTensorType>(ins[0].getType()).getRank());
  if (failed(ax))
    return failure();
  auto t0 = cast<RankedTensorType>(ins[0].getType());
  for (Value v : ins) {
    auto t = cast<RankedTensorType>(v.getType());
    if (t.getRank() != t0.getRank() ||
        t.getElementType() != t0.getElementType())
      return im.error() << "inputs differ in rank or element type (" << t0
                        << " vs " << t << ")";
    for (int64_t d = 0; d < t.getRank(); ++d)
      if (d != *ax && !t.isDynamicDim(d) && !t0.isDynamicDim(d) &&
          t.getDimSize(d) != t0.getDimSize(d))
        return im.error() << "inputs differ in dim " << d << " (" << t0
                          << " vs " << t << ")";
  }
  if (ins.size() == 1) {
    im.setOutput(0, ins[0]);
    return success();
  }
  im.setOutput(0, tensor::ConcatOp::create(im.b, im.loc, *ax, ins));
  return success();
}

/// [start, end) with ONNX clamping against a (possibly dynamic) size.
std::pair<OpFoldResult, OpFoldResult>
clampRange(Importer &im, int64_t start, int64_t end, OpFoldResult size) {
  auto norm = [&](int64_t v) -> OpFoldResult {
    if (v >= (INT64_C(1) << 40))
      return size;
    OpFoldResult r = im.b.getIndexAttr(v);
    if (v < 0)
      r = arithOFR(im, IOp::Max, arithOFR(im, IOp::Add, size, r),
                   im.b.getIndexAttr(0));
    return arithOFR(im, IOp::Min, r, size);
  };
  return {norm(start), norm(end)};
}

/// A start or end of Slice known only at run time (a size computed from
/// dims, such as the past length of a KV cache), clamped as ONNX says: a
/// negative value counts from the end, then the value is clamped to
/// [0, size]. Constants take clampRange's path.
OpFoldResult clampDynamic(Importer &im, const KnownElt &e, OpFoldResult size) {
  OpFoldResult r = toOFR(im, e);
  if (!e.nonNeg) {
    Value v = im.indexValue(r);
    Value zero = arith::ConstantIndexOp::create(im.b, im.loc, 0);
    Value neg =
        arith::CmpIOp::create(im.b, im.loc, arith::CmpIPredicate::slt, v, zero);
    Value fromEnd = arith::MaxSIOp::create(
        im.b, im.loc,
        arith::AddIOp::create(im.b, im.loc, im.indexValue(size), v), zero);
    r = arith::SelectOp::create(im.b, im.loc, neg, fromEnd, v).getResult();
  }
  return arithOFR(im, IOp::Min, r, size);
}

/// tensor.extract_slice, or tensor.empty for a statically empty result
/// (whose clamped offset may equal the dim size, which the verifier rejects).
Value extractSlice(Importer &im, Value x, ArrayRef<OpFoldResult> offsets,
                   ArrayRef<OpFoldResult> sizes,
                   ArrayRef<OpFoldResult> strides) {
  Type et = elemOf(x);
  for (OpFoldResult s : sizes)
    if (getConstantIntValue(s) == std::optional<int64_t>(0))
      return im.empty(sizes, et);
  return tensor::ExtractSliceOp::create(im.b, im.loc,
                                        Importer::tensorType(sizes, et), x,
                                        offsets, sizes, strides);
}

/// Reverses `x` along `axes` (static sizes): a linalg.generic that reads
/// x[..., n - 1 - i, ...] with tensor.extract.
Value reverseAxes(Importer &im, Value x, ArrayRef<int64_t> axes) {
  auto t = cast<RankedTensorType>(x.getType());
  int64_t rank = t.getRank();
  Value init = im.empty(im.dims(x), t.getElementType());
  auto map = AffineMap::getMultiDimIdentityMap(rank, im.ctx);
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto op = linalg::GenericOp::create(
      im.b, im.loc, init.getType(), ValueRange{}, init,
      ArrayRef<AffineMap>{map}, iters,
      [&](OpBuilder &bb, Location ll, ValueRange) {
        SmallVector<Value> idx;
        for (int64_t d = 0; d < rank; ++d) {
          Value i = linalg::IndexOp::create(bb, ll, d);
          if (llvm::is_contained(axes, d))
            i = arith::SubIOp::create(
                bb, ll,
                arith::ConstantIndexOp::create(bb, ll, t.getDimSize(d) - 1), i);
          idx.push_back(i);
        }
        Value v = tensor::ExtractOp::create(bb, ll, x, idx);
        linalg::YieldOp::create(bb, ll, v);
      });
  return op.getResult(0);
}

/// A 1-D slice of a known 1-D tensor with a positive step.
bool foldSlice(Importer &im, const onnx::NodeProto &n) {
  const KnownInts *a = im.knownInput(0);
  if (!a)
    return false;
  auto starts = im.constInts(1), ends = im.constInts(2);
  if (a->shape.size() != 1 || !starts || !ends || starts->size() != 1 ||
      ends->size() != 1)
    return false;
  int64_t step = 1;
  if (im.hasInput(4)) {
    auto s = im.constInts(4);
    if (!s || s->size() != 1)
      return false;
    step = (*s)[0];
  }
  if (step <= 0)
    return false;
  int64_t len = a->elts.size();
  auto clampIdx = [&](int64_t i) {
    if (i < 0)
      i += len;
    return std::clamp<int64_t>(i, 0, len);
  };
  int64_t s = clampIdx((*starts)[0]), e = clampIdx((*ends)[0]);
  KnownInts r;
  r.elemType = a->elemType;
  for (int64_t i = s; i < e; i += step)
    r.elts.push_back(a->elts[i]);
  r.shape = {int64_t(r.elts.size())};
  im.setKnown(n.output(0), std::move(r));
  return true;
}

LogicalResult convertSlice(Importer &im, const onnx::NodeProto &) {
  auto x = im.input(0);
  if (failed(x))
    return failure();
  auto t = cast<RankedTensorType>(x->getType());
  // Starts and ends are constants, or sizes known at import as index
  // values (Shape -> Gather -> Sub subgraphs: a slice at the past length of
  // a KV cache); the other inputs must be constants.
  const KnownInts *startsK = im.knownInput(1), *endsK = im.knownInput(2);
  if (!startsK || !endsK || startsK->shape.size() > 1 ||
      endsK->shape.size() > 1)
    return im.error() << "starts and ends must be constants or sizes known "
                         "at import (1-D integer tensors)";
  auto constOr = [](const KnownInts &k) {
    SmallVector<int64_t> out;
    for (const KnownElt &e : k.elts)
      out.push_back(e.isConst() ? e.c : 0);
    return out;
  };
  std::optional<SmallVector<int64_t>> starts = constOr(*startsK),
                                      ends = constOr(*endsK);
  SmallVector<int64_t> axes, steps(starts->size(), 1);
  if (im.hasInput(3)) {
    auto a = im.constInts(3);
    if (!a)
      return im.error() << "axes must be a constant";
    axes = *a;
  } else {
    for (size_t i = 0; i < starts->size(); ++i)
      axes.push_back(i);
  }
  if (im.hasInput(4)) {
    auto s = im.constInts(4);
    if (!s)
      return im.error() << "steps must be a constant";
    steps = *s;
  }
  if (axes.size() != starts->size() || ends->size() != starts->size() ||
      steps.size() != starts->size())
    return im.error() << "starts, ends, axes and steps differ in length";
  SmallVector<OpFoldResult> offsets(t.getRank(), im.b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes = im.dims(*x);
  SmallVector<OpFoldResult> strides(t.getRank(), im.b.getIndexAttr(1));
  SmallVector<int64_t> reversed;
  for (size_t i = 0; i < axes.size(); ++i) {
    auto ax = im.axis(axes[i], t.getRank());
    if (failed(ax))
      return failure();
    if (steps[i] == 0)
      return im.error() << "step 0 is not allowed";
    const KnownElt &se = startsK->elts[i], &ee = endsK->elts[i];
    if (steps[i] != 1 && (!se.isConst() || !ee.isConst()))
      return im.error() << "a start or end known only at run time needs "
                           "step 1 (axis "
                        << axes[i] << " has step " << steps[i] << ")";
    if (steps[i] < 0) {
      // Negative steps (static dims): take the same elements with the
      // positive step from the last one, then reverse the axis.
      if (t.isDynamicDim(*ax) || steps[i] == INT64_MIN)
        return im.error() << "step " << steps[i]
                          << " on a dynamic dim is not supported";
      int64_t n = t.getDimSize(*ax), k = -steps[i];
      int64_t st = (*starts)[i], en = (*ends)[i];
      if (st < 0)
        st = std::max<int64_t>(st, -n) + n;
      if (en < 0)
        en = std::max<int64_t>(en, -n - 1) + n;
      st = std::min(st, n - 1);
      en = std::min(en, n - 1);
      int64_t len = n > 0 && st > en ? (st - en + k - 1) / k : 0;
      offsets[*ax] = im.b.getIndexAttr(len ? st - (len - 1) * k : 0);
      sizes[*ax] = im.b.getIndexAttr(len);
      strides[*ax] = im.b.getIndexAttr(k);
      reversed.push_back(*ax);
      continue;
    }
    auto [s, e] = clampRange(im, (*starts)[i], (*ends)[i], sizes[*ax]);
    if (!se.isConst())
      s = clampDynamic(im, se, sizes[*ax]);
    if (!ee.isConst())
      e = clampDynamic(im, ee, sizes[*ax]);
    OpFoldResult len = arithOFR(im, IOp::Max, arithOFR(im, IOp::Sub, e, s),
                                im.b.getIndexAttr(0));
    if (steps[i] != 1)
      len =
          arithOFR(im, IOp::Div,
                   arithOFR(im, IOp::Add, len, im.b.getIndexAttr(steps[i] - 1)),
                   im.b.getIndexAttr(steps[i]));
    offsets[*ax] = s;
    sizes[*ax] = len;
    strides[*ax] = im.b.getIndexAttr(steps[i]);
  }
  im.refineSizes(im.node->output(0), sizes);
  Value r = extractSlice(im, *x, offsets, sizes, strides);
  if (!reversed.empty())
    r = reverseAxes(im, r, reversed);
  im.setOutput(0, r);
  return success();
}

LogicalResult convertSplit(Importer &im, const onnx::NodeProto &n) {
  auto x = im.input(0);
  if (failed(x))
    return failure();
  auto t = cast<RankedTensorType>(x->getType());
  auto ax = im.axis(im.attrInt("axis", 0), t.getRank());
  if (failed(ax))
    return failure();
  int64_t outs = n.output_size();
  OpFoldResult total = im.dim(*x, *ax);
  SmallVector<OpFoldResult> parts;
  std::optional<SmallVector<int64_t>> split =
      im.hasInput(1) ? im.constInts(1) : im.attrInts("split");
  if (im.hasInput(1) && !split)
    return im.error() << "split must be a constant";
  if (split) {
    if (int64_t(split->size()) != outs)
      return im.error() << "split has " << split->size() << " entries for "
                        << outs << " outputs";
    int64_t sum = 0;
    for (int64_t s : *split) {
      if (s < 0)
        return im.error() << "split size " << s << " is negative";
      if (llvm::AddOverflow(sum, s, sum))
        return im.error() << "split sizes add up to more than 2^63";
      parts.push_back(im.b.getIndexAttr(s));
    }
    if (auto t = getConstantIntValue(total); t && *t != sum)
      return im.error() << "split sizes add up to " << sum
                        << " but the axis has size " << *t;
  } else {
    // Equal parts; with num_outputs (opset 18) the last may be smaller.
    OpFoldResult chunk =
        arithOFR(im, IOp::Div,
                 arithOFR(im, IOp::Add, total, im.b.getIndexAttr(outs - 1)),
                 im.b.getIndexAttr(outs));
    for (int64_t i = 0; i < outs; ++i) {
      if (i + 1 < outs) {
        parts.push_back(chunk);
      } else {
        OpFoldResult used =
            arithOFR(im, IOp::Mul, chunk, im.b.getIndexAttr(outs - 1));
        parts.push_back(arithOFR(im, IOp::Sub, total, used));
      }
    }
  }
  OpFoldResult off = im.b.getIndexAttr(0);
  for (int64_t i = 0; i < outs; ++i) {
    SmallVector<OpFoldResult> offsets(t.getRank(), im.b.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes = im.dims(*x);
    SmallVector<OpFoldResult> strides(t.getRank(), im.b.getIndexAttr(1));
    offsets[*ax] = off;
    sizes[*ax] = parts[i];
    if (!n.output(i).empty())
      im.set(n.output(i), extractSlice(im, *x, offsets, sizes, strides));
    off = arithOFR(im, IOp::Add, off, parts[i]);
  }
  return success();
}

LogicalResult convertExpand(Importer &im, const onnx::NodeProto &) {
  auto x = im.input(0);
  if (failed(x))
    return failure();
  auto sizes = shapeInput(im, 1);
  if (failed(sizes))
    return failure();
  auto r = im.elementwise(
      {*x}, elemOf(*x),
      [](OpBuilder &, Location, ValueRange a) { return a[0]; }, *sizes);
  if (failed(r))
    return failure();
  im.setOutput(0, *r);
  return success();
}

/// The scalar value of a one-element TensorProto as a double.
std::optional<double> scalarOf(const onnx::TensorProto &t) {
  auto rawAs = [&](auto dummy) -> std::optional<double> {
    using T = decltype(dummy);
    if (t.raw_data().size() != sizeof(T))
      return std::nullopt;
    T v;
    std::memcpy(&v, t.raw_data().data(), sizeof(T));
    return double(v);
  };
  switch (t.data_type()) {
  case onnx::TensorProto::FLOAT:
    if (t.float_data_size() == 1)
      return t.float_data(0);
    return rawAs(float());
  case onnx::TensorProto::DOUBLE:
    if (t.double_data_size() == 1)
      return t.double_data(0);
    return rawAs(double());
  case onnx::TensorProto::INT64:
    if (t.int64_data_size() == 1)
      return double(t.int64_data(0));
    return rawAs(int64_t());
  case onnx::TensorProto::INT32:
    if (t.int32_data_size() == 1)
      return double(t.int32_data(0));
    return rawAs(int32_t());
  case onnx::TensorProto::BOOL:
    if (t.int32_data_size() == 1)
      return double(t.int32_data(0));
    return rawAs(uint8_t());
  case onnx::TensorProto::FLOAT16:
  case onnx::TensorProto::BFLOAT16: {
    uint16_t bits;
    if (t.int32_data_size() == 1)
      bits = t.int32_data(0);
    else if (t.raw_data().size() == 2)
      std::memcpy(&bits, t.raw_data().data(), 2);
    else
      return std::nullopt;
    bool half = t.data_type() == onnx::TensorProto::FLOAT16;
    APFloat f(half ? APFloat::IEEEhalf() : APFloat::BFloat(), APInt(16, bits));
    return f.convertToDouble();
  }
  default:
    return std::nullopt;
  }
}

/// A small integer fill of a known constant shape (at most 64 elements).
bool foldConstantOfShape(Importer &im, const onnx::NodeProto &n) {
  const KnownInts *a = im.knownInput(0);
  if (!a || !a->allConst() || a->shape.size() != 1 || a->elts.size() > 1)
    return false;
  const onnx::AttributeProto *v = im.attr("value");
  if (!v)
    return false;
  Type et = elementTypeFor(im.ctx, v->t().data_type());
  if (!et || !isa<IntegerType>(et) || et.isInteger(1) || et.isInteger(8))
    return false;
  int64_t count = a->elts.empty() ? 1 : a->elts[0].c;
  if (count > 64 || count < 0)
    return false;
  int64_t val = 0;
  const onnx::TensorProto &t = v->t();
  if (t.has_raw_data()) {
    if (t.raw_data().size() == 8) {
      std::memcpy(&val, t.raw_data().data(), 8);
    } else if (t.raw_data().size() == 4) {
      int32_t x;
      std::memcpy(&x, t.raw_data().data(), 4);
      val = x;
    } else {
      return false;
    }
  } else if (t.int64_data_size() == 1) {
    val = t.int64_data(0);
  } else if (t.int32_data_size() == 1) {
    val = t.int32_data(0);
  } else {
    return false;
  }
  KnownInts r;
  r.elemType = et;
  for (const KnownElt &e : a->elts)
    r.shape.push_back(e.c);
  r.elts.assign(count, KnownElt{val, Value(), val >= 0});
  im.setKnown(n.output(0), std::move(r));
  return true;
}

LogicalResult convertConstantOfShape(Importer &im, const onnx::NodeProto &) {
  auto sizes = shapeInput(im, 0);
  if (failed(sizes))
    return failure();
  Type et = im.b.getF32Type();
  double value = 0;
  if (const onnx::AttributeProto *v = im.attr("value")) {
    et = elementTypeFor(im.ctx, v->t().data_type());
    auto s = scalarOf(v->t());
    if (!et || !s)
      return im.error() << "value must be a one-element tensor of a "
                           "supported type";
    value = *s;
  }
  im.refineSizes(im.node->output(0), *sizes);
  im.setOutput(0, im.filled(*sizes, et, value));
  return success();
}

LogicalResult convertConstant(Importer &im, const onnx::NodeProto &n) {
  // `value` tensors are imported by the driver; these are the other forms.
  KnownInts k;
  if (const onnx::AttributeProto *a = im.attr("value_int")) {
    k.elemType = im.b.getI64Type();
    k.elts.push_back({a->i(), Value(), a->i() >= 0});
  } else if (const onnx::AttributeProto *a = im.attr("value_ints")) {
    k.elemType = im.b.getI64Type();
    for (int64_t v : a->ints())
      k.elts.push_back({v, Value(), v >= 0});
    k.shape = {a->ints_size()};
  } else if (const onnx::AttributeProto *a = im.attr("value_float")) {
    auto type = RankedTensorType::get({}, im.b.getF32Type());
    im.setOutput(0, arith::ConstantOp::create(
                        im.b, im.loc, DenseElementsAttr::get(type, a->f())));
    return success();
  } else if (const onnx::AttributeProto *a = im.attr("value_floats")) {
    SmallVector<float> v(a->floats().begin(), a->floats().end());
    auto type = RankedTensorType::get({int64_t(v.size())}, im.b.getF32Type());
    im.setOutput(0,
                 arith::ConstantOp::create(
                     im.b, im.loc, DenseElementsAttr::get(type, ArrayRef(v))));
    return success();
  } else {
    return im.error() << "only value, value_float(s) and value_int(s) are "
                         "supported";
  }
  im.setKnown(n.output(0), std::move(k));
  return success();
}

/// Passes a known tensor on (and its materialized value, if it has one).
bool foldIdentity(Importer &im, const onnx::NodeProto &n) {
  const KnownInts *a = im.knownInput(0);
  if (!a)
    return false;
  if (Value v = im.values.lookup(n.input(0)))
    im.set(n.output(0), v);
  im.setKnown(n.output(0), *a);
  return true;
}

LogicalResult convertIdentity(Importer &im, const onnx::NodeProto &) {
  auto x = im.input(0);
  if (failed(x))
    return failure();
  im.setOutput(0, *x);
  return success();
}

/// Reads element 0 of a scalar input as a value of `et`.
FailureOr<Value> scalarInput(Importer &im, unsigned i) {
  auto v = im.input(i);
  if (failed(v))
    return failure();
  auto t = cast<RankedTensorType>(v->getType());
  SmallVector<Value> zeros(t.getRank(),
                           arith::ConstantIndexOp::create(im.b, im.loc, 0));
  return tensor::ExtractOp::create(im.b, im.loc, *v, zeros).getResult();
}

/// An integer range of at most 64 elements from constant start, limit and
/// delta.
bool foldRange(Importer &im, const onnx::NodeProto &n) {
  const KnownInts *a = im.knownInput(0), *l = im.knownInput(1),
                  *d = im.knownInput(2);
  if (!a || !a->allConst() || !l || !l->allConst() || !d || !d->allConst() ||
      a->elts.size() != 1)
    return false;
  int64_t start = a->elts[0].c, limit = l->elts[0].c, delta = d->elts[0].c;
  if (delta == 0)
    return false;
  // In 128 bits: hostile start/limit/delta must not overflow the count.
  __int128 span = __int128(limit) - start + delta + (delta > 0 ? -1 : 1);
  __int128 cnt128 = span / delta;
  if (cnt128 > 64)
    return false;
  int64_t cnt = std::max<int64_t>(0, int64_t(cnt128));
  KnownInts r;
  r.elemType = a->elemType;
  r.shape = {cnt};
  // Elements lie in [start, limit), but i * delta alone may not fit.
  for (int64_t i = 0; i < cnt; ++i) {
    int64_t e = int64_t(__int128(start) + __int128(i) * delta);
    r.elts.push_back({e, Value(), e >= 0});
  }
  im.setKnown(n.output(0), std::move(r));
  return true;
}

LogicalResult convertRange(Importer &im, const onnx::NodeProto &) {
  auto s = scalarInput(im, 0), l = scalarInput(im, 1), d = scalarInput(im, 2);
  if (failed(s) || failed(l) || failed(d))
    return failure();
  Type et = s->getType();
  if (l->getType() != et || d->getType() != et || et.isInteger(1))
    return im.error() << "start, limit and delta must have one numeric type";
  OpBuilder &b = im.b;
  Location loc = im.loc;
  // count = max(ceil((limit - start) / delta), 0), computed in f64 for
  // floats and in index arithmetic for integers.
  Value count;
  if (isa<FloatType>(et)) {
    Type f64 = b.getF64Type();
    auto toF64 = [&](Value v) { return Importer::castScalar(b, loc, v, f64); };
    Value q = arith::DivFOp::create(
        b, loc, arith::SubFOp::create(b, loc, toF64(*l), toF64(*s)), toF64(*d));
    Value c = math::CeilOp::create(b, loc, q);
    count = arith::FPToSIOp::create(b, loc, b.getI64Type(), c);
    count = arith::IndexCastOp::create(b, loc, b.getIndexType(), count);
  } else {
    auto idx = [&](Value v) {
      return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
    };
    count = arith::CeilDivSIOp::create(
        b, loc, arith::SubIOp::create(b, loc, idx(*l), idx(*s)), idx(*d));
  }
  count = arith::MaxSIOp::create(b, loc, count,
                                 arith::ConstantIndexOp::create(b, loc, 0));
  SmallVector<OpFoldResult> sizes = {getAsOpFoldResult(count)};
  im.refineSizes(im.node->output(0), sizes);
  Value init = im.empty(sizes, et);
  auto map = AffineMap::getMultiDimIdentityMap(1, im.ctx);
  auto op = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{}, init, ArrayRef<AffineMap>{map},
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
      [&](OpBuilder &bb, Location ll, ValueRange) {
        Value i = linalg::IndexOp::create(bb, ll, 0);
        Value iv = arith::IndexCastOp::create(bb, ll, bb.getI64Type(), i);
        Value x = Importer::castScalar(bb, ll, iv, et);
        Value r = isa<FloatType>(et)
                      ? arith::AddFOp::create(
                            bb, ll, *s, arith::MulFOp::create(bb, ll, x, *d))
                            .getResult()
                      : arith::AddIOp::create(
                            bb, ll, *s, arith::MulIOp::create(bb, ll, x, *d))
                            .getResult();
        linalg::YieldOp::create(bb, ll, r);
      });
  im.setOutput(0, op.getResult(0));
  return success();
}

/// The value whose sizes Shape and Size report, or null when it is not
/// available yet (the converter then reports the node).
Value sizedInput(Importer &im, const onnx::NodeProto &n) {
  if (n.input_size() == 0)
    return {};
  if (!im.values.count(n.input(0)) && !im.getKnown(n.input(0)))
    return {};
  auto v = im.get(n.input(0));
  return failed(v) ? Value() : *v;
}

/// Shape folds to the input's sizes: constants, or tensor.dim results.
bool foldShape(Importer &im, const onnx::NodeProto &n) {
  Value v = sizedInput(im, n);
  if (!v)
    return false;
  int64_t rank = cast<RankedTensorType>(v.getType()).getRank();
  int64_t start = im.attrInt("start", 0), end = im.attrInt("end", rank);
  auto clampAx = [&](int64_t a) {
    if (a < 0)
      a += rank;
    return std::clamp<int64_t>(a, 0, rank);
  };
  start = clampAx(start);
  end = clampAx(end);
  KnownInts r;
  r.elemType = im.b.getI64Type();
  for (int64_t i = start; i < end; ++i)
    r.elts.push_back(fromOFR(im.dim(v, i)));
  r.shape = {int64_t(r.elts.size())};
  im.setKnown(n.output(0), std::move(r));
  return true;
}

/// Size folds to the product of the input's sizes.
bool foldSize(Importer &im, const onnx::NodeProto &n) {
  Value v = sizedInput(im, n);
  if (!v)
    return false;
  KnownElt acc{1, Value(), true};
  for (int64_t i = 0, e = cast<RankedTensorType>(v.getType()).getRank(); i < e;
       ++i)
    acc = applyElt(im, IOp::Mul, acc, fromOFR(im.dim(v, i)));
  KnownInts r;
  r.elemType = im.b.getI64Type();
  r.elts.push_back(acc);
  im.setKnown(n.output(0), std::move(r));
  return true;
}

/// Shape and Size always fold unless their input is missing.
LogicalResult notFoldable(Importer &im, const onnx::NodeProto &) {
  return im.error() << "could not be evaluated (its input has no static "
                       "shape information)";
}

} // namespace

void onebit::onnx_import::addShapeOps(OpRegistry &r) {
  r.add({"Shape", 1, notFoldable, foldShape});
  r.add({"Size", 1, notFoldable, foldSize});
  r.add({"Reshape", 1, convertReshape, foldReshape});
  r.add({"Unsqueeze", 1, convertUnsqueeze, foldUnsqueeze});
  // Squeeze's axes became an input at opset 13.
  r.add({"Squeeze", 1, convertSqueeze</*AxesInput=*/false>, foldSqueeze});
  r.add({"Squeeze", 13, convertSqueeze</*AxesInput=*/true>, foldSqueeze});
  r.add({"Transpose", 1, convertTranspose});
  r.add({"Concat", 1, convertConcat, foldConcat});
  r.add({"Slice", 1, convertSlice, foldSlice});
  r.add({"Split", 1, convertSplit});
  r.add({"Expand", 8, convertExpand});
  r.add({"ConstantOfShape", 9, convertConstantOfShape, foldConstantOfShape});
  r.add({"Constant", 1, convertConstant});
  r.add({"Identity", 1, convertIdentity, foldIdentity});
  r.add({"Range", 11, convertRange, foldRange});
}
