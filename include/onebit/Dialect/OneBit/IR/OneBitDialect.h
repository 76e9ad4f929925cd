//===- OneBitDialect.h - onebit dialect declaration -------------*- C++ -*-===//

#ifndef ONEBIT_DIALECT_ONEBIT_IR_ONEBITDIALECT_H
#define ONEBIT_DIALECT_ONEBIT_IR_ONEBITDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Dialect.h"

#include "onebit/Dialect/OneBit/IR/OneBitOpsDialect.h.inc"

#endif // ONEBIT_DIALECT_ONEBIT_IR_ONEBITDIALECT_H
