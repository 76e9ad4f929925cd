//===- OneBitAttrs.cpp - onebit attributes --------------------------------===//

#include "onebit/Dialect/OneBit/IR/OneBit.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace onebit;

#include "onebit/Dialect/OneBit/IR/OneBitEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "onebit/Dialect/OneBit/IR/OneBitAttrs.cpp.inc"

void OneBitDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "onebit/Dialect/OneBit/IR/OneBitAttrs.cpp.inc"
      >();
}

LogicalResult
PackingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                    unsigned wordBits, BitOrder bitOrder, unsigned negative) {
  if (wordBits != 8 && wordBits != 16 && wordBits != 32 && wordBits != 64)
    return emitError() << "word_bits must be 8, 16, 32 or 64, got "
                       << wordBits;
  if (negative > 1)
    return emitError() << "negative must be the bit value 0 or 1, got "
                       << negative;
  return success();
}

PackingAttr PackingAttr::getCanonical(MLIRContext *ctx) {
  ::onebit::SignLayout c = ::onebit::SignLayout::canonical();
  return PackingAttr::get(ctx, c.wordBits, BitOrder::lsb_first, c.negativeBit);
}

bool PackingAttr::isCanonical() const { return toSignLayout().isCanonical(); }

::onebit::SignLayout PackingAttr::toSignLayout() const {
  ::onebit::SignLayout l;
  l.wordBits = getWordBits();
  l.bitOrder = getBitOrder() == BitOrder::lsb_first
                   ? ::onebit::SignBitOrder::LsbFirst
                   : ::onebit::SignBitOrder::MsbFirst;
  l.negativeBit = getNegative();
  return l;
}
