//===- OneBitToGPU.cpp - onebit.binary_linear to sign-flip GPU kernels ----===//
//
// Each binary layer becomes a gpu.launch written in scf/gpu/arith/math on
// memrefs (see the pass description in Passes.td and docs/gpu.md):
//
//   * GEMV/GEMM kernel: grid (ceil(N / warps), ceil(M / mTile)), block
//     32 * warps threads. Warp w of block (bx, by) owns output row
//     n = bx * warps + w and activation rows by * mTile + [0, mTile).
//     Per K tile of tileWords sign words (32 * tileWords features), the block
//     stages v[m, k] = x[m, k] * g[k] in workgroup memory, laid out
//     [m][bit][word] with the word index fastest and a row pitch of
//     tileWords + 1 (odd), so that the staging stores (consecutive k) and the
//     reads (consecutive words across lanes) are both free of bank conflicts.
//     Lane l reads sign words l, l + 32, ... of the tile (coalesced; or,
//     with 128-bit loads, words 4l .. 4l + 3 of a 128-word tile), and for
//     each of their 32 bits adds v with its sign bit xor-ed by the weight's
//     sign bit: no multiplication per weight. A gpu.shuffle xor tree reduces
//     the warp; lane 0 multiplies by h[n] and, without post-norm, adds the
//     bias. With few blocks along N, split-K: grid z splits the K tiles,
//     partial sums go to a scratch buffer and a second kernel adds them.
//   * post-norm kernel (norm_eps set): one block per activation row,
//     mean and biased variance by block reductions (shuffles + workgroup
//     memory), then (y - mean) * rsqrt(var + eps) (+ bias).
//
//===----------------------------------------------------------------------===//

#include "onebit/Conversion/OneBitToGPU/OneBitToGPU.h"
#include "KernelBuilders.h"
#include "onebit/Dialect/OneBit/IR/OneBit.h"

#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/SymbolTable.h"

namespace onebit {
#define GEN_PASS_DEF_CONVERTONEBITTOGPU
#define GEN_PASS_DEF_ONEBITGPUBINARYLINEARKERNELS
#include "onebit/Conversion/Passes.h.inc"
} // namespace onebit

using namespace mlir;
using namespace onebit;
using namespace onebit::gpukernels;

namespace {

constexpr int64_t kWarpSize = 32;
constexpr int64_t kNormThreads = 256;

/// A read-only memref of tensor `v` with its exact static/dynamic shape.
Value bufferOf(ImplicitLocOpBuilder &b, Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  auto mt = MemRefType::get(type.getShape(), type.getElementType());
  return bufferization::ToBufferOp::create(b, mt, v, /*read_only=*/true);
}

/// Collapses a memref [d0, ..., dn-1, X] to [d0 * ... * dn-1, X].
Value as2D(ImplicitLocOpBuilder &b, Value buf) {
  auto type = cast<MemRefType>(buf.getType());
  int64_t rank = type.getRank();
  if (rank == 2)
    return buf;
  if (rank == 1) {
    SmallVector<ReassociationIndices> re{{0, 1}};
    auto t = MemRefType::get({1, type.getDimSize(0)}, type.getElementType());
    SmallVector<OpFoldResult> shape{b.getIndexAttr(1),
                                    b.getIndexAttr(type.getDimSize(0))};
    return memref::ExpandShapeOp::create(b, t, buf, re, shape);
  }
  ReassociationIndices lead;
  for (int64_t d = 0; d + 1 < rank; ++d)
    lead.push_back(d);
  SmallVector<ReassociationIndices> re{lead, {rank - 1}};
  return memref::CollapseShapeOp::create(b, buf, re);
}

/// Sum over a warp with a gpu.shuffle xor butterfly (every lane gets it).
Value warpSum(ImplicitLocOpBuilder &b, Value v) {
  for (int32_t off = kWarpSize / 2; off > 0; off /= 2) {
    Value other = gpu::ShuffleOp::create(b, v, off, kWarpSize,
                                         gpu::ShuffleMode::XOR)
                      .getShuffleResult();
    v = arith::AddFOp::create(b, v, other);
  }
  return v;
}

struct Config {
  int64_t warps, mTile, tileWords;
  bool tensorCores;
  int64_t mmaMinRows;
  /// Sign words a lane loads at once (1, 2 or 4: 32-, 64- or 128-bit
  /// loads); the tile is a multiple of 32 * vecWords words.
  int64_t vecWords = 1;
  /// Split-K: blocks along N below this get K split over more blocks.
  int64_t splitKBlocks = 0;
  /// K splits (grid z) of the sign-flip kernel; 1: none.
  int64_t splits = 1;
};

/// Split-K for a sign-flip kernel whose ceil(N / warps) row blocks are fewer
/// than cfg.splitKBlocks (a GEMV with small N leaves SMs idle): K's tiles
/// are split over the fewest blocks that reach it, each split at least one
/// tile.
void chooseSplits(Config &c, int64_t K, int64_t N) {
  const int64_t kw = (K + 31) / 32;
  const int64_t tiles = (kw + c.tileWords - 1) / c.tileWords;
  const int64_t rowBlocks = (N + c.warps - 1) / c.warps;
  c.splits = 1;
  if (c.splitKBlocks <= 0 || rowBlocks >= c.splitKBlocks || tiles < 2)
    return;
  int64_t want = std::min(tiles, (c.splitKBlocks + rowBlocks - 1) / rowBlocks);
  const int64_t perSplit = (tiles + want - 1) / want;
  c.splits = (tiles + perSplit - 1) / perSplit; // no empty split
}

/// 128-bit sign loads (4 words per lane) where a GEMV/GEMM of K features
/// and mTile rows allows them, and the tile they need: the row's word
/// count a multiple of 4 (so a load is 16-byte aligned given an aligned
/// base, and wholly in or out of the row), a row of at least one 128-word
/// tile, and the staged tile within 48 KiB of workgroup memory (m-tile 1
/// or 2). 64-bit loads are not used: for m-tile 4 the permuted staging
/// layout cost more instructions (768 against 672 per 32 weights,
/// benchmarks/gpu_kernel_report.py) than the loads saved.
void chooseSignLoads(Config &c, int64_t K) {
  const int64_t kw = (K + 31) / 32;
  constexpr int64_t v = 4, group = 32 * v;
  const int64_t tw = (std::max(c.tileWords, group) + group - 1) / group * group;
  c.vecWords = 1;
  if (kw % v == 0 && kw >= group && c.mTile * 32 * (tw + 1) * 4 <= 48 * 1024) {
    c.vecWords = v;
    c.tileWords = tw;
  }
}

/// Emits the sign-flip GEMV/GEMM launch: out[m, n] = h[n] * sum_k
/// S[n, k] g[k] x[m, k] (+ bias[n] when `bias`).
///
/// Kept as one function (about 160 lines): the staging, sign-flip and
/// epilogue stages share the launch's thread ids, the tile constants and the
/// shared-memory layout, and read in order as the kernel they emit.
void emitGemm(ImplicitLocOpBuilder &b, const Config &cfg, Value x, Value signs,
              Value g, Value h, Value bias, Value out, int64_t K, int64_t N,
              Value M, StringRef kernelName, Value partial = Value()) {
  MLIRContext *ctx = b.getContext();
  const int64_t KW = (K + 31) / 32; // sign words per row
  const int64_t TW = cfg.tileWords; // words per tile
  const int64_t KT = TW * 32;       // features per tile
  const int64_t MT = cfg.mTile;
  const int64_t pitch = TW + 1;     // odd: conflict-free stores and loads
  const int64_t rowElems = 32 * pitch;
  const int64_t threads = cfg.warps * kWarpSize;
  const int64_t numTiles = (KW + TW - 1) / TW;
  const int64_t V = cfg.vecWords; // sign words per load
  const int64_t group = 32 * V;   // words the warp loads at once

  auto wgSpace = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  auto shmType = MemRefType::get({MT * rowElems}, b.getF32Type(), AffineMap{},
                                 wgSpace);
  Value one = cIdx(b, 1);
  // Split-K (`partial` given): block z sums tiles [z * perSplit, ...) and
  // writes its partial sums to partial[z, m, n]; emitSplitKSum finishes.
  const int64_t S = partial ? cfg.splits : 1;
  const int64_t perSplit = (numTiles + S - 1) / S;
  auto launch = launchKernel(b, cIdx(b, (N + cfg.warps - 1) / cfg.warps),
                             ceilDiv(b, M, MT), threads, TypeRange{shmType},
                             kernelName, S);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&launch.getBody().front());
  Value shm = launch.getWorkgroupAttributions()[0];

  Value tid = launch.getThreadIds().x;
  Value c32 = cIdx(b, 32);
  Value lane = arith::RemUIOp::create(b, tid, c32);
  Value warp = arith::DivUIOp::create(b, tid, c32);
  Value n = arith::AddIOp::create(
      b, arith::MulIOp::create(b, launch.getBlockIds().x, cIdx(b, cfg.warps)),
      warp);
  Value m0 = arith::MulIOp::create(b, launch.getBlockIds().y, cIdx(b, MT));
  Value nValid =
      arith::CmpIOp::create(b, arith::CmpIPredicate::ult, n, cIdx(b, N));
  Value zeroF = cF32(b, 0.0);
  Value zeroI = cI32(b, 0);
  Value signBit = cI32(b, 0x80000000LL);
  Type f32 = b.getF32Type(), i32 = b.getI32Type();

  SmallVector<Value> init(MT, zeroF);
  Value firstTile = cIdx(b, 0), endTile = cIdx(b, numTiles);
  if (S > 1) {
    Value z = launch.getBlockIds().z;
    firstTile = arith::MulIOp::create(b, z, cIdx(b, perSplit));
    endTile = arith::MinUIOp::create(
        b, arith::AddIOp::create(b, firstTile, cIdx(b, perSplit)), endTile);
  }
  auto tileLoop = scf::ForOp::create(b, firstTile, endTile, one, init);
  {
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(tileLoop.getBody());
    Value t = tileLoop.getInductionVar();
    ValueRange acc = tileLoop.getRegionIterArgs();
    // Staging: v[m, k] = x[m, k] * g[k], zero outside [0, M) x [0, K).
    gpu::BarrierOp::create(b);
    Value kBase = arith::MulIOp::create(b, t, cIdx(b, KT));
    auto stage = scf::ForOp::create(b, tid, cIdx(b, MT * KT), cIdx(b, threads));
    {
      OpBuilder::InsertionGuard g3(b);
      b.setInsertionPointToStart(stage.getBody());
      Value i = stage.getInductionVar();
      Value ml = arith::DivUIOp::create(b, i, cIdx(b, KT));
      Value kk = arith::RemUIOp::create(b, i, cIdx(b, KT));
      Value k = arith::AddIOp::create(b, kBase, kk);
      Value m = arith::AddIOp::create(b, m0, ml);
      Value ok = arith::AndIOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::ult, k, cIdx(b, K)),
          arith::CmpIOp::create(b, arith::CmpIPredicate::ult, m, M));
      auto ifOp = scf::IfOp::create(b, TypeRange{f32}, ok, true, true);
      {
        OpBuilder::InsertionGuard g4(b);
        b.setInsertionPointToStart(ifOp.thenBlock());
        Value v = arith::MulFOp::create(b, loadF32(b, x, {m, k}),
                                        loadF32(b, g, {k}));
        scf::YieldOp::create(b, v);
        b.setInsertionPointToStart(ifOp.elseBlock());
        scf::YieldOp::create(b, zeroF);
      }
      // [ml][kk % 32][slot(kk / 32)]: word w of the tile is the
      // (w % V)-th of lane (w % 32V) / V's load number w / 32V, kept at
      // slot (w / 32V) * 32V + (w % V) * 32 + lane, so that the lanes read
      // consecutive slots (distinct banks) for each word of their loads.
      Value w = arith::DivUIOp::create(b, kk, c32);
      Value slot = w;
      if (V > 1) {
        Value inGroup = arith::RemUIOp::create(b, w, cIdx(b, group));
        slot = arith::AddIOp::create(
            b,
            arith::AddIOp::create(
                b, arith::SubIOp::create(b, w, inGroup),
                arith::MulIOp::create(
                    b, arith::RemUIOp::create(b, w, cIdx(b, V)), c32)),
            arith::DivUIOp::create(b, inGroup, cIdx(b, V)));
      }
      Value pos = arith::AddIOp::create(
          b,
          arith::AddIOp::create(
              b, arith::MulIOp::create(b, ml, cIdx(b, rowElems)),
              arith::MulIOp::create(b, arith::RemUIOp::create(b, kk, c32),
                                    cIdx(b, pitch))),
          slot);
      memref::StoreOp::create(b, ifOp.getResult(0), shm, pos);
    }
    gpu::BarrierOp::create(b);

    // Sign flips: per load, lane l takes V consecutive words (one 32-,
    // 64- or 128-bit load; the warp reads 32V words of the row in one
    // go), words V*l, V*l + 1, ... of the load's group of the tile.
    auto wordLoop =
        scf::ForOp::create(b, cIdx(b, 0), cIdx(b, TW / group), one, acc);
    {
      OpBuilder::InsertionGuard g3(b);
      b.setInsertionPointToStart(wordLoop.getBody());
      Value groupBase =
          arith::MulIOp::create(b, wordLoop.getInductionVar(), cIdx(b, group));
      Value kw = arith::AddIOp::create(
          b,
          arith::AddIOp::create(b, arith::MulIOp::create(b, t, cIdx(b, TW)),
                                groupBase),
          V == 1 ? lane
                 : arith::MulIOp::create(b, lane, cIdx(b, V)).getResult());
      // KW is a multiple of V: a load is wholly inside the row or outside.
      Value ok = arith::AndIOp::create(
          b, nValid,
          arith::CmpIOp::create(b, arith::CmpIPredicate::ult, kw, cIdx(b, KW)));
      auto vecType = VectorType::get({V}, i32);
      auto ifOp = scf::IfOp::create(
          b, TypeRange{V == 1 ? Type(i32) : Type(vecType)}, ok, true, true);
      {
        OpBuilder::InsertionGuard g4(b);
        b.setInsertionPointToStart(ifOp.thenBlock());
        Value loaded = V == 1
                           ? memref::LoadOp::create(b, signs, ValueRange{n, kw})
                                 .getResult()
                           : vector::LoadOp::create(
                                 b, vecType, signs, ValueRange{n, kw},
                                 /*nontemporal=*/false, llvm::MaybeAlign(4 * V))
                                 .getResult();
        scf::YieldOp::create(b, ValueRange{loaded});
        b.setInsertionPointToStart(ifOp.elseBlock());
        Value none =
            V == 1
                ? zeroI
                : arith::ConstantOp::create(
                      b, vecType,
                      DenseElementsAttr::get(vecType, b.getI32IntegerAttr(0)))
                      .getResult();
        scf::YieldOp::create(b, ValueRange{none});
      }
      SmallVector<Value> a(wordLoop.getRegionIterArgs());
      for (int64_t j = 0; j < V; ++j) {
        Value word = V == 1 ? ifOp.getResult(0)
                            : vector::ExtractOp::create(b, ifOp.getResult(0),
                                                        ArrayRef<int64_t>{j})
                                  .getResult();
        // The word's slot in the staged tile (see the staging).
        Value wl = arith::AddIOp::create(
            b, groupBase, arith::AddIOp::create(b, cIdx(b, j * 32), lane));
        // 32 bits, unrolled: bit `bit` is the sign of feature
        // 32 * (kw + j) + bit.
        for (int64_t bit = 0; bit < 32; ++bit) {
          Value s = word;
          if (bit != 31)
            s = arith::ShLIOp::create(b, s, cI32(b, 31 - bit));
          s = arith::AndIOp::create(b, s, signBit);
          Value base = arith::AddIOp::create(b, cIdx(b, bit * pitch), wl);
          for (int64_t ml = 0; ml < MT; ++ml) {
            Value pos =
                ml == 0 ? base
                        : arith::AddIOp::create(b, base, cIdx(b, ml * rowElems))
                              .getResult();
            Value v = memref::LoadOp::create(b, shm, pos);
            Value bits = arith::BitcastOp::create(b, i32, v);
            Value flipped = arith::BitcastOp::create(
                b, f32, arith::XOrIOp::create(b, bits, s));
            a[ml] = arith::AddFOp::create(b, a[ml], flipped);
          }
        }
      }
      scf::YieldOp::create(b, a);
    }
    scf::YieldOp::create(b, wordLoop.getResults());
  }

  // Warp reduction, then lane 0 writes h[n] * sum (+ bias[n]).
  SmallVector<Value> sums;
  for (int64_t ml = 0; ml < MT; ++ml)
    sums.push_back(warpSum(b, tileLoop.getResult(ml)));
  Value lane0 = arith::AndIOp::create(
      b, nValid,
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane, cIdx(b, 0)));
  auto ifOp = scf::IfOp::create(b, lane0, /*withElse=*/false);
  b.setInsertionPointToStart(ifOp.thenBlock());
  // Emits `store(ml, m)` for each row ml of the tile, guarded by m < M.
  auto forEachRow = [&](auto store) {
    for (int64_t ml = 0; ml < MT; ++ml) {
      Value m = arith::AddIOp::create(b, m0, cIdx(b, ml));
      auto inRow = scf::IfOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::ult, m, M), false);
      OpBuilder::InsertionGuard g4(b);
      b.setInsertionPointToStart(inRow.thenBlock());
      store(ml, m);
    }
  };
  if (S > 1) {
    Value z = launch.getBlockIds().z;
    forEachRow([&](int64_t ml, Value m) {
      memref::StoreOp::create(b, sums[ml], partial, ValueRange{z, m, n});
    });
    b.setInsertionPointToEnd(&launch.getBody().front());
    gpu::TerminatorOp::create(b);
    return;
  }
  Value hn = loadF32(b, h, {n});
  Value bn = bias ? loadF32(b, bias, {n}) : Value();
  forEachRow([&](int64_t ml, Value m) {
    Value y = arith::MulFOp::create(b, sums[ml], hn);
    if (bn)
      y = arith::AddFOp::create(b, y, bn);
    storeF32(b, y, out, {m, n});
  });
  b.setInsertionPointToEnd(&launch.getBody().front());
  gpu::TerminatorOp::create(b);
}

/// Emits split-K's second launch: out[m, n] = h[n] * sum_z partial[z, m, n]
/// (+ bias[n]), the splits added in order (the result does not depend on
/// the blocks' timing). One thread per output, 256 per block.
void emitSplitKSum(ImplicitLocOpBuilder &b, int64_t S, Value partial, Value h,
                   Value bias, Value out, int64_t N, Value M,
                   StringRef kernelName) {
  constexpr int64_t kThreads = 256;
  auto launch = launchKernel(b, cIdx(b, (N + kThreads - 1) / kThreads), M,
                             kThreads, TypeRange{}, kernelName);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&launch.getBody().front());
  Value n = arith::AddIOp::create(
      b, arith::MulIOp::create(b, launch.getBlockIds().x, cIdx(b, kThreads)),
      launch.getThreadIds().x);
  Value m = launch.getBlockIds().y;
  auto ifOp = scf::IfOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::ult, n, cIdx(b, N)),
      false);
  b.setInsertionPointToStart(ifOp.thenBlock());
  Value sum = memref::LoadOp::create(b, partial, ValueRange{cIdx(b, 0), m, n});
  for (int64_t z = 1; z < S; ++z)
    sum = arith::AddFOp::create(
        b, sum,
        memref::LoadOp::create(b, partial, ValueRange{cIdx(b, z), m, n}));
  Value y = arith::MulFOp::create(b, sum, loadF32(b, h, {n}));
  if (bias)
    y = arith::AddFOp::create(b, y, loadF32(b, bias, {n}));
  storeF32(b, y, out, {m, n});
  b.setInsertionPointToEnd(&launch.getBody().front());
  gpu::TerminatorOp::create(b);
}

/// Block-wide sum over kNormThreads threads (all of them get it). `red` is
/// workgroup memory of kNormThreads / 32 floats used only by this call.
Value blockSum(ImplicitLocOpBuilder &b, Value v, Value red, Value lane,
               Value warp) {
  v = warpSum(b, v);
  auto ifOp = scf::IfOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane, cIdx(b, 0)),
      false);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    memref::StoreOp::create(b, v, red, ValueRange{warp});
  }
  gpu::BarrierOp::create(b);
  Value total = memref::LoadOp::create(b, red, ValueRange{cIdx(b, 0)});
  for (int64_t w = 1; w < kNormThreads / kWarpSize; ++w)
    total = arith::AddFOp::create(
        b, total, memref::LoadOp::create(b, red, ValueRange{cIdx(b, w)}));
  return total;
}

/// Emits the post-norm launch: out[m, :] = LN(y[m, :]) (+ bias).
void emitNorm(ImplicitLocOpBuilder &b, Value y, Value bias, Value out,
              int64_t N, Value M, double eps, StringRef kernelName) {
  MLIRContext *ctx = b.getContext();
  auto wgSpace = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  auto redType = MemRefType::get({kNormThreads / kWarpSize}, b.getF32Type(),
                                 AffineMap{}, wgSpace);
  auto launch = launchKernel(b, M, cIdx(b, 1), kNormThreads,
                             TypeRange{redType, redType}, kernelName);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&launch.getBody().front());
  Value red0 = launch.getWorkgroupAttributions()[0];
  Value red1 = launch.getWorkgroupAttributions()[1];
  Value m = launch.getBlockIds().x;
  Value tid = launch.getThreadIds().x;
  Value c32 = cIdx(b, 32);
  Value lane = arith::RemUIOp::create(b, tid, c32);
  Value warp = arith::DivUIOp::create(b, tid, c32);
  Value nEnd = cIdx(b, N), step = cIdx(b, kNormThreads);
  Value invN = cF32(b, 1.0 / double(N));

  auto sumLoop = scf::ForOp::create(b, tid, nEnd, step, ValueRange{cF32(b, 0)});
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(sumLoop.getBody());
    Value v = memref::LoadOp::create(
        b, y, ValueRange{m, sumLoop.getInductionVar()});
    scf::YieldOp::create(
        b, ValueRange{arith::AddFOp::create(b, sumLoop.getRegionIterArgs()[0],
                                            v)});
  }
  Value mean = arith::MulFOp::create(
      b, blockSum(b, sumLoop.getResult(0), red0, lane, warp), invN);

  auto varLoop = scf::ForOp::create(b, tid, nEnd, step, ValueRange{cF32(b, 0)});
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(varLoop.getBody());
    Value v = memref::LoadOp::create(
        b, y, ValueRange{m, varLoop.getInductionVar()});
    Value d = arith::SubFOp::create(b, v, mean);
    scf::YieldOp::create(
        b, ValueRange{math::FmaOp::create(b, d, d,
                                          varLoop.getRegionIterArgs()[0])});
  }
  Value var = arith::MulFOp::create(
      b, blockSum(b, varLoop.getResult(0), red1, lane, warp), invN);
  Value rstd = math::RsqrtOp::create(
      b, arith::AddFOp::create(b, var, cF32(b, eps)));

  auto outLoop = scf::ForOp::create(b, tid, nEnd, step);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(outLoop.getBody());
    Value nIdx = outLoop.getInductionVar();
    Value v = memref::LoadOp::create(b, y, ValueRange{m, nIdx});
    Value z = arith::MulFOp::create(b, arith::SubFOp::create(b, v, mean), rstd);
    if (bias)
      z = arith::AddFOp::create(b, z, loadF32(b, bias, {nIdx}));
    storeF32(b, z, out, {m, nIdx});
  }
  b.setInsertionPointToEnd(&launch.getBody().front());
  gpu::TerminatorOp::create(b);
}

std::string sanitize(StringRef s) {
  std::string r;
  for (char c : s)
    r.push_back(llvm::isAlnum(c) ? c : '_');
  return r;
}

/// Phase 1 (tensors): binary_linear -> call of a tagged kernel stub.
LogicalResult lowerToStub(BinaryLinearOp op, unsigned index) {
  if (!op.getLayout().isCanonical())
    return op.emitOpError()
           << "the GPU kernel reads only the canonical sign layout "
           << PackingAttr::getCanonical(op.getContext())
           << "; repack the signs first";
  auto signsType = cast<RankedTensorType>(op.getSigns().getType());
  auto gType = cast<RankedTensorType>(op.getG().getType());
  if (!signsType.hasStaticShape() || !gType.hasStaticShape() ||
      !signsType.getElementType().isInteger(32))
    return op.emitOpError()
           << "the GPU kernel needs static K and N and i32 sign words";
  int64_t K = gType.getDimSize(0), N = signsType.getDimSize(0);

  ImplicitLocOpBuilder b(op.getLoc(), op);
  MLIRContext *ctx = b.getContext();
  auto resultType = op.getResult().getType();
  int64_t rank = resultType.getRank();
  Type ty = resultType.getElementType();

  SmallVector<Value> args;
  args.push_back(as2D(b, bufferOf(b, op.getInput())));
  args.push_back(bufferOf(b, op.getSigns()));
  args.push_back(bufferOf(b, op.getG()));
  args.push_back(bufferOf(b, op.getH()));
  if (op.getBias())
    args.push_back(bufferOf(b, op.getBias()));

  SmallVector<Value> dynSizes;
  for (int64_t d = 0; d + 1 < rank; ++d)
    if (resultType.isDynamicDim(d))
      dynSizes.push_back(tensor::DimOp::create(b, op.getInput(), d));
  Value out = memref::AllocOp::create(
      b, MemRefType::get(resultType.getShape(), ty), dynSizes);
  Value out2 = as2D(b, out);
  args.push_back(out2);
  bool needTmp = op.getNormEps() && !ty.isF32();
  if (needTmp) {
    auto t2 = cast<MemRefType>(out2.getType());
    SmallVector<Value> dyn;
    if (t2.isDynamicDim(0))
      dyn.push_back(memref::DimOp::create(b, out2, 0));
    args.push_back(memref::AllocOp::create(
        b, MemRefType::get(t2.getShape(), b.getF32Type()), dyn));
  }

  std::string name = "binary_linear_" + std::to_string(index);
  if (auto layer = op->getAttrOfType<StringAttr>("onebit.name"))
    name += "_" + sanitize(layer.getValue());
  SmallVector<NamedAttribute> info{
      b.getNamedAttr("k", b.getI64IntegerAttr(K)),
      b.getNamedAttr("n", b.getI64IntegerAttr(N)),
      b.getNamedAttr("name", b.getStringAttr(name)),
      b.getNamedAttr("bias", b.getBoolAttr(bool(op.getBias())))};
  if (op.getNormEps())
    info.push_back(b.getNamedAttr(
        "norm_eps", b.getF64FloatAttr(op.getNormEps()->convertToDouble())));

  auto module = op->getParentOfType<ModuleOp>();
  std::string stubName = "__onebit_gpu_" + name;
  auto fnType = FunctionType::get(ctx, ValueRange(args).getTypes(), {});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    auto stub = func::FuncOp::create(b, stubName, fnType);
    stub.setPrivate();
    SymbolTable(module).insert(stub); // renames on a clash
    stubName = stub.getSymName().str();
  }
  auto call = func::CallOp::create(b, stubName, TypeRange{}, args);
  call->setAttr(kGpuBinaryLinearAttr, b.getDictionaryAttr(info));

  Value result = bufferization::ToTensorOp::create(
      b, RankedTensorType::get(resultType.getShape(), ty), out,
      /*restrict=*/true, /*writable=*/true);
  op.getResult().replaceAllUsesWith(result);
  op.erase();
  return success();
}

/// Phase 2 (memrefs): kernel-stub call -> gpu.launch kernels.
void expandStub(func::CallOp call, const Config &cfg) {
  auto info = call->getAttrOfType<DictionaryAttr>(kGpuBinaryLinearAttr);
  int64_t K = cast<IntegerAttr>(info.get("k")).getInt();
  int64_t N = cast<IntegerAttr>(info.get("n")).getInt();
  std::string name = cast<StringAttr>(info.get("name")).getValue().str();
  bool hasBias = cast<BoolAttr>(info.get("bias")).getValue();
  auto epsAttr = dyn_cast_or_null<FloatAttr>(info.get("norm_eps"));

  ImplicitLocOpBuilder b(call.getLoc(), call);
  ValueRange args = call.getOperands();
  unsigned i = 0;
  Value x = args[i++], signs = args[i++], g = args[i++], h = args[i++];
  Value bias = hasBias ? args[i++] : Value();
  Value out = args[i++];
  Value tmp = i < args.size() ? args[i++] : out;
  Value M = memref::DimOp::create(b, x, 0);

  // Many rows (prefill, the train step): the tensor-core kernel; few rows
  // (decode): the sign-flip kernel. A dynamic M gets both, chosen on the
  // host at run time.
  auto xType = cast<MemRefType>(x.getType());
  bool dynamicM = xType.isDynamicDim(0);
  Value gemmOut = epsAttr ? tmp : out;
  Value gemmBias = epsAttr ? Value() : bias;
  auto mmaKernel = [&] {
    int64_t mTiles = !dynamicM && xType.getDimSize(0) <= 16 ? 1 : 2;
    emitMmaGemm(b, mTiles, x, signs, g, h, gemmBias, gemmOut, K, N, M,
                name + "_mma");
  };
  auto signFlipKernel = [&] {
    Config c = cfg;
    if (!dynamicM)
      c.mTile = std::max<int64_t>(1, std::min(c.mTile, xType.getDimSize(0)));
    // Do not stage more words per tile than a row has (rounded to the warp).
    int64_t kw = (K + 31) / 32;
    c.tileWords = std::min(c.tileWords, (kw + 31) / 32 * 32);
    chooseSignLoads(c, K);
    chooseSplits(c, K, N);
    if (c.splits == 1) {
      emitGemm(b, c, x, signs, g, h, gemmBias, gemmOut, K, N, M,
               name + "_gemv");
      return;
    }
    // Split-K: the partial sums in a scratch buffer, freed after the sum
    // (onebit-gpu-host-memory makes it managed memory, like the rest of
    // host code's buffers).
    auto partialType =
        MemRefType::get({c.splits, ShapedType::kDynamic, N}, b.getF32Type());
    Value partial = memref::AllocOp::create(b, partialType, ValueRange{M});
    emitGemm(b, c, x, signs, g, h, gemmBias, gemmOut, K, N, M, name + "_gemv",
             partial);
    emitSplitKSum(b, c.splits, partial, h, gemmBias, gemmOut, N, M,
                  name + "_splitk");
    memref::DeallocOp::create(b, partial);
  };
  if (!cfg.tensorCores ||
      (!dynamicM && xType.getDimSize(0) < cfg.mmaMinRows)) {
    signFlipKernel();
  } else if (!dynamicM) {
    mmaKernel();
  } else {
    Value many = arith::CmpIOp::create(b, arith::CmpIPredicate::uge, M,
                                       cIdx(b, cfg.mmaMinRows));
    auto ifOp = scf::IfOp::create(b, many, /*withElse=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    mmaKernel();
    b.setInsertionPointToStart(ifOp.elseBlock());
    signFlipKernel();
  }
  if (epsAttr)
    emitNorm(b, tmp, bias, out, N, M, epsAttr.getValueAsDouble(),
             name + "_norm");
  call.erase();
}

struct ConvertOneBitToGPUPass
    : public onebit::impl::ConvertOneBitToGPUBase<ConvertOneBitToGPUPass> {
  void runOnOperation() override {
    SmallVector<BinaryLinearOp> ops;
    getOperation().walk([&](BinaryLinearOp op) { ops.push_back(op); });
    unsigned index = 0;
    for (BinaryLinearOp op : ops)
      if (failed(lowerToStub(op, index++)))
        return signalPassFailure();
  }
};

struct OneBitGpuBinaryLinearKernelsPass
    : public onebit::impl::OneBitGpuBinaryLinearKernelsBase<
          OneBitGpuBinaryLinearKernelsPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (warps < 1 || warps > 32 || mTile < 1 || mTile > 16 || tileWords < 32 ||
        tileWords % 32 != 0) {
      module.emitError()
          << "onebit-gpu-binary-linear-kernels: need 1 <= warps <= 32, "
             "1 <= m-tile <= 16 and tile-words a positive multiple of 32";
      return signalPassFailure();
    }
    if (mTile * 32 * (tileWords + 1) * 4 > 48 * 1024) {
      module.emitError()
          << "onebit-gpu-binary-linear-kernels: m-tile * 32 * (tile-words + 1) "
             "floats exceed 48 KiB of static workgroup memory";
      return signalPassFailure();
    }
    if (mmaMinRows < 1) {
      module.emitError() << "onebit-gpu-binary-linear-kernels: mma-min-rows "
                            "must be at least 1, got "
                         << static_cast<int64_t>(mmaMinRows);
      return signalPassFailure();
    }
    Config cfg{warps, mTile, tileWords, tensorCores, mmaMinRows};
    cfg.splitKBlocks = splitKBlocks;
    SmallVector<func::CallOp> calls;
    llvm::SmallDenseSet<StringRef> stubs;
    module.walk([&](func::CallOp call) {
      if (call->hasAttr(kGpuBinaryLinearAttr)) {
        calls.push_back(call);
        stubs.insert(call.getCallee());
      }
    });
    for (func::CallOp call : calls)
      expandStub(call, cfg);
    for (StringRef name : stubs)
      if (auto f = module.lookupSymbol<func::FuncOp>(name))
        if (f.isExternal() && SymbolTable::symbolKnownUseEmpty(f, module))
          f.erase();
  }
};

} // namespace
