//===- OneBitOps.cpp - onebit operations: verifiers and folders -----------===//

#include "onebit/Dialect/OneBit/IR/OneBit.h"
#include "onebit/Dialect/OneBit/Utils/ConstantData.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace onebit;

/// Checks that `signsType` stores `rows` x `cols` signs in `layout`; `rows`
/// may be dynamic (< 0) when the caller takes N from the signs themselves.
static LogicalResult verifySignStorage(Operation *op, StringRef what,
                                       RankedTensorType signsType,
                                       PackingAttr layout, int64_t cols) {
  unsigned width = signsType.getElementTypeBitWidth();
  if (width != layout.getWordBits())
    return op->emitOpError()
           << what << " are stored in i" << width
           << " words but the layout has word_bits = " << layout.getWordBits();
  if (!signsType.hasStaticShape())
    return op->emitOpError() << what << " must have a static shape, got "
                             << signsType;
  if (ShapedType::isDynamic(cols))
    return success();
  int64_t need = layout.toSignLayout().wordsPerRow(cols);
  if (signsType.getDimSize(1) != need)
    return op->emitOpError()
           << what << " have " << signsType.getDimSize(1)
           << " words per row but " << cols << " columns need " << need
           << " words of " << layout.getWordBits() << " bits";
  return success();
}

/// The result of a linear layer on `inputType` (`... x K`) with `n` output
/// features: the input's element type and rank, its leading dimensions, and
/// `n` features. `rows` names what holds the output rows ("signs",
/// "weights").
static LogicalResult verifyLinearResult(Operation *op,
                                        RankedTensorType inputType,
                                        RankedTensorType resultType, int64_t n,
                                        StringRef rows) {
  if (resultType.getElementType() != inputType.getElementType())
    return op->emitOpError() << "result element type "
                             << resultType.getElementType()
                             << " differs from the input element type "
                             << inputType.getElementType();
  if (resultType.getRank() != inputType.getRank())
    return op->emitOpError()
           << "result has rank " << resultType.getRank()
           << " but the input has rank " << inputType.getRank();
  for (int64_t d = 0, e = inputType.getRank() - 1; d < e; ++d) {
    int64_t a = inputType.getDimSize(d), b = resultType.getDimSize(d);
    if (!ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b)
      return op->emitOpError() << "result dimension " << d << " is " << b
                               << " but the input dimension " << d << " is "
                               << a;
  }
  int64_t outN = resultType.getDimSize(resultType.getRank() - 1);
  if (outN != n)
    return op->emitOpError()
           << "result feature dimension is "
           << (ShapedType::isDynamic(outN) ? std::string("dynamic")
                                           : std::to_string(outN))
           << " but " << rows << " have " << n << " rows (output features)";
  return success();
}

//===----------------------------------------------------------------------===//
// BinaryLinearOp
//===----------------------------------------------------------------------===//

int64_t BinaryLinearOp::getInFeatures() {
  return getG().getType().getDimSize(0);
}

int64_t BinaryLinearOp::getOutFeatures() {
  return getSigns().getType().getDimSize(0);
}

LogicalResult BinaryLinearOp::verify() {
  auto inputType = getInput().getType();
  auto resultType = getResult().getType();
  auto gType = getG().getType();
  auto hType = getH().getType();
  if (inputType.getRank() < 1)
    return emitOpError("input must have at least one dimension (the features)");
  if (gType.isDynamicDim(0))
    return emitOpError("g must have a static length (the input features)");
  if (hType.isDynamicDim(0))
    return emitOpError("h must have a static length (the output features)");

  int64_t k = gType.getDimSize(0);
  int64_t inK = inputType.getDimSize(inputType.getRank() - 1);
  if (!ShapedType::isDynamic(inK) && inK != k)
    return emitOpError() << "g has " << k
                         << " elements but the input feature dimension is "
                         << inK;

  auto signsType = getSigns().getType();
  if (failed(verifySignStorage(*this, "signs", signsType, getLayout(), k)))
    return failure();
  int64_t n = signsType.getDimSize(0);
  if (hType.getDimSize(0) != n)
    return emitOpError() << "h has " << hType.getDimSize(0)
                         << " elements but signs have " << n
                         << " rows (output features)";
  if (Value bias = getBias()) {
    auto biasType = cast<RankedTensorType>(bias.getType());
    if (biasType.getDimSize(0) != n)
      return emitOpError() << "bias has " << biasType.getDimSize(0)
                           << " elements but signs have " << n
                           << " rows (output features)";
  }

  if (failed(verifyLinearResult(*this, inputType, resultType, n, "signs")))
    return failure();
  if (auto eps = getNormEps()) {
    if (!(eps->convertToDouble() > 0.0))
      return emitOpError() << "norm_eps must be positive, got "
                           << eps->convertToDouble();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// PackSignsOp
//===----------------------------------------------------------------------===//

LogicalResult PackSignsOp::verify() {
  auto wType = getWeights().getType();
  auto rType = getResult().getType();
  if (failed(verifySignStorage(*this, "packed signs", rType, getLayout(),
                               wType.getDimSize(1))))
    return failure();
  int64_t rows = wType.getDimSize(0);
  if (!ShapedType::isDynamic(rows) && rows != rType.getDimSize(0))
    return emitOpError() << "weights have " << rows
                         << " rows but the packed signs have "
                         << rType.getDimSize(0);
  return success();
}

OpFoldResult PackSignsOp::fold(FoldAdaptor adaptor) {
  // pack(unpack(x)) with the same layout is x.
  if (auto unpack = getWeights().getDefiningOp<UnpackSignsOp>())
    if (unpack.getLayout() == getLayout() &&
        unpack.getSigns().getType() == getType())
      return unpack.getSigns();

  auto attr = dyn_cast_or_null<ElementsAttr>(adaptor.getWeights());
  if (!attr)
    return {};
  FailureOr<RawConstant> raw = getRawConstant(attr);
  if (failed(raw))
    return {};
  auto wType = cast<ShapedType>(attr.getType());
  int64_t rows = wType.getDimSize(0), cols = wType.getDimSize(1);
  ::onebit::SignLayout layout = getLayout().toSignLayout();
  std::vector<char> packed(layout.bytes(rows, cols));
  Type et = wType.getElementType();
  int64_t nans;
  if (et.isF32() || raw->splat) {
    std::vector<float> f32;
    const float *src = reinterpret_cast<const float *>(raw->bytes.data());
    if (!et.isF32() || raw->splat) {
      toFloat32(*raw, f32);
      src = f32.data();
    }
    nans = ::onebit::packSigns(src, rows, cols, layout, packed.data());
  } else if (et.isF16()) {
    nans = ::onebit::packSignsF16(
        reinterpret_cast<const uint16_t *>(raw->bytes.data()), rows, cols,
        layout, packed.data());
  } else if (et.isBF16()) {
    nans = ::onebit::packSignsBF16(
        reinterpret_cast<const uint16_t *>(raw->bytes.data()), rows, cols,
        layout, packed.data());
  } else {
    nans = ::onebit::packSignsF64(
        reinterpret_cast<const double *>(raw->bytes.data()), rows, cols,
        layout, packed.data());
  }
  if (nans)
    return {}; // Leave NaN weights visible rather than silently packing +1.

  auto rType = getType();
  if (auto res = dyn_cast<DenseResourceElementsAttr>(attr))
    return makeResource(rType, (res.getRawHandle().getKey() + ".signs").str(),
                        packed);
  return DenseElementsAttr::getFromRawBuffer(rType, packed);
}

//===----------------------------------------------------------------------===//
// UnpackSignsOp
//===----------------------------------------------------------------------===//

LogicalResult UnpackSignsOp::verify() {
  auto sType = getSigns().getType();
  auto rType = getResult().getType();
  if (rType.isDynamicDim(1))
    return emitOpError("result must have a static column count (K)");
  if (failed(verifySignStorage(*this, "signs", sType, getLayout(),
                               rType.getDimSize(1))))
    return failure();
  int64_t rows = rType.getDimSize(0);
  if (!ShapedType::isDynamic(rows) && rows != sType.getDimSize(0))
    return emitOpError() << "result has " << rows
                         << " rows but the packed signs have "
                         << sType.getDimSize(0);
  return success();
}

//===----------------------------------------------------------------------===//
// Int8LinearOp
//===----------------------------------------------------------------------===//

LogicalResult Int8LinearOp::verify() {
  auto inputType = getInput().getType();
  auto resultType = getResult().getType();
  auto wType = getWeights().getType();
  if (inputType.getRank() < 1)
    return emitOpError("input must have at least one dimension (the features)");
  if (!wType.hasStaticShape())
    return emitOpError("weights must have a static N x K shape");
  int64_t n = wType.getDimSize(0), k = wType.getDimSize(1);
  int64_t inK = inputType.getDimSize(inputType.getRank() - 1);
  if (!ShapedType::isDynamic(inK) && inK != k)
    return emitOpError() << "weights have " << k
                         << " columns but the input feature dimension is "
                         << inK;
  int64_t s = getScales().getType().getDimSize(0);
  if (s != n)
    return emitOpError() << "scales have "
                         << (ShapedType::isDynamic(s) ? std::string("dynamic")
                                                      : std::to_string(s))
                         << " elements but weights have " << n
                         << " rows (output features)";
  if (Value bias = getBias()) {
    int64_t b = cast<RankedTensorType>(bias.getType()).getDimSize(0);
    if (b != n)
      return emitOpError() << "bias has "
                           << (ShapedType::isDynamic(b) ? std::string("dynamic")
                                                        : std::to_string(b))
                           << " elements but weights have " << n
                           << " rows (output features)";
  }
  if (failed(verifyLinearResult(*this, inputType, resultType, n, "weights")))
    return failure();
  return success();
}

#define GET_OP_CLASSES
#include "onebit/Dialect/OneBit/IR/OneBitOps.cpp.inc"
