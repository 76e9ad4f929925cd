//===- KernelUses.h - which host buffers only kernels read ------*- C++ -*-===//
//
// Internal to lib/Conversion/OneBitToGPU: onebit-gpu-resident-constants
// moves such buffers to device memory, onebit-gpu-host-memory checks that
// the KV caches and train state the caller gives in device memory are
// such buffers.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_LIB_CONVERSION_ONEBITTOGPU_KERNELUSES_H
#define ONEBIT_LIB_CONVERSION_ONEBITTOGPU_KERNELUSES_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

namespace onebit::gpu_uses {

/// Whether `op` runs on the device (inside a gpu.launch or a gpu.module).
inline bool inKernel(mlir::Operation *op) {
  return op->getParentOfType<mlir::gpu::LaunchOp>() ||
         op->getParentOfType<mlir::gpu::GPUModuleOp>();
}

/// The first host operation that reads or writes the data of buffer `v`:
/// uses inside kernels, launch operands, size queries and host views whose
/// own uses are such are not. Null when only kernels touch the data.
inline mlir::Operation *firstHostAccess(mlir::Value v) {
  using namespace mlir;
  for (OpOperand &use : v.getUses()) {
    Operation *user = use.getOwner();
    if (inKernel(user) || isa<gpu::LaunchFuncOp>(user))
      continue;
    if (isa<memref::DimOp, memref::ExtractStridedMetadataOp>(user))
      continue;
    if (isa<memref::SubViewOp, memref::ExpandShapeOp, memref::CollapseShapeOp,
            memref::ReinterpretCastOp, memref::CastOp, memref::ViewOp>(user) &&
        user->getNumResults() == 1 && use.getOperandNumber() == 0) {
      if (Operation *access = firstHostAccess(user->getResult(0)))
        return access;
      continue;
    }
    return user;
  }
  return nullptr;
}

/// Whether argument `i` of `fn` is state the caller keeps in device memory
/// between calls and only kernels touch: a KV cache (`onebit.kv_cache`) or
/// a train step's parameters and Adam moments updated in place
/// (`onebit.train_state`).
inline bool isDeviceStateArg(mlir::FunctionOpInterface fn, unsigned i) {
  return fn.getArgAttr(i, "onebit.kv_cache") ||
         fn.getArgAttr(i, "onebit.train_state");
}

} // namespace onebit::gpu_uses

#endif // ONEBIT_LIB_CONVERSION_ONEBITTOGPU_KERNELUSES_H
