//===- OneBitAttrs.h - onebit attribute declarations ------------*- C++ -*-===//

#ifndef ONEBIT_DIALECT_ONEBIT_IR_ONEBITATTRS_H
#define ONEBIT_DIALECT_ONEBIT_IR_ONEBITATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "onebit/Support/SignPacking.h"

#include "onebit/Dialect/OneBit/IR/OneBitEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "onebit/Dialect/OneBit/IR/OneBitAttrs.h.inc"

#endif // ONEBIT_DIALECT_ONEBIT_IR_ONEBITATTRS_H
