//===- EnvOptions.h - ONEBIT_* environment variables to options -*- C++ -*-===//
//
// The one place where environment variables become settings. Libraries
// (lib/, runtime/) read no environment: they take option structs
// (CompileOptions, CpuPipelineOptions, GpuPipelineOptions) and runtime setter
// calls. The tools (onebit-opt, onebit-run, onebit-train, onebit-eval,
// kernel-bench) and the Python module call these functions at start-up, so
// that users keep setting the variables below.
//
// Runtime (applyRuntimeEnvironment, once per process):
//   ONEBIT_ISA=scalar|avx2|avx512  caps the CPU kernels' instruction set
//       (onebit_runtime_set_isa); other values are reported and ignored.
//   ONEBIT_LUT_MAX_M=N             AVX-512: up to N activation rows the
//       lookup-table kernels run, above it the FMA GEMM
//       (onebit_runtime_set_lut_max_m; a negative N acts as 0).
//   ONEBIT_SIGN_MATMUL=onebit|dense  the train step's products with sign(W)
//       on the 1-bit kernels (default) or the dense +-1 GEMM
//       (onebit_runtime_set_sign_matmul_backend); other values are reported
//       and ignored.
//   ONEBIT_DENSE_BACKEND=builtin   dense f32 matmuls on the built-in kernel
//       instead of OpenBLAS (onebit_runtime_set_dense_backend).
//   ONEBIT_KERNEL_MODE=int16|exact|fast  the 1-bit decode kernels' mode
//       (onebit_runtime_set_kernel_mode; int16 is the default, exact the
//       FP32 reference arithmetic; docs/kernels.md); a tool's own
//       --kernel-mode overrides it; other values are reported and ignored.
//   ONEBIT_ALLOC_CACHE_MB=N        bound of the compiled models' buffer cache
//       in MiB, 0 turns it off (onebit_runtime_set_allocation_cache_mb).
//
// Pipelines (cpuPipelineOptions, gpuPipelineOptions; also onebit-opt's
// --onebit-*-pipeline defaults):
//   ONEBIT_DENSE_MATMUL=loops      dense matmuls stay loops instead of runtime
//       calls (CpuPipelineOptions::denseMatmulToRuntime = false).
//   ONEBIT_OUTLINE_LAYERS=0        every decoder layer stays inline instead
//       of sharing one function per layer form
//       (CpuPipelineOptions::outlineLayers = false).
//   ONEBIT_LAYER_LOOPS=0           outlined layers are called once each, in
//       line, instead of from one loop over the layers, and what a train
//       step repeats per layer is not rolled either
//       (CpuPipelineOptions::layerLoops = false: onebit-layer-loops and
//       onebit-period-loops off).
//   CUDA_HOME, CUDA_ROOT, CUDA_PATH  the first one set is the CUDA toolkit of
//       the GPU pipeline (GpuPipelineOptions::toolkit), else /usr/local/cuda.
//
// JIT (compileOptions, which includes both pipelines' options):
//   ONEBIT_JIT_OPT_LEVEL=0..3      LLVM optimisation level of generated code
//       (CompileOptions::jitOptLevel; out-of-range values are clamped).
//   ONEBIT_JIT_PIPELINE=default    LLVM's default<On> pipeline instead of the
//       runner's shorter one (CompileOptions::llvmDefaultPipeline).
//   ONEBIT_PERF_MAP=1              write /tmp/perf-PID.map naming the
//       JIT-compiled functions for `perf report` (CompileOptions::perfMap).
//   ONEBIT_SHARE_CONSTANTS=0       copy large constants into the JIT's
//       memory instead of reading them where the MLIR context holds them
//       (CompileOptions::shareConstants).
//   ONEBIT_VERIFY_EACH=1           verify the IR after every pass of the
//       lowering pipeline, not once after it, so that a pass producing
//       invalid IR is named (CompileOptions::verifyEachPass).
//
// Compile cache (compileCacheOptions; onebit-run, onebit-generate,
// onebit-eval, onebit-bench, docs/artifacts.md):
//   ONEBIT_CACHE_DIR=DIR           where compiled models are kept between
//       runs (CompileCacheOptions::directory); empty, 0 or off disables the
//       cache. Unset: $XDG_CACHE_HOME/onebit, else $HOME/.cache/onebit.
//   ONEBIT_CACHE_MAX_MB=N          the cache is pruned to N MiB, least
//       recently used first (default 8192; 0: no bound).
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TOOLS_COMMON_ENVOPTIONS_H
#define ONEBIT_TOOLS_COMMON_ENVOPTIONS_H

// Declarations only, so that programs of the runtime alone (kernel-bench)
// include no compiler header; callers of the option functions include
// onebit/Runner/Runner.h.
namespace onebit {
struct CompileCacheOptions;
struct CompileOptions;
struct CpuPipelineOptions;
struct GpuPipelineOptions;
} // namespace onebit

namespace onebit::env {

/// The variable's value, or null when it is unset or empty.
const char *nonEmptyVariable(const char *name);

/// Applies the runtime variables through the runtime's setters. Invalid
/// values are reported on stderr.
void applyRuntimeEnvironment();

/// The CPU pipeline's options from the environment.
CpuPipelineOptions cpuPipelineOptions();

/// The GPU pipelines' options from the environment.
GpuPipelineOptions gpuPipelineOptions();

/// The runner's options from the environment (pipelines and JIT).
CompileOptions compileOptions();

/// The compile cache's folder and bound from the environment.
CompileCacheOptions compileCacheOptions();

} // namespace onebit::env

#endif // ONEBIT_TOOLS_COMMON_ENVOPTIONS_H
