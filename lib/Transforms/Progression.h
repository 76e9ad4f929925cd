//===- Progression.h - integer operands in arithmetic progression -*- C++
//-*-===//
//
// Internal to lib/Transforms: the passes that roll repeated calls into a
// loop (onebit-layer-loops, onebit-period-loops) recognise an operand that
// is an integer constant a + b * k in the k-th repetition (a layer index)
// and compute it from the loop's induction variable.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_LIB_TRANSFORMS_PROGRESSION_H
#define ONEBIT_LIB_TRANSFORMS_PROGRESSION_H

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <optional>
#include <utility>

namespace onebit {

/// (a, b) when `values` are integer or index constants a + b * k for
/// k = 0, 1, ... (in their type's wrapping arithmetic); at least two values.
inline std::optional<std::pair<llvm::APInt, llvm::APInt>>
matchProgression(llvm::ArrayRef<mlir::Value> values) {
  llvm::SmallVector<llvm::APInt> ints;
  for (mlir::Value v : values) {
    auto cst = v.getDefiningOp<mlir::arith::ConstantOp>();
    auto attr =
        cst ? llvm::dyn_cast<mlir::IntegerAttr>(cst.getValue()) : nullptr;
    if (!attr)
      return std::nullopt;
    ints.push_back(attr.getValue());
  }
  llvm::APInt a = ints[0], b = ints[1] - ints[0];
  for (size_t k = 2; k < ints.size(); ++k)
    if (ints[k] - ints[k - 1] != b)
      return std::nullopt;
  return std::make_pair(a, b);
}

/// a + b * `iv`, in type `type` (index or an integer type).
inline mlir::Value buildProgression(mlir::OpBuilder &builder,
                                    mlir::Location loc, mlir::Type type,
                                    mlir::Value iv, const llvm::APInt &a,
                                    const llvm::APInt &b) {
  mlir::Value k = iv;
  if (!type.isIndex())
    k = mlir::arith::IndexCastOp::create(builder, loc, type, iv);
  mlir::Value first = mlir::arith::ConstantOp::create(
      builder, loc, mlir::IntegerAttr::get(type, a));
  mlir::Value step = mlir::arith::ConstantOp::create(
      builder, loc, mlir::IntegerAttr::get(type, b));
  return mlir::arith::AddIOp::create(
      builder, loc, first, mlir::arith::MulIOp::create(builder, loc, k, step));
}

} // namespace onebit

#endif // ONEBIT_LIB_TRANSFORMS_PROGRESSION_H
