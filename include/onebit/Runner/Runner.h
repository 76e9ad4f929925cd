//===- Runner.h - JIT-compile and run a model on the host CPU ---*- C++ -*-===//
//
// The library behind onebit-run and the Python package's compile(): lowers a
// module with the CPU pipeline, JIT-compiles it for the host (its CPU
// features, so AVX-512 where present) and calls an entry function on host
// tensors, checking them against the entry's signature.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_RUNNER_RUNNER_H
#define ONEBIT_RUNNER_RUNNER_H

#include "onebit/Support/Npy.h"

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
  std::string str() const;
};

class CompiledModel {
public:
  ~CompiledModel();
  /// Lowers `module` (consumed) and JIT-compiles it. `entry` empty means the
  /// module's only public function. Returns null and sets `error` on failure.
  static std::unique_ptr<CompiledModel>
  compile(mlir::OwningOpRef<mlir::ModuleOp> module, const std::string &entry,
          std::string &error);

  const std::vector<TensorSignature> &inputs() const { return inputs_; }
  const std::vector<TensorSignature> &results() const { return results_; }
  const std::string &entry() const { return entry_; }
  double compileMillis() const { return compileMs_; }

  /// Runs the entry. Inputs must match the signature (count, element type,
  /// rank, static sizes); the error names the argument otherwise.
  bool run(const std::vector<HostTensor> &inputs,
           std::vector<HostTensor> &outputs, std::string &error);

private:
  CompiledModel() = default;
  std::unique_ptr<mlir::ExecutionEngine> engine_;
  std::vector<TensorSignature> inputs_, results_;
  std::string entry_;
  double compileMs_ = 0;
};

/// Loads .mlir / .mlirbc / .onnx / .gguf into `context`; null + `error` on
/// failure.
mlir::OwningOpRef<mlir::ModuleOp> loadModel(const std::string &path,
                                            mlir::MLIRContext &context,
                                            std::string &error);

/// Sets the kernel library's thread count (<= 0: all hardware threads).
void setNumThreads(int n);

} // namespace onebit

#endif // ONEBIT_RUNNER_RUNNER_H
