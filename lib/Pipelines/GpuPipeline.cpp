//===- GpuPipeline.cpp - linalg-on-tensors + onebit to CUDA ---------------===//
//
// --onebit-gpu-pipeline: host code in the LLVM dialect calling the mgpu*
// runtime (runtime/lib/CudaRuntime.cpp implements it on the CUDA driver API),
// kernels in gpu.binary ops (PTX with format=isa, cubin with format=bin,
// fatbin with format=fatbin). See docs/gpu.md.
//
//===----------------------------------------------------------------------===//

#include "onebit/Pipelines/Pipelines.h"

#include "BufferDeallocation.h"

#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

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
                     "$CUDA_ROOT, $CUDA_PATH, else /usr/local/cuda"),
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
};
} // namespace

// The GPU pipeline, in pass-pipeline syntax:
//  1. binary layers -> calls of kernel stubs on memrefs; int8 layers -> a
//     linalg contraction that converts the weights in its payload;
//  2. the CPU pipeline's tensor-level clean-up, one-shot bufferization and
//     deallocation; then the stubs become the sign-flip kernels (gpu.launch);
//  3. remaining linalg -> scf.parallel, tiled 1 x 32 (no min/max bounds, so
//     the thread extent is static), mapped to blocks/threads and turned into
//     gpu.launch;
// (kGpuKernels, shared with the emulation pipeline), then
//  4. host buffers become managed / registered memory; outlining into
//     gpu.modules, NVVM target, kernels to NVVM, host to LLVM with mgpu*
//     calls, kernels serialised by gpu-module-to-binary.
// Format arguments: {0} warps, {1} m-tile, {2} the deallocation passes.
static const char *const kGpuKernels =
    "convert-onebit-to-gpu,"
    "func.func(onebit-decompose-train-form,onebit-decompose-int8-linear,"
    "onebit-decompose-aggregates,"
    "onebit-legalize-expand-shape,"
    "convert-elementwise-to-linalg),"
    "canonicalize,"
    "linalg-fuse-elementwise-ops,"
    "one-shot-bufferize{{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    // ONEBIT_BUFFER_DEALLOCATION_PASSES; launches are synchronous, so
    // freeing after the last use is safe.
    "{2}"
    "convert-bufferization-to-memref,"
    "onebit-gpu-binary-linear-kernels{{warps={0} m-tile={1}},"
    "convert-linalg-to-parallel-loops,"
    "func.func(scf-parallel-loop-tiling{{parallel-loop-tile-sizes=1,32 "
    "no-min-max-bounds=true},"
    "gpu-map-parallel-loops,convert-parallel-loops-to-gpu),";

// Format arguments: {0} chip, {1} features, {2} format, {3} opt level,
// {4} toolkit.
static const char *const kGpuToBinary =
    "onebit-gpu-host-memory,"
    "canonicalize,"
    "gpu-launch-sink-index-computations,"
    "gpu-kernel-outlining,"
    "nvvm-attach-target{{chip={0} features={1} O={3}},"
    "gpu.module(expand-strided-metadata,lower-affine,convert-scf-to-cf,"
    "convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),"
    "expand-strided-metadata,"
    "lower-affine,"
    "convert-scf-to-cf,"
    "convert-math-to-llvm,"
    "convert-math-to-libm,"
    "gpu-to-llvm,"
    "finalize-memref-to-llvm,"
    "convert-to-llvm,"
    "reconcile-unrealized-casts,"
    "gpu-module-to-binary{{format={2} toolkit={4}}";

// The emulation tail: every gpu.launch becomes host loops
// (convert-gpu-launch-to-scf), then the host lowering of the CPU pipeline
// (heap buffers from the runtime's block cache). Math stays libm/LLVM
// intrinsics, close to libdevice.
static const char *const kEmulationTail =
    "canonicalize,"
    "convert-gpu-launch-to-scf,"
    "canonicalize,"
    "expand-strided-metadata,"
    "lower-affine,"
    "convert-scf-to-cf,"
    "convert-math-to-llvm,"
    "convert-math-to-libm,"
    "finalize-memref-to-llvm{use-generic-functions=true},"
    "convert-to-llvm,"
    "reconcile-unrealized-casts";

static std::string kernelsText(const onebit::GpuPipelineOptions &options) {
  return llvm::formatv(kGpuKernels, options.warps, options.mTile,
                       ONEBIT_BUFFER_DEALLOCATION_PASSES)
      .str();
}

static void parseOrDie(const std::string &text, OpPassManager &pm,
                       const char *name) {
  if (failed(parsePassPipeline(text, pm, llvm::errs())))
    llvm::report_fatal_error(llvm::Twine(name) +
                             ": a pass is not registered or an option is "
                             "malformed");
}

/// The CUDA toolkit whose libdevice resolves math calls in kernels
/// (__nv_expf, __nv_rsqrtf, ...): without it they stay unresolved externs.
static std::string findToolkit(const std::string &option) {
  if (!option.empty())
    return option;
  for (const char *var : {"CUDA_HOME", "CUDA_ROOT", "CUDA_PATH"})
    if (const char *v = std::getenv(var); v && *v)
      return v;
  return "/usr/local/cuda";
}

void onebit::buildGpuPipeline(OpPassManager &pm,
                              const GpuPipelineOptions &options) {
  std::string text =
      kernelsText(options) +
      llvm::formatv(kGpuToBinary, options.chip, options.features,
                    options.format, options.optLevel,
                    findToolkit(options.toolkit))
          .str();
  parseOrDie(text, pm, "onebit-gpu-pipeline");
}

void onebit::buildGpuEmulationPipeline(OpPassManager &pm,
                                       const GpuPipelineOptions &options) {
  parseOrDie(kernelsText(options) + kEmulationTail, pm,
             "onebit-gpu-emulation-pipeline");
}

static onebit::GpuPipelineOptions optionsFrom(const GpuPipelineCLOptions &cl) {
  onebit::GpuPipelineOptions options;
  options.chip = cl.chip;
  options.features = cl.features;
  options.format = cl.format;
  options.toolkit = cl.toolkit;
  options.optLevel = cl.optLevel;
  options.warps = cl.warps;
  options.mTile = cl.mTile;
  return options;
}

void onebit::registerGpuPipeline() {
  PassPipelineRegistration<GpuPipelineCLOptions>(
      "onebit-gpu-pipeline",
      "Lower linalg-on-tensors + onebit to host LLVM (mgpu* runtime calls) "
      "and NVVM kernels (binary layers become sign-flip GEMV/GEMM kernels)",
      [](OpPassManager &pm, const GpuPipelineCLOptions &cl) {
        buildGpuPipeline(pm, optionsFrom(cl));
      });
  PassPipelineRegistration<GpuPipelineCLOptions>(
      "onebit-gpu-emulation-pipeline",
      "The GPU pipeline's kernels (gpu.launch, before outlining) run on the "
      "host: blocks and threads become loops (convert-gpu-launch-to-scf), "
      "then host LLVM; for checking the kernels' numerics without a GPU. "
      "Only warps and m-tile matter",
      [](OpPassManager &pm, const GpuPipelineCLOptions &cl) {
        buildGpuEmulationPipeline(pm, optionsFrom(cl));
      });
}
