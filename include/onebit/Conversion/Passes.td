//===- Passes.td - onebit conversion passes ----------------*- tablegen -*-===//
//
// Conversions out of the onebit dialect.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_CONVERSION_PASSES_TD
#define ONEBIT_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertOneBitToRuntime : Pass<"convert-onebit-to-runtime", "ModuleOp"> {
  let summary = "Lower onebit.binary_linear to calls into the CPU kernel "
                "library (runtime/)";
  let description = [{
    Each `onebit.binary_linear` becomes a call of
    `onebit_binary_linear_f32(x, signs, g, h, bias, norm_eps, y)` on
    memrefs (declared with `llvm.emit_c_interface`, implemented in
    `runtime/lib/CpuKernels.cpp`): the activations are viewed as a 2-D
    `M x K` matrix, f16 operands are widened to f32 (and the result narrowed
    back), a missing bias is an empty vector and no post-norm is
    `norm_eps = 0`. The memrefs come from `bufferization.to_buffer` and the
    result from `bufferization.to_tensor restrict writable` on a fresh
    allocation, so one-shot bufferization composes with it. Only the
    canonical sign layout is supported; others are rejected with an error.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

#endif // ONEBIT_CONVERSION_PASSES_TD
