//===- KernelCompile.cpp - gpu_bench: compile a layer, record its launches ===//

#include "KernelCompile.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

#include "onebit/InitAllDialects.h"

#include "llvm/Support/raw_ostream.h"

#include <chrono>

using namespace mlir;

namespace gpubench {

namespace {

/// Records the launches of @main right after gpu-kernel-outlining, while
/// they still take memrefs and index constants.
struct LaunchRecorder : public PassInstrumentation {
  KernelPlan &plan;
  std::string &error;
  bool seen = false;
  LaunchRecorder(KernelPlan &plan, std::string &error)
      : plan(plan), error(error) {}

  void runAfterPass(Pass *pass, Operation *op) override {
    if (pass->getArgument() != "gpu-kernel-outlining" || seen)
      return;
    seen = true;
    auto module = dyn_cast<ModuleOp>(op);
    auto main = module ? module.lookupSymbol<func::FuncOp>("main") : nullptr;
    if (!main) {
      error = "the outlined module has no @main";
      return;
    }
    if (!main.getBody().hasOneBlock()) {
      error = "@main has control flow after outlining";
      return;
    }
    llvm::DenseMap<Value, int> index;
    auto bufferOf = [&](Value v) -> int {
      auto it = index.find(v);
      if (it != index.end())
        return it->second;
      auto type = dyn_cast<MemRefType>(v.getType());
      if (!type || !type.hasStaticShape())
        return -1;
      PlanBuffer b;
      if (auto arg = dyn_cast<BlockArgument>(v))
        b.argument = arg.getArgNumber();
      else if (!v.getDefiningOp<gpu::AllocOp>())
        return -1;
      SmallVector<int64_t> strides;
      if (failed(type.getStridesAndOffset(strides, b.offset)))
        return -1;
      b.shape.assign(type.getShape().begin(), type.getShape().end());
      b.strides.assign(strides.begin(), strides.end());
      b.elementBytes = (type.getElementTypeBitWidth() + 7) / 8;
      plan.buffers.push_back(b);
      return index[v] = int(plan.buffers.size()) - 1;
    };
    for (Operation &o : main.getBody().front()) {
      if (auto launch = dyn_cast<gpu::LaunchFuncOp>(o)) {
        PlanLaunch l;
        l.module = launch.getKernelModuleName().str();
        l.kernel = launch.getKernelName().str();
        Value grid[] = {launch.getGridSizeX(), launch.getGridSizeY(),
                        launch.getGridSizeZ()};
        Value block[] = {launch.getBlockSizeX(), launch.getBlockSizeY(),
                         launch.getBlockSizeZ()};
        for (int d = 0; d < 3; ++d) {
          auto gv = getConstantIntValue(grid[d]);
          auto bv = getConstantIntValue(block[d]);
          if (!gv || !bv || *gv <= 0 || *bv <= 0) {
            error = "launch of " + l.kernel + " has a non-constant size";
            return;
          }
          l.grid[d] = unsigned(*gv);
          l.block[d] = unsigned(*bv);
        }
        if (launch.getDynamicSharedMemorySize()) {
          error = "launch of " + l.kernel + " uses dynamic shared memory";
          return;
        }
        for (Value v : launch.getKernelOperands()) {
          int b = bufferOf(v);
          if (b < 0) {
            std::string s;
            llvm::raw_string_ostream os(s);
            v.print(os);
            error = "operand of " + l.kernel +
                    " is not a static argument or gpu.alloc: " + s;
            return;
          }
          l.buffers.push_back(b);
        }
        plan.launches.push_back(std::move(l));
        continue;
      }
      if (auto ret = dyn_cast<func::ReturnOp>(o)) {
        if (ret.getNumOperands() != 1 ||
            (plan.resultBuffer = bufferOf(ret.getOperand(0))) < 0) {
          error = "@main does not return one gpu.alloc'd buffer";
          return;
        }
        plan.buffers[plan.resultBuffer].result = true;
        continue;
      }
      // Host code the plan can replay without doing anything: constants,
      // casts, registration of host memory (the plan's buffers are already
      // on the device), allocation (done by bufferOf), frees, and waits
      // (the plan's launches run in order on one stream).
      if (isa<arith::ConstantOp, memref::CastOp, gpu::HostRegisterOp,
              gpu::HostUnregisterOp, gpu::AllocOp, gpu::DeallocOp,
              gpu::WaitOp>(o))
        continue;
      error = "the host code does more than launch kernels (" +
              o.getName().getStringRef().str() + ")";
      return;
    }
    if (plan.launches.empty())
      error = "the layer compiled to no kernel launch";
  }
};

} // namespace

bool compileLayer(const LayerShape &shape,
                  const onebit::GpuPipelineOptions &options, KernelPlan &plan,
                  std::string &error) {
  auto start = std::chrono::steady_clock::now();
  plan = KernelPlan();
  plan.shape = shape;
  plan.chip = options.chip;
  plan.features = options.features;
  if (shape.m <= 0 || shape.n <= 0 || shape.k <= 0) {
    error = "shape dimensions must be positive";
    return false;
  }
  if (options.format != "isa") {
    error = "the plan needs PTX (format=isa)";
    return false;
  }
  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  onebit::registerAllDialects(registry);
  MLIRContext context(registry, MLIRContext::Threading::DISABLED);
  context.loadAllAvailableDialects();

  std::string diagnostics;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    if (d.getSeverity() == DiagnosticSeverity::Error)
      diagnostics += (diagnostics.empty() ? "" : "; ") + d.str();
    return success();
  });
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(layerSource(shape), &context);
  if (!module) {
    error = "cannot parse the layer: " + diagnostics;
    return false;
  }
  PassManager pm(&context);
  onebit::buildGpuPipeline(pm, options);
  std::string recordError;
  pm.addInstrumentation(std::make_unique<LaunchRecorder>(plan, recordError));
  if (failed(pm.run(*module))) {
    error = "--onebit-gpu-pipeline failed: " + diagnostics;
    return false;
  }
  if (!recordError.empty()) {
    error = recordError;
    return false;
  }
  if (plan.launches.empty()) {
    error = "the pipeline ran no gpu-kernel-outlining";
    return false;
  }
  module->walk([&](gpu::BinaryOp binary) {
    for (Attribute a : binary.getObjects())
      if (auto object = dyn_cast<gpu::ObjectAttr>(a))
        if (object.getFormat() == gpu::CompilationTarget::Assembly)
          plan.ptx[binary.getSymName().str()] = object.getObject().str();
  });
  plan.compileSeconds = std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - start)
                            .count();
  return checkPlan(plan, error);
}

} // namespace gpubench
