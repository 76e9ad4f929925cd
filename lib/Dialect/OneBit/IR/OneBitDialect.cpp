//===- OneBitDialect.cpp - onebit dialect registration --------------------===//

#include "onebit/Dialect/OneBit/IR/OneBit.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace onebit;

#include "onebit/Dialect/OneBit/IR/OneBitOpsDialect.cpp.inc"

void OneBitDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "onebit/Dialect/OneBit/IR/OneBitOps.cpp.inc"
      >();
  registerAttributes();
}

Operation *OneBitDialect::materializeConstant(OpBuilder &builder,
                                              Attribute value, Type type,
                                              Location loc) {
  if (auto typed = dyn_cast<TypedAttr>(value))
    if (typed.getType() == type)
      return arith::ConstantOp::create(builder, loc, type, typed);
  return nullptr;
}
