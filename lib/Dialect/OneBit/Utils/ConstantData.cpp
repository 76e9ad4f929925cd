//===- ConstantData.cpp - zero-copy access to constant tensor data --------===//

#include "onebit/Dialect/OneBit/Utils/ConstantData.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/Operation.h"
#include "llvm/Support/Endian.h"

#include <cstring>

using namespace mlir;
using namespace onebit;

static bool hasByteSizedElements(Type t) {
  unsigned width = 0;
  if (auto f = dyn_cast<FloatType>(t))
    width = f.getWidth();
  else if (auto i = dyn_cast<IntegerType>(t))
    width = i.getWidth();
  return width && width % 8 == 0;
}

FailureOr<RawConstant> onebit::getRawConstant(ElementsAttr attr) {
  auto type = dyn_cast<ShapedType>(attr.getType());
  if (!type || !hasByteSizedElements(type.getElementType()))
    return failure();
  if (auto dense = dyn_cast<DenseElementsAttr>(attr))
    return RawConstant{type, dense.getRawData(), dense.isSplat()};
  if (auto res = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = res.getRawHandle().getBlob();
    if (!blob)
      return failure();
    ArrayRef<char> data = blob->getData();
    size_t expected =
        type.getNumElements() * (type.getElementTypeBitWidth() / 8);
    if (data.size() != expected)
      return failure();
    return RawConstant{type, data, false};
  }
  return failure();
}

static float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else { // subnormal: renormalise
      exp = 127 - 15 + 1;
      while (!(man & 0x400)) {
        man <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000 | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void onebit::toFloat32(const RawConstant &raw, std::vector<float> &out) {
  int64_t n = raw.type.getNumElements();
  out.resize(n);
  Type et = raw.type.getElementType();
  int64_t stored = raw.splat ? 1 : n;
  auto at = [&](int64_t i) -> float {
    const char *p = raw.bytes.data();
    if (et.isF32()) {
      float v;
      std::memcpy(&v, p + 4 * i, 4);
      return v;
    }
    if (et.isF64()) {
      double v;
      std::memcpy(&v, p + 8 * i, 8);
      return static_cast<float>(v);
    }
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    if (et.isF16())
      return halfToFloat(h);
    uint32_t bits = uint32_t(h) << 16; // bf16
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  };
  for (int64_t i = 0; i < stored; ++i)
    out[i] = at(i);
  if (raw.splat)
    std::fill(out.begin(), out.end(), out[0]);
}

DenseResourceElementsAttr onebit::makeResource(ShapedType type, StringRef name,
                                               ArrayRef<char> bytes) {
  size_t align = std::max<size_t>(type.getElementTypeBitWidth() / 8, 8);
  AsmResourceBlob blob =
      HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, align);
  return DenseResourceElementsAttr::get(type, name, std::move(blob));
}

std::string onebit::getLocationName(Location loc) {
  if (auto n = dyn_cast<NameLoc>(loc))
    return n.getName().str();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location l : fused.getLocations()) {
      std::string s = getLocationName(l);
      if (!s.empty())
        return s;
    }
  if (auto cs = dyn_cast<CallSiteLoc>(loc))
    return getLocationName(cs.getCallee());
  return "";
}

std::string onebit::getConstantName(Operation *op) {
  if (auto valueAttr = op->getAttrOfType<DenseResourceElementsAttr>("value"))
    return valueAttr.getRawHandle().getKey().str();
  return getLocationName(op->getLoc());
}
