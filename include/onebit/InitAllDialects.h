//===- InitAllDialects.h - register onebit's dialects -----------*- C++ -*-===//

#ifndef ONEBIT_INITALLDIALECTS_H
#define ONEBIT_INITALLDIALECTS_H

#include "mlir/IR/DialectRegistry.h"
#include "onebit/Dialect/OneBit/IR/OneBit.h"

namespace onebit {

/// Adds the onebit dialects to `registry` (upstream ones are added by the
/// tools through mlir::registerAllDialects).
inline void registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<onebit::OneBitDialect>();
}

} // namespace onebit

#endif // ONEBIT_INITALLDIALECTS_H
