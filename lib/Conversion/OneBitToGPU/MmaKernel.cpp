//===- MmaKernel.cpp - the tensor-core (mma.sync) binary-layer kernel -----===//
//
// The prefill / train-step kernel of onebit.binary_linear (many activation
// rows): Y = [(X * g) . S^T] * h (+ bias) on tensor cores, with
// nvgpu.mma.sync m16n8k16 (f16 A and B, f32 accumulation; lowered by
// convert-nvgpu-to-nvvm to mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32).
//
//   * Block: kMmaWarps = 4 warps, tile 16 * mTiles rows x 128 columns. Warp
//     w owns columns 32 w .. 32 w + 31 of the block's tile (four n8 tiles)
//     for all of its rows (mTiles m16 tiles): 4 * mTiles accumulators
//     (vector<2x2xf32> each) per lane. Four n8 tiles rather than two halve
//     the staging work and the L2 reads of x per mma (static report: 18.7
//     instead of 25.3 PTX instructions per mma) at 94 registers.
//   * Per K tile of 128 features the block stages A' = x * g (computed in
//     f32, rounded to f16) in workgroup memory as f16 pairs packed in i32,
//     [row][pair] with a pitch of 68 words: the A-fragment reads (lane
//     (g, t) reads word t of rows g and g + 8) hit 32 distinct banks.
//   * Each lane loads the 4 sign words of the tile for its four columns
//     n = 32 w + 8 j + g (j = 0..3), shifted right by 2t once, and expands
//     them into +-1 f16 B fragments with shifts, ands and ors
//     (0x3C00 | bit << 15 per half: 0x3C00 = +1, 0xBC00 = -1), no
//     multiplication per weight.
//   * The epilogue multiplies by h[n] and adds the bias; rows >= M and
//     columns >= N are not stored (A' is zero there, so the padding bits of
//     the last sign word do not matter).
//
// Fragment layout (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating
// point type"; g = lane / 4, t = lane % 4): A register i holds
// A[g + 8 (i % 2)][2t + 8 (i / 2) + {0, 1}], B register i holds
// B[2t + 8 i + {0, 1}][g], C/D register i holds C[g + 8 i][2t + {0, 1}].
//
//===----------------------------------------------------------------------===//

#include "KernelBuilders.h"

#include "mlir/IR/Builders.h"

using namespace mlir;

namespace onebit::gpukernels {
namespace {

constexpr int64_t kNTiles = 4;             // n8 tiles per warp
constexpr int64_t kTileK = 128;            // features per K tile
constexpr int64_t kPairs = kTileK / 2;     // i32 words (f16 pairs) per row
constexpr int64_t kPitch = kPairs + 4;     // 68: conflict-free A reads
constexpr int64_t kTileWords = kTileK / 32; // sign words per row per tile

/// Moves bit `src` of `v` to bit `dst`, all other bits zero.
Value moveBit(ImplicitLocOpBuilder &b, Value v, int64_t src, int64_t dst) {
  if (dst > src)
    v = arith::ShLIOp::create(b, v, cI32(b, dst - src));
  else if (dst < src)
    v = arith::ShRUIOp::create(b, v, cI32(b, src - dst));
  return arith::AndIOp::create(b, v, cI32(b, int64_t(1) << dst));
}

/// A packed f16 pair: vector<2xf16> from its i32 bits.
Value pairOf(ImplicitLocOpBuilder &b, Value word) {
  Value v = vector::FromElementsOp::create(
      b, VectorType::get({1}, b.getI32Type()), ValueRange{word});
  return vector::BitCastOp::create(b, VectorType::get({2}, b.getF16Type()), v);
}

/// vector<rows x 2 x f16> from packed pairs.
Value fragmentOf(ImplicitLocOpBuilder &b, ArrayRef<Value> words) {
  auto type = VectorType::get({int64_t(words.size()), 2}, b.getF16Type());
  Value frag = arith::ConstantOp::create(
      b, type, DenseElementsAttr::get(type, b.getF16FloatAttr(0.0)));
  for (auto [i, w] : llvm::enumerate(words))
    frag = vector::InsertOp::create(b, pairOf(b, w), frag,
                                    ArrayRef<int64_t>{int64_t(i)});
  return frag;
}

} // namespace

void emitMmaGemm(ImplicitLocOpBuilder &b, int64_t mTiles, Value x, Value signs,
                 Value g, Value h, Value bias, Value out, int64_t K, int64_t N,
                 Value M, StringRef kernelName) {
  MLIRContext *ctx = b.getContext();
  const int64_t KW = (K + 31) / 32;
  const int64_t BM = 16 * mTiles;
  const int64_t BN = kMmaWarps * 8 * kNTiles;
  const int64_t threads = kMmaWarps * 32;
  const int64_t numTiles = (K + kTileK - 1) / kTileK;
  // k16 steps per tile: with one tile (K <= 128) only those K reaches.
  const int64_t steps = numTiles == 1 ? (K + 15) / 16 : kTileK / 16;
  Type f32 = b.getF32Type(), f16 = b.getF16Type(), i32 = b.getI32Type();

  auto wgSpace = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  auto shmType = MemRefType::get({BM * kPitch}, i32, AffineMap{}, wgSpace);
  Value one = cIdx(b, 1);
  auto launch = launchKernel(b, cIdx(b, (N + BN - 1) / BN), ceilDiv(b, M, BM),
                             threads, TypeRange{shmType}, kernelName);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&launch.getBody().front());
  Value shm = launch.getWorkgroupAttributions()[0];

  Value tid = launch.getThreadIds().x;
  Value lane = arith::RemUIOp::create(b, tid, cIdx(b, 32));
  Value warp = arith::DivUIOp::create(b, tid, cIdx(b, 32));
  Value gq = arith::DivUIOp::create(b, lane, cIdx(b, 4));
  Value tq = arith::RemUIOp::create(b, lane, cIdx(b, 4));
  Value nWarp = arith::AddIOp::create(
      b, arith::MulIOp::create(b, launch.getBlockIds().x, cIdx(b, BN)),
      arith::MulIOp::create(b, warp, cIdx(b, 8 * kNTiles)));
  Value m0 = arith::MulIOp::create(b, launch.getBlockIds().y, cIdx(b, BM));
  // This lane's sign rows (B columns) and its shift: bit 2t of a word is
  // the first k of the lane's B fragment.
  SmallVector<Value> nLane, nOk;
  for (int64_t j = 0; j < kNTiles; ++j) {
    Value n = arith::AddIOp::create(
        b, nWarp, arith::AddIOp::create(b, gq, cIdx(b, 8 * j)));
    nLane.push_back(n);
    nOk.push_back(
        arith::CmpIOp::create(b, arith::CmpIPredicate::ult, n, cIdx(b, N)));
  }
  Value shift = arith::IndexCastUIOp::create(
      b, i32, arith::MulIOp::create(b, tq, cIdx(b, 2)));
  Value zeroF = cF32(b, 0.0);
  Value zeroI = cI32(b, 0);
  Value plusOnes = cI32(b, 0x3C003C00); // two f16 +1.0

  auto accType = VectorType::get({2, 2}, f32);
  Value zeroAcc = arith::ConstantOp::create(
      b, accType, DenseElementsAttr::get(accType, b.getF32FloatAttr(0.0)));
  SmallVector<Value> init(mTiles * kNTiles, zeroAcc);
  auto tileLoop =
      scf::ForOp::create(b, cIdx(b, 0), cIdx(b, numTiles), one, init);
  {
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(tileLoop.getBody());
    Value t = tileLoop.getInductionVar();
    SmallVector<Value> acc(tileLoop.getRegionIterArgs());

    // Staging: A'[m, k] = f16(x[m, k] * g[k]), zero outside [0, M) x [0, K).
    gpu::BarrierOp::create(b);
    Value kBase = arith::MulIOp::create(b, t, cIdx(b, kTileK));
    auto stage =
        scf::ForOp::create(b, tid, cIdx(b, BM * kPairs), cIdx(b, threads));
    {
      OpBuilder::InsertionGuard g3(b);
      b.setInsertionPointToStart(stage.getBody());
      Value i = stage.getInductionVar();
      Value ml = arith::DivUIOp::create(b, i, cIdx(b, kPairs));
      Value kp = arith::RemUIOp::create(b, i, cIdx(b, kPairs));
      Value m = arith::AddIOp::create(b, m0, ml);
      Value mOk = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, m, M);
      SmallVector<Value> halves;
      for (int64_t e = 0; e < 2; ++e) {
        Value k = arith::AddIOp::create(
            b, kBase,
            arith::AddIOp::create(
                b, arith::MulIOp::create(b, kp, cIdx(b, 2)), cIdx(b, e)));
        Value ok = arith::AndIOp::create(
            b, mOk,
            arith::CmpIOp::create(b, arith::CmpIPredicate::ult, k,
                                  cIdx(b, K)));
        auto ifOp = scf::IfOp::create(b, TypeRange{f32}, ok, true, true);
        {
          OpBuilder::InsertionGuard g4(b);
          b.setInsertionPointToStart(ifOp.thenBlock());
          scf::YieldOp::create(
              b, ValueRange{arith::MulFOp::create(b, loadF32(b, x, {m, k}),
                                                  loadF32(b, g, {k}))});
          b.setInsertionPointToStart(ifOp.elseBlock());
          scf::YieldOp::create(b, zeroF);
        }
        halves.push_back(arith::TruncFOp::create(b, f16, ifOp.getResult(0)));
      }
      Value pair = vector::FromElementsOp::create(
          b, VectorType::get({2}, f16), halves);
      Value word = vector::ExtractOp::create(
          b,
          vector::BitCastOp::create(b, VectorType::get({1}, i32), pair),
          ArrayRef<int64_t>{0});
      Value pos = arith::AddIOp::create(
          b, arith::MulIOp::create(b, ml, cIdx(b, kPitch)), kp);
      memref::StoreOp::create(b, word, shm, pos);
    }
    gpu::BarrierOp::create(b);

    // The tile's sign words of this lane's columns, shifted by 2t.
    SmallVector<SmallVector<Value>> words(kNTiles);
    for (int64_t j = 0; j < kNTiles; ++j)
      for (int64_t w = 0; w < (steps + 1) / 2; ++w) {
        Value kw = arith::AddIOp::create(
            b, arith::MulIOp::create(b, t, cIdx(b, kTileWords)), cIdx(b, w));
        Value ok = arith::AndIOp::create(
            b, nOk[j],
            arith::CmpIOp::create(b, arith::CmpIPredicate::ult, kw,
                                  cIdx(b, KW)));
        auto ifOp = scf::IfOp::create(b, TypeRange{i32}, ok, true, true);
        {
          OpBuilder::InsertionGuard g4(b);
          b.setInsertionPointToStart(ifOp.thenBlock());
          scf::YieldOp::create(b, ValueRange{memref::LoadOp::create(
                                      b, signs, ValueRange{nLane[j], kw})});
          b.setInsertionPointToStart(ifOp.elseBlock());
          scf::YieldOp::create(b, zeroI);
        }
        words[j].push_back(
            arith::ShRUIOp::create(b, ifOp.getResult(0), shift));
      }

    // The k16 steps, unrolled; per step mTiles A and kNTiles B fragments.
    for (int64_t s = 0; s < steps; ++s) {
      SmallVector<Value> aFrag;
      for (int64_t mi = 0; mi < mTiles; ++mi) {
        Value r0 = arith::AddIOp::create(b, gq, cIdx(b, 16 * mi));
        Value base = arith::AddIOp::create(
            b, arith::MulIOp::create(b, r0, cIdx(b, kPitch)),
            arith::AddIOp::create(b, tq, cIdx(b, 8 * s)));
        // Registers: (g, k0), (g + 8, k0), (g, k0 + 8), (g + 8, k0 + 8).
        SmallVector<Value> regs;
        for (int64_t off : {int64_t(0), 8 * kPitch, int64_t(4), 8 * kPitch + 4})
          regs.push_back(memref::LoadOp::create(
              b, shm,
              ValueRange{arith::AddIOp::create(b, base, cIdx(b, off))}));
        aFrag.push_back(fragmentOf(b, regs));
      }
      for (int64_t j = 0; j < kNTiles; ++j) {
        // Bits 16 (s % 2) + {0, 1} and + {8, 9} of the shifted word; a set
        // bit (weight -1) sets the f16 sign bit of its half.
        Value w = words[j][s / 2];
        int64_t lo = 16 * (s % 2);
        SmallVector<Value> regs;
        for (int64_t r = 0; r < 2; ++r) {
          int64_t bit = lo + 8 * r;
          Value v = arith::OrIOp::create(
              b, plusOnes,
              arith::OrIOp::create(b, moveBit(b, w, bit, 15),
                                   moveBit(b, w, bit + 1, 31)));
          regs.push_back(v);
        }
        Value bFrag = fragmentOf(b, regs);
        for (int64_t mi = 0; mi < mTiles; ++mi) {
          Value &a = acc[mi * kNTiles + j];
          a = nvgpu::MmaSyncOp::create(b, aFrag[mi], bFrag, a,
                                       ArrayRef<int64_t>{16, 8, 16});
        }
      }
    }
    scf::YieldOp::create(b, acc);
  }

  // Epilogue: D register r, element c is row g + 8 r, column 2t + c.
  for (int64_t mi = 0; mi < mTiles; ++mi)
    for (int64_t j = 0; j < kNTiles; ++j) {
      Value d = tileLoop.getResult(mi * kNTiles + j);
      for (int64_t r = 0; r < 2; ++r)
        for (int64_t c = 0; c < 2; ++c) {
          Value m = arith::AddIOp::create(
              b, m0, arith::AddIOp::create(b, gq, cIdx(b, 16 * mi + 8 * r)));
          Value n = arith::AddIOp::create(
              b, nWarp,
              arith::AddIOp::create(
                  b, arith::MulIOp::create(b, tq, cIdx(b, 2)),
                  cIdx(b, 8 * j + c)));
          Value ok = arith::AndIOp::create(
              b, arith::CmpIOp::create(b, arith::CmpIPredicate::ult, m, M),
              arith::CmpIOp::create(b, arith::CmpIPredicate::ult, n,
                                    cIdx(b, N)));
          auto ifOp = scf::IfOp::create(b, ok, /*withElse=*/false);
          OpBuilder::InsertionGuard g4(b);
          b.setInsertionPointToStart(ifOp.thenBlock());
          Value y = arith::MulFOp::create(
              b, vector::ExtractOp::create(b, d, ArrayRef<int64_t>{r, c}),
              loadF32(b, h, {n}));
          if (bias)
            y = arith::AddFOp::create(b, y, loadF32(b, bias, {n}));
          storeF32(b, y, out, {m, n});
        }
    }
  b.setInsertionPointToEnd(&launch.getBody().front());
  gpu::TerminatorOp::create(b);
}

} // namespace onebit::gpukernels
