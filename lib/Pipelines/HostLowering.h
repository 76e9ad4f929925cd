//===- HostLowering.h - the last steps of host code to LLVM -----*- C++ -*-===//
//
// The tail that the CPU pipeline and the GPU emulation pipeline share: math
// to LLVM intrinsics or libm, memrefs to LLVM with the generic allocation
// functions (which the runtime's block cache provides), and the rest of the
// IR to the LLVM dialect.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_LIB_PIPELINES_HOSTLOWERING_H
#define ONEBIT_LIB_PIPELINES_HOSTLOWERING_H

#include "mlir/Pass/PassManager.h"

namespace onebit {

/// Adds convert-math-to-llvm, convert-math-to-libm,
/// finalize-memref-to-llvm{use-generic-functions}, convert-to-llvm and
/// reconcile-unrealized-casts to `pm` (anchored on a module).
void addHostToLLVMPasses(mlir::OpPassManager &pm);

} // namespace onebit

#endif // ONEBIT_LIB_PIPELINES_HOSTLOWERING_H
