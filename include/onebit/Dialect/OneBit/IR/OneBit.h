//===- OneBit.h - the onebit dialect: dialect, attributes, ops --*- C++ -*-===//

#ifndef ONEBIT_DIALECT_ONEBIT_IR_ONEBIT_H
#define ONEBIT_DIALECT_ONEBIT_IR_ONEBIT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "onebit/Dialect/OneBit/IR/OneBitAttrs.h"
#include "onebit/Dialect/OneBit/IR/OneBitDialect.h"

#define GET_OP_CLASSES
#include "onebit/Dialect/OneBit/IR/OneBitOps.h.inc"

#endif // ONEBIT_DIALECT_ONEBIT_IR_ONEBIT_H
