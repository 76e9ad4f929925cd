//===- Bufferization.h - bufferization passes of the pipelines --*- C++ -*-===//
//
// One-shot bufferization with identity-layout function boundaries, then
// upstream's buffer-deallocation-pipeline pass by pass, with
// onebit-simplify-ownership right after ownership-based deallocation (what
// it adds for arguments, removed in one rewrite per op) and
// onebit-free-after-last-use before buffer-deallocation-simplification: the
// temporaries of straight-line code are freed after their last use, and the
// (quadratic) simplification sees almost nothing left. Shared by the CPU and
// GPU pipelines.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_LIB_PIPELINES_BUFFERIZATION_H
#define ONEBIT_LIB_PIPELINES_BUFFERIZATION_H

#include "mlir/Pass/PassManager.h"

namespace onebit {

/// Adds one-shot-bufferize, the deallocation passes and
/// convert-bufferization-to-memref to `pm` (anchored on a module).
/// `periodLoops`: sequences of ops repeated once per layer become loops
/// (onebit-period-loops) before deallocation.
void addBufferizationPasses(mlir::OpPassManager &pm, bool periodLoops = false);

/// The canonicalizer with its worklist filled bottom-up, constants uniqued
/// and hoisted before any pattern runs. On a 32-layer train step's
/// bufferized entry (about 9,000 ops, thousands of them constants) it took
/// 0.035-0.05 s against 0.13-0.18 s in the default top-down order, and left
/// the same ops (docs/training.md, "Counting instructions").
std::unique_ptr<mlir::Pass> createBottomUpCanonicalizer();

} // namespace onebit

#endif // ONEBIT_LIB_PIPELINES_BUFFERIZATION_H
