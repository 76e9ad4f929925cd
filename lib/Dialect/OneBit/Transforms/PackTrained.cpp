//===- PackTrained.cpp - trained latent weights -> packed 1-bit layers ----===//
//
// The "packaging" step after training: onebit.binary_linear_train becomes
// onebit.binary_linear with sign(W) packed in the canonical layout (0 -> +1).
// Constant latent weights are packed here, into `<layer>.signs`; others get an
// onebit.pack_signs op.
//
//===----------------------------------------------------------------------===//

#include "onebit/Dialect/OneBit/Transforms/Passes.h"
#include "onebit/Dialect/OneBit/Utils/ConstantData.h"
#include "onebit/Support/SignPacking.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITPACKTRAINED
#include "onebit/Dialect/OneBit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;
using namespace onebit;

namespace {

struct PackTrainedPass
    : public onebit::impl::OneBitPackTrainedBase<PackTrainedPass> {
  LogicalResult convert(BinaryLinearTrainOp op) {
    Type et = op.getInput().getType().getElementType();
    if (!et.isF32() && !et.isF16())
      return op.emitOpError() << "cannot pack a layer computing in " << et
                              << "; onebit.binary_linear takes f16 or f32";
    OpBuilder b(op);
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    int64_t n = op.getOutFeatures(), k = op.getInFeatures();
    PackingAttr canonical = PackingAttr::getCanonical(ctx);
    ::onebit::SignLayout layout = canonical.toSignLayout();
    auto signsType = RankedTensorType::get({n, layout.wordsPerRow(k)},
                                           IntegerType::get(ctx, 32));

    std::string name;
    if (auto a = op->getAttrOfType<StringAttr>("onebit.name"))
      name = a.str();
    else if (Operation *def = op.getWeight().getDefiningOp()) {
      std::string full = getConstantName(def);
      StringRef s(full);
      s.consume_back(".latent");
      name = s.str();
    }

    Value signs;
    ElementsAttr attr;
    if (matchPattern(op.getWeight(), m_Constant(&attr))) {
      FailureOr<RawConstant> raw = getRawConstant(attr);
      if (failed(raw))
        return op.emitOpError("cannot read the latent weight data");
      std::vector<float> w;
      toFloat32(*raw, w);
      std::vector<char> packed(layout.bytes(n, k));
      if (::onebit::packSigns(w.data(), n, k, layout, packed.data()))
        return op.emitOpError("the latent weight holds NaN; refusing to "
                              "pack it");
      std::string sName = (name.empty() ? "onebit_layer" : name) + ".signs";
      signs = arith::ConstantOp::create(
          b, NameLoc::get(StringAttr::get(ctx, sName), loc), signsType,
          makeResource(signsType, sName, packed));
    } else {
      signs = PackSignsOp::create(b, loc, signsType, op.getWeight(), canonical);
    }
    auto bl = BinaryLinearOp::create(b, loc, op.getResult().getType(),
                                     op.getInput(), signs, op.getG(),
                                     op.getH(), op.getBias(), canonical,
                                     op.getNormEpsAttr());
    if (!name.empty())
      bl->setAttr("onebit.name", b.getStringAttr(name));
    op.getResult().replaceAllUsesWith(bl.getResult());
    op.erase();
    return success();
  }

  void runOnOperation() override {
    SmallVector<BinaryLinearTrainOp> ops;
    getOperation()->walk([&](BinaryLinearTrainOp op) { ops.push_back(op); });
    for (BinaryLinearTrainOp op : ops)
      if (failed(convert(op)))
        return signalPassFailure();
  }
};

} // namespace
