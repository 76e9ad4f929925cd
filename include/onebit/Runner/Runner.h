//===- Runner.h - JIT-compile and run a model on the host CPU ---*- C++ -*-===//
//
// The library behind onebit-run and the Python package's compile(): lowers a
// module with the CPU pipeline, JIT-compiles it for the host (its CPU
// features, so AVX-512 where present) and calls an entry function on host
// tensors, checking them against the entry's signature. It takes a loaded
// module; files are loaded by onebit/Frontend/ModelLoader.h, so the runner
// links no importer.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_RUNNER_RUNNER_H
#define ONEBIT_RUNNER_RUNNER_H

#include "onebit/Pipelines/Pipelines.h"
#include "onebit/Runtime/Executable.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace onebit {

/// What a model is lowered for. GpuEmulation runs the GPU pipeline's
/// kernels (the gpu.launch IR) as host loops: slow, for checking the
/// kernels' numerics on machines without a GPU. Cuda runs them on an NVIDIA
/// GPU through the CUDA runtime registered with registerCudaRuntime.
enum class Target { Cpu, GpuEmulation, Cuda };

/// The --device spelling of a target: "cpu", "gpu-emulation" or "cuda".
const char *targetName(Target target);
/// The target a --device value names; false for any other value.
bool parseTarget(const std::string &device, Target &target);

/// The CUDA runtime (runtime/lib/CudaRuntime.cpp) as the runner sees it:
/// the mgpu* functions the GPU pipeline's host code calls, how to free the
/// (managed) buffers a compiled model returns, and how to tell whether a
/// driver and a GPU are there. Programs that run models on the GPU
/// (onebit-run) link libonebit_cuda_runtime and register it, so that the
/// runner itself does not depend on it.
struct CudaRuntimeHooks {
  std::vector<std::pair<std::string, void *>> symbols;
  void (*freeBuffer)(void *) = nullptr;
  int (*probe)(char *message, size_t size) = nullptr;
  /// Zeroed device memory for state kernels keep between calls (KV
  /// caches); null with a message on failure.
  void *(*allocDevice)(size_t bytes, char *message, size_t size) = nullptr;
  void (*freeDevice)(void *) = nullptr;
  /// A copy between host and device memory, finished on return: 0, or -1
  /// with a message.
  int (*copy)(void *dst, const void *src, size_t bytes, char *message,
              size_t size) = nullptr;
};
void registerCudaRuntime(const CudaRuntimeHooks &hooks);

/// How CompiledModel::compile lowers a model and JIT-compiles it. The tools
/// fill these from ONEBIT_* variables (tools/common/EnvOptions.h); the
/// library reads no environment.
struct CompileOptions {
  CpuPipelineOptions cpu; ///< Target::Cpu
  GpuPipelineOptions gpu; ///< Target::Cuda and Target::GpuEmulation
  /// LLVM optimisation level of the generated code, 0 to 3.
  unsigned jitOptLevel = 3;
  /// LLVM's default<On> pipeline instead of the runner's shorter function
  /// pipeline (which compiles large train steps in seconds).
  bool llvmDefaultPipeline = false;
  /// Write /tmp/perf-PID.map so that `perf report` names the JIT-compiled
  /// functions.
  bool perfMap = false;
  /// Target::Cpu: large dense_resource constants (weights) are not copied
  /// into the JIT's memory (nor into the LLVM module and the object file
  /// on the way there): the compiled code reads them where the MLIR context
  /// holds them, and the CompiledModel shares their ownership, so they live
  /// as long as either.
  bool shareConstants = true;
  /// Verify the IR after every pass of the lowering pipeline (MLIR's
  /// default) instead of once, after the last one. Off, a pass that breaks
  /// the IR still fails the compile, without naming the pass; the lit tests
  /// of each pass (onebit-opt) verify after every pass.
  bool verifyEachPass = false;
  /// Called after each phase of CompiledModel::compile ("lowered",
  /// "translated to LLVM IR", "LLVM IR optimised", "machine code linked"),
  /// for a profile of the compile's memory or time.
  std::function<void(const char *phase)> onPhase;
};

/// A model JIT-compiled for this process: an Executable whose code lives
/// in an mlir::ExecutionEngine.
class CompiledModel : public Executable {
public:
  ~CompiledModel() override;

  /// Lowers `module` (consumed) and JIT-compiles it. `entry` empty means the
  /// module's only public function. Returns null and sets `error` on failure.
  static std::unique_ptr<CompiledModel>
  compile(mlir::OwningOpRef<mlir::ModuleOp> module, const std::string &entry,
          std::string &error, Target target = Target::Cpu,
          const CompileOptions &options = {});
  /// The same with several public entry functions compiled together (one
  /// lowering, one JIT); the first is the default of run() and inputs().
  static std::unique_ptr<CompiledModel>
  compile(mlir::OwningOpRef<mlir::ModuleOp> module,
          const std::vector<std::string> &entries, std::string &error,
          Target target = Target::Cpu, const CompileOptions &options = {});

  double compileMillis() const { return compileMs_; }
  /// GPU kernels of a Target::Cuda model (gpu.binary ops), else 0.
  int gpuKernels() const { return gpuKernels_; }
  /// What the model was lowered for.
  Target target() const { return target_; }
  /// The counters of onebit-gpu-resident-constants' load constructor
  /// (Target::Cuda and Target::GpuEmulation); zeros on the CPU.
  DeviceConstants deviceConstants() const override;
  /// Target::Cuda: device memory (the GPU pipeline's entries take their
  /// KV caches there); host memory otherwise.
  void *allocateState(size_t bytes, std::string &error) override;
  void freeState(void *state) override;
  bool writeState(void *state, const void *src, size_t bytes,
                  std::string &error) override;
  bool readState(const void *state, void *dst, size_t bytes,
                 std::string &error) override;
  bool stateOnDevice() const override { return target_ == Target::Cuda; }

private:
  explicit CompiledModel(Target target);

  std::unique_ptr<mlir::ExecutionEngine> engine_;
  /// The constants the compiled code reads in place
  /// (CompileOptions::shareConstants), owned with the MLIR context.
  std::vector<std::shared_ptr<void>> sharedConstants_;
  double compileMs_ = 0;
  Target target_ = Target::Cpu;
  int gpuKernels_ = 0;
};

/// Sets the kernel library's thread count (<= 0: all hardware threads).
void setNumThreads(int n);

/// Selects the 1-bit kernels' arithmetic for up to 8 activation rows
/// (decode): "int16" (the default: integer lookup tables with 16-bit
/// entries, ~4e-5 of a row's largest output off), "exact" (FP32 tables,
/// ~1e-6) or "fast" (int8 tables, ~1e-2); docs/kernels.md. False + `error`
/// otherwise.
bool setKernelMode(const std::string &mode, std::string &error);

/// Whether this CPU (at the ISA the kernel library uses) has a fast kernel;
/// without one "fast" runs the exact kernels.
bool hasFastKernel();

} // namespace onebit

#endif // ONEBIT_RUNNER_RUNNER_H
