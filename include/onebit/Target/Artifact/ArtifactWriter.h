//===- ArtifactWriter.h - compile a model into a .onebit artifact -*- C++ -*-===//
//
// What onebit-compile does (docs/artifacts.md): lowers a model's entries as
// the JIT would, moves its constants out of the code into a page-aligned
// section, compiles the code for a chosen CPU into a shared object (linked
// by the system's C compiler driver against the kernel library), and
// writes one file that onebit/Runtime/Artifact.h loads without compiling.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TARGET_ARTIFACT_ARTIFACTWRITER_H
#define ONEBIT_TARGET_ARTIFACT_ARTIFACTWRITER_H

#include "onebit/Runner/Runner.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <cstdint>
#include <string>
#include <vector>

namespace onebit {

struct ArtifactOptions {
  /// The public functions to compile; empty: every public function.
  std::vector<std::string> entries;
  /// Where the code runs: Target::Cpu, or Target::Cuda (host code for the
  /// CPU below, kernels as PTX for `compile.gpu.chip`, linked against the
  /// CUDA runtime too; docs/artifacts.md, "cuda artifacts").
  Target device = Target::Cpu;
  /// "native" (this machine's CPU and features) or a CPU LLVM knows:
  /// x86-64-v3 (any AVX2 machine), x86-64-v4 (AVX-512), znver4, ...
  std::string targetCpu = "native";
  /// The lowering and LLVM optimisation, as for the JIT.
  CompileOptions compile;
  /// The C compiler driver that links the shared object; empty: `cc`, then
  /// `clang` and `gcc`, on the PATH.
  std::string linker;
};

struct ArtifactStats {
  uint64_t fileBytes = 0, codeBytes = 0, constantBytes = 0,
           metadataBytes = 0, tokenizerBytes = 0;
  size_t constants = 0, entries = 0;
  /// Kernel modules (gpu.binary) of a cuda artifact.
  size_t gpuKernels = 0;
  /// The CPU the code was compiled for and the features recorded for it.
  std::string targetCpu;
  std::vector<std::string> cpuFeatures;
  /// Wall time in all, and in the MLIR lowering, LLVM's optimisation and
  /// code generation, and the link.
  double seconds = 0, lowerSeconds = 0, codegenSeconds = 0, linkSeconds = 0;
};

/// Compiles `module` (consumed) into the artifact `path`. The file is
/// written under a temporary name and renamed, so an existing `path` is
/// replaced only by a complete artifact. False + `error` on failure.
bool writeArtifact(mlir::OwningOpRef<mlir::ModuleOp> module,
                   const std::string &path, const ArtifactOptions &options,
                   ArtifactStats &stats, std::string &error);

} // namespace onebit

#endif // ONEBIT_TARGET_ARTIFACT_ARTIFACTWRITER_H
