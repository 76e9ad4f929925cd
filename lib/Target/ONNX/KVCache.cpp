//===- KVCache.cpp - ONNX with-past decoders as in-place KV-cache entries -===//

#include "KVCache.h"

#include "Folding.h"

#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace onebit::onnx_import;

namespace {

/// The element type and dims (-1 where not a fixed size) of a graph value,
/// or false when it is not a tensor with a known rank.
bool tensorInfo(const onnx::ValueInfoProto &vi, int &elemType,
                SmallVectorImpl<int64_t> &dims) {
  if (!vi.type().has_tensor_type() || !vi.type().tensor_type().has_shape())
    return false;
  elemType = vi.type().tensor_type().elem_type();
  for (const auto &d : vi.type().tensor_type().shape().dim())
    dims.push_back(d.has_dim_value() && d.dim_value() >= 0 ? d.dim_value()
                                                           : -1);
  return true;
}

std::string describeDims(ArrayRef<int64_t> dims) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(dims))
    s += (i ? ", " : "") + (d < 0 ? std::string("?") : std::to_string(d));
  return s + "]";
}

/// Whether `n` is Concat(past, new) on axis 2 of a rank-4 tensor.
bool isPastConcat(const onnx::NodeProto &n, const std::string &past) {
  if (n.op_type() != "Concat" || !n.domain().empty() || n.input_size() != 2 ||
      n.input(0) != past || n.input(1) == past || n.output_size() != 1 ||
      n.output(0).empty())
    return false;
  for (const onnx::AttributeProto &a : n.attribute())
    if (a.name() == "axis")
      return a.i() == 2 || a.i() == -2;
  return false;
}

} // namespace

FailureOr<KVCachePlan>
onebit::onnx_import::findKVCache(const onnx::GraphProto &graph,
                                 const llvm::StringSet<> &initNames,
                                 std::string &why) {
  llvm::StringMap<SmallVector<const onnx::NodeProto *>> users;
  for (const onnx::NodeProto &n : graph.node())
    for (const std::string &in : n.input())
      if (!in.empty())
        users[in].push_back(&n);
  llvm::StringSet<> outputs;
  for (const auto &out : graph.output())
    outputs.insert(out.name());

  KVCachePlan plan;
  SmallVector<std::string> tokenInputs;
  llvm::StringSet<> presents;
  for (const onnx::ValueInfoProto &in : graph.input()) {
    if (initNames.contains(in.name()))
      continue;
    const std::string &name = in.name();
    int et = 0;
    SmallVector<int64_t> dims;
    if (!tensorInfo(in, et, dims)) {
      why = "graph input '" + name + "' is not a tensor of known rank";
      return failure();
    }
    if (dims.size() == 2 &&
        (et == onnx::TensorProto::INT64 || et == onnx::TensorProto::INT32)) {
      // @decode runs one token and @prefill any number: the graph's shapes
      // must not fix the sequence length (nor, for the mask, past + seq).
      if (dims[1] >= 0) {
        why = "the integer input '" + name + "' " + describeDims(dims) +
              " has a fixed sequence length; export it with a dynamic "
              "sequence axis";
        return failure();
      }
      // HF's names for what the entries make: a mask of ones over the
      // past and new positions, and the new positions themselves.
      if (name == "attention_mask" && plan.attentionMask.empty())
        plan.attentionMask = name;
      else if (name == "position_ids" && plan.positionIds.empty())
        plan.positionIds = name;
      else
        tokenInputs.push_back(name);
      continue;
    }
    if (dims.size() != 4) {
      why = "graph input '" + name + "' " + describeDims(dims) +
            " is neither the token ids [batch, seq] nor past keys or values "
            "[batch, heads, past, head_dim]";
      return failure();
    }
    if (et != onnx::TensorProto::FLOAT) {
      why = "past input '" + name + "' is not f32 (ONNX type " +
            std::to_string(et) + ")";
      return failure();
    }
    const onnx::NodeProto *concat = nullptr;
    for (const onnx::NodeProto *u : users.lookup(name)) {
      if (u->op_type() == "Shape" && u->domain().empty())
        continue;
      if (!concat && isPastConcat(*u, name)) {
        concat = u;
        continue;
      }
      why = "past input '" + name + "' is read by node '" + u->name() + "' (" +
            u->op_type() +
            "); only Shape and one Concat(past, new, axis=2) may read it";
      return failure();
    }
    if (!concat) {
      why = "graph input '" + name + "' " + describeDims(dims) +
            " is not concatenated with new values "
            "(Concat(past, new, axis=2))";
      return failure();
    }
    if (!outputs.contains(concat->output(0))) {
      why = "Concat '" + concat->name() + "' of past input '" + name +
            "' does not return its result (the present value) as a graph "
            "output";
      return failure();
    }
    if (dims[1] <= 0 || dims[3] <= 0) {
      why = "past input '" + name + "' " + describeDims(dims) +
            " needs fixed heads and head_dim (dims 1 and 3)";
      return failure();
    }
    if (dims[2] >= 0) {
      why = "past input '" + name + "' " + describeDims(dims) +
            " has a fixed past length; export it with a dynamic past axis";
      return failure();
    }
    if (plan.past.empty()) {
      plan.kvHeads = dims[1];
      plan.headDim = dims[3];
    } else if (dims[1] != plan.kvHeads || dims[3] != plan.headDim) {
      why = "past input '" + name + "' " + describeDims(dims) +
            " differs in heads or head_dim from '" + plan.past.front().name +
            "'; the caches hold one shape";
      return failure();
    }
    size_t i = plan.past.size();
    PastInput p;
    p.name = name;
    p.concat = concat;
    p.cache = int(i % 2);
    p.layer = int64_t(i / 2);
    plan.pastOfConcat[concat] = i;
    plan.past.push_back(std::move(p));
    presents.insert(concat->output(0));
  }
  if (plan.past.empty()) {
    why = "it takes no past keys and values (rank-4 f32 inputs that a "
          "Concat(past, new, axis=2) extends into present values it returns)";
    return failure();
  }
  if (plan.past.size() % 2) {
    why = "it has " + std::to_string(plan.past.size()) +
          " past inputs; keys and values come in pairs";
    return failure();
  }
  plan.layers = int64_t(plan.past.size() / 2);
  if (tokenInputs.size() != 1) {
    why = tokenInputs.empty()
              ? "it has no token ids input (integers [batch, seq])"
              : "it has several integer inputs [batch, seq] ('" +
                    tokenInputs[0] + "', '" + tokenInputs[1] +
                    "'); besides the token ids only attention_mask and "
                    "position_ids are supported";
    return failure();
  }
  plan.tokens = tokenInputs.front();
  SmallVector<std::string> others;
  for (const auto &out : graph.output())
    if (!presents.contains(out.name()))
      others.push_back(out.name());
  if (others.size() != 1) {
    why = "it returns " + std::to_string(others.size()) +
          " values besides the present keys and values; one (the logits "
          "[batch, seq, vocab]) is expected";
    return failure();
  }
  plan.logits = others.front();
  return plan;
}

Value onebit::onnx_import::attentionMaskOfOnes(Importer &im, Type et, Value ids,
                                               const CacheEntryState &st) {
  OpFoldResult total = im.dim(ids, 1);
  if (st.pos)
    total = arithOFR(im, IOp::Add, st.pos, total);
  return im.filled({im.dim(ids, 0), total}, et, 1.0);
}

Value onebit::onnx_import::positionIdsFrom(Importer &im, Type et, Value ids,
                                           const CacheEntryState &st) {
  MLIRContext *ctx = im.ctx;
  Value init = im.empty(im.dims(ids), et);
  Value pos = st.pos;
  auto op = linalg::GenericOp::create(
      im.b, im.loc, init.getType(), ValueRange{}, init,
      ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(2, ctx)},
      SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
      [&](OpBuilder &bb, Location l, ValueRange) {
        Value s = linalg::IndexOp::create(bb, l, 1);
        if (pos)
          s = arith::AddIOp::create(bb, l, s, pos);
        linalg::YieldOp::create(
            bb, l, arith::IndexCastOp::create(bb, l, et, s).getResult());
      });
  return op.getResult(0);
}

Value onebit::onnx_import::pastPlaceholder(Importer &im,
                                           const KVCachePlan &plan, Value ids,
                                           const CacheEntryState &st) {
  OpFoldResult past =
      st.pos ? OpFoldResult(st.pos) : OpFoldResult(im.b.getIndexAttr(0));
  return im.empty({im.dim(ids, 0), im.b.getIndexAttr(plan.kvHeads), past,
                   im.b.getIndexAttr(plan.headDim)},
                  im.b.getF32Type());
}

LogicalResult onebit::onnx_import::convertCacheConcat(Importer &im,
                                                      const KVCachePlan &plan,
                                                      const PastInput &p,
                                                      CacheEntryState &st) {
  FailureOr<Value> in = im.input(1);
  if (failed(in))
    return failure();
  Value nv = *in;
  auto t = cast<RankedTensorType>(nv.getType());
  auto f32 = im.b.getF32Type();
  auto fits = [](int64_t d, int64_t want) {
    return ShapedType::isDynamic(d) || d == want;
  };
  if (t.getRank() != 4 || t.getElementType() != f32 ||
      !fits(t.getDimSize(1), plan.kvHeads) ||
      !fits(t.getDimSize(3), plan.headDim))
    return im.error() << "the new values " << t << " appended to past input '"
                      << p.name << "' do not fit its [batch, " << plan.kvHeads
                      << ", past, " << plan.headDim << "] of f32";
  auto want = RankedTensorType::get(
      {t.getDimSize(0), plan.kvHeads, t.getDimSize(2), plan.headDim}, f32);
  if (t != want)
    nv = tensor::CastOp::create(im.b, im.loc, want, nv);
  // The full forward: the past is empty, so the present is the new values.
  if (!st.pos) {
    im.setOutput(0, nv);
    return success();
  }
  Value &cache = st.caches[p.cache];
  int64_t cacheBatch = cast<RankedTensorType>(cache.getType()).getDimSize(1);
  if (!ShapedType::isDynamic(cacheBatch) && !fits(t.getDimSize(0), cacheBatch))
    return im.error() << "the new values " << t << " appended to past input '"
                      << p.name << "' have another batch size than the "
                      << "token ids (" << cacheBatch << ")";
  OpFoldResult batch = im.dim(nv, 0), seq = im.dim(nv, 2);
  OpFoldResult heads = im.b.getIndexAttr(plan.kvHeads),
               hd = im.b.getIndexAttr(plan.headDim), one = im.b.getIndexAttr(1),
               zero = im.b.getIndexAttr(0), layer = im.b.getIndexAttr(p.layer);
  SmallVector<int64_t> perm{0, 2, 1, 3};
  // The cache holds a layer's positions as rows [kv_heads, head_dim], the
  // GGUF importer's layout: [B, heads, T, hd] -> [B, T, heads, hd].
  Value rows =
      linalg::TransposeOp::create(im.b, im.loc, nv,
                                  im.empty({batch, seq, heads, hd}, f32), perm)
          ->getResult(0);
  SmallVector<ReassociationIndices> re{{0, 1}, {2}, {3}, {4}};
  SmallVector<OpFoldResult> writeSizes{one, batch, seq, heads, hd};
  SmallVector<OpFoldResult> strides(5, one);
  Value rows5 = tensor::ExpandShapeOp::create(
      im.b, im.loc, Importer::tensorType(writeSizes, f32), rows, re,
      writeSizes);
  cache = tensor::InsertSliceOp::create(
      im.b, im.loc, rows5, cache,
      SmallVector<OpFoldResult>{layer, zero, st.pos, zero, zero}, writeSizes,
      strides);
  // The present value: slots [0, pos + T) of the layer, read where they lie.
  OpFoldResult total = arithOFR(im, IOp::Add, st.pos, seq);
  SmallVector<OpFoldResult> readSizes{one, batch, total, heads, hd};
  Value read5 = tensor::ExtractSliceOp::create(
      im.b, im.loc, Importer::tensorType(readSizes, f32), cache,
      SmallVector<OpFoldResult>{layer, zero, zero, zero, zero}, readSizes,
      strides);
  Value read = tensor::CollapseShapeOp::create(im.b, im.loc, read5, re);
  // Back to the export's [B, heads, pos + T, hd]: a copy of the slots in
  // use, O(context) per layer and step as the export's own Transpose of the
  // keys or Expand of grouped heads that consume it; the cache itself is
  // neither copied nor concatenated.
  Value present =
      linalg::TransposeOp::create(
          im.b, im.loc, read, im.empty({batch, heads, total, hd}, f32), perm)
          ->getResult(0);
  im.setOutput(0, present);
  return success();
}
