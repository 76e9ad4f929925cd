//===- GpuPipeline.cpp - linalg-on-tensors + onebit to CUDA ---------------===//
//
// --onebit-gpu-pipeline: host code in the LLVM dialect calling the mgpu*
// runtime (runtime/lib/CudaRuntime.cpp implements it on the CUDA driver API),
// kernels in gpu.binary ops (PTX with format=isa, cubin with format=bin,
// fatbin with format=fatbin). See docs/gpu.md.
//
//===----------------------------------------------------------------------===//

#include "onebit/Pipelines/Pipelines.h"

#include "Bufferization.h"
#include "HostLowering.h"

#include "onebit/Conversion/Passes.h"
#include "onebit/Dialect/OneBit/Transforms/Passes.h"
#include "onebit/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace {
struct GpuPipelineCLOptions
    : public PassPipelineOptions<GpuPipelineCLOptions> {
  PassOptions::Option<std::string> chip{*this, "chip",
                                        llvm::cl::desc("SM target (sm_80)"),
                                        llvm::cl::init("sm_80")};
  PassOptions::Option<std::string> features{
      *this, "features", llvm::cl::desc("PTX features (+ptx80)"),
      llvm::cl::init("+ptx80")};
  PassOptions::Option<std::string> format{
      *this, "format",
      llvm::cl::desc("Kernel binary format: isa (PTX, JIT-compiled by the "
                     "driver), bin (cubin, needs ptxas) or fatbin"),
      llvm::cl::init("isa")};
  PassOptions::Option<std::string> toolkit{
      *this, "toolkit",
      llvm::cl::desc("CUDA toolkit (libdevice, ptxas); default: $CUDA_HOME, "
                     "$CUDA_ROOT, $CUDA_PATH (read by the tool), else "
                     "/usr/local/cuda"),
      llvm::cl::init("")};
  PassOptions::Option<int> optLevel{*this, "opt-level",
                                    llvm::cl::desc("NVPTX optimisation level"),
                                    llvm::cl::init(3)};
  PassOptions::Option<int> warps{
      *this, "warps",
      llvm::cl::desc("binary_linear kernel: warps (output rows) per block"),
      llvm::cl::init(4)};
  PassOptions::Option<int> mTile{
      *this, "m-tile",
      llvm::cl::desc("binary_linear kernel: activation rows per block"),
      llvm::cl::init(4)};
  PassOptions::Option<bool> tensorCores{
      *this, "tensor-cores",
      llvm::cl::desc("binary_linear layers with many rows use the mma.sync "
                     "kernel (on sm_80 and newer)"),
      llvm::cl::init(true)};
};

/// The SM version of a chip name ("sm_90a" -> 90), 0 if it is not one.
int smVersion(llvm::StringRef chip) {
  int v = 0;
  if (!chip.consume_front("sm_") || chip.consumeInteger(10, v))
    return 0;
  return v;
}
} // namespace

// The GPU pipeline:
//  1. binary layers -> calls of kernel stubs on memrefs; int8 layers -> a
//     linalg contraction that converts the weights in its payload;
//  2. the CPU pipeline's tensor-level clean-up, one-shot bufferization and
//     deallocation (launches are synchronous, so freeing after the last use
//     is safe); then the stubs become the sign-flip kernels (gpu.launch),
//     and host copies into / out of KV caches become linalg.copy (the
//     caches are device memory);
//  3. dense contractions with 16 rows or more (prefill attention, the
//     train step's products, the head) -> tiled shared-memory kernels
//     (onebit-gpu-contraction-kernels); remaining linalg -> scf.parallel,
//     tiled 1 x 32 (no min/max bounds, so
//     the thread extent is static), mapped to blocks/threads and turned into
//     gpu.launch;
// (addKernelPasses, shared with the emulation pipeline), then
//  4. constants that only kernels read get device copies, uploaded by a
//     load constructor and freed by a destructor; other host buffers
//     become managed / registered memory; outlining into
//     gpu.modules, NVVM target, kernels to NVVM, host to LLVM with mgpu*
//     calls, kernels serialised by gpu-module-to-binary.
static void addKernelPasses(OpPassManager &pm,
                            const ::onebit::GpuPipelineOptions &options) {
  pm.addPass(onebit::createConvertOneBitToGPU());
  {
    OpPassManager &fpm = pm.nest<func::FuncOp>();
    fpm.addPass(onebit::createOneBitDecomposeTrainForm());
    fpm.addPass(onebit::createOneBitDecomposeInt8Linear());
    fpm.addPass(onebit::createOneBitDecomposeAggregates());
    fpm.addPass(onebit::createOneBitLegalizeExpandShape());
    fpm.addPass(createConvertElementwiseToLinalgPass());
  }
  pm.addPass(createCanonicalizerPass());
  // Upstream's elementwise fusion, but no read of a parameter moved past
  // its in-place update (a train step's state is device memory updated in
  // place).
  pm.addPass(onebit::createOneBitFuseElementwise());
  ::onebit::addBufferizationPasses(pm);
  onebit::OneBitGpuBinaryLinearKernelsOptions kernels;
  kernels.warps = options.warps;
  kernels.mTile = options.mTile;
  kernels.tensorCores = options.tensorCores && smVersion(options.chip) >= 80;
  pm.addPass(onebit::createOneBitGpuBinaryLinearKernels(kernels));
  pm.addPass(onebit::createOneBitGpuCacheCopies());
  pm.addPass(onebit::createOneBitGpuContractionKernels());
  pm.addPass(createConvertLinalgToParallelLoopsPass());
  {
    OpPassManager &fpm = pm.nest<func::FuncOp>();
    fpm.addPass(createParallelLoopTilingPass(/*tileSize=*/{1, 32},
                                             /*noMinMaxBounds=*/true));
    fpm.addPass(createGpuMapParallelLoopsPass());
    fpm.addPass(createConvertParallelLoopToGpuPass());
  }
}

/// The CUDA toolkit whose libdevice resolves math calls in kernels
/// (__nv_expf, __nv_rsqrtf, ...): without it they stay unresolved externs.
static std::string toolkitPath(const std::string &option) {
  return option.empty() ? "/usr/local/cuda" : option;
}

void ::onebit::buildGpuPipeline(OpPassManager &pm,
                                const GpuPipelineOptions &options) {
  addKernelPasses(pm, options);
  pm.addPass(onebit::createOneBitGpuResidentConstants());
  pm.addPass(onebit::createOneBitGpuHostMemory());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  target.optLevel = options.optLevel;
  pm.addPass(createGpuNVVMAttachTarget(target));
  {
    OpPassManager &kpm = pm.nest<gpu::GPUModuleOp>();
    kpm.addPass(memref::createExpandStridedMetadataPass());
    kpm.addPass(createLowerAffinePass());
    kpm.addPass(createSCFToControlFlowPass());
    // The tensor-core kernel's nvgpu.mma.sync and its fragment vectors.
    kpm.addPass(createConvertNVGPUToNVVMPass());
    kpm.addPass(createConvertVectorToLLVMPass());
    kpm.addPass(createConvertGpuOpsToNVVMOps());
    kpm.addPass(createCanonicalizerPass());
    kpm.addPass(createCSEPass());
    kpm.addPass(createReconcileUnrealizedCastsPass());
  }
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createGpuToLLVMConversionPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  GpuModuleToBinaryPassOptions toBinary;
  toBinary.compilationTarget = options.format;
  toBinary.toolkitPath = toolkitPath(options.toolkit);
  pm.addPass(createGpuModuleToBinaryPass(toBinary));
}

// The emulation tail: every gpu.launch becomes host loops
// (convert-gpu-launch-to-scf), then the host lowering of the CPU pipeline
// (heap buffers from the runtime's block cache). Math stays libm/LLVM
// intrinsics, close to libdevice.
void ::onebit::buildGpuEmulationPipeline(OpPassManager &pm,
                                         const GpuPipelineOptions &options) {
  addKernelPasses(pm, options);
  onebit::OneBitGpuResidentConstantsOptions resident;
  resident.emulate = true;
  pm.addPass(onebit::createOneBitGpuResidentConstants(resident));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(onebit::createConvertGPULaunchToSCF());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertVectorToLLVMPass()); // mma fragments
  addHostToLLVMPasses(pm);
}

/// The pipeline text's options over `defaults` (what onebit-opt's
/// environment gives).
static ::onebit::GpuPipelineOptions
optionsFrom(const GpuPipelineCLOptions &cl,
            const ::onebit::GpuPipelineOptions &defaults) {
  ::onebit::GpuPipelineOptions options = defaults;
  auto take = [](auto &field, const auto &option) {
    if (option.hasValue())
      field = option;
  };
  take(options.chip, cl.chip);
  take(options.features, cl.features);
  take(options.format, cl.format);
  // An empty toolkit= means the default, as when it is not given.
  if (!cl.toolkit.empty())
    options.toolkit = cl.toolkit;
  take(options.optLevel, cl.optLevel);
  take(options.warps, cl.warps);
  take(options.mTile, cl.mTile);
  take(options.tensorCores, cl.tensorCores);
  return options;
}

void ::onebit::registerGpuPipeline(const GpuPipelineOptions &defaults) {
  PassPipelineRegistration<GpuPipelineCLOptions>(
      "onebit-gpu-pipeline",
      "Lower linalg-on-tensors + onebit to host LLVM (mgpu* runtime calls) "
      "and NVVM kernels (binary layers become sign-flip GEMV/GEMM kernels)",
      [defaults](OpPassManager &pm, const GpuPipelineCLOptions &cl) {
        buildGpuPipeline(pm, optionsFrom(cl, defaults));
      });
  PassPipelineRegistration<GpuPipelineCLOptions>(
      "onebit-gpu-emulation-pipeline",
      "The GPU pipeline's kernels (gpu.launch, before outlining) run on the "
      "host: blocks and threads become loops (convert-gpu-launch-to-scf), "
      "then host LLVM; for checking the kernels' numerics without a GPU. "
      "Only warps, m-tile, tensor-cores and chip (sm_80+: tensor-core "
      "kernels) matter",
      [defaults](OpPassManager &pm, const GpuPipelineCLOptions &cl) {
        buildGpuEmulationPipeline(pm, optionsFrom(cl, defaults));
      });
}
