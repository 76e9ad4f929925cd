//===- GpuCacheCopies.cpp - KV-cache copies done by kernels ---------------===//
//
// On the GPU a KV cache is device memory the caller allocated once per
// context (and a train step's parameters and moments, once per run); host
// code cannot read or write it. One-shot bufferization writes a step's keys
// and values into the cache with memref.copy into a subview, which would
// run on the host: such copies become linalg.copy, lowered to a kernel with
// the rest of linalg.
//
//===----------------------------------------------------------------------===//

#include "onebit/Conversion/OneBitToGPU/OneBitToGPU.h"

#include "KernelUses.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITGPUCACHECOPIES
#include "onebit/Conversion/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

/// Whether `v` is device state (a KV cache, a train step's state) given as
/// an argument of a public function, or a view of one.
bool viewsCache(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (!isa<memref::SubViewOp, memref::ExpandShapeOp, memref::CollapseShapeOp,
             memref::ReinterpretCastOp, memref::CastOp, memref::ViewOp>(def))
      return false;
    v = def->getOperand(0);
  }
  auto arg = dyn_cast<BlockArgument>(v);
  if (!arg)
    return false;
  auto fn = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
  return fn && fn.isPublic() && arg.getOwner() == &fn.getBody().front() &&
         onebit::gpu_uses::isDeviceStateArg(fn, arg.getArgNumber());
}

struct OneBitGpuCacheCopiesPass
    : public onebit::impl::OneBitGpuCacheCopiesBase<OneBitGpuCacheCopiesPass> {
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation().walk([&](memref::CopyOp copy) {
      if (!onebit::gpu_uses::inKernel(copy) &&
          (viewsCache(copy.getSource()) || viewsCache(copy.getTarget())))
        copies.push_back(copy);
    });
    for (memref::CopyOp copy : copies) {
      if (!isa<MemRefType>(copy.getSource().getType()) ||
          !isa<MemRefType>(copy.getTarget().getType())) {
        copy.emitError("onebit-gpu-cache-copies: a KV-cache copy of an "
                       "unranked memref");
        return signalPassFailure();
      }
      OpBuilder b(copy);
      linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(),
                             copy.getTarget());
      copy.erase();
    }
  }
};

} // namespace
