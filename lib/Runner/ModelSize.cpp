//===- ModelSize.cpp - the bytes and parameters of a model's constants ----===//

#include "onebit/Runner/ModelSize.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/ADT/DenseSet.h"

using namespace mlir;

onebit::ModelSize onebit::measureModel(ModuleOp module) {
  ModelSize size;
  llvm::DenseSet<Attribute> seen;
  module.walk([&](arith::ConstantOp c) {
    auto t = dyn_cast<RankedTensorType>(c.getType());
    if (!t || !t.hasStaticShape() || !seen.insert(c.getValue()).second)
      return;
    const uint64_t n = uint64_t(t.getNumElements());
    size.bytes += (n * t.getElementTypeBitWidth() + 7) / 8;
    auto loc = dyn_cast<NameLoc>(c.getLoc());
    bool signs = loc && loc.getName().getValue().ends_with(".signs");
    size.parameters += signs ? n * 32 : n;
  });
  return size;
}
