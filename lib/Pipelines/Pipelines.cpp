//===- Pipelines.cpp - onebit's named pass pipelines ----------------------===//
//
// Pipelines only compose passes; every rewrite lives in a pass of its own.
// Passes are added by their create functions with typed options, so a
// misspelt pass or option is a compile error and callers need not register
// any pass first.
//
//===----------------------------------------------------------------------===//

#include "onebit/Pipelines/Pipelines.h"

#include "Bufferization.h"
#include "HostLowering.h"

#include "onebit/Conversion/Passes.h"
#include "onebit/Dialect/OneBit/Transforms/Passes.h"
#include "onebit/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace {
struct CpuPipelineCLOptions : public PassPipelineOptions<CpuPipelineCLOptions> {
  PassOptions::Option<bool> denseMatmulToRuntime{
      *this, "dense-matmul-to-runtime",
      llvm::cl::desc("Dense f32 matmuls call the runtime's onebit_matmul_f32 "
                     "(false: the loop lowering)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> outlineLayers{
      *this, "outline-layers",
      llvm::cl::desc("Decoder layers of the same form share one function "
                     "(onebit-outline-layers)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> layerLoops{
      *this, "layer-loops",
      llvm::cl::desc("With outline-layers: a run of layer calls becomes one "
                     "loop over the layers (onebit-layer-loops), and so does "
                     "a sequence repeated per layer after bufferization "
                     "(onebit-period-loops)"),
      llvm::cl::init(true)};
};
} // namespace

// The CPU pipeline:
//  0. decoder layers of the same form -> one function called per layer
//     (onebit-outline-layers; nothing inlines them back), and after
//     bufferization a run of such calls -> one loop over the layers
//     (onebit-layer-loops);
//  1. binary and int8 layers -> calls of the kernel library
//     (convert-onebit-to-runtime);
//  2. expand_shape forms MLIR 22 cannot lower -> tensor.reshape; arith/math
//     on tensors -> linalg; dense f32 (batched) matmuls -> calls of the
//     runtime's BLAS-backed onebit_matmul_f32, and the train step's
//     products with sign(W) -> onebit_sign_matmul_f32 on the 1-bit kernels
//     (convert-matmul-to-runtime, before elementwise fusion can merge
//     anything into them);
//  3. elementwise fusion, then one-shot bufferization (a value materialized
//     in an argument computed there: onebit-destination-inits) with
//     identity-layout function boundaries (then a sequence of ops repeated
//     per layer, as in a train step's forward, loss terms and backward,
//     becomes one loop: onebit-period-loops) and ownership-based deallocation
//     of temporaries, each freed after its last use where every alias is
//     visible (onebit-free-after-last-use);
//  4. linalg ops whose innermost loop dimension is contiguous -> tiles of
//     vector arithmetic (onebit-vectorize), the rest ->
//     loops (the loop nests of very large functions outlined into
//     functions of their own, onebit-outline-loop-nests), an entry's
//     statically shaped buffer arguments passed as addresses in one table
//     (onebit-entry-arg-table) -> LLVM, with f32
//     exp/tanh/log... as polynomial arithmetic instead of libm calls
//     (onebit-math-approximation); heap buffers come from the runtime's
//     per-size block cache (_mlir_memref_to_llvm_alloc/free,
//     runtime/include/onebit/Runtime/Allocator.h).
void ::onebit::buildCpuPipeline(OpPassManager &pm,
                                const CpuPipelineOptions &options) {
  if (options.outlineLayers) {
    pm.addPass(onebit::createOneBitOutlineLayers());
    if (options.layerLoops)
      pm.addPass(onebit::createOneBitLayerLoops());
  }
  pm.addPass(onebit::createConvertOneBitToRuntime());
  {
    OpPassManager &fpm = pm.nest<func::FuncOp>();
    fpm.addPass(onebit::createOneBitDecomposeTrainForm());
    fpm.addPass(onebit::createOneBitDecomposeAggregates());
    fpm.addPass(onebit::createOneBitLegalizeExpandShape());
    fpm.addPass(createConvertElementwiseToLinalgPass());
  }
  pm.addPass(createBottomUpCanonicalizer());
  if (options.denseMatmulToRuntime)
    pm.addPass(onebit::createConvertMatmulToRuntime());
  pm.addPass(createLinalgElementwiseOpFusionPass());
  addBufferizationPasses(pm, options.outlineLayers && options.layerLoops);
  {
    // Each distinct linalg op of a large function is vectorized, lowered
    // and compiled once (the per-parameter updates of a deep model's step
    // are a few forms).
    onebit::OneBitOutlineLoopNestsOptions linalgOps;
    linalgOps.linalgOps = true;
    pm.addPass(onebit::createOneBitOutlineLoopNests(linalgOps));
  }
  pm.addNestedPass<func::FuncOp>(onebit::createOneBitVectorize());
  pm.addPass(createConvertVectorToSCFPass());
  pm.addPass(createConvertLinalgToLoopsPass());
  pm.addPass(onebit::createOneBitOutlineLoopNests());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(onebit::createOneBitEntryArgTable());
  pm.addPass(createSCFToControlFlowPass());
  pm.addNestedPass<func::FuncOp>(onebit::createOneBitMathApproximation());
  ConvertVectorToLLVMPassOptions vectorToLLVM;
  vectorToLLVM.reassociateFPReductions = true;
  pm.addPass(createConvertVectorToLLVMPass(vectorToLLVM));
  addHostToLLVMPasses(pm);
}

void ::onebit::registerPipelines(const CpuPipelineOptions &cpuDefaults,
                                 const GpuPipelineOptions &gpuDefaults) {
  PassPipelineRegistration<CpuPipelineCLOptions>(
      "onebit-cpu-pipeline",
      "Lower linalg-on-tensors + onebit to the LLVM dialect for the host CPU "
      "(binary layers call the runtime's 1-bit kernels)",
      [cpuDefaults](OpPassManager &pm, const CpuPipelineCLOptions &cl) {
        CpuPipelineOptions options = cpuDefaults;
        if (cl.denseMatmulToRuntime.hasValue())
          options.denseMatmulToRuntime = cl.denseMatmulToRuntime;
        if (cl.outlineLayers.hasValue())
          options.outlineLayers = cl.outlineLayers;
        if (cl.layerLoops.hasValue())
          options.layerLoops = cl.layerLoops;
        buildCpuPipeline(pm, options);
      });
  registerGpuPipeline(gpuDefaults);
}
