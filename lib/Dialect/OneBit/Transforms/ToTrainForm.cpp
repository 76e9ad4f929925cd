//===- ToTrainForm.cpp - packed 1-bit layers -> trainable latent weights --===//
//
// Starts quantization-aware training from an SVID-initialised model: every
// onebit.binary_linear becomes onebit.binary_linear_train whose latent weight
// is sign(W) * latent-scale (0.01 in the OneBit reference script), with g, h,
// bias and the post-norm kept. Constant signs give a constant latent weight
// named `<layer>.latent`; other signs are unpacked at run time.
//
//===----------------------------------------------------------------------===//

#include "onebit/Dialect/OneBit/Transforms/Passes.h"
#include "onebit/Dialect/OneBit/Transforms/TrainForm.h"
#include "onebit/Dialect/OneBit/Utils/ConstantData.h"
#include "onebit/Support/SignPacking.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITTOTRAINFORM
#include "onebit/Dialect/OneBit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;
using namespace onebit;

namespace {

/// The layer's base name: its `onebit.name`, else the signs' name without
/// the `.signs` suffix, else "".
std::string layerName(BinaryLinearOp op) {
  if (auto n = op->getAttrOfType<StringAttr>("onebit.name"))
    return n.str();
  if (Operation *def = op.getSigns().getDefiningOp()) {
    std::string full = getConstantName(def);
    StringRef s(full);
    s.consume_back(".signs");
    return s.str();
  }
  return "";
}

/// Converts a float tensor to `et` (identity when it already has it).
Value castTo(OpBuilder &b, Location loc, Value v, Type et) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getElementType() == et)
    return v;
  auto to = t.clone(et);
  if (et.getIntOrFloatBitWidth() > t.getElementTypeBitWidth())
    return arith::ExtFOp::create(b, loc, to, v);
  return arith::TruncFOp::create(b, loc, to, v);
}

LogicalResult convertOne(BinaryLinearOp op, double latentScale) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  MLIRContext *ctx = op.getContext();
  Type f32 = Float32Type::get(ctx);
  int64_t n = op.getOutFeatures(), k = op.getInFeatures();
  auto wType = RankedTensorType::get({n, k}, f32);
  ::onebit::SignLayout layout = op.getLayout().toSignLayout();
  std::string name = layerName(op);

  Value latent;
  ElementsAttr attr;
  if (matchPattern(op.getSigns(), m_Constant(&attr))) {
    FailureOr<RawConstant> raw = getRawConstant(attr);
    if (failed(raw))
      return op.emitOpError("cannot read the packed sign data");
    std::vector<char> words(raw->bytes.begin(), raw->bytes.end());
    if (raw->splat) {
      int64_t count = cast<ShapedType>(attr.getType()).getNumElements();
      words.clear();
      for (int64_t i = 0; i < count; ++i)
        words.insert(words.end(), raw->bytes.begin(), raw->bytes.end());
    }
    std::vector<float> w(n * k);
    ::onebit::unpackSigns(words.data(), n, k, layout, w.data());
    for (float &v : w)
      v *= static_cast<float>(latentScale);
    ArrayRef<char> bytes(reinterpret_cast<const char *>(w.data()),
                         w.size() * sizeof(float));
    std::string wName = (name.empty() ? "onebit_layer" : name) + ".latent";
    latent = arith::ConstantOp::create(
        b, NameLoc::get(StringAttr::get(ctx, wName), loc), wType,
        makeResource(wType, wName, bytes));
  } else {
    Value pm = UnpackSignsOp::create(b, loc, wType, op.getSigns(),
                                     op.getLayout());
    Value scale = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(wType, b.getF32FloatAttr(
                                                  latentScale)));
    latent = arith::MulFOp::create(b, loc, pm, scale);
  }

  Value x = castTo(b, loc, op.getInput(), f32);
  Value g = castTo(b, loc, op.getG(), f32);
  Value h = castTo(b, loc, op.getH(), f32);
  Value bias = op.getBias() ? castTo(b, loc, op.getBias(), f32) : Value();
  auto resultType = op.getResult().getType();
  auto trainType = resultType.clone(f32);
  auto train = BinaryLinearTrainOp::create(b, loc, trainType, x, latent, g,
                                           h, bias, op.getNormEpsAttr());
  if (!name.empty())
    train->setAttr("onebit.name", b.getStringAttr(name));
  Value r = castTo(b, loc, train.getResult(), resultType.getElementType());
  op.getResult().replaceAllUsesWith(r);
  op.erase();
  return success();
}

struct ToTrainFormPass
    : public onebit::impl::OneBitToTrainFormBase<ToTrainFormPass> {
  using OneBitToTrainFormBase::OneBitToTrainFormBase;

  void runOnOperation() override {
    if (!(latentScale > 0.0)) {
      getOperation().emitError()
          << "onebit-to-train-form: latent-scale must be positive, got "
          << latentScale;
      return signalPassFailure();
    }
    SmallVector<BinaryLinearOp> ops;
    getOperation()->walk([&](BinaryLinearOp op) { ops.push_back(op); });
    for (BinaryLinearOp op : ops)
      if (failed(convertOne(op, latentScale)))
        return signalPassFailure();
  }
};

} // namespace

LogicalResult onebit::convertToTrainForm(BinaryLinearOp op,
                                         double latentScale) {
  return convertOne(op, latentScale);
}
