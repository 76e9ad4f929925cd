//===- GPUToSCF.h - gpu.launch kernels as host loops ------------*- C++ -*-===//

#ifndef ONEBIT_CONVERSION_GPUTOSCF_GPUTOSCF_H
#define ONEBIT_CONVERSION_GPUTOSCF_GPUTOSCF_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace onebit {

#define GEN_PASS_DECL_CONVERTGPULAUNCHTOSCF
#include "onebit/Conversion/Passes.h.inc"

} // namespace onebit

#endif // ONEBIT_CONVERSION_GPUTOSCF_GPUTOSCF_H
