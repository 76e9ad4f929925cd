//===- Pipelines.h - onebit's named pass pipelines --------------*- C++ -*-===//
//
// Each pipeline is a C++ function that adds passes by their create functions
// with typed option structs; --onebit-cpu-pipeline and friends are
// registered over the same functions. Options are plain fields: the library
// reads no environment (tools/common/EnvOptions.h maps variables onto them).
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_PIPELINES_PIPELINES_H
#define ONEBIT_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

#include <string>

namespace onebit {

/// Options of the CPU pipeline.
struct CpuPipelineOptions {
  /// Dense f32 (batched) matmuls become calls of the runtime's BLAS-backed
  /// onebit_matmul_f32 (convert-matmul-to-runtime); false leaves them to the
  /// loop lowering, the naive baseline of benchmarks/decode_bench.py.
  bool denseMatmulToRuntime = true;
  /// Decoder layers of the same form share one function
  /// (onebit-outline-layers), so compile time follows the number of layer
  /// forms rather than the depth of the model.
  bool outlineLayers = true;
  /// With outlineLayers: a run of calls of one layer function becomes one
  /// loop over the layers (onebit-layer-loops), and after bufferization a
  /// sequence of ops repeated per layer (a train step's forward calls, loss
  /// terms, their gradients, its adjoint calls and updates) one loop too
  /// (onebit-period-loops), so the callers' code grows less with depth.
  bool layerLoops = true;
};

/// linalg-on-tensors + onebit -> LLVM dialect for the host CPU: binary layers
/// call the kernel library, the rest is bufferized, lowered to loops and to
/// LLVM. Results are returned as freshly allocated memrefs the caller frees.
void buildCpuPipeline(mlir::OpPassManager &pm,
                      const CpuPipelineOptions &options = {});

/// Options of the GPU pipeline (defaults: A100, PTX kept as text).
struct GpuPipelineOptions {
  std::string chip = "sm_80";
  std::string features = "+ptx80";
  std::string format = "isa"; ///< isa (PTX), bin (cubin) or fatbin
  /// CUDA toolkit for libdevice (and ptxas for bin/fatbin); empty:
  /// /usr/local/cuda (the tools fill it from $CUDA_HOME, $CUDA_ROOT or
  /// $CUDA_PATH).
  std::string toolkit;
  int optLevel = 3;
  int warps = 4; ///< binary_linear kernel: output rows per block
  int mTile = 4; ///< binary_linear kernel: activation rows per block
  /// binary_linear layers with >= 9 rows (a dynamic count: tested at run
  /// time) use the mma.sync (tensor-core) kernel when the chip has it
  /// (sm_80 and newer).
  bool tensorCores = true;
};

/// linalg-on-tensors + onebit -> host code in the LLVM dialect calling the
/// mgpu* runtime, plus gpu.binary kernels for NVIDIA GPUs (docs/gpu.md).
void buildGpuPipeline(mlir::OpPassManager &pm,
                      const GpuPipelineOptions &options = {});

/// The kernels of the GPU pipeline (the same gpu.launch IR, built with the
/// same warps/m-tile) run on the host: every launch becomes loops over
/// blocks and threads (convert-gpu-launch-to-scf), then host LLVM. Lets the
/// kernels' numerics be checked without a GPU (onebit-run
/// --device=gpu-emulation).
void buildGpuEmulationPipeline(mlir::OpPassManager &pm,
                               const GpuPipelineOptions &options = {});

/// Registers --onebit-gpu-pipeline and --onebit-gpu-emulation-pipeline
/// (called by registerPipelines). Options not given in the pipeline text
/// take their values from `defaults`.
void registerGpuPipeline(const GpuPipelineOptions &defaults = {});

/// Registers --onebit-cpu-pipeline and the GPU pipelines. Options not given
/// in the pipeline text take their values from `cpuDefaults` and
/// `gpuDefaults` (so that onebit-opt can apply its environment).
void registerPipelines(const CpuPipelineOptions &cpuDefaults = {},
                       const GpuPipelineOptions &gpuDefaults = {});

} // namespace onebit

#endif // ONEBIT_PIPELINES_PIPELINES_H
