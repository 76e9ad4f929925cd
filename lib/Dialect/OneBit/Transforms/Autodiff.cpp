//===- Autodiff.cpp - --onebit-autodiff: build the gradient of a loss -----===//

#include "onebit/Dialect/OneBit/Transforms/Autodiff.h"
#include "onebit/Dialect/OneBit/Transforms/Passes.h"

#include "mlir/IR/SymbolTable.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITAUTODIFF
#include "onebit/Dialect/OneBit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;
using namespace onebit;

namespace {

struct AutodiffPass : public onebit::impl::OneBitAutodiffBase<AutodiffPass> {
  using OneBitAutodiffBase::OneBitAutodiffBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (funcName.empty()) {
      module.emitError("onebit-autodiff: the option func=NAME is required");
      return signalPassFailure();
    }
    auto f = SymbolTable::lookupSymbolIn(module, funcName);
    auto fn = dyn_cast_or_null<func::FuncOp>(f);
    if (!fn) {
      module.emitError() << "onebit-autodiff: no func.func named '"
                         << funcName << "'";
      return signalPassFailure();
    }
    SmallVector<unsigned> args(wrt.begin(), wrt.end());
    if (args.empty())
      for (auto [i, t] : llvm::enumerate(fn.getArgumentTypes())) {
        Type et = getElementTypeOrSelf(t);
        if (isa<FloatType>(et) && (isa<FloatType>(t) || isa<RankedTensorType>(t)))
          args.push_back(i);
      }
    GradientOptions options;
    options.name = gradName;
    options.simplify = simplify;
    options.checkpoint = checkpoint;
    if (failed(buildGradientFunction(fn, args, options)))
      return signalPassFailure();
  }
};

} // namespace
