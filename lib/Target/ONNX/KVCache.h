//===- KVCache.h - ONNX with-past decoders as in-place KV-cache entries --===//
//
// A decoder exported with past key/values (torch.onnx with past_key_values,
// optimum's with-past decoders) takes each layer's past keys and values
// [batch, kv_heads, past, head_dim] and returns the present ones,
// Concat(past, new, axis=2). findKVCache recognises that form;
// convertCacheConcat rewrites each such Concat into a write of the new
// slots into one stacked cache [layers, batch, context, kv_heads, head_dim]
// and a read of its first pos + T slots, the contract of the GGUF importer's
// @prefill/@decode (docs/design.md, "Generation with a KV cache").
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_LIB_TARGET_ONNX_KVCACHE_H
#define ONEBIT_LIB_TARGET_ONNX_KVCACHE_H

#include "Importer.h"

#include "llvm/ADT/DenseMap.h"

namespace onebit::onnx_import {

/// A past key or value graph input and the Concat that appends the new
/// positions to it.
struct PastInput {
  std::string name;
  const onnx::NodeProto *concat = nullptr;
  /// Which stacked cache (0: k_cache, 1: v_cache) and which layer of it: the
  /// past inputs in graph order alternate between the two caches.
  int cache = 0;
  int64_t layer = 0;
};

/// What a with-past export looks like to the importer.
struct KVCachePlan {
  std::string tokens; ///< the token ids input [batch, seq]
  /// Optional inputs the entries make for one unpadded sequence (HF's and
  /// optimum's names): attention_mask [batch, past + seq] of ones,
  /// position_ids [batch, seq] = past + s. Empty when the graph has none.
  std::string attentionMask, positionIds;
  std::string logits; ///< the graph output that is not a present value
  SmallVector<PastInput> past;
  llvm::DenseMap<const onnx::NodeProto *, size_t> pastOfConcat;
  int64_t layers = 0, kvHeads = 0, headDim = 0;
};

/// Recognises the with-past form in `graph`: one rank-2 integer input (the
/// token ids; rank-2 integer inputs named attention_mask and position_ids
/// may come with it), an even number (2 per layer) of rank-4 f32 inputs each
/// read only by Shape nodes and by one Concat(past, new) on axis 2 whose result
/// is a graph output, all with the same static kv_heads and head_dim, and
/// one other graph output (the logits [batch, seq, vocab]). On failure,
/// `why` says what does not fit.
FailureOr<KVCachePlan> findKVCache(const onnx::GraphProto &graph,
                                   const llvm::StringSet<> &initNames,
                                   std::string &why);

/// The values a KV-cache entry threads through its body.
struct CacheEntryState {
  /// The start position (index); null in the full forward, where the past
  /// is empty.
  Value pos;
  /// The stacked caches as last written.
  Value caches[2];
};

/// Stands in for past input `p` (read only by Shape nodes once its Concat
/// is rewritten): an uninitialized tensor [batch, kv_heads, pos, head_dim]
/// (pos 0 in the full forward) of the batch of `ids`.
Value pastPlaceholder(Importer &im, const KVCachePlan &plan, Value ids,
                      const CacheEntryState &st);

/// attention_mask for one sequence with no padding: ones [batch, pos + seq]
/// of `et`, the batch and seq of `ids`.
Value attentionMaskOfOnes(Importer &im, Type et, Value ids,
                          const CacheEntryState &st);

/// position_ids [batch, seq] of `et`: pos + s (s in the full forward).
Value positionIdsFrom(Importer &im, Type et, Value ids,
                      const CacheEntryState &st);

/// Converts the Concat of `p` (the current node): in the full forward the
/// new values themselves, in a cache entry a write of them into slots
/// [pos, pos + T) of the layer's cache and a read of its slots [0, pos + T).
LogicalResult convertCacheConcat(Importer &im, const KVCachePlan &plan,
                                 const PastInput &p, CacheEntryState &st);

} // namespace onebit::onnx_import

#endif // ONEBIT_LIB_TARGET_ONNX_KVCACHE_H
