//===- MathApproximation.cpp - polynomial math for the CPU loops ----------===//
//
// exp, expm1, tanh, log, log1p, erf on f32 become MLIR's polynomial
// approximations (arithmetic only), so the loops of a train step compute them
// inline instead of calling scalar libm once per element.
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/StringSwitch.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITMATHAPPROXIMATION
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {
struct MathApproximationPass
    : public onebit::impl::OneBitMathApproximationBase<MathApproximationPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(
        patterns, [](StringRef name) {
          name.consume_front("math.");
          return llvm::StringSwitch<bool>(name)
              .Cases({"exp", "expm1", "tanh", "log", "log1p", "erf"}, true)
              .Default(false);
        });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
