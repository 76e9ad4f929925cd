//===- ImportGGUF.cpp - GGUF llama models to linalg-on-tensors ------------===//
//
// The llama architecture as llama.cpp defines it for GGUF: token embedding,
// N blocks of (RMSNorm, attention with grouped-query heads and rotary
// embeddings on adjacent pairs, residual, RMSNorm, SiLU-gated MLP, residual),
// final RMSNorm and the output projection (tied to the embedding when the
// file has no `output.weight`). Weights are dequantized to f32 once, into
// dense_resource blobs named like the Hugging Face checkpoint
// (`model.layers.3.self_attn.q_proj.weight`); ops carry torch.onnx-style scope
// locations (`/model/layers.3/self_attn/q_proj/MatMul`) so quantize, the
// hidden-state taps and checkpoints find them as in an ONNX import.
//
//===----------------------------------------------------------------------===//

#include "onebit/Target/GGUF/ImportGGUF.h"
#include "onebit/Target/GGUF/GGUFFile.h"
#include "onebit/Tokenizer/TokenizerLoader.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <limits>

using namespace mlir;

namespace onebit {
namespace {

struct LlamaConfig {
  int64_t layers = 0, dim = 0, ffn = 0, heads = 0, kvHeads = 0, headDim = 0,
          vocab = 0, context = 0;
  double ropeBase = 10000.0, eps = 1e-5;
};

using BodyFn = function_ref<void(OpBuilder &, Location, ValueRange)>;

class LlamaBuilder {
public:
  LlamaBuilder(MLIRContext *ctx, const gguf::GGUFFile &file)
      : ctx(ctx), file(file), b(ctx), f32(Float32Type::get(ctx)) {}

  LogicalResult readConfig(Location errLoc);
  OwningOpRef<ModuleOp> build(const GGUFImportOptions &opts, Location errLoc);

  /// The entries a module holds: the full forward (ids -> logits at every
  /// position), and the KV-cache pair that runs B sequences of T tokens from
  /// position `pos`, writing their keys and values into the caches in place
  /// and returning the last position's logits (docs/design.md).
  enum class EntryKind { Full, Prefill, Decode };

private:
  // --- small helpers ------------------------------------------------------
  Location scope(const Twine &name) {
    return NameLoc::get(StringAttr::get(ctx, name));
  }
  Value cF32(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(float(v)));
  }
  Value cIndex(int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v);
  }
  /// A tensor of `elt` (default f32) with the given sizes (static ints or
  /// index Values).
  RankedTensorType typeOf(ArrayRef<OpFoldResult> sizes, Type elt = {}) {
    SmallVector<int64_t> shape;
    for (OpFoldResult s : sizes) {
      if (auto a = dyn_cast<Attribute>(s))
        shape.push_back(cast<IntegerAttr>(a).getInt());
      else
        shape.push_back(ShapedType::kDynamic);
    }
    return RankedTensorType::get(shape, elt ? elt : f32);
  }
  /// `x` (of `sizes`) converted elementwise to `to`: arith.truncf or
  /// arith.extf.
  Value convert(Value x, ArrayRef<OpFoldResult> sizes, Type to);
  Value filled(ArrayRef<OpFoldResult> sizes, double v) {
    Value e = tensor::EmptyOp::create(b, loc, sizes, f32);
    return linalg::FillOp::create(b, loc, cF32(v), e).getResult(0);
  }
  Value generic(ArrayRef<OpFoldResult> outSizes, Value init, ValueRange ins,
                ArrayRef<AffineMap> maps,
                ArrayRef<utils::IteratorType> iters, BodyFn body) {
    if (!init)
      init = tensor::EmptyOp::create(b, loc, outSizes, f32);
    auto op = linalg::GenericOp::create(b, loc, TypeRange{typeOf(outSizes)},
                                        ins, ValueRange{init}, maps, iters,
                                        body);
    return op.getResult(0);
  }
  AffineMap map(unsigned dims, ArrayRef<AffineExpr> results) {
    return AffineMap::get(dims, 0, results, ctx);
  }
  OpFoldResult st(int64_t v) { return b.getIndexAttr(v); }

  /// The weight `ggufName` as an f32 value. A linear layer's weight
  /// (`linearUse`) of GGML type F16 is, with GGUFImportOptions::f16Weights,
  /// an f16 constant widened by an extf generic.
  FailureOr<Value> weight(StringRef ggufName, StringRef hfName,
                          ArrayRef<int64_t> shape, bool linearUse = false);
  LogicalResult buildEntry(ModuleOp module, EntryKind kind, StringRef name,
                           const GGUFImportOptions &opts, int64_t numLayers);
  /// Writes this layer's k or v [B, S, KVH*hd] into `cache` at `posIdx` and
  /// returns the cache's first kvLen positions of the layer, [B, P, KVH, hd].
  Value cacheWriteRead(Value &cache, Value x);
  LogicalResult buildLayer(int64_t i, Value &x);
  void setEntryAttributes(func::FuncOp func, bool cached);

  // --- layers ---------------------------------------------------------------
  Value linear(Value x, Value w, int64_t n, const Twine &where);
  /// sum-of-products over the loops `maps.back()` does not index.
  Value contraction(ArrayRef<OpFoldResult> outSizes, ValueRange ins,
                    ArrayRef<AffineMap> maps);
  Value rmsNorm(Value x, Value w, int64_t width);
  Value rope(Value x, int64_t heads);
  Value attention(Value q, Value k, Value v);
  Value add(Value a, Value c, int64_t width);
  Value siluMul(Value gate, Value up);
  /// Elementwise `fn(a, c)` over [B, S, width].
  Value binary(Value a, Value c, int64_t width,
               function_ref<Value(OpBuilder &, Location, Value, Value)> fn);

  MLIRContext *ctx;
  const gguf::GGUFFile &file;
  OpBuilder b;
  Type f32;
  Location loc = UnknownLoc::get(ctx);
  LlamaConfig cfg;
  bool f16Weights = false;
  OpFoldResult batch, seq; // B, S: static attributes or index values
  Value invFreq;            // [headDim / 2] rotary inverse frequencies
  // KV-cache entries: the first position of the tokens (index), the number
  // of cached positions attention reads (pos + S), the caches
  // [L, B, C, KVH, hd] as updated so far, and the layer being built. Null
  // posIdx: the full forward (positions from 0, keys = the sequence).
  Value posIdx;
  OpFoldResult kvLen;
  Value kCache, vCache;
  Type cacheElt; // the caches' element type
  int64_t layer = 0;
  std::string error;
  llvm::StringMap<Value> weights;     // this function's weight constants
  llvm::StringMap<Attribute> weightAttrs; // shared by every entry
};

LogicalResult LlamaBuilder::readConfig(Location errLoc) {
  const gguf::MetaValue *arch = file.find("general.architecture");
  if (!arch || arch->kind != gguf::MetaValue::String)
    return emitError(errLoc) << file.path()
                             << ": general.architecture is missing";
  if (arch->s != "llama")
    return emitError(errLoc)
           << file.path() << ": architecture '" << arch->s
           << "' is not supported (supported: llama)";
  auto need = [&](const char *key, int64_t &out) -> LogicalResult {
    const gguf::MetaValue *v = file.find(std::string("llama.") + key);
    if (!v || !v->isInteger() || v->asInt() <= 0)
      return emitError(errLoc) << file.path() << ": llama." << key
                               << " is missing or not a positive integer";
    out = v->asInt();
    return success();
  };
  if (failed(need("block_count", cfg.layers)) ||
      failed(need("embedding_length", cfg.dim)) ||
      failed(need("feed_forward_length", cfg.ffn)) ||
      failed(need("attention.head_count", cfg.heads)))
    return failure();
  cfg.kvHeads = cfg.heads;
  if (const gguf::MetaValue *v = file.find("llama.attention.head_count_kv"))
    cfg.kvHeads = v->asInt();
  if (cfg.kvHeads <= 0 || cfg.heads % cfg.kvHeads || cfg.dim % cfg.heads)
    return emitError(errLoc)
           << file.path() << ": head counts " << cfg.heads << "/"
           << cfg.kvHeads << " do not divide the width " << cfg.dim;
  cfg.headDim = cfg.dim / cfg.heads;
  if (cfg.headDim % 2)
    return emitError(errLoc) << file.path() << ": head size " << cfg.headDim
                             << " is odd; rotary embeddings need pairs";
  if (const gguf::MetaValue *v = file.find("llama.rope.dimension_count"))
    if (v->asInt() != cfg.headDim)
      return emitError(errLoc)
             << file.path() << ": partial rotary embeddings (rope dimension "
             << v->asInt() << " of head size " << cfg.headDim
             << ") are not supported";
  if (const gguf::MetaValue *v = file.find("llama.rope.scaling.type"))
    if (v->s != "none")
      return emitError(errLoc) << file.path() << ": rope scaling '" << v->s
                               << "' is not supported";
  if (const gguf::MetaValue *v = file.find("llama.rope.freq_base"))
    cfg.ropeBase = v->asDouble();
  if (const gguf::MetaValue *v = file.find("llama.context_length"))
    cfg.context = v->asInt();
  if (const gguf::MetaValue *v =
          file.find("llama.attention.layer_norm_rms_epsilon"))
    cfg.eps = v->asDouble();
  // A NaN or negative value here would turn every output into NaN silently.
  if (!std::isfinite(cfg.ropeBase) || cfg.ropeBase <= 0)
    return emitError(errLoc) << file.path() << ": llama.rope.freq_base "
                             << cfg.ropeBase << " is not a positive number";
  if (!std::isfinite(cfg.eps) || cfg.eps < 0)
    return emitError(errLoc)
           << file.path() << ": llama.attention.layer_norm_rms_epsilon "
           << cfg.eps << " is not a non-negative number";
  const gguf::TensorInfo *emb = file.findTensor("token_embd.weight");
  if (!emb || emb->dims.size() != 2 || emb->dims[0] != cfg.dim)
    return emitError(errLoc) << file.path()
                             << ": token_embd.weight is missing or is not "
                             << cfg.dim << " x vocab";
  cfg.vocab = emb->dims[1];
  return success();
}

FailureOr<Value> LlamaBuilder::weight(StringRef ggufName, StringRef hfName,
                                      ArrayRef<int64_t> shape, bool linearUse) {
  if (Value v = weights.lookup(ggufName))
    return v;
  SmallVector<OpFoldResult> sizes;
  for (int64_t d : shape)
    sizes.push_back(st(d));
  // An f16 constant is widened where it is read; the extf generic is what
  // --convert-matmul-to-runtime folds into the f16-B kernel.
  auto widened = [&](Value c) {
    if (cast<RankedTensorType>(c.getType()).getElementType().isF32())
      return c;
    Location saved = loc;
    loc = scope(hfName);
    Value w = convert(c, sizes, f32);
    loc = saved;
    return w;
  };
  // Another entry of the module already decoded it: the same attribute, so
  // the entries share one copy of the weights.
  if (Attribute a = weightAttrs.lookup(ggufName)) {
    Value v = widened(
        arith::ConstantOp::create(b, scope(hfName), cast<TypedAttr>(a)));
    weights[ggufName] = v;
    return v;
  }
  const gguf::TensorInfo *t = file.findTensor(ggufName.str());
  if (!t) {
    error = "tensor '" + ggufName.str() + "' is missing";
    return failure();
  }
  // GGML lists dimensions fastest first: [K, N] is the row-major N x K.
  SmallVector<int64_t> rowMajor(t->dims.rbegin(), t->dims.rend());
  if (ArrayRef<int64_t>(rowMajor) != shape) {
    std::string got, want;
    llvm::raw_string_ostream g(got), w(want);
    llvm::interleave(rowMajor, g, "x");
    llvm::interleave(shape, w, "x");
    error = "tensor '" + ggufName.str() + "' has shape " + got +
            " but the llama config needs " + want;
    return failure();
  }
  if (linearUse && f16Weights &&
      gguf::GGMLType(t->type) == gguf::GGMLType::F16 &&
      t->byteSize == uint64_t(t->numElements()) * 2) {
    // The file's f16 values, copied as they are (no f32 copy is made).
    auto blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
        ArrayRef<char>(reinterpret_cast<const char *>(t->data), t->byteSize),
        alignof(uint16_t));
    file.releasePages(*t);
    auto type = RankedTensorType::get(shape, b.getF16Type());
    auto attr = DenseResourceElementsAttr::get(type, hfName, std::move(blob));
    Value v = widened(arith::ConstantOp::create(b, scope(hfName), type, attr));
    weights[ggufName] = v;
    weightAttrs[ggufName] = attr;
    return v;
  }
  auto blob = HeapAsmResourceBlob::allocate(t->numElements() * sizeof(float),
                                            alignof(float));
  float *data = reinterpret_cast<float *>(blob.getMutableData().data());
  const gguf::TypeTraits *traits = gguf::getTypeTraits(t->type);
  if (!traits || !gguf::dequantize(gguf::GGMLType(t->type), t->data,
                                   t->numElements(), data)) {
    error = "tensor '" + ggufName.str() + "' has GGML type " +
            (traits ? traits->name : std::to_string(t->type)) +
            ", which onebit cannot dequantize";
    return failure();
  }
  // Copied: the file's pages of it are not needed any more.
  file.releasePages(*t);
  auto type = RankedTensorType::get(shape, f32);
  auto attr = DenseResourceElementsAttr::get(type, hfName, std::move(blob));
  Value v = arith::ConstantOp::create(b, scope(hfName), type, attr);
  weights[ggufName] = v;
  weightAttrs[ggufName] = attr;
  return v;
}

// y[b, s, n] = sum_k x[b, s, k] w[n, k]. Activations stay [B, S, *]: a
// flattened [B*S, *] form would need expand_shape groups with two dynamic
// sizes, which MLIR 22's expand-strided-metadata cannot lower.
Value LlamaBuilder::linear(Value x, Value w, int64_t n, const Twine &where) {
  AffineExpr bb, ss, nn, kk;
  bindDims(ctx, bb, ss, nn, kk);
  Location saved = loc;
  loc = scope(where);
  Value y = contraction({batch, seq, st(n)}, {x, w},
                        {map(4, {bb, ss, kk}), map(4, {nn, kk}),
                         map(4, {bb, ss, nn})});
  loc = saved;
  return y;
}

Value LlamaBuilder::contraction(ArrayRef<OpFoldResult> outSizes,
                                ValueRange ins, ArrayRef<AffineMap> maps) {
  // Every loop the output map does not use is a reduction.
  unsigned numLoops = maps.back().getNumDims();
  SmallVector<utils::IteratorType> iters(numLoops,
                                         utils::IteratorType::reduction);
  for (AffineExpr e : maps.back().getResults())
    iters[cast<AffineDimExpr>(e).getPosition()] =
        utils::IteratorType::parallel;
  return generic(outSizes, filled(outSizes, 0.0), ins, maps, iters,
                 [](OpBuilder &ob, Location l, ValueRange a) {
                   Value p = arith::MulFOp::create(ob, l, a[0], a[1]);
                   linalg::YieldOp::create(
                       ob, l, arith::AddFOp::create(ob, l, a[2], p)
                                  .getResult());
                 });
}

Value LlamaBuilder::rmsNorm(Value x, Value w, int64_t width) {
  AffineExpr bb, ss, d;
  bindDims(ctx, bb, ss, d);
  auto par = utils::IteratorType::parallel, red = utils::IteratorType::reduction;
  SmallVector<OpFoldResult> rows{batch, seq};
  Value sumSq = generic(rows, filled(rows, 0.0), {x},
                        {map(3, {bb, ss, d}), map(3, {bb, ss})},
                        {par, par, red},
                        [](OpBuilder &ob, Location l, ValueRange a) {
                          Value sq = arith::MulFOp::create(ob, l, a[0], a[0]);
                          linalg::YieldOp::create(
                              ob, l, arith::AddFOp::create(ob, l, a[1], sq)
                                         .getResult());
                        });
  Value invN = cF32(1.0 / double(width)), eps = cF32(cfg.eps);
  return generic({batch, seq, st(width)}, {}, {x, sumSq, w},
                 {map(3, {bb, ss, d}), map(3, {bb, ss}), map(3, {d}),
                  map(3, {bb, ss, d})},
                 {par, par, par}, [&](OpBuilder &ob, Location l, ValueRange a) {
                   Value ms = arith::MulFOp::create(ob, l, a[1], invN);
                   Value r = math::RsqrtOp::create(
                       ob, l, arith::AddFOp::create(ob, l, ms, eps));
                   Value y = arith::MulFOp::create(
                       ob, l, arith::MulFOp::create(ob, l, a[0], r), a[2]);
                   linalg::YieldOp::create(ob, l, y);
                 });
}

// Rotary embedding on adjacent pairs (llama.cpp's "normal" rope; GGUF
// converters permute the q/k weights into this layout). x is [B, S, heads*hd]
// and the position of a token is posIdx + its index s in the sequence.
Value LlamaBuilder::rope(Value x, int64_t heads) {
  int64_t half = heads * cfg.headDim / 2;
  // The pairs (x[2p], x[2p+1]) as two tensors [B, S, W/2], so the rotation
  // is a structured elementwise op (no payload reads its own input).
  SmallVector<OpFoldResult> pairSizes{batch, seq, st(half), st(2)};
  Value x4 = tensor::ExpandShapeOp::create(
                 b, loc, typeOf(pairSizes), x,
                 SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}},
                 pairSizes)
                 .getResult();
  // Not a rank-reducing slice: with a static batch of 1 the dropped unit
  // dim would be ambiguous; the explicit collapse names it.
  auto part = [&](int64_t e) {
    SmallVector<OpFoldResult> offsets{st(0), st(0), st(0), st(e)};
    SmallVector<OpFoldResult> sizes{batch, seq, st(half), st(1)};
    SmallVector<OpFoldResult> strides(4, st(1));
    Value slice = tensor::ExtractSliceOp::create(b, loc, typeOf(sizes), x4,
                                                 offsets, sizes, strides)
                      .getResult();
    return tensor::CollapseShapeOp::create(
               b, loc, slice,
               SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}})
        .getResult();
  };
  Value even = part(0), odd = part(1);
  AffineExpr bb, ss, pp, ee;
  bindDims(ctx, bb, ss, pp, ee);
  auto par = utils::IteratorType::parallel;
  Value halfHead = cIndex(cfg.headDim / 2), zero = cIndex(0);
  Value table = invFreq, offset = posIdx;
  Value y4 = generic(
      pairSizes, {}, {even, odd},
      {map(4, {bb, ss, pp}), map(4, {bb, ss, pp}), map(4, {bb, ss, pp, ee})},
      {par, par, par, par}, [&](OpBuilder &ob, Location l, ValueRange a) {
        Value pos = linalg::IndexOp::create(ob, l, 1);
        if (offset)
          pos = arith::AddIOp::create(ob, l, pos, offset);
        Value pi = linalg::IndexOp::create(ob, l, 2);
        Value ei = linalg::IndexOp::create(ob, l, 3);
        Value pair = arith::RemUIOp::create(ob, l, pi, halfHead);
        Value freq = tensor::ExtractOp::create(ob, l, table, ValueRange{pair});
        Value posF = arith::UIToFPOp::create(
            ob, l, ob.getF32Type(),
            arith::IndexCastUIOp::create(ob, l, ob.getI64Type(), pos));
        Value angle = arith::MulFOp::create(ob, l, posF, freq);
        Value c = math::CosOp::create(ob, l, angle);
        Value s = math::SinOp::create(ob, l, angle);
        // even: x0 cos - x1 sin; odd: x1 cos + x0 sin.
        Value ev = arith::SubFOp::create(
            ob, l, arith::MulFOp::create(ob, l, a[0], c),
            arith::MulFOp::create(ob, l, a[1], s));
        Value od = arith::AddFOp::create(
            ob, l, arith::MulFOp::create(ob, l, a[1], c),
            arith::MulFOp::create(ob, l, a[0], s));
        Value isOdd =
            arith::CmpIOp::create(ob, l, arith::CmpIPredicate::ne, ei, zero);
        linalg::YieldOp::create(
            ob, l, arith::SelectOp::create(ob, l, isOdd, od, ev).getResult());
      });
  return tensor::CollapseShapeOp::create(
             b, loc, y4, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}})
      .getResult();
}

Value LlamaBuilder::convert(Value x, ArrayRef<OpFoldResult> sizes, Type to) {
  auto from = cast<RankedTensorType>(x.getType()).getElementType();
  const bool narrow = to.getIntOrFloatBitWidth() < from.getIntOrFloatBitWidth();
  AffineMap id = AffineMap::getMultiDimIdentityMap(sizes.size(), ctx);
  SmallVector<utils::IteratorType> iters(sizes.size(),
                                         utils::IteratorType::parallel);
  Value init = tensor::EmptyOp::create(b, loc, sizes, to);
  return linalg::GenericOp::create(
             b, loc, TypeRange{typeOf(sizes, to)}, ValueRange{x},
             ValueRange{init}, ArrayRef<AffineMap>{id, id}, iters,
             [&](OpBuilder &ob, Location l, ValueRange args) {
               Value y =
                   narrow
                       ? arith::TruncFOp::create(ob, l, to, args[0]).getResult()
                       : arith::ExtFOp::create(ob, l, to, args[0]).getResult();
               linalg::YieldOp::create(ob, l, y);
             })
      .getResult(0);
}

Value LlamaBuilder::cacheWriteRead(Value &cache, Value x4) {
  int64_t kvh = cfg.kvHeads, hd = cfg.headDim;
  SmallVector<ReassociationIndices> re{{0, 1}, {2}, {3}, {4}};
  SmallVector<OpFoldResult> writeSizes{st(1), batch, seq, st(kvh), st(hd)};
  SmallVector<OpFoldResult> strides(5, st(1));
  Value x5 = tensor::ExpandShapeOp::create(b, loc, typeOf(writeSizes), x4, re,
                                           writeSizes)
                 .getResult();
  // An f16 cache stores the keys and values rounded; attention reads them
  // back through an extf that convert-matmul-to-runtime folds into the
  // GEMM (an f16 operand read in place), so no f32 copy of the cache is made.
  if (cacheElt != f32)
    x5 = convert(x5, writeSizes, cacheElt);
  // One slot per token of this layer, written in place: the cache is a
  // function argument that bufferizes to the caller's buffer.
  SmallVector<OpFoldResult> writeAt{st(layer), st(0), posIdx, st(0), st(0)};
  cache = tensor::InsertSliceOp::create(b, loc, x5, cache, writeAt, writeSizes,
                                        strides)
              .getResult();
  SmallVector<OpFoldResult> readSizes{st(1), batch, kvLen, st(kvh), st(hd)};
  SmallVector<OpFoldResult> readAt{st(layer), st(0), st(0), st(0), st(0)};
  Value r5 = tensor::ExtractSliceOp::create(b, loc, typeOf(readSizes, cacheElt),
                                            cache, readAt, readSizes, strides)
                 .getResult();
  Value r4 = tensor::CollapseShapeOp::create(b, loc, r5, re).getResult();
  if (cacheElt != f32)
    r4 = convert(r4, {batch, kvLen, st(kvh), st(hd)}, f32);
  return r4;
}

// Causal grouped-query attention. q: [B, S, H*hd], k, v: [B, S, KVH*hd].
// In a KV-cache entry, k and v go into the caches and the keys are the
// cache's first pos + S positions; query s sits at position pos + s.
Value LlamaBuilder::attention(Value q, Value k, Value v) {
  int64_t h = cfg.heads, kvh = cfg.kvHeads, hd = cfg.headDim,
          group = h / kvh;
  auto par = utils::IteratorType::parallel, red = utils::IteratorType::reduction;
  auto split = [&](Value x, int64_t nh) {
    SmallVector<ReassociationIndices> re{{0}, {1}, {2, 3}};
    SmallVector<OpFoldResult> out{batch, seq, st(nh), st(hd)};
    return tensor::ExpandShapeOp::create(b, loc, typeOf(out), x, re, out)
        .getResult();
  };
  // Query head h = kv * group + g reads key/value head kv: the query heads
  // are split into [kv, g] so every indexing map stays a projected
  // permutation (what reverse mode and tiling need).
  SmallVector<OpFoldResult> q5Sizes{batch, seq, st(kvh), st(group), st(hd)};
  Value q5 = tensor::ExpandShapeOp::create(
                 b, loc, typeOf(q5Sizes), q,
                 SmallVector<ReassociationIndices>{{0}, {1}, {2, 3, 4}},
                 q5Sizes)
                 .getResult();
  Value k4 = split(k, kvh), v4 = split(v, kvh);
  OpFoldResult keys = seq;
  if (posIdx) {
    k4 = cacheWriteRead(kCache, k4);
    v4 = cacheWriteRead(vCache, v4);
    keys = kvLen;
  }

  // scores[b, kv, g, s, s2] = sum_d q[b, s, kv, g, d] k[b, s2, kv, d]
  AffineExpr B, KV, G, S, S2, D;
  bindDims(ctx, B, KV, G, S, S2, D);
  SmallVector<OpFoldResult> sc5{batch, st(kvh), st(group), seq, keys};
  Value scores5 = contraction(
      sc5, {q5, k4},
      {map(6, {B, S, KV, G, D}), map(6, {B, S2, KV, D}),
       map(6, {B, KV, G, S, S2})});
  SmallVector<OpFoldResult> sc{batch, st(h), seq, keys};
  Value scores =
      tensor::CollapseShapeOp::create(
          b, loc, scores5,
          SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}, {4}})
          .getResult();

  // Masked, scaled softmax over s2 (future positions get probability 0).
  AffineExpr b4, h4, s4, t4;
  bindDims(ctx, b4, h4, s4, t4);
  Value scale = cF32(1.0 / std::sqrt(double(hd)));
  Value ninf = cF32(-std::numeric_limits<double>::infinity());
  Value offset = posIdx;
  auto masked = [&](OpBuilder &ob, Location l, Value score) {
    Value si = linalg::IndexOp::create(ob, l, 2);
    if (offset)
      si = arith::AddIOp::create(ob, l, si, offset);
    Value ti = linalg::IndexOp::create(ob, l, 3);
    Value future =
        arith::CmpIOp::create(ob, l, arith::CmpIPredicate::ugt, ti, si);
    Value scaled = arith::MulFOp::create(ob, l, score, scale);
    return arith::SelectOp::create(ob, l, future, ninf, scaled).getResult();
  };
  SmallVector<OpFoldResult> rowSizes{batch, st(h), seq};
  Value rowMax = generic(
      rowSizes, filled(rowSizes, -std::numeric_limits<double>::infinity()),
      {scores}, {map(4, {b4, h4, s4, t4}), map(4, {b4, h4, s4})},
      {par, par, par, red}, [&](OpBuilder &ob, Location l, ValueRange a) {
        linalg::YieldOp::create(
            ob, l,
            arith::MaximumFOp::create(ob, l, a[1], masked(ob, l, a[0]))
                .getResult());
      });
  Value expd = generic(
      sc, {}, {scores, rowMax},
      {map(4, {b4, h4, s4, t4}), map(4, {b4, h4, s4}),
       map(4, {b4, h4, s4, t4})},
      {par, par, par, par}, [&](OpBuilder &ob, Location l, ValueRange a) {
        Value d = arith::SubFOp::create(ob, l, masked(ob, l, a[0]), a[1]);
        linalg::YieldOp::create(ob, l, math::ExpOp::create(ob, l, d).getResult());
      });
  Value rowSum = generic(
      rowSizes, filled(rowSizes, 0.0), {expd},
      {map(4, {b4, h4, s4, t4}), map(4, {b4, h4, s4})}, {par, par, par, red},
      [](OpBuilder &ob, Location l, ValueRange a) {
        linalg::YieldOp::create(
            ob, l, arith::AddFOp::create(ob, l, a[1], a[0]).getResult());
      });
  Value probs = generic(
      sc, {}, {expd, rowSum},
      {map(4, {b4, h4, s4, t4}), map(4, {b4, h4, s4}),
       map(4, {b4, h4, s4, t4})},
      {par, par, par, par}, [](OpBuilder &ob, Location l, ValueRange a) {
        linalg::YieldOp::create(
            ob, l, arith::DivFOp::create(ob, l, a[0], a[1]).getResult());
      });

  // out[b, s, kv, g, d] = sum_s2 probs[b, kv, g, s, s2] v[b, s2, kv, d].
  // d is the innermost loop: v's and out's rows are contiguous in it, and
  // the probability (with the softmax division fused into it) is invariant
  // in it, so each step is a vector multiply-add over a row of v.
  Value probs5 = tensor::ExpandShapeOp::create(
                     b, loc, typeOf(sc5), probs,
                     SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}, {4}},
                     sc5)
                     .getResult();
  AffineExpr ob_, os, okv, og, od, os2;
  bindDims(ctx, ob_, os, okv, og, os2, od);
  Value out = contraction(
      q5Sizes, {probs5, v4},
      {map(6, {ob_, okv, og, os, os2}), map(6, {ob_, os2, okv, od}),
       map(6, {ob_, os, okv, og, od})});
  SmallVector<ReassociationIndices> re{{0}, {1}, {2, 3, 4}};
  return tensor::CollapseShapeOp::create(b, loc, out, re).getResult();
}

Value LlamaBuilder::add(Value a, Value c, int64_t width) {
  return binary(a, c, width, [](OpBuilder &ob, Location l, Value x, Value y) {
    return arith::AddFOp::create(ob, l, x, y).getResult();
  });
}

Value LlamaBuilder::siluMul(Value gate, Value up) {
  Value one = cF32(1.0);
  return binary(gate, up, cfg.ffn,
                [&](OpBuilder &ob, Location l, Value g, Value u) {
                  Value e = math::ExpOp::create(
                      ob, l, arith::NegFOp::create(ob, l, g));
                  Value den = arith::AddFOp::create(ob, l, one, e);
                  Value silu = arith::DivFOp::create(ob, l, g, den);
                  return arith::MulFOp::create(ob, l, silu, u).getResult();
                });
}

Value LlamaBuilder::binary(
    Value a, Value c, int64_t width,
    function_ref<Value(OpBuilder &, Location, Value, Value)> fn) {
  AffineExpr bb, ss, d;
  bindDims(ctx, bb, ss, d);
  auto par = utils::IteratorType::parallel;
  AffineMap id = map(3, {bb, ss, d});
  return generic({batch, seq, st(width)}, {}, {a, c}, {id, id, id},
                 {par, par, par},
                 [&](OpBuilder &ob, Location l, ValueRange x) {
                   linalg::YieldOp::create(ob, l, fn(ob, l, x[0], x[1]));
                 });
}

OwningOpRef<ModuleOp> LlamaBuilder::build(const GGUFImportOptions &opts,
                                          Location errLoc) {
  int64_t numLayers = cfg.layers;
  if (opts.numLayers >= 0) {
    if (opts.numLayers > cfg.layers) {
      emitError(errLoc) << file.path() << ": --num-layers " << opts.numLayers
                        << " exceeds the model's " << cfg.layers << " blocks";
      return nullptr;
    }
    numLayers = opts.numLayers;
  }
  if (opts.batch < 0 || opts.seqLen < 0) {
    emitError(errLoc) << file.path() << ": the batch size and sequence "
                      << "length must be positive";
    return nullptr;
  }
  if (opts.seqLen > 0 && cfg.context > 0 && opts.seqLen > cfg.context) {
    emitError(errLoc) << file.path() << ": sequence length " << opts.seqLen
                      << " exceeds the model's context length "
                      << cfg.context;
    return nullptr;
  }
  if (opts.kvCache &&
      (opts.entryName == "prefill" || opts.entryName == "decode")) {
    emitError(errLoc) << file.path() << ": the entry name '"
                      << opts.entryName
                      << "' is taken by the KV-cache entries";
    return nullptr;
  }
  OwningOpRef<ModuleOp> module = ModuleOp::create(scope(file.path()));
  auto entry = [&](EntryKind kind, StringRef name) {
    if (succeeded(buildEntry(*module, kind, name, opts, numLayers)))
      return true;
    emitError(errLoc) << file.path() << ": " << error;
    return false;
  };
  if ((opts.fullEntry || !opts.kvCache) &&
      !entry(EntryKind::Full, opts.entryName))
    return nullptr;
  if (opts.kvCache && (!entry(EntryKind::Prefill, "prefill") ||
                       !entry(EntryKind::Decode, "decode")))
    return nullptr;
  return module;
}

// The argument and result attributes of an entry (docs/design.md): names,
// the token ids' range, and in a KV-cache entry the position, the caches and
// the results tied to them.
void LlamaBuilder::setEntryAttributes(func::FuncOp func, bool cached) {
  func.setArgAttr(0, "onebit.name", b.getStringAttr("input_ids"));
  // The runner rejects ids outside the vocabulary before running (the
  // lookup below also clamps them, so nothing reads out of bounds).
  func.setArgAttr(0, "onebit.index_bound", b.getI64IntegerAttr(cfg.vocab));
  func.setArgAttr(0, "onebit.index_min", b.getI64IntegerAttr(0));
  func.setArgAttr(0, "onebit.index_user",
                  b.getStringAttr("/model/embed_tokens/Gather"));
  func.setResultAttr(0, "onebit.name", b.getStringAttr("logits"));
  if (cached) {
    // The runner checks 0 <= pos and pos + S <= the caches' context size
    // before running, and passes the caches as in-place buffers
    // (docs/design.md, "Generation with a KV cache").
    func.setArgAttr(1, "onebit.name", b.getStringAttr("pos"));
    func.setArgAttr(1, "onebit.cache_position", b.getUnitAttr());
    const char *cacheNames[] = {"k_cache", "v_cache"};
    for (auto [i, cacheName] : llvm::enumerate(cacheNames)) {
      func.setArgAttr(2 + i, "onebit.name", b.getStringAttr(cacheName));
      func.setArgAttr(2 + i, "onebit.kv_cache", b.getUnitAttr());
      func.setResultAttr(1 + i, "onebit.name", b.getStringAttr(cacheName));
      func.setResultAttr(1 + i, "onebit.inplace_arg",
                         b.getI64IntegerAttr(2 + i));
    }
  }
}

// Decoder block i on the residual stream x (updated): RMSNorm, attention
// with RoPE (through the KV caches in a cache entry), residual, RMSNorm,
// SiLU-gated MLP, residual.
LogicalResult LlamaBuilder::buildLayer(int64_t i, Value &x) {
  layer = i;
  int64_t qw = cfg.heads * cfg.headDim, kvw = cfg.kvHeads * cfg.headDim;
  std::string g = "blk." + std::to_string(i) + ".";
  std::string hf = "model.layers." + std::to_string(i) + ".";
  std::string sc = "/model/layers." + std::to_string(i) + "/";
  auto w = [&](const char *gg, const std::string &h, ArrayRef<int64_t> shape,
               bool linearUse = false) {
    return weight(g + gg, hf + h, shape, linearUse);
  };
  FailureOr<Value> attnNorm = w("attn_norm.weight",
                                "input_layernorm.weight", {cfg.dim});
  FailureOr<Value> wq =
      w("attn_q.weight", "self_attn.q_proj.weight", {qw, cfg.dim}, true);
  FailureOr<Value> wk =
      w("attn_k.weight", "self_attn.k_proj.weight", {kvw, cfg.dim}, true);
  FailureOr<Value> wv =
      w("attn_v.weight", "self_attn.v_proj.weight", {kvw, cfg.dim}, true);
  FailureOr<Value> wo =
      w("attn_output.weight", "self_attn.o_proj.weight", {cfg.dim, qw}, true);
  FailureOr<Value> ffnNorm = w("ffn_norm.weight",
                               "post_attention_layernorm.weight", {cfg.dim});
  FailureOr<Value> wg =
      w("ffn_gate.weight", "mlp.gate_proj.weight", {cfg.ffn, cfg.dim}, true);
  FailureOr<Value> wu =
      w("ffn_up.weight", "mlp.up_proj.weight", {cfg.ffn, cfg.dim}, true);
  FailureOr<Value> wd =
      w("ffn_down.weight", "mlp.down_proj.weight", {cfg.dim, cfg.ffn}, true);
  for (auto *fw : {&attnNorm, &wq, &wk, &wv, &wo, &ffnNorm, &wg, &wu, &wd})
    if (failed(*fw))
      return failure();

  loc = scope(sc + "input_layernorm");
  Value hN = rmsNorm(x, *attnNorm, cfg.dim);
  Value q = linear(hN, *wq, qw, sc + "self_attn/q_proj/MatMul");
  Value k = linear(hN, *wk, kvw, sc + "self_attn/k_proj/MatMul");
  Value v = linear(hN, *wv, kvw, sc + "self_attn/v_proj/MatMul");
  loc = scope(sc + "self_attn/rotary_emb");
  q = rope(q, cfg.heads);
  k = rope(k, cfg.kvHeads);
  loc = scope(sc + "self_attn");
  Value attn = attention(q, k, v);
  Value o = linear(attn, *wo, cfg.dim, sc + "self_attn/o_proj/MatMul");
  loc = scope(sc + "Add");
  x = add(x, o, cfg.dim);
  loc = scope(sc + "post_attention_layernorm");
  Value h2 = rmsNorm(x, *ffnNorm, cfg.dim);
  Value gate = linear(h2, *wg, cfg.ffn, sc + "mlp/gate_proj/MatMul");
  Value up = linear(h2, *wu, cfg.ffn, sc + "mlp/up_proj/MatMul");
  loc = scope(sc + "mlp/act_fn");
  Value act = siluMul(gate, up);
  Value down = linear(act, *wd, cfg.dim, sc + "mlp/down_proj/MatMul");
  loc = scope(sc + "Add_1");
  x = add(x, down, cfg.dim);
  return success();
}

LogicalResult LlamaBuilder::buildEntry(ModuleOp module, EntryKind kind,
                                       StringRef name,
                                       const GGUFImportOptions &opts,
                                       int64_t numLayers) {
  b.setInsertionPointToEnd(module.getBody());
  weights.clear();
  posIdx = nullptr;
  kCache = vCache = nullptr;
  cacheElt = opts.kvCacheType == GGUFImportOptions::CacheType::F16
                 ? Type(b.getF16Type())
                 : f32;
  const bool cached = kind != EntryKind::Full;
  const int64_t dyn = ShapedType::kDynamic;
  f16Weights = opts.f16Weights;
  const int64_t entryBatch =
      cached && opts.cacheBatch >= 0 ? opts.cacheBatch : opts.batch;
  const int64_t staticB = entryBatch > 0 ? entryBatch : dyn;
  const int64_t staticS = kind == EntryKind::Decode ? 1
                          : kind == EntryKind::Prefill ? dyn
                          : opts.seqLen > 0            ? opts.seqLen
                                                       : dyn;
  auto idsType = RankedTensorType::get({staticB, staticS}, b.getI64Type());
  // The caches' context size (dim 2) is the caller's choice (--ctx).
  auto cacheType = RankedTensorType::get(
      {numLayers, staticB, dyn, cfg.kvHeads, cfg.headDim}, cacheElt);
  auto logitsType =
      cached ? RankedTensorType::get({staticB, cfg.vocab}, f32)
             : RankedTensorType::get({staticB, staticS, cfg.vocab}, f32);
  SmallVector<Type> argTypes{idsType}, resultTypes{logitsType};
  if (cached) {
    argTypes.append({RankedTensorType::get({}, b.getI64Type()), cacheType,
                     cacheType});
    resultTypes.append({cacheType, cacheType});
  }
  auto func = func::FuncOp::create(b, scope("/model"), name,
                                   b.getFunctionType(argTypes, resultTypes));
  setEntryAttributes(func, cached);
  Block *entryBlock = func.addEntryBlock();
  b.setInsertionPointToEnd(entryBlock);
  loc = scope("/model");
  Value ids = entryBlock->getArgument(0);
  batch = entryBatch > 0 ? OpFoldResult(b.getIndexAttr(entryBatch))
                         : OpFoldResult(tensor::DimOp::create(b, loc, ids, 0));
  seq = !ShapedType::isDynamic(staticS)
            ? OpFoldResult(b.getIndexAttr(staticS))
            : OpFoldResult(tensor::DimOp::create(b, loc, ids, 1));
  if (cached) {
    Value pos = tensor::ExtractOp::create(b, loc, entryBlock->getArgument(1),
                                          ValueRange{});
    posIdx = arith::IndexCastOp::create(b, loc, b.getIndexType(), pos);
    kCache = entryBlock->getArgument(2);
    vCache = entryBlock->getArgument(3);
    kvLen = arith::AddIOp::create(
                b, loc, posIdx, getValueOrCreateConstantIndexOp(b, loc, seq))
                .getResult();
  }

  std::vector<float> freq(cfg.headDim / 2);
  for (int64_t i = 0; i < cfg.headDim / 2; ++i)
    freq[i] = float(std::pow(cfg.ropeBase, -2.0 * double(i) / cfg.headDim));
  auto freqType = RankedTensorType::get({cfg.headDim / 2}, f32);
  invFreq = arith::ConstantOp::create(
      b, scope("rope.inv_freq"), freqType,
      DenseElementsAttr::get(freqType, ArrayRef<float>(freq)));

  FailureOr<Value> emb =
      weight("token_embd.weight", "model.embed_tokens.weight",
             {cfg.vocab, cfg.dim});
  if (failed(emb))
    return failure();

  // Embedding lookup; ids are clamped into the vocabulary so a bad id can
  // never read out of bounds.
  AffineExpr eb, es, ed;
  bindDims(ctx, eb, es, ed);
  auto par = utils::IteratorType::parallel;
  Value maxId = cIndex(cfg.vocab - 1), zeroIdx = cIndex(0);
  Value table = *emb;
  loc = scope("/model/embed_tokens/Gather");
  Value x = generic(
      {batch, seq, st(cfg.dim)}, {}, {ids},
      {map(3, {eb, es}), map(3, {eb, es, ed})}, {par, par, par},
      [&](OpBuilder &ob, Location l, ValueRange a) {
        Value id = arith::IndexCastOp::create(ob, l, ob.getIndexType(), a[0]);
        id = arith::MaxSIOp::create(ob, l, id, zeroIdx);
        id = arith::MinSIOp::create(ob, l, id, maxId);
        Value col = linalg::IndexOp::create(ob, l, 2);
        linalg::YieldOp::create(
            ob, l,
            tensor::ExtractOp::create(ob, l, table, ValueRange{id, col})
                .getResult());
      });

  for (int64_t i = 0; i < numLayers; ++i) {
    if (failed(buildLayer(i, x)))
      return failure();
    if (opts.afterBlock && failed(opts.afterBlock(module))) {
      error = "stopped after block " + std::to_string(i) + " of @" +
              name.str();
      return failure();
    }
  }

  FailureOr<Value> outNorm =
      weight("output_norm.weight", "model.norm.weight", {cfg.dim});
  if (failed(outNorm))
    return failure();
  if (cached) {
    // Only the last position's logits: what generation samples from, and
    // the head is the largest matmul of a long prompt.
    loc = scope("/model/last_token");
    SmallVector<OpFoldResult> lastSizes{batch, st(1), st(cfg.dim)};
    Value last = arith::SubIOp::create(
        b, loc, getValueOrCreateConstantIndexOp(b, loc, seq), cIndex(1));
    x = tensor::ExtractSliceOp::create(
            b, loc, typeOf(lastSizes), x,
            SmallVector<OpFoldResult>{st(0), last, st(0)}, lastSizes,
            SmallVector<OpFoldResult>(3, st(1)))
            .getResult();
    seq = st(1);
  }
  loc = scope("/model/norm");
  x = rmsNorm(x, *outNorm, cfg.dim);
  Value head = table; // tied to the embedding unless the file has a head
  if (file.findTensor("output.weight")) {
    FailureOr<Value> o =
        weight("output.weight", "lm_head.weight", {cfg.vocab, cfg.dim},
               /*linearUse=*/true);
    if (failed(o))
      return failure();
    head = *o;
  }
  Value logits = linear(x, head, cfg.vocab, "/lm_head/MatMul");
  SmallVector<Value> results{logits};
  if (cached) {
    logits = tensor::CollapseShapeOp::create(
                 b, loc, logits,
                 SmallVector<ReassociationIndices>{{0}, {1, 2}})
                 .getResult();
    results = {logits, kCache, vCache};
  }
  func::ReturnOp::create(b, scope("/model/logits"), results);
  return success();
}

} // namespace

OwningOpRef<ModuleOp> importGGUF(const gguf::GGUFFile &file,
                                 MLIRContext &context,
                                 const GGUFImportOptions &options) {
  context.loadDialect<arith::ArithDialect, func::FuncDialect,
                      linalg::LinalgDialect, math::MathDialect,
                      tensor::TensorDialect>();
  Location errLoc = FileLineColLoc::get(&context, file.path(), 0, 0);
  LlamaBuilder builder(&context, file);
  if (failed(builder.readConfig(errLoc)))
    return nullptr;
  OwningOpRef<ModuleOp> module = builder.build(options, errLoc);
  // The model carries its tokenizer, so that its text is tokenized as it was
  // trained without the .gguf at hand. A tokenizer onebit cannot read is
  // left out: the model still imports, and tools refuse byte ids for it.
  std::string error;
  if (module && file.find("tokenizer.ggml.tokens"))
    if (auto tokenizer = tokenizerFromGGUF(file, error))
      attachTokenizer(*module, *tokenizer);
  return module;
}

std::optional<GGUFImportOptions::CacheType>
parseKVCacheType(llvm::StringRef name) {
  if (name == "f32")
    return GGUFImportOptions::CacheType::F32;
  if (name == "f16")
    return GGUFImportOptions::CacheType::F16;
  return std::nullopt;
}

void attachTokenizer(ModuleOp module, const BPETokenizer &tokenizer) {
  std::string bytes = tokenizer.serialize();
  auto blob = HeapAsmResourceBlob::allocateAndCopyInferAlign(
      ArrayRef<char>(bytes.data(), bytes.size()));
  auto type = RankedTensorType::get({int64_t(bytes.size())},
                                    IntegerType::get(module.getContext(), 8));
  module->setAttr(kTokenizerAttrName,
                  DenseResourceElementsAttr::get(type, "onebit_tokenizer",
                                                 std::move(blob)));
}

std::unique_ptr<BPETokenizer> tokenizerOf(ModuleOp module, std::string &error) {
  error.clear();
  Attribute a = module->getAttr(kTokenizerAttrName);
  if (!a)
    return nullptr;
  auto res = dyn_cast<DenseResourceElementsAttr>(a);
  AsmResourceBlob *blob = res ? res.getRawHandle().getBlob() : nullptr;
  if (!blob) {
    error =
        std::string(kTokenizerAttrName) + " is not a dense_resource with data";
    return nullptr;
  }
  ArrayRef<char> data = blob->getData();
  auto tokenizer = BPETokenizer::deserialize(
      std::string_view(data.data(), data.size()), error);
  if (!tokenizer)
    error = std::string(kTokenizerAttrName) + ": " + error;
  return tokenizer;
}

OwningOpRef<ModuleOp> importGGUFFile(StringRef path, MLIRContext &context,
                                     const GGUFImportOptions &options) {
  std::string error;
  auto file = gguf::GGUFFile::open(path.str(), error);
  if (!file) {
    emitError(FileLineColLoc::get(&context, path, 0, 0)) << error;
    return nullptr;
  }
  return importGGUF(*file, context, options);
}

} // namespace onebit
