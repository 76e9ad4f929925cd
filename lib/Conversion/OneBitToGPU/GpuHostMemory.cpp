//===- GpuHostMemory.cpp - host buffers that GPU kernels can read ---------===//
//
// After the GPU launches exist, the host code still allocates with
// memref.alloc and reads constants from memref.global. This pass makes every
// such buffer reachable from kernels without changing the host code's view:
// allocations become managed memory (`gpu.alloc host_shared`, which the host
// also reads: memref.copy, results returned to the caller), deallocations
// `gpu.dealloc`, and constant globals are page-locked and mapped with
// `gpu.host_register` where they are taken (the runtime treats a second
// registration of the same range as success). Constants that only kernels
// read have usually been moved to device memory before this pass
// (onebit-gpu-resident-constants); what is registered here are the rest.
//
//===----------------------------------------------------------------------===//

#include "onebit/Conversion/OneBitToGPU/OneBitToGPU.h"

#include "KernelUses.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITGPUHOSTMEMORY
#include "onebit/Conversion/Passes.h.inc"
} // namespace onebit

using namespace mlir;
namespace gpu_uses = onebit::gpu_uses;

namespace {

/// Kernels' own buffers, and host code already written at the LLVM level
/// (onebit-gpu-resident-constants' constructor and destructor, which read
/// the constants to upload them): left alone.
bool leftAlone(Operation *op) {
  return onebit::gpu_uses::inKernel(op) ||
         op->getParentOfType<LLVM::LLVMFuncOp>();
}

Value unrankedOf(OpBuilder &b, Location loc, Value memref) {
  auto type = cast<MemRefType>(memref.getType());
  return memref::CastOp::create(
      b, loc, UnrankedMemRefType::get(type.getElementType(), 0), memref);
}

/// The caller's buffers: memref arguments of public functions are
/// registered on entry and unregistered before every return. Device state
/// is not (KV caches, `onebit.kv_cache`; a train step's parameters and
/// moments, `onebit.train_state`): the caller allocates it in device memory
/// once per context or training run (Executable::allocateState), so it
/// must be buffers that only kernels touch; one that host code reads is an
/// error.
LogicalResult registerArguments(func::FuncOp fn) {
  if (fn.isDeclaration() || !fn.isPublic())
    return success();
  SmallVector<Value> args;
  for (BlockArgument a : fn.getArguments()) {
    auto t = dyn_cast<MemRefType>(a.getType());
    if (!t || t.getMemorySpace())
      continue;
    if (!gpu_uses::isDeviceStateArg(fn, a.getArgNumber())) {
      args.push_back(a);
      continue;
    }
    if (Operation *host = gpu_uses::firstHostAccess(a)) {
      const bool cache =
          bool(fn.getArgAttr(a.getArgNumber(), "onebit.kv_cache"));
      InFlightDiagnostic d = host->emitError()
                             << "onebit-gpu-host-memory: host code accesses "
                             << (cache ? "KV cache" : "train state")
                             << " argument " << a.getArgNumber() << " of @"
                             << fn.getName()
                             << ", which the caller gives in device memory";
      d.attachNote(fn.getLoc()) << "in this function";
      return failure();
    }
  }
  if (args.empty())
    return success();
  OpBuilder b = OpBuilder::atBlockBegin(&fn.getBody().front());
  Location loc = fn.getLoc();
  for (Value a : args)
    gpu::HostRegisterOp::create(b, loc, unrankedOf(b, loc, a));
  fn.walk([&](func::ReturnOp ret) {
    OpBuilder rb(ret);
    for (Value a : args)
      gpu::HostUnregisterOp::create(rb, loc, unrankedOf(rb, loc, a));
  });
  return success();
}

struct OneBitGpuHostMemoryPass
    : public onebit::impl::OneBitGpuHostMemoryBase<OneBitGpuHostMemoryPass> {
  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>())
      if (failed(registerArguments(fn)))
        return signalPassFailure();
    SmallVector<Operation *> todo;
    getOperation().walk([&](Operation *op) {
      if (isa<memref::AllocOp, memref::DeallocOp, memref::GetGlobalOp>(op) &&
          !leftAlone(op))
        todo.push_back(op);
    });
    for (Operation *op : todo) {
      OpBuilder b(op);
      Location loc = op->getLoc();
      if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
        auto type = alloc.getType();
        if (type.getMemorySpace())
          continue;
        auto g = gpu::AllocOp::create(b, loc, type, /*asyncToken=*/Type(),
                                      ValueRange{}, alloc.getDynamicSizes(),
                                      alloc.getSymbolOperands(),
                                      /*hostShared=*/true);
        alloc.replaceAllUsesWith(g.getMemref());
        alloc.erase();
      } else if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
        // gpu-to-llvm lowers only the async form (on a stream of its own).
        auto tokenType = gpu::AsyncTokenType::get(b.getContext());
        Value start = gpu::WaitOp::create(b, loc, tokenType, ValueRange{})
                          .getAsyncToken();
        Value done = gpu::DeallocOp::create(b, loc, tokenType,
                                            ValueRange{start},
                                            dealloc.getMemref())
                         .getAsyncToken();
        gpu::WaitOp::create(b, loc, Type(), ValueRange{done});
        dealloc.erase();
      } else if (auto get = dyn_cast<memref::GetGlobalOp>(op)) {
        auto type = get.getType();
        if (type.getMemorySpace())
          continue;
        b.setInsertionPointAfter(get);
        gpu::HostRegisterOp::create(b, loc, unrankedOf(b, loc, get));
      }
    }
  }
};

} // namespace
