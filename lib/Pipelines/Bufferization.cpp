//===- Bufferization.cpp - bufferization passes of the pipelines ----------===//
//
// Not upstream's bufferization::buildBufferDeallocationPipeline: the same
// passes with the same options, plus onebit-free-after-last-use in the middle
// (see Bufferization.h).
//
//===----------------------------------------------------------------------===//

#include "Bufferization.h"

#include "onebit/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

std::unique_ptr<Pass> onebit::createBottomUpCanonicalizer() {
  GreedyRewriteConfig config;
  config.setUseTopDownTraversal(false);
  return createCanonicalizerPass(config);
}

void ::onebit::addBufferizationPasses(OpPassManager &pm, bool periodLoops) {
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  // A loop over layers (onebit-layer-loops) carries the hidden state, a new
  // buffer every iteration; deallocation frees the previous one.
  bufferize.allowReturnAllocsFromLoops = true;
  // A value materialized in an argument (a data-parallel gradient written
  // into the all-reduce buffer, onebit-build-train-step's
  // grad-destinations) is computed there, not copied in.
  pm.addNestedPass<func::FuncOp>(onebit::createOneBitDestinationInits());
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  // KV caches and other in-place arguments: their tied results go, so the
  // deallocation below does not clone them on return.
  pm.addPass(onebit::createOneBitDropInPlaceResults());
  // A called function returning one buffer twice: the caller frees each
  // owned result on its own below, so each must be a buffer of its own.
  pm.addPass(onebit::createOneBitDistinctResults());
  // What a train step repeats per layer (forward calls, loss terms, their
  // gradients, the backward and updates): loops, built before anything is
  // freed so that deallocation sees the loops and the per-layer stacks.
  if (periodLoops)
    pm.addPass(onebit::createOneBitPeriodLoops());

  memref::ExpandReallocPassOptions expandRealloc;
  expandRealloc.emitDeallocs = false;
  pm.addPass(memref::createExpandReallocPass(expandRealloc));
  pm.addPass(createBottomUpCanonicalizer());
  pm.addPass(bufferization::createOwnershipBasedBufferDeallocationPass());
  // Its return deallocs list every argument (condition false), and its
  // switches over a layer's arguments return their ownership (false in
  // every case): thousands in a deep train step, which the canonicalizer
  // would take apart one at a time.
  pm.addNestedPass<func::FuncOp>(onebit::createOneBitSimplifyOwnership());
  pm.addPass(createBottomUpCanonicalizer());
  pm.addPass(onebit::createOneBitFreeAfterLastUse());
  pm.addPass(bufferization::createBufferDeallocationSimplificationPass());
  pm.addPass(bufferization::createLowerDeallocationsPass());
  pm.addPass(createCSEPass());
  pm.addPass(createBottomUpCanonicalizer());

  pm.addPass(createConvertBufferizationToMemRefPass());
}
