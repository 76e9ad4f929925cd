//===- TrainOps.cpp - verifier of the training form of the 1-bit layer ----===//

#include "onebit/Dialect/OneBit/IR/OneBit.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/TypeUtilities.h"

#include <string>

using namespace mlir;
using namespace onebit;

static std::string dimStr(int64_t d) {
  return ShapedType::isDynamic(d) ? std::string("dynamic") : std::to_string(d);
}

LogicalResult BinaryLinearTrainOp::verify() {
  auto inputType = getInput().getType();
  auto weightType = getWeight().getType();
  auto resultType = getResult().getType();
  Type et = inputType.getElementType();
  if (inputType.getRank() < 1)
    return emitOpError("input must have at least one dimension (the features)");
  if (!weightType.hasStaticShape())
    return emitOpError() << "weight must have a static shape, got "
                         << weightType;
  int64_t n = weightType.getDimSize(0), k = weightType.getDimSize(1);

  auto checkVector = [&](Value v, StringRef what, int64_t want,
                         StringRef meaning) -> LogicalResult {
    auto t = cast<RankedTensorType>(v.getType());
    if (t.getDimSize(0) != want)
      return emitOpError() << what << " has " << dimStr(t.getDimSize(0))
                           << " elements but the weight has " << want << " "
                           << meaning;
    return success();
  };
  if (failed(checkVector(getG(), "g", k, "columns (input features)")) ||
      failed(checkVector(getH(), "h", n, "rows (output features)")))
    return failure();
  if (Value bias = getBias())
    if (failed(checkVector(bias, "bias", n, "rows (output features)")))
      return failure();

  for (Value v : getOperation()->getOperands())
    if (getElementTypeOrSelf(v.getType()) != et)
      return emitOpError() << "operands must share the input element type "
                           << et << ", got " << v.getType();
  if (resultType.getElementType() != et)
    return emitOpError() << "result element type "
                         << resultType.getElementType()
                         << " differs from the input element type " << et;

  int64_t inK = inputType.getDimSize(inputType.getRank() - 1);
  if (!ShapedType::isDynamic(inK) && inK != k)
    return emitOpError() << "input feature dimension is " << inK
                         << " but the weight has " << k << " columns";
  if (resultType.getRank() != inputType.getRank())
    return emitOpError() << "result has rank " << resultType.getRank()
                         << " but the input has rank " << inputType.getRank();
  for (int64_t d = 0, e = inputType.getRank() - 1; d < e; ++d) {
    int64_t a = inputType.getDimSize(d), r = resultType.getDimSize(d);
    if (!ShapedType::isDynamic(a) && !ShapedType::isDynamic(r) && a != r)
      return emitOpError() << "result dimension " << d << " is " << r
                           << " but the input dimension " << d << " is " << a;
  }
  int64_t outN = resultType.getDimSize(resultType.getRank() - 1);
  if (outN != n)
    return emitOpError() << "result feature dimension is " << dimStr(outN)
                         << " but the weight has " << n
                         << " rows (output features)";
  if (auto eps = getNormEps())
    if (!(eps->convertToDouble() > 0.0))
      return emitOpError() << "norm_eps must be positive, got "
                           << eps->convertToDouble();
  return success();
}
