//===- Importer.cpp - value tables and IR helpers of the ONNX importer ---===//

#include "Importer.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;
using namespace onebit::onnx_import;

Type onebit::onnx_import::elementTypeFor(MLIRContext *ctx, int t) {
  Builder b(ctx);
  switch (t) {
  case onnx::TensorProto::FLOAT:
    return b.getF32Type();
  case onnx::TensorProto::FLOAT16:
    return b.getF16Type();
  case onnx::TensorProto::BFLOAT16:
    return b.getBF16Type();
  case onnx::TensorProto::DOUBLE:
    return b.getF64Type();
  case onnx::TensorProto::INT64:
    return b.getI64Type();
  case onnx::TensorProto::INT32:
    return b.getI32Type();
  case onnx::TensorProto::UINT64:
    return b.getI64Type();
  case onnx::TensorProto::UINT32:
    return b.getI32Type();
  case onnx::TensorProto::INT16:
  case onnx::TensorProto::UINT16:
    return b.getIntegerType(16);
  case onnx::TensorProto::INT8:
  case onnx::TensorProto::UINT8:
    return b.getI8Type();
  case onnx::TensorProto::BOOL:
    return b.getI1Type();
  default:
    return {};
  }
}

bool onebit::onnx_import::isUnsignedType(int t) {
  return t == onnx::TensorProto::UINT8 || t == onnx::TensorProto::UINT16 ||
         t == onnx::TensorProto::UINT32 || t == onnx::TensorProto::UINT64;
}

Importer::Importer(MLIRContext *ctx, std::string fileName, int64_t opset)
    : ctx(ctx), b(ctx), loc(UnknownLoc::get(ctx)),
      fileName(std::move(fileName)), opset(opset), ops(OpRegistry::onnxOps()) {}

//===----------------------------------------------------------------------===//
// Op registry
//===----------------------------------------------------------------------===//

void OpRegistry::add(const OpRule &rule) {
  SmallVector<OpRule, 1> &versions = rules[rule.opType];
  auto *it = llvm::partition_point(versions, [&](const OpRule &r) {
    return r.sinceVersion < rule.sinceVersion;
  });
  assert((it == versions.end() || it->sinceVersion != rule.sinceVersion) &&
         "op registered twice at one opset version");
  versions.insert(it, rule);
}

const OpRule *OpRegistry::lookup(StringRef opType, int64_t opset) const {
  auto it = rules.find(opType);
  if (it == rules.end())
    return nullptr;
  const OpRule *best = nullptr;
  for (const OpRule &r : it->second)
    if (r.sinceVersion <= opset)
      best = &r;
  return best;
}

std::optional<int64_t> OpRegistry::firstVersion(StringRef opType) const {
  auto it = rules.find(opType);
  if (it == rules.end())
    return std::nullopt;
  return it->second.front().sinceVersion;
}

const OpRegistry &OpRegistry::onnxOps() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    addElementwiseOps(r);
    addShapeOps(r);
    addLinalgOps(r);
    return r;
  }();
  return registry;
}

InFlightDiagnostic Importer::error() {
  auto d = emitError(loc) << fileName << ": ";
  if (node)
    d << "node '" << node->name() << "' (" << node->op_type() << ", opset "
      << opset << "): ";
  return d;
}

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

const KnownInts *Importer::getKnown(StringRef name) const {
  auto it = known.find(name);
  return it == known.end() ? nullptr : &it->second;
}

FailureOr<Value> Importer::get(StringRef name) {
  auto it = values.find(name);
  if (it != values.end())
    return it->second;
  const KnownInts *k = getKnown(name);
  if (!k) {
    error() << "input '" << name
            << "' is not a graph input, an initializer or the output of an "
               "earlier node";
    return failure();
  }
  auto type = RankedTensorType::get(k->shape, k->elemType);
  Value v;
  if (k->allConst()) {
    SmallVector<APInt> data;
    unsigned w = k->elemType.getIntOrFloatBitWidth();
    for (const KnownElt &e : k->elts)
      data.push_back(APInt(w, e.c, /*isSigned=*/true, /*implicitTrunc=*/true));
    v = arith::ConstantOp::create(b, loc, DenseElementsAttr::get(type, data));
  } else {
    SmallVector<Value> elts;
    for (const KnownElt &e : k->elts) {
      Value x = e.isConst() ? arith::ConstantIndexOp::create(b, loc, e.c) : e.v;
      elts.push_back(arith::IndexCastOp::create(b, loc, k->elemType, x));
    }
    v = tensor::FromElementsOp::create(b, loc, type, elts);
  }
  values[name] = v;
  return v;
}

FailureOr<Value> Importer::input(unsigned i) {
  if (!hasInput(i)) {
    error() << "input " << i << " is missing";
    return failure();
  }
  return get(node->input(i));
}

std::optional<SmallVector<int64_t>> Importer::constInts(unsigned i) const {
  if (!hasInput(i))
    return std::nullopt;
  const KnownInts *k = getKnown(node->input(i));
  if (!k || !k->allConst())
    return std::nullopt;
  SmallVector<int64_t> out;
  for (const KnownElt &e : k->elts)
    out.push_back(e.c);
  return out;
}

std::optional<double> Importer::constFloat(unsigned i) {
  if (!hasInput(i))
    return std::nullopt;
  if (auto ints = constInts(i); ints && ints->size() == 1)
    return double((*ints)[0]);
  auto v = values.lookup(node->input(i));
  if (!v)
    return std::nullopt;
  auto cst = v.getDefiningOp<arith::ConstantOp>();
  if (!cst)
    return std::nullopt;
  auto dense = dyn_cast<DenseElementsAttr>(cst.getValue());
  if (!dense || dense.getNumElements() != 1 ||
      !isa<FloatType>(dense.getElementType()))
    return std::nullopt;
  return (*dense.value_begin<APFloat>()).convertToDouble();
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

const onnx::AttributeProto *Importer::attr(StringRef name) const {
  for (const onnx::AttributeProto &a : node->attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

int64_t Importer::attrInt(StringRef name, int64_t dflt) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->i() : dflt;
}

float Importer::attrFloat(StringRef name, float dflt) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->f() : dflt;
}

std::string Importer::attrString(StringRef name, StringRef dflt) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->s() : dflt.str();
}

std::optional<SmallVector<int64_t>> Importer::attrInts(StringRef name) const {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return std::nullopt;
  return SmallVector<int64_t>(a->ints().begin(), a->ints().end());
}

//===----------------------------------------------------------------------===//
// IR helpers
//===----------------------------------------------------------------------===//

OpFoldResult Importer::dim(Value t, int64_t i) {
  auto type = cast<RankedTensorType>(t.getType());
  if (!type.isDynamicDim(i))
    return b.getIndexAttr(type.getDimSize(i));
  return tensor::DimOp::create(b, loc, t, i).getResult();
}

SmallVector<OpFoldResult> Importer::dims(Value t) {
  SmallVector<OpFoldResult> out;
  for (int64_t i = 0, e = cast<RankedTensorType>(t.getType()).getRank(); i < e;
       ++i)
    out.push_back(dim(t, i));
  return out;
}

Value Importer::indexValue(OpFoldResult ofr) {
  if (auto v = dyn_cast<Value>(ofr))
    return v;
  return arith::ConstantIndexOp::create(b, loc, *getConstantIntValue(ofr));
}

RankedTensorType Importer::tensorType(ArrayRef<OpFoldResult> sizes, Type et) {
  SmallVector<int64_t> shape;
  for (OpFoldResult s : sizes)
    shape.push_back(getConstantIntValue(s).value_or(ShapedType::kDynamic));
  return RankedTensorType::get(shape, et);
}

Value Importer::empty(ArrayRef<OpFoldResult> sizes, Type et) {
  return tensor::EmptyOp::create(b, loc, sizes, et);
}

Value Importer::scalar(OpBuilder &bb, Location l, Type et, double value) {
  if (auto ft = dyn_cast<FloatType>(et))
    return arith::ConstantOp::create(bb, l, bb.getFloatAttr(ft, value));
  if (et.isInteger(1))
    return arith::ConstantOp::create(bb, l, bb.getBoolAttr(value != 0));
  return arith::ConstantOp::create(bb, l,
                                   bb.getIntegerAttr(et, int64_t(value)));
}

Value Importer::filled(ArrayRef<OpFoldResult> sizes, Type et, double value) {
  Value init = empty(sizes, et);
  Value s = scalar(b, loc, et, value);
  return linalg::FillOp::create(b, loc, s, init).getResult(0);
}

Value Importer::castScalar(OpBuilder &bb, Location l, Value v, Type to,
                           bool fromUnsigned, bool toUnsigned) {
  Type from = v.getType();
  if (from == to)
    return v;
  auto ff = dyn_cast<FloatType>(from), ft = dyn_cast<FloatType>(to);
  if (ff && ft)
    return ff.getWidth() < ft.getWidth()
               ? arith::ExtFOp::create(bb, l, to, v).getResult()
               : arith::TruncFOp::create(bb, l, to, v).getResult();
  if (ff) {
    if (to.isInteger(1))
      return arith::CmpFOp::create(bb, l, arith::CmpFPredicate::UNE, v,
                                   scalar(bb, l, from, 0));
    if (toUnsigned)
      return arith::FPToUIOp::create(bb, l, to, v);
    return arith::FPToSIOp::create(bb, l, to, v);
  }
  if (ft)
    return from.isInteger(1) || fromUnsigned
               ? arith::UIToFPOp::create(bb, l, to, v).getResult()
               : arith::SIToFPOp::create(bb, l, to, v).getResult();
  unsigned wf = from.getIntOrFloatBitWidth(), wt = to.getIntOrFloatBitWidth();
  if (to.isInteger(1))
    return arith::CmpIOp::create(bb, l, arith::CmpIPredicate::ne, v,
                                 scalar(bb, l, from, 0));
  if (from.isInteger(1) || (fromUnsigned && wf < wt))
    return arith::ExtUIOp::create(bb, l, to, v);
  if (wf < wt)
    return arith::ExtSIOp::create(bb, l, to, v);
  return arith::TruncIOp::create(bb, l, to, v);
}

FailureOr<int64_t> Importer::axis(int64_t a, int64_t rank) {
  // A rank-0 tensor has no axis: axis 0 of a scalar would index past the
  // end of its (empty) shape in every converter that asks for its size.
  if (a < -rank || a >= rank) {
    error() << "axis " << a << " is out of range for rank " << rank;
    return failure();
  }
  return a < 0 ? a + rank : a;
}

FailureOr<Value> Importer::elementwise(ArrayRef<Value> ins, Type outEt,
                                       BodyFn body,
                                       ArrayRef<OpFoldResult> shapeOverride) {
  int64_t rank = shapeOverride.size();
  for (Value v : ins)
    rank = std::max(rank, cast<RankedTensorType>(v.getType()).getRank());
  // Output sizes: a static size > 1 wins, else a dynamic one, else 1.
  SmallVector<int64_t> shape(rank, 1);
  auto consider = [&](int64_t d, int64_t s) {
    if (s == 1)
      return success();
    if (shape[d] == 1 || ShapedType::isDynamic(shape[d])) {
      if (shape[d] == 1 || !ShapedType::isDynamic(s))
        shape[d] = s;
      return success();
    }
    if (!ShapedType::isDynamic(s) && s != shape[d]) {
      error() << "operand shapes are not broadcast-compatible in dim " << d
              << " (" << shape[d] << " vs " << s << ")";
      return failure();
    }
    return success();
  };
  for (Value v : ins) {
    auto t = cast<RankedTensorType>(v.getType());
    for (int64_t i = 0; i < t.getRank(); ++i)
      if (failed(consider(rank - t.getRank() + i, t.getDimSize(i))))
        return failure();
  }
  int64_t off = rank - shapeOverride.size();
  for (auto [i, s] : llvm::enumerate(shapeOverride))
    if (failed(consider(off + i,
                        getConstantIntValue(s).value_or(ShapedType::kDynamic))))
      return failure();
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < rank; ++d) {
    if (!ShapedType::isDynamic(shape[d])) {
      sizes.push_back(b.getIndexAttr(shape[d]));
      continue;
    }
    OpFoldResult src;
    for (Value in : ins) {
      auto t = cast<RankedTensorType>(in.getType());
      int64_t id = d - (rank - t.getRank());
      if (id >= 0 && t.isDynamicDim(id)) {
        src = dim(in, id);
        break;
      }
    }
    if (!src && d >= off)
      src = shapeOverride[d - off];
    sizes.push_back(src);
  }
  SmallVector<AffineMap> maps;
  for (Value v : ins) {
    auto t = cast<RankedTensorType>(v.getType());
    SmallVector<AffineExpr> exprs;
    for (int64_t i = 0; i < t.getRank(); ++i) {
      int64_t d = rank - t.getRank() + i;
      bool bcast = t.getDimSize(i) == 1 &&
                   getConstantIntValue(sizes[d]) != std::optional<int64_t>(1);
      exprs.push_back(bcast ? getAffineConstantExpr(0, ctx)
                            : getAffineDimExpr(d, ctx));
    }
    maps.push_back(AffineMap::get(rank, 0, exprs, ctx));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));
  Value init = empty(sizes, outEt);
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto op = linalg::GenericOp::create(
      b, loc, init.getType(), ins, init, maps, iters,
      [&](OpBuilder &bb, Location l, ValueRange args) {
        Value r = body(bb, l, args.drop_back());
        linalg::YieldOp::create(bb, l, r);
      });
  return op.getResult(0);
}

Value Importer::reduce(Value x, ArrayRef<int64_t> axes, bool keepDims,
                       double init, BodyFn combine) {
  auto t = cast<RankedTensorType>(x.getType());
  int64_t rank = t.getRank();
  SmallVector<OpFoldResult> outSizes;
  SmallVector<AffineExpr> outExprs;
  SmallVector<utils::IteratorType> iters;
  for (int64_t d = 0; d < rank; ++d) {
    bool red = llvm::is_contained(axes, d);
    iters.push_back(red ? utils::IteratorType::reduction
                        : utils::IteratorType::parallel);
    if (!red) {
      outSizes.push_back(dim(x, d));
      outExprs.push_back(getAffineDimExpr(d, ctx));
    } else if (keepDims) {
      outSizes.push_back(b.getIndexAttr(1));
      outExprs.push_back(getAffineConstantExpr(0, ctx));
    }
  }
  Value acc = filled(outSizes, t.getElementType(), init);
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx),
                                 AffineMap::get(rank, 0, outExprs, ctx)};
  auto op = linalg::GenericOp::create(
      b, loc, acc.getType(), x, acc, maps, iters,
      [&](OpBuilder &bb, Location l, ValueRange args) {
        linalg::YieldOp::create(bb, l, combine(bb, l, args));
      });
  return op.getResult(0);
}

Value Importer::reshape(Value x, ArrayRef<OpFoldResult> sizes) {
  auto src = cast<RankedTensorType>(x.getType());
  RankedTensorType dst = tensorType(sizes, src.getElementType());
  if (src == dst && src.hasStaticShape())
    return x;
  if (dst.getRank() < src.getRank()) {
    if (auto re =
            getReassociationIndicesForCollapse(src.getShape(), dst.getShape()))
      return tensor::CollapseShapeOp::create(b, loc, dst, x, *re);
  } else if (dst.getRank() > src.getRank()) {
    if (auto re =
            getReassociationIndicesForCollapse(dst.getShape(), src.getShape()))
      return tensor::ExpandShapeOp::create(b, loc, dst, x, *re, sizes);
  }
  // General case: through a 1-D (or 0-D) tensor.
  Value flat = x;
  if (src.getRank() != 1) {
    int64_t n =
        src.hasStaticShape() ? src.getNumElements() : ShapedType::kDynamic;
    SmallVector<ReassociationIndices> re;
    if (src.getRank() > 0) {
      re.emplace_back();
      for (int64_t i = 0; i < src.getRank(); ++i)
        re[0].push_back(i);
      flat = tensor::CollapseShapeOp::create(
          b, loc, RankedTensorType::get({n}, src.getElementType()), x, re);
    } else {
      flat = tensor::ExpandShapeOp::create(
          b, loc, RankedTensorType::get({1}, src.getElementType()), x, re,
          ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
    }
  }
  if (dst.getRank() == 1) {
    if (flat.getType() == dst)
      return flat;
    return tensor::CastOp::create(b, loc, dst, flat);
  }
  SmallVector<ReassociationIndices> re;
  if (dst.getRank() > 0) {
    re.emplace_back();
    for (int64_t i = 0; i < dst.getRank(); ++i)
      re[0].push_back(i);
    if (dst.getNumDynamicDims() == 0 &&
        cast<RankedTensorType>(flat.getType()).isDynamicDim(0))
      flat = tensor::CastOp::create(
          b, loc,
          RankedTensorType::get({dst.getNumElements()}, src.getElementType()),
          flat);
    return tensor::ExpandShapeOp::create(b, loc, dst, flat, re, sizes);
  }
  return tensor::CollapseShapeOp::create(b, loc, dst, flat, re);
}

void Importer::refineSizes(StringRef valueName,
                           SmallVectorImpl<OpFoldResult> &sizes) {
  auto it = inferred.find(valueName);
  if (it == inferred.end() || it->second.getRank() != int64_t(sizes.size()))
    return;
  for (auto [i, s] : llvm::enumerate(sizes))
    if (!getConstantIntValue(s) && !it->second.isDynamicDim(i))
      s = b.getIndexAttr(it->second.getDimSize(i));
}

FailureOr<const OpRule *> Importer::selectRule(const onnx::NodeProto &n) {
  node = &n;
  StringRef name = n.name().empty()
                       ? (n.output_size() ? StringRef(n.output(0)) : "")
                       : StringRef(n.name());
  loc = NameLoc::get(b.getStringAttr(name), fileLoc());
  if (!n.domain().empty() && n.domain() != "ai.onnx") {
    error() << "operator domain '" << n.domain() << "' is not supported";
    return failure();
  }
  // Every converter and fold writes output 0; ONNX gives each supported op
  // at least one required output.
  if (n.output_size() == 0 || n.output(0).empty()) {
    error() << "the node has no output (its first output name is missing)";
    return failure();
  }
  if (const OpRule *rule = ops.lookup(n.op_type(), opset))
    return rule;
  // Registered only from a later opset: the op did not exist yet (or the
  // importer has no handling for its older form).
  if (std::optional<int64_t> first = ops.firstVersion(n.op_type()))
    error() << n.op_type() << " needs opset " << *first << " or later";
  else
    error() << "unsupported operator " << n.op_type();
  return failure();
}

LogicalResult Importer::checkSupported(const onnx::NodeProto &n) {
  return failure(failed(selectRule(n)));
}

LogicalResult Importer::convertNode(const onnx::NodeProto &n) {
  FailureOr<const OpRule *> rule = selectRule(n);
  if (failed(rule))
    return failure();
  // Shape subgraphs fold on the known-integer table and emit no tensors.
  if ((*rule)->fold && (*rule)->fold(*this, n))
    return success();
  if (failed((*rule)->convert(*this, n)))
    return failure();
  for (const std::string &out : n.output())
    if (!out.empty() && !values.count(out) && !known.count(out)) {
      error() << "output '" << out << "' is not supported";
      return failure();
    }
  // Unsigned outputs: casts say so; other ops pass their inputs'
  // signedness on to integer outputs (not Shape/Size, whose i64 is signed).
  bool uns = false;
  StringRef op = n.op_type();
  if (op == "Cast") {
    uns = isUnsignedType(attrInt("to", 0));
  } else if (op == "CastLike") {
    uns = inputUnsigned(1);
  } else if (op == "Constant") {
    const onnx::AttributeProto *a = attr("value");
    uns = a && a->has_t() && isUnsignedType(a->t().data_type());
  } else if (op != "Shape" && op != "Size") {
    for (int i = 0; i < n.input_size(); ++i)
      uns |= inputUnsigned(i);
  }
  if (uns)
    for (const std::string &out : n.output()) {
      Value v = values.lookup(out);
      if (!v)
        continue;
      Type et = cast<ShapedType>(v.getType()).getElementType();
      if (et.isInteger() && !et.isInteger(1))
        unsignedValues.insert(out);
    }
  return success();
}
