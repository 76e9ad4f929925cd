//===- OneBitToRuntime.cpp - onebit.binary_linear to CPU kernel calls -----===//

#include "onebit/Conversion/OneBitToRuntime/OneBitToRuntime.h"
#include "onebit/Dialect/OneBit/IR/OneBit.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

namespace onebit {
#define GEN_PASS_DEF_CONVERTONEBITTORUNTIME
#include "onebit/Conversion/Passes.h.inc"
} // namespace onebit

using namespace mlir;
using namespace onebit;

namespace {

/// Elementwise float conversion of a tensor (extf or truncf).
Value convertFloat(OpBuilder &b, Location loc, Value v, FloatType to) {
  auto type = cast<RankedTensorType>(v.getType());
  auto from = cast<FloatType>(type.getElementType());
  if (from == to)
    return v;
  SmallVector<Value> dyn;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      dyn.push_back(tensor::DimOp::create(b, loc, v, d));
  auto outType = RankedTensorType::get(type.getShape(), to);
  Value init = tensor::EmptyOp::create(b, loc, outType, dyn);
  AffineMap id = b.getMultiDimIdentityMap(type.getRank());
  SmallVector<utils::IteratorType> iters(type.getRank(),
                                         utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, TypeRange{outType}, ValueRange{v}, ValueRange{init},
             ArrayRef<AffineMap>{id, id}, iters,
             [&](OpBuilder &nb, Location l, ValueRange a) {
               Value r = from.getWidth() < to.getWidth()
                             ? arith::ExtFOp::create(nb, l, to, a[0])
                                   .getResult()
                             : arith::TruncFOp::create(nb, l, to, a[0])
                                   .getResult();
               linalg::YieldOp::create(nb, l, r);
             })
      .getResult(0);
}

/// A memref view of tensor `v`, cast to the fully dynamic type of its rank.
Value dynamicBuffer(OpBuilder &b, Location loc, Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  auto exact = MemRefType::get(type.getShape(), type.getElementType());
  Value buf = bufferization::ToBufferOp::create(b, loc, exact, v,
                                                /*read_only=*/true);
  SmallVector<int64_t> dyn(type.getRank(), ShapedType::kDynamic);
  return memref::CastOp::create(
      b, loc, MemRefType::get(dyn, type.getElementType()), buf);
}

/// Collapses a memref [d0, ..., dn-1, X] to [d0 * ... * dn-1, X].
Value as2D(OpBuilder &b, Location loc, Value buf) {
  auto type = cast<MemRefType>(buf.getType());
  int64_t rank = type.getRank();
  if (rank == 2)
    return buf;
  if (rank == 1) {
    SmallVector<ReassociationIndices> re{{0, 1}};
    SmallVector<OpFoldResult> shape{b.getIndexAttr(1),
                                    memref::getMixedSize(b, loc, buf, 0)};
    auto t = MemRefType::get({1, type.getDimSize(0)}, type.getElementType());
    return memref::ExpandShapeOp::create(b, loc, t, buf, re, shape);
  }
  ReassociationIndices lead;
  for (int64_t d = 0; d + 1 < rank; ++d)
    lead.push_back(d);
  SmallVector<ReassociationIndices> re{lead, {rank - 1}};
  return memref::CollapseShapeOp::create(b, loc, buf, re);
}

/// `bias` widened to f32 as a dynamic buffer, or an empty vector (no bias).
Value biasBuffer(OpBuilder &b, Location loc, Value bias) {
  auto f32 = b.getF32Type();
  if (bias)
    return dynamicBuffer(b, loc, convertFloat(b, loc, bias, f32));
  Value empty = memref::AllocaOp::create(b, loc, MemRefType::get({0}, f32));
  return memref::CastOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, f32), empty);
}

/// The kernels' f32 output: a fresh buffer of the result's shape (leading
/// dynamic sizes from `input`) and its `M x N` view.
std::pair<Value, Value> allocOutput(OpBuilder &b, Location loc,
                                    RankedTensorType resultType, Value input) {
  auto f32 = b.getF32Type();
  SmallVector<Value> dynSizes;
  for (int64_t d = 0; d + 1 < resultType.getRank(); ++d)
    if (resultType.isDynamicDim(d))
      dynSizes.push_back(tensor::DimOp::create(b, loc, input, d));
  Value out = memref::AllocOp::create(
      b, loc, MemRefType::get(resultType.getShape(), f32), dynSizes);
  auto dyn2 = MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic},
                              f32);
  return {out, memref::CastOp::create(b, loc, dyn2, as2D(b, loc, out))};
}

/// The activations widened to f32, as the kernels' `M x K` view.
Value inputView(OpBuilder &b, Location loc, Value input) {
  auto f32 = b.getF32Type();
  Value x = convertFloat(b, loc, input, f32);
  auto dyn2 = MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic},
                              f32);
  return memref::CastOp::create(b, loc, dyn2,
                                as2D(b, loc, dynamicBuffer(b, loc, x)));
}

/// Replaces `result` by the kernel's output buffer, narrowed back to the
/// result's element type.
void replaceWithOutput(OpBuilder &b, Location loc, Value result, Value out) {
  auto resultType = cast<RankedTensorType>(result.getType());
  Value y = bufferization::ToTensorOp::create(
      b, loc, RankedTensorType::get(resultType.getShape(), b.getF32Type()),
      out, /*restrict=*/true, /*writable=*/true);
  y = convertFloat(b, loc, y, cast<FloatType>(resultType.getElementType()));
  result.replaceAllUsesWith(y);
}

/// The private C-interface declaration `name(args...)` in `module`.
func::FuncOp getOrDeclareKernel(ModuleOp module, OpBuilder &b, StringRef name,
                                TypeRange args) {
  if (auto f = module.lookupSymbol<func::FuncOp>(name))
    return f;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(module.getBody());
  auto f = func::FuncOp::create(b, module.getLoc(), name,
                                b.getFunctionType(args, {}));
  f.setPrivate();
  f->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  return f;
}

/// Fully dynamic memrefs of rank 2 and 1.
MemRefType dyn2(Type t) {
  return MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic}, t);
}
MemRefType dyn1(Type t) { return MemRefType::get({ShapedType::kDynamic}, t); }

LogicalResult lower(BinaryLinearOp op, func::FuncOp kernel) {
  if (!op.getLayout().isCanonical())
    return op.emitOpError()
           << "the CPU kernels read only the canonical sign layout "
           << PackingAttr::getCanonical(op.getContext())
           << "; repack the signs first";
  OpBuilder b(op);
  Location loc = op.getLoc();
  auto f32 = b.getF32Type();
  Value g = convertFloat(b, loc, op.getG(), f32);
  Value h = convertFloat(b, loc, op.getH(), f32);
  double eps = op.getNormEps() ? op.getNormEps()->convertToDouble() : 0.0;
  auto [out, out2] = allocOutput(b, loc, op.getResult().getType(),
                                 op.getInput());
  func::CallOp::create(
      b, loc, kernel,
      ValueRange{inputView(b, loc, op.getInput()),
                 dynamicBuffer(b, loc, op.getSigns()),
                 dynamicBuffer(b, loc, g), dynamicBuffer(b, loc, h),
                 biasBuffer(b, loc, op.getBias()),
                 arith::ConstantOp::create(b, loc, b.getF32FloatAttr(eps)),
                 out2});
  replaceWithOutput(b, loc, op.getResult(), out);
  op.erase();
  return success();
}

/// int8_linear -> onebit_int8_linear_f32(x[M, K], W[N, K], scales, bias, y).
void lower(Int8LinearOp op, func::FuncOp kernel) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  auto [out, out2] = allocOutput(b, loc, op.getResult().getType(),
                                 op.getInput());
  func::CallOp::create(b, loc, kernel,
                       ValueRange{inputView(b, loc, op.getInput()),
                                  dynamicBuffer(b, loc, op.getWeights()),
                                  dynamicBuffer(b, loc, op.getScales()),
                                  biasBuffer(b, loc, op.getBias()), out2});
  replaceWithOutput(b, loc, op.getResult(), out);
  op.erase();
}

struct ConvertOneBitToRuntimePass
    : public onebit::impl::ConvertOneBitToRuntimeBase<
          ConvertOneBitToRuntimePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<BinaryLinearOp> ops;
    SmallVector<Int8LinearOp> int8Ops;
    module.walk([&](BinaryLinearOp op) { ops.push_back(op); });
    module.walk([&](Int8LinearOp op) { int8Ops.push_back(op); });
    OpBuilder b(module.getContext());
    Type f32 = b.getF32Type();
    if (!ops.empty()) {
      func::FuncOp kernel = getOrDeclareKernel(
          module, b, kBinaryLinearKernel,
          {dyn2(f32), dyn2(b.getI32Type()), dyn1(f32), dyn1(f32), dyn1(f32),
           f32, dyn2(f32)});
      for (BinaryLinearOp op : ops)
        if (failed(lower(op, kernel)))
          return signalPassFailure();
    }
    if (!int8Ops.empty()) {
      func::FuncOp kernel = getOrDeclareKernel(
          module, b, kInt8LinearKernel,
          {dyn2(f32), dyn2(b.getI8Type()), dyn1(f32), dyn1(f32), dyn2(f32)});
      for (Int8LinearOp op : int8Ops)
        lower(op, kernel);
    }
  }
};

} // namespace
