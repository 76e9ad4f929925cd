//===- GpuResidentConstants.cpp - weights in device memory, uploaded once -===//
//
// The constants that kernels read (the weights) are copied to device memory
// once, when the module is loaded, and freed when it is unloaded; per call
// only the caller's buffers and the activations move. Without this pass
// (onebit-gpu-host-memory alone) a kernel reads each weight from registered
// host memory over PCIe on every call.
//
// Each such constant @w gets
//   llvm.mlir.global internal @__onebit_dev.w : <memref descriptor struct>
// (zero until loaded). The constructor @__onebit_gpu_upload_constants,
// listed in llvm.mlir.global_ctors, allocates the copy, copies the global
// into it (one host-to-device copy per constant) and stores the copy's
// descriptor there; @__onebit_gpu_free_constants (llvm.mlir.global_dtors)
// frees it. In host code, `memref.get_global @w` whose value only kernels
// read becomes a load of that descriptor, cast back to the memref type
// (the cast pairs with the memref-to-LLVM lowering's own cast and
// disappears in reconcile-unrealized-casts).
//
// The constructor and destructor are llvm.func (what global_ctors may
// list) whose bodies are still gpu/memref ops; the host lowering converts
// them like the rest of the module. onebit-gpu-host-memory leaves llvm.func
// bodies alone.
//
//===----------------------------------------------------------------------===//

#include "onebit/Conversion/OneBitToGPU/OneBitToGPU.h"

#include "KernelUses.h"

#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

#include "llvm/ADT/MapVector.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITGPURESIDENTCONSTANTS
#include "onebit/Conversion/Passes.h.inc"
} // namespace onebit

using namespace mlir;
using onebit::gpu_uses::firstHostAccess;
using onebit::gpu_uses::inKernel;

namespace {

constexpr const char *kUploadFn = "__onebit_gpu_upload_constants";
constexpr const char *kFreeFn = "__onebit_gpu_free_constants";
constexpr const char *kUploads = "onebit_gpu_uploads";
constexpr const char *kUploadBytes = "onebit_gpu_upload_bytes";
constexpr const char *kResidentBytes = "onebit_gpu_resident_bytes";

/// An external i64 counter, zero at load.
LLVM::GlobalOp counter(OpBuilder &b, Location loc, StringRef name) {
  return LLVM::GlobalOp::create(b, loc, b.getI64Type(), /*isConstant=*/false,
                                LLVM::Linkage::External, name,
                                b.getI64IntegerAttr(0));
}

/// `*name += delta` (an i64 global).
void addTo(OpBuilder &b, Location loc, StringRef name, int64_t delta) {
  auto ptrType = LLVM::LLVMPointerType::get(b.getContext());
  Value addr = LLVM::AddressOfOp::create(b, loc, ptrType, name);
  Value old = LLVM::LoadOp::create(b, loc, b.getI64Type(), addr);
  Value d = LLVM::ConstantOp::create(b, loc, b.getI64Type(),
                                     b.getI64IntegerAttr(delta));
  Value sum = LLVM::AddOp::create(b, loc, old, d);
  LLVM::StoreOp::create(b, loc, sum, addr);
}

/// A `void ()` llvm.func with one block, the builder at its end.
LLVM::LLVMFuncOp voidFunction(OpBuilder &b, Location loc, StringRef name) {
  auto type =
      LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(b.getContext()), {});
  auto fn =
      LLVM::LLVMFuncOp::create(b, loc, name, type, LLVM::Linkage::Internal);
  b.setInsertionPointToStart(fn.addEntryBlock(b));
  return fn;
}

struct OneBitGpuResidentConstantsPass
    : public onebit::impl::OneBitGpuResidentConstantsBase<
          OneBitGpuResidentConstantsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = module.getContext();
    SymbolTable symbols(module);
    if (symbols.lookup(kUploadFn) || symbols.lookup(kFreeFn) ||
        !module.getOps<LLVM::GlobalCtorsOp>().empty() ||
        !module.getOps<LLVM::GlobalDtorsOp>().empty()) {
      module.emitError() << "onebit-gpu-resident-constants: the module "
                            "already has constructors or destructors (did "
                            "the pass run twice?)";
      return signalPassFailure();
    }

    // The constants with a get_global that only kernels read, in module
    // order (so the constructor's uploads are deterministic).
    llvm::MapVector<memref::GlobalOp, SmallVector<memref::GetGlobalOp>> todo;
    for (auto fn : module.getOps<func::FuncOp>())
      fn.walk([&](memref::GetGlobalOp get) {
        if (inKernel(get) || get.getType().getMemorySpace())
          return;
        auto global = symbols.lookup<memref::GlobalOp>(get.getName());
        if (!global || !global.getConstant() || !global.getInitialValue() ||
            global.isExternal() || !global.getType().hasStaticShape() ||
            !global.getType().getLayout().isIdentity())
          return;
        if (!firstHostAccess(get.getResult()))
          todo[global].push_back(get);
      });
    if (todo.empty())
      return;

    LLVMTypeConverter converter(ctx);
    DataLayout layout(module);
    auto bytesOf = [&](MemRefType type) {
      return type.getNumElements() *
             int64_t(layout.getTypeSize(type.getElementType()));
    };
    auto ptrType = LLVM::LLVMPointerType::get(ctx);
    Location loc = module.getLoc();
    OpBuilder top = OpBuilder::atBlockEnd(module.getBody());
    for (StringRef name : {kUploads, kUploadBytes, kResidentBytes}) {
      if (symbols.lookup(name)) {
        module.emitError() << "onebit-gpu-resident-constants: the module "
                              "already has a symbol @"
                           << name;
        return signalPassFailure();
      }
      symbols.insert(counter(top, loc, name));
    }

    // The descriptor globals, zero until the constructor runs.
    llvm::MapVector<memref::GlobalOp, LLVM::GlobalOp> device;
    for (auto &[global, gets] : todo) {
      MemRefType type = global.getType();
      Type desc = converter.convertType(type);
      if (!desc) {
        global.emitError("onebit-gpu-resident-constants: no LLVM descriptor "
                         "type for ")
            << type;
        return signalPassFailure();
      }
      auto g = LLVM::GlobalOp::create(
          top, global.getLoc(), desc, /*isConstant=*/false,
          LLVM::Linkage::Internal,
          ("__onebit_dev." + global.getSymName()).str(), Attribute());
      Block *init = top.createBlock(&g.getInitializerRegion());
      OpBuilder ib = OpBuilder::atBlockBegin(init);
      Value zero = LLVM::ZeroOp::create(ib, global.getLoc(), desc);
      LLVM::ReturnOp::create(ib, global.getLoc(), zero);
      top.setInsertionPointToEnd(module.getBody());
      symbols.insert(g);
      device[global] = g;
    }

    // Host code: the kernels' operand is the device copy.
    for (auto &[global, gets] : todo) {
      LLVM::GlobalOp g = device[global];
      for (memref::GetGlobalOp get : gets) {
        OpBuilder b(get);
        Value addr =
            LLVM::AddressOfOp::create(b, get.getLoc(), ptrType, g.getSymName());
        Value desc = LLVM::LoadOp::create(b, get.getLoc(), g.getType(), addr);
        Value copy = UnrealizedConversionCastOp::create(b, get.getLoc(),
                                                        get.getType(), desc)
                         .getResult(0);
        get.replaceAllUsesWith(copy);
        get.erase();
      }
    }

    // The constructor: allocate, copy, publish; count.
    auto tokenType = gpu::AsyncTokenType::get(ctx);
    OpBuilder b(ctx);
    b.setInsertionPointToEnd(module.getBody());
    LLVM::LLVMFuncOp upload = voidFunction(b, loc, kUploadFn);
    for (auto &[global, g] : device) {
      MemRefType type = global.getType();
      const int64_t bytes = bytesOf(type);
      Location gloc = global.getLoc();
      Value host =
          memref::GetGlobalOp::create(b, gloc, type, global.getSymName());
      Value copy;
      if (emulate) {
        copy = memref::AllocOp::create(b, gloc, type, b.getI64IntegerAttr(64));
        memref::CopyOp::create(b, gloc, host, copy);
      } else {
        // gpu-to-llvm lowers device allocations and copies in their async
        // form only; each waits for the last.
        Value start = gpu::WaitOp::create(b, gloc, tokenType, ValueRange{})
                          .getAsyncToken();
        auto alloc = gpu::AllocOp::create(b, gloc, type, tokenType,
                                          ValueRange{start}, ValueRange{},
                                          ValueRange{}, /*hostShared=*/false);
        copy = alloc.getMemref();
        Value copied =
            gpu::MemcpyOp::create(b, gloc, tokenType,
                                  ValueRange{alloc.getAsyncToken()}, copy, host)
                .getAsyncToken();
        gpu::WaitOp::create(b, gloc, Type(), ValueRange{copied});
      }
      Value desc =
          UnrealizedConversionCastOp::create(b, gloc, g.getType(), copy)
              .getResult(0);
      Value addr = LLVM::AddressOfOp::create(b, gloc, ptrType, g.getSymName());
      LLVM::StoreOp::create(b, gloc, desc, addr);
      addTo(b, gloc, kUploads, 1);
      addTo(b, gloc, kUploadBytes, bytes);
      addTo(b, gloc, kResidentBytes, bytes);
    }
    LLVM::ReturnOp::create(b, loc, ValueRange{});

    // The destructor: free each copy that was made, zero its descriptor.
    // It runs whenever the module is unloaded, also when the constructor
    // never ran (the runner found no GPU and did not initialise the module).
    b.setInsertionPointToEnd(module.getBody());
    LLVM::LLVMFuncOp release = voidFunction(b, loc, kFreeFn);
    for (auto &[global, g] : device) {
      MemRefType type = global.getType();
      const int64_t bytes = bytesOf(type);
      Location gloc = global.getLoc();
      Value addr = LLVM::AddressOfOp::create(b, gloc, ptrType, g.getSymName());
      Value desc = LLVM::LoadOp::create(b, gloc, g.getType(), addr);
      Value allocated = LLVM::ExtractValueOp::create(b, gloc, desc, 0);
      Value null = LLVM::ZeroOp::create(b, gloc, ptrType);
      Value made = LLVM::ICmpOp::create(b, gloc, LLVM::ICmpPredicate::ne,
                                        allocated, null);
      auto ifMade = scf::IfOp::create(b, gloc, made, /*withElse=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifMade.thenBlock());
      Value copy =
          UnrealizedConversionCastOp::create(b, gloc, type, desc).getResult(0);
      if (emulate) {
        memref::DeallocOp::create(b, gloc, copy);
      } else {
        Value start = gpu::WaitOp::create(b, gloc, tokenType, ValueRange{})
                          .getAsyncToken();
        Value done =
            gpu::DeallocOp::create(b, gloc, tokenType, ValueRange{start}, copy)
                .getAsyncToken();
        gpu::WaitOp::create(b, gloc, Type(), ValueRange{done});
      }
      Value zero = LLVM::ZeroOp::create(b, gloc, g.getType());
      LLVM::StoreOp::create(b, gloc, zero, addr);
      addTo(b, gloc, kResidentBytes, -bytes);
    }
    LLVM::ReturnOp::create(b, loc, ValueRange{});

    // After every other constructor (the kernels' module load is 123);
    // the upload itself needs only the device.
    b.setInsertionPointToEnd(module.getBody());
    auto entry = [&](LLVM::LLVMFuncOp fn) {
      return b.getArrayAttr({FlatSymbolRefAttr::get(fn.getSymNameAttr())});
    };
    LLVM::GlobalCtorsOp::create(b, loc, TypeRange{}, entry(upload),
                                b.getI32ArrayAttr({65535}),
                                b.getArrayAttr({LLVM::ZeroAttr::get(ctx)}));
    LLVM::GlobalDtorsOp::create(b, loc, TypeRange{}, entry(release),
                                b.getI32ArrayAttr({65535}),
                                b.getArrayAttr({LLVM::ZeroAttr::get(ctx)}));
  }
};

} // namespace
