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
#include "onebit/Support/HostTensor.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace onebit {

/// One argument or result of the entry: its element type and shape
/// (ShapedType::kDynamic for dynamic dims).
struct TensorSignature {
  DType dtype;
  std::vector<int64_t> shape;
  std::string name; ///< from an `onebit.name` attribute, or argN / resultN
  /// Integer inputs that index a tensor (the ONNX importer's
  /// `onebit.index_bound` / `onebit.index_min` / `onebit.index_user` argument
  /// attributes): run() rejects elements outside [indexMin, indexBound).
  bool hasIndexRange = false;
  int64_t indexMin = 0, indexBound = 0;
  std::string indexUser; ///< the op that reads them, for the message
  std::string str() const;
};

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
};

class CompiledModel {
public:
  /// A function that can be called: its name and signature.
  struct Entry {
    std::string name;
    /// `results` are what a call returns: results tied to an argument by
    /// `onebit.inplace_arg` are not among them (that argument is updated in
    /// place; its index is in `inplaceArgs`).
    std::vector<TensorSignature> inputs, results;
    std::vector<int> inplaceArgs;
    /// KV-cache entries (docs/design.md, "Generation with a KV cache"): the
    /// rank-0 start position (`onebit.cache_position`), the caches
    /// [L, B, C, ...] (`onebit.kv_cache`) and the token ids [B, T] (the
    /// argument with an index range). -1 / empty when absent.
    int positionArg = -1, tokensArg = -1;
    std::vector<int> cacheArgs;
  };

  ~CompiledModel();
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

  const std::vector<TensorSignature> &inputs() const {
    return entries_.front().inputs;
  }
  const std::vector<TensorSignature> &results() const {
    return entries_.front().results;
  }
  const std::string &entry() const { return entries_.front().name; }
  const std::vector<Entry> &entries() const { return entries_; }
  /// The entry named `name`, or null.
  const Entry *find(const std::string &name) const;
  double compileMillis() const { return compileMs_; }
  /// GPU kernels of a Target::Cuda model (gpu.binary ops), else 0.
  int gpuKernels() const { return gpuKernels_; }
  /// What the model was lowered for.
  Target target() const { return target_; }

  /// Runs the (first) entry. Inputs must match the signature (count, element
  /// type, rank, static sizes) and index inputs must hold values in their
  /// range; the error names the argument (and the element) otherwise.
  bool run(const std::vector<HostTensor> &inputs,
           std::vector<HostTensor> &outputs, std::string &error);
  /// Runs the entry named `entry`. An entry that updates arguments in
  /// place (Entry::inplaceArgs) is refused: call runInPlace.
  bool run(const std::string &entry, const std::vector<HostTensor> &inputs,
           std::vector<HostTensor> &outputs, std::string &error);
  /// Runs `entry`, writing its in-place results into their inputs (a KV
  /// cache is updated where it is, without a copy); `outputs` receives the
  /// other results. A KV-cache entry's position must satisfy
  /// 0 <= pos and pos + T <= C for every cache, which must have the token
  /// ids' batch size.
  bool runInPlace(const std::string &entry, std::vector<HostTensor> &inputs,
                  std::vector<HostTensor> &outputs, std::string &error);

private:
  CompiledModel() = default;
  bool invoke(const Entry &e, const std::vector<HostTensor> &inputs,
              std::vector<HostTensor> &outputs, std::string &error);
  std::unique_ptr<mlir::ExecutionEngine> engine_;
  std::vector<Entry> entries_;
  /// The packed entry points (void (void **)), one per entry.
  std::vector<void (*)(void **)> packed_;
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
