//===- ContractionKernels.cpp - dense contractions as tiled GPU kernels ---===//
//
// Implements --onebit-gpu-contraction-kernels (Passes.td): a dense linalg
// contraction on buffers (matmul, batch_matmul, the attention products and
// other generics with one reduction dimension) becomes a tiled gpu.launch,
// instead of one thread per output with the whole reduction in a loop.
//
//   * Block: 256 threads (16 x 16) over a 64 x 64 tile of C; thread (ty, tx)
//     owns rows ty + 16 i and columns tx + 16 j (i, j < 4), so a warp's
//     loads of B and stores of C touch consecutive columns.
//   * Per K tile of 16 the block stages the A tile [64 x 16] and the B tile
//     [16 x 64] in workgroup memory (f32, pitch 65, so the staging stores
//     hit distinct banks whichever dimension of an operand is contiguous;
//     the staging order follows that dimension, so the global loads are
//     coalesced for row-major and transposed operands alike), then each
//     thread does 16 x 16 FMAs out of its 4 + 4 staged values per k.
//   * The remaining parallel dimensions (batch, heads, the other rows of a
//     grouped-query product) are the grid's z, delinearised in the kernel;
//     an operand that lacks one is broadcast over it.
//   * Inputs are widened to f32 and accumulated in f32; the epilogue adds
//     the initial value of C (linalg's semantics) and narrows to C's type.
//     Rows and columns outside [0, M) x [0, N) are neither loaded nor
//     stored.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilders.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Builders.h"

#include <limits>

namespace onebit {
#define GEN_PASS_DEF_ONEBITGPUCONTRACTIONKERNELS
#include "onebit/Conversion/Passes.h.inc"
} // namespace onebit

using namespace mlir;
using namespace onebit::gpukernels;

namespace {

constexpr int64_t kTile = 64;           // rows and columns of C per block
constexpr int64_t kTileK = 16;          // reduction elements staged per step
constexpr int64_t kSide = 16;           // threads per block side
constexpr int64_t kPer = kTile / kSide; // 4 rows / columns per thread
constexpr int64_t kThreads = kSide * kSide;
constexpr int64_t kPitch = kTile + 1; // workgroup row pitch (banks)

/// How a contraction maps onto the kernel: loop dimensions of the op.
struct Plan {
  int64_t m = -1, n = -1, k = -1;
  SmallVector<int64_t> outer; // every other parallel dimension
  unsigned lhs = 0, rhs = 1;  // the input with m, the input with n
};

bool isFloat(Type t) { return t.isF32() || t.isF16() || t.isBF16(); }

/// Whether `map` has loop dimension `dim` among its results.
bool hasDim(AffineMap map, int64_t dim) {
  return llvm::any_of(map.getResults(), [&](AffineExpr e) {
    return cast<AffineDimExpr>(e).getPosition() == unsigned(dim);
  });
}

/// A plan for `op`, or failure when it is not a dense contraction this
/// kernel takes (or too small for it: fewer than `minRows` rows or 16
/// columns, known at compile time).
FailureOr<Plan> planFor(linalg::LinalgOp op, int64_t minRows) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1)
    return failure();
  for (OpOperand &o : op->getOpOperands()) {
    auto t = dyn_cast<MemRefType>(o.get().getType());
    if (!t || !isFloat(t.getElementType()))
      return failure();
  }
  if (!linalg::isaContractionOpInterface(op))
    return failure();
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  for (AffineMap map : maps)
    if (!map.isProjectedPermutation(/*allowZeroInResults=*/false))
      return failure();
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->k.size() != 1 || dims->m.empty() ||
      dims->n.empty() ||
      dims->batch.size() + dims->m.size() + dims->n.size() + 1 !=
          op.getNumLoops())
    return failure();

  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  auto size = [&](int64_t d) {
    return ShapedType::isDynamic(ranges[d])
               ? std::numeric_limits<int64_t>::max()
               : ranges[d];
  };
  Plan plan;
  plan.k = dims->k.front();
  // The rows: the longest m dimension (a dynamic one, a sequence, first).
  for (unsigned d : dims->m)
    if (plan.m < 0 || size(d) > size(plan.m))
      plan.m = d;
  // The columns: the n dimension innermost in C, so stores coalesce.
  AffineMap outMap = maps[2];
  for (AffineExpr e : outMap.getResults()) {
    unsigned d = cast<AffineDimExpr>(e).getPosition();
    if (llvm::is_contained(dims->n, d))
      plan.n = d;
  }
  if (size(plan.m) < minRows || size(plan.n) < kSide)
    return failure();
  for (AffineExpr e : outMap.getResults()) {
    int64_t d = cast<AffineDimExpr>(e).getPosition();
    if (d != plan.m && d != plan.n)
      plan.outer.push_back(d);
  }
  if (!hasDim(maps[0], plan.m)) {
    plan.lhs = 1;
    plan.rhs = 0;
  }
  if (!hasDim(maps[plan.lhs], plan.m) || hasDim(maps[plan.lhs], plan.n) ||
      !hasDim(maps[plan.rhs], plan.n) || hasDim(maps[plan.rhs], plan.m))
    return failure();
  return plan;
}

/// The indices of an operand with indexing map `map`, given each loop
/// dimension's index in `at`.
SmallVector<Value> indicesOf(AffineMap map, ArrayRef<Value> at) {
  SmallVector<Value> idx;
  for (AffineExpr e : map.getResults())
    idx.push_back(at[cast<AffineDimExpr>(e).getPosition()]);
  return idx;
}

/// Whether loop dimension `dim` is the last (contiguous) index of `map`.
bool isInnermost(AffineMap map, int64_t dim) {
  return map.getNumResults() > 0 &&
         cast<AffineDimExpr>(map.getResults().back()).getPosition() ==
             unsigned(dim);
}

Value lt(ImplicitLocOpBuilder &b, Value a, Value c) {
  return arith::CmpIOp::create(b, arith::CmpIPredicate::ult, a, c);
}

/// `mem[idx]` widened to f32 when `ok`, else 0.
Value loadOrZero(ImplicitLocOpBuilder &b, Value ok, Value mem, ValueRange idx) {
  auto ifOp = scf::IfOp::create(b, TypeRange{b.getF32Type()}, ok, true, true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  scf::YieldOp::create(b, loadF32(b, mem, idx));
  b.setInsertionPointToStart(ifOp.elseBlock());
  scf::YieldOp::create(b, cF32(b, 0.0));
  return ifOp.getResult(0);
}

void emitKernel(linalg::LinalgOp op, const Plan &plan, StringRef name) {
  ImplicitLocOpBuilder b(op.getLoc(), op);
  MLIRContext *ctx = b.getContext();
  SmallVector<Value> sizes;
  for (Range r : op.createLoopRanges(b, op.getLoc()))
    sizes.push_back(getValueOrCreateConstantIndexOp(b, op.getLoc(), r.size));
  Value M = sizes[plan.m], N = sizes[plan.n], K = sizes[plan.k];
  Value Z = cIdx(b, 1);
  for (int64_t d : plan.outer)
    Z = arith::MulIOp::create(b, Z, sizes[d]);
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  Value lhs = op.getDpsInputs()[plan.lhs], rhs = op.getDpsInputs()[plan.rhs];
  Value out = op.getDpsInits()[0];
  AffineMap lhsMap = maps[plan.lhs], rhsMap = maps[plan.rhs], outMap = maps[2];

  auto wg = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  auto shmType =
      MemRefType::get({kTileK * kPitch}, b.getF32Type(), AffineMap{}, wg);
  Value one = cIdx(b, 1);
  auto launch = launchKernel(b, ceilDiv(b, N, kTile), ceilDiv(b, M, kTile), Z,
                             kThreads, TypeRange{shmType, shmType}, name);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&launch.getBody().front());
  Value aShm = launch.getWorkgroupAttributions()[0];
  Value bShm = launch.getWorkgroupAttributions()[1];

  Value tid = launch.getThreadIds().x;
  Value tx = arith::RemUIOp::create(b, tid, cIdx(b, kSide));
  Value ty = arith::DivUIOp::create(b, tid, cIdx(b, kSide));
  Value n0 = arith::MulIOp::create(b, launch.getBlockIds().x, cIdx(b, kTile));
  Value m0 = arith::MulIOp::create(b, launch.getBlockIds().y, cIdx(b, kTile));
  // Each loop dimension's index; the outer ones from the block's z.
  SmallVector<Value> at(op.getNumLoops());
  Value z = launch.getBlockIds().z;
  for (int64_t d : llvm::reverse(plan.outer)) {
    at[d] = arith::RemUIOp::create(b, z, sizes[d]);
    z = arith::DivUIOp::create(b, z, sizes[d]);
  }

  // Staging order: consecutive threads walk the operand's contiguous
  // dimension, so their global loads coalesce.
  const bool lhsKFast = isInnermost(lhsMap, plan.k);
  const bool rhsKFast = isInnermost(rhsMap, plan.k);
  Value zero = cF32(b, 0.0);
  SmallVector<Value> init(kPer * kPer, zero);
  auto kLoop = scf::ForOp::create(b, cIdx(b, 0), K, cIdx(b, kTileK), init);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(kLoop.getBody());
    Value k0 = kLoop.getInductionVar();
    gpu::BarrierOp::create(b);
    for (int64_t r = 0; r < kTile * kTileK / kThreads; ++r) {
      Value e = arith::AddIOp::create(b, tid, cIdx(b, r * kThreads));
      for (int side = 0; side < 2; ++side) {
        const bool kFast = side == 0 ? lhsKFast : rhsKFast;
        // (row of the tile, k of the tile) for this element.
        Value t = kFast ? Value(arith::DivUIOp::create(b, e, cIdx(b, kTileK)))
                        : Value(arith::RemUIOp::create(b, e, cIdx(b, kTile)));
        Value kk = kFast ? Value(arith::RemUIOp::create(b, e, cIdx(b, kTileK)))
                         : Value(arith::DivUIOp::create(b, e, cIdx(b, kTile)));
        Value base = side == 0 ? m0 : n0;
        Value limit = side == 0 ? M : N;
        Value pos = arith::AddIOp::create(b, base, t);
        Value k = arith::AddIOp::create(b, k0, kk);
        SmallVector<Value> idx(at);
        idx[side == 0 ? plan.m : plan.n] = pos;
        idx[plan.k] = k;
        Value ok = arith::AndIOp::create(b, lt(b, pos, limit), lt(b, k, K));
        Value v = side == 0 ? loadOrZero(b, ok, lhs, indicesOf(lhsMap, idx))
                            : loadOrZero(b, ok, rhs, indicesOf(rhsMap, idx));
        Value slot = arith::AddIOp::create(
            b, arith::MulIOp::create(b, kk, cIdx(b, kPitch)), t);
        memref::StoreOp::create(b, v, side == 0 ? aShm : bShm, slot);
      }
    }
    gpu::BarrierOp::create(b);
    auto inner = scf::ForOp::create(b, cIdx(b, 0), cIdx(b, kTileK), one,
                                    kLoop.getRegionIterArgs());
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(inner.getBody());
      Value row =
          arith::MulIOp::create(b, inner.getInductionVar(), cIdx(b, kPitch));
      SmallVector<Value> a, w;
      for (int64_t i = 0; i < kPer; ++i) {
        a.push_back(memref::LoadOp::create(
            b, aShm,
            ValueRange{arith::AddIOp::create(
                b, row, arith::AddIOp::create(b, ty, cIdx(b, kSide * i)))}));
        w.push_back(memref::LoadOp::create(
            b, bShm,
            ValueRange{arith::AddIOp::create(
                b, row, arith::AddIOp::create(b, tx, cIdx(b, kSide * i)))}));
      }
      SmallVector<Value> acc(inner.getRegionIterArgs());
      for (int64_t i = 0; i < kPer; ++i)
        for (int64_t j = 0; j < kPer; ++j)
          acc[i * kPer + j] =
              math::FmaOp::create(b, a[i], w[j], acc[i * kPer + j]);
      scf::YieldOp::create(b, acc);
    }
    scf::YieldOp::create(b, inner.getResults());
  }

  // Epilogue: C += the tile's sums, inside [0, M) x [0, N).
  for (int64_t i = 0; i < kPer; ++i)
    for (int64_t j = 0; j < kPer; ++j) {
      Value m = arith::AddIOp::create(
          b, m0, arith::AddIOp::create(b, ty, cIdx(b, kSide * i)));
      Value n = arith::AddIOp::create(
          b, n0, arith::AddIOp::create(b, tx, cIdx(b, kSide * j)));
      Value ok = arith::AndIOp::create(b, lt(b, m, M), lt(b, n, N));
      auto ifOp = scf::IfOp::create(b, ok, /*withElse=*/false);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      SmallVector<Value> idx(at);
      idx[plan.m] = m;
      idx[plan.n] = n;
      SmallVector<Value> cIdxs = indicesOf(outMap, idx);
      Value sum = arith::AddFOp::create(b, loadF32(b, out, cIdxs),
                                        kLoop.getResult(i * kPer + j));
      storeF32(b, sum, out, cIdxs);
    }
  b.setInsertionPointToEnd(&launch.getBody().front());
  gpu::TerminatorOp::create(b);
}

struct GpuContractionKernels
    : onebit::impl::OneBitGpuContractionKernelsBase<GpuContractionKernels> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<std::pair<linalg::LinalgOp, Plan>> work;
    getOperation().walk([&](linalg::LinalgOp op) {
      // Not inside a kernel already, only host code.
      if (op->getParentOfType<gpu::LaunchOp>())
        return;
      FailureOr<Plan> plan = planFor(op, minRows);
      if (succeeded(plan))
        work.push_back({op, *plan});
    });
    for (auto [i, item] : llvm::enumerate(work)) {
      emitKernel(item.first, item.second,
                 "onebit_contraction_" + std::to_string(i));
      item.first->erase();
    }
  }
};

} // namespace
