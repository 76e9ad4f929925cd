//===- Pipelines.cpp - onebit's named pass pipelines ----------------------===//
//
// Pipelines only compose passes; every rewrite lives in a pass of its own.
//
//===----------------------------------------------------------------------===//

#include "onebit/Pipelines/Pipelines.h"

#include "BufferDeallocation.h"

#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <string>

using namespace mlir;

// The CPU pipeline, in pass-pipeline syntax:
//  1. binary and int8 layers -> calls of the kernel library
//     (convert-onebit-to-runtime);
//  2. expand_shape forms MLIR 22 cannot lower -> tensor.reshape; arith/math
//     on tensors -> linalg; dense f32 (batched) matmuls -> calls of the
//     runtime's BLAS-backed onebit_matmul_f32, and the train step's
//     products with sign(W) -> onebit_sign_matmul_f32 on the 1-bit kernels
//     (convert-matmul-to-runtime, before elementwise fusion can merge
//     anything into them);
//  3. elementwise fusion, then one-shot bufferization with identity-layout
//     function boundaries and ownership-based deallocation of temporaries,
//     each freed after its last use where every alias is visible
//     (onebit-free-after-last-use);
//  4. linalg ops whose innermost loop dimension is contiguous -> tiles of
//     vector arithmetic (onebit-vectorize), the rest ->
//     loops (the loop nests of very large functions outlined into
//     functions of their own, onebit-outline-loop-nests) -> LLVM, with f32
//     exp/tanh/log... as polynomial arithmetic instead of libm calls
//     (onebit-math-approximation); heap buffers come from the runtime's
//     per-size block cache (_mlir_memref_to_llvm_alloc/free,
//     runtime/include/onebit/Runtime/Allocator.h).
static const char *const kCpuPipeline =
    "convert-onebit-to-runtime,"
    "func.func(onebit-decompose-train-form,onebit-decompose-aggregates,"
    "onebit-legalize-expand-shape,"
    "convert-elementwise-to-linalg),"
    "canonicalize,"
    "convert-matmul-to-runtime,"
    "linalg-fuse-elementwise-ops,"
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    ONEBIT_BUFFER_DEALLOCATION_PASSES
    "convert-bufferization-to-memref,"
    "func.func(onebit-vectorize),"
    "convert-vector-to-scf,"
    "convert-linalg-to-loops,"
    "onebit-outline-loop-nests,"
    "expand-strided-metadata,"
    "lower-affine,"
    "convert-scf-to-cf,"
    "func.func(onebit-math-approximation),"
    "convert-vector-to-llvm{reassociate-fp-reductions=true},"
    "convert-math-to-llvm,"
    "convert-math-to-libm,"
    "finalize-memref-to-llvm{use-generic-functions=true},"
    "convert-to-llvm,"
    "reconcile-unrealized-casts";

void onebit::buildCpuPipeline(OpPassManager &pm) {
  // ONEBIT_DENSE_MATMUL=loops leaves dense matmuls to the loop lowering (the
  // naive baseline of benchmarks/decode_bench.py); passes stay env-free.
  std::string pipeline = kCpuPipeline;
  if (const char *env = std::getenv("ONEBIT_DENSE_MATMUL"))
    if (llvm::StringRef(env) == "loops") {
      llvm::StringRef pass = "convert-matmul-to-runtime,";
      pipeline.erase(pipeline.find(pass.str()), pass.size());
    }
  if (failed(parsePassPipeline(pipeline, pm, llvm::errs())))
    llvm::report_fatal_error("onebit-cpu-pipeline: a pass is not registered");
}

void onebit::registerPipelines() {
  PassPipelineRegistration<>(
      "onebit-cpu-pipeline",
      "Lower linalg-on-tensors + onebit to the LLVM dialect for the host CPU "
      "(binary layers call the runtime's 1-bit kernels)",
      [](OpPassManager &pm) { buildCpuPipeline(pm); });
  registerGpuPipeline();
}
