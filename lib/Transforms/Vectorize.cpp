//===- Vectorize.cpp - tile and vectorize linalg ops on buffers -----------===//
//
// The element-wise chains, reductions and gradient generics of a model or a
// train step are linalg ops on buffers once bufferized. Lowered to scalar
// loops, LLVM vectorizes few of them: a reduction stores into its output
// every iteration, and nothing tells LLVM that the output does not alias the
// inputs, so neither the loop-invariant loads nor the reduction leave the
// loop, and floating-point reductions need reassociation. Here the semantics
// of linalg are still known: every op whose innermost loop dimension is
// contiguous in all its operands is tiled to [1, ..., 1, V] and each tile is
// vectorized with MLIR's linalg vectorizer; the vector ops are then lowered
// to 1-D loads, stores, element-wise arithmetic and horizontal reductions.
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/Support/raw_ostream.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITVECTORIZE
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

/// Why an op is left to the scalar loop lowering; counted for `stats`.
enum class Skip {
  None,
  NotBuffers,   // tensor semantics or a dynamic innermost extent
  Narrow,       // innermost extent below one vector
  Ragged,       // innermost extent not a multiple of the vector width
  Strided,      // an operand is not contiguous along the innermost loop
  Unsupported,  // the vectorizer's precondition fails (gathers, ...)
};

/// Whether every shaped operand of `op` reads the innermost loop dimension
/// in its last position with unit stride, or not at all.
bool innermostContiguous(linalg::LinalgOp op) {
  const unsigned inner = op.getNumLoops() - 1;
  for (OpOperand &operand : op->getOpOperands()) {
    if (op.isScalar(&operand))
      continue;
    AffineMap map = op.getMatchingIndexingMap(&operand);
    for (unsigned r = 0, e = map.getNumResults(); r < e; ++r) {
      AffineExpr expr = map.getResult(r);
      if (expr.isFunctionOfDim(inner) &&
          (r + 1 != e || expr != getAffineDimExpr(inner, op.getContext())))
        return false;
    }
    auto type = dyn_cast<MemRefType>(operand.get().getType());
    if (!type || type.getRank() == 0)
      continue;
    // Booleans (an ONNX mask) take a byte each in a memref but a bit each
    // in a vector register: a vector load would read packed bits.
    Type element = type.getElementType();
    if (element.isIntOrFloat() && element.getIntOrFloatBitWidth() % 8 != 0)
      return false;
    int64_t offset;
    SmallVector<int64_t> strides;
    if (failed(type.getStridesAndOffset(strides, offset)) ||
        strides.back() != 1)
      return false;
  }
  return true;
}

/// The tile of `op` that becomes one vector operation: 1 in every loop
/// dimension but the innermost, which gets the largest of maxWidth,
/// maxWidth/2, ..., minWidth that divides its extent.
Skip chooseTile(linalg::LinalgOp op, int64_t minWidth, int64_t maxWidth,
                SmallVectorImpl<int64_t> &tile) {
  if (!op.hasPureBufferSemantics())
    return Skip::NotBuffers;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (ranges.empty())
    return Skip::Narrow;
  const unsigned inner = ranges.size() - 1;
  const int64_t extent = ranges[inner];
  // Outer dimensions may be dynamic (they are tiled by 1); a dynamic
  // innermost one is peeled first (peelDynamicInner), and what is left of
  // it here is its remainder.
  if (ShapedType::isDynamic(extent))
    return Skip::NotBuffers;
  if (extent < minWidth)
    return Skip::Narrow;
  if (extent % minWidth != 0)
    return Skip::Ragged;
  // Contiguous: each shaped operand reads the innermost loop dimension in
  // its last position only, or not at all (broadcast along it), and the
  // innermost memref stride is 1 for the vector loads.
  if (!innermostContiguous(op))
    return Skip::Strided;
  if (failed(linalg::vectorizeOpPrecondition(op)))
    return Skip::Unsupported;
  int64_t width = maxWidth;
  while (width > minWidth && extent % width != 0)
    width /= 2;
  tile.assign(ranges.size(), 1);
  for (unsigned d = 0; d < inner; ++d)
    if (ranges[d] == 1)
      tile[d] = 0; // nothing to tile
  tile[inner] = width == extent ? 0 : width;
  return Skip::None;
}

/// Ops whose innermost extent is dynamic (attention's keys) are tiled to
/// [1, ..., 1, width] and their innermost tile loop is peeled: the main
/// loop's tiles have the static width, once canonicalized, and are
/// vectorized like any static op; the last, partial tile stays a loop.
/// Returns how many ops were peeled.
unsigned peelDynamicInner(Operation *root, int64_t width) {
  SmallVector<linalg::LinalgOp> work;
  root->walk([&](linalg::LinalgOp op) {
    if (!op.hasPureBufferSemantics() || op.getNumLoops() == 0)
      return;
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    if (!ShapedType::isDynamic(ranges.back()) || !innermostContiguous(op))
      return;
    work.push_back(op);
  });
  IRRewriter rewriter(root->getContext());
  unsigned peeled = 0;
  for (linalg::LinalgOp op : work) {
    SmallVector<int64_t> tile(op.getNumLoops(), 1);
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    for (unsigned d = 0; d + 1 < ranges.size(); ++d)
      if (ranges[d] == 1)
        tile[d] = 0;
    tile.back() = width;
    rewriter.setInsertionPoint(op);
    linalg::LinalgTilingOptions options;
    options.setTileSizes(tile).setLoopType(linalg::LinalgTilingLoopType::Loops);
    FailureOr<linalg::TiledLinalgOp> tiled =
        linalg::tileLinalgOp(rewriter, op, options);
    if (failed(tiled) || tiled->loops.empty())
      continue;
    rewriter.eraseOp(op);
    auto inner = dyn_cast<scf::ForOp>(tiled->loops.back());
    scf::ForOp partial;
    if (inner &&
        succeeded(scf::peelForLoopAndSimplifyBounds(rewriter, inner, partial)))
      ++peeled;
  }
  return peeled;
}

struct VectorizePass : public onebit::impl::OneBitVectorizeBase<VectorizePass> {
  using Base::Base;

  void runOnOperation() override {
    if (minWidth < 1 || maxWidth < minWidth ||
        !llvm::isPowerOf2_64(minWidth) || !llvm::isPowerOf2_64(maxWidth)) {
      getOperation()->emitError()
          << "onebit-vectorize: min-width and max-width must be powers of "
             "two with min-width <= max-width";
      return signalPassFailure();
    }
    // A memref.copy between static buffers of which one is not contiguous
    // (a half of a RoPE rotation, a slice of a concatenation) would call
    // the runtime's generic element-by-element copy; as linalg.copy it is
    // vectorized below, or lowered to inline loops.
    IRRewriter rewriter(&getContext());
    unsigned copies = 0;
    getOperation()->walk([&](memref::CopyOp copy) {
      auto src = dyn_cast<MemRefType>(copy.getSource().getType());
      auto dst = dyn_cast<MemRefType>(copy.getTarget().getType());
      if (!src || !dst || !src.hasStaticShape() || !dst.hasStaticShape() ||
          (memref::isStaticShapeAndContiguousRowMajor(src) &&
           memref::isStaticShapeAndContiguousRowMajor(dst)))
        return;
      rewriter.setInsertionPoint(copy);
      linalg::CopyOp::create(rewriter, copy.getLoc(),
                             ValueRange{copy.getSource()},
                             ValueRange{copy.getTarget()});
      rewriter.eraseOp(copy);
      ++copies;
    });

    // Dynamic innermost extents: peeled, then the full tiles' subviews
    // canonicalized to static shapes (constant sizes into the types, the
    // casts folded into the linalg ops) for the static path below.
    const unsigned peeled =
        peelDynamicInner(getOperation(), std::min<int64_t>(maxWidth, 16));
    if (peeled) {
      MLIRContext *ctx = &getContext();
      RewritePatternSet patterns(ctx);
      memref::SubViewOp::getCanonicalizationPatterns(patterns, ctx);
      memref::CastOp::getCanonicalizationPatterns(patterns, ctx);
      affine::AffineMinOp::getCanonicalizationPatterns(patterns, ctx);
      affine::AffineApplyOp::getCanonicalizationPatterns(patterns, ctx);
      linalg::GenericOp::getCanonicalizationPatterns(patterns, ctx);
      if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
        return signalPassFailure();
    }

    SmallVector<std::pair<linalg::LinalgOp, SmallVector<int64_t>>> work;
    unsigned counts[6] = {0, 0, 0, 0, 0, 0};
    getOperation()->walk([&](linalg::LinalgOp op) {
      SmallVector<int64_t> tile;
      Skip why = chooseTile(op, minWidth, maxWidth, tile);
      ++counts[static_cast<unsigned>(why)];
      if (why == Skip::None)
        work.emplace_back(op, std::move(tile));
    });

    unsigned vectorized = 0;
    for (auto &[op, tile] : work) {
      rewriter.setInsertionPoint(op);
      linalg::LinalgOp target = op;
      if (llvm::any_of(tile, [](int64_t t) { return t != 0; })) {
        linalg::LinalgTilingOptions options;
        options.setTileSizes(tile).setLoopType(
            linalg::LinalgTilingLoopType::Loops);
        FailureOr<linalg::TiledLinalgOp> tiled =
            linalg::tileLinalgOp(rewriter, op, options);
        if (failed(tiled))
          continue; // stays as it is: the loop lowering handles it
        rewriter.eraseOp(op);
        target = tiled->op;
      }
      rewriter.setInsertionPoint(target);
      FailureOr<linalg::VectorizationResult> result =
          linalg::vectorize(rewriter, target);
      if (failed(result)) {
        // The precondition held for the whole op, so this is not expected;
        // the tiled op is still correct and lowers to loops.
        continue;
      }
      rewriter.eraseOp(target);
      ++vectorized;
    }

    // Vector ops -> 1-D loads/stores, broadcasts, element-wise arithmetic
    // and horizontal reductions that the LLVM lowering maps onto registers.
    // In stages: the unit dimensions of the tiles go first, so that the
    // permutation maps of broadcast operands lower to a 1-D broadcast
    // instead of an n-D broadcast and transpose.
    MLIRContext *ctx = &getContext();
    auto addCanonicalizations = [ctx](RewritePatternSet &patterns) {
      vector::TransferReadOp::getCanonicalizationPatterns(patterns, ctx);
      vector::TransferWriteOp::getCanonicalizationPatterns(patterns, ctx);
      vector::TransposeOp::getCanonicalizationPatterns(patterns, ctx);
      vector::BroadcastOp::getCanonicalizationPatterns(patterns, ctx);
      vector::ShapeCastOp::getCanonicalizationPatterns(patterns, ctx);
      vector::ExtractOp::getCanonicalizationPatterns(patterns, ctx);
      // A reduction over unit dimensions only (a tile of a reduction along
      // an outer dimension) becomes element-wise accumulation.
      vector::MultiDimReductionOp::getCanonicalizationPatterns(patterns, ctx);
      vector::ReductionOp::getCanonicalizationPatterns(patterns, ctx);
      scf::ForOp::getCanonicalizationPatterns(patterns, ctx);
    };
    auto apply = [&](auto populate) {
      RewritePatternSet patterns(ctx);
      populate(patterns);
      addCanonicalizations(patterns);
      return applyPatternsGreedily(getOperation(), std::move(patterns));
    };
    if (failed(apply([](RewritePatternSet &p) {
          vector::populateCastAwayVectorLeadingOneDimPatterns(p);
          vector::populateVectorTransferDropUnitDimsPatterns(p);
        })) ||
        failed(apply([](RewritePatternSet &p) {
          vector::populateVectorTransferPermutationMapLoweringPatterns(p);
          vector::populateVectorMultiReductionLoweringPatterns(
              p, vector::VectorMultiReductionLowering::InnerReduction);
          vector::populateCastAwayVectorLeadingOneDimPatterns(p);
        })) ||
        failed(apply([](RewritePatternSet &p) {
          vector::populateVectorBroadcastLoweringPatterns(p);
          vector::populateVectorShapeCastLoweringPatterns(p);
          vector::populateVectorTransposeLoweringPatterns(
              p, vector::VectorTransposeLowering::EltWise);
          vector::populateVectorTransferLoweringPatterns(
              p, /*maxTransferRank=*/1);
        })))
      return signalPassFailure();

    if (stats) {
      llvm::errs() << "onebit-vectorize: " << vectorized
                   << " ops vectorized; left to loops: "
                   << counts[static_cast<unsigned>(Skip::Narrow)]
                   << " narrow, "
                   << counts[static_cast<unsigned>(Skip::Ragged)]
                   << " ragged, "
                   << counts[static_cast<unsigned>(Skip::Strided)]
                   << " strided, "
                   << counts[static_cast<unsigned>(Skip::Unsupported)]
                   << " unsupported, "
                   << counts[static_cast<unsigned>(Skip::NotBuffers)]
                   << " on tensors or dynamic; " << copies
                   << " strided memref.copy as linalg.copy; " << peeled
                   << " dynamic innermost peeled\n";
    }
  }
};

} // namespace
