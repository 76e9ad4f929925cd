//===- Pipelines.h - onebit's named pass pipelines --------------*- C++ -*-===//

#ifndef ONEBIT_PIPELINES_PIPELINES_H
#define ONEBIT_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace onebit {

/// linalg-on-tensors + onebit -> LLVM dialect for the host CPU: binary layers
/// call the kernel library, the rest is bufferized, lowered to loops and to
/// LLVM. Results are returned as freshly allocated memrefs the caller frees.
void buildCpuPipeline(mlir::OpPassManager &pm);

/// Registers --onebit-cpu-pipeline.
void registerPipelines();

} // namespace onebit

#endif // ONEBIT_PIPELINES_PIPELINES_H
