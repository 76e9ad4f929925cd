// The CPU pipeline takes quantized linalg-on-tensors IR all the way to the
// LLVM dialect, calling the kernel library for binary layers; temporaries
// come from (and go back to) the runtime's block cache.
// RUN: onebit-opt %onebit_src_root/examples/tiny-decoder-block.mlir --onebit-quantize --onebit-cpu-pipeline | FileCheck %s
// CHECK-NOT: onebit.binary_linear
// CHECK-NOT: linalg.
// CHECK-NOT: bufferization.
// CHECK-NOT: memref.
// CHECK-DAG: llvm.func @_mlir_ciface_onebit_binary_linear_f32(!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, f32, !llvm.ptr)
// CHECK-DAG: llvm.func @main(
// CHECK-DAG: llvm.call @_mlir_memref_to_llvm_alloc(
// CHECK-DAG: llvm.call @_mlir_memref_to_llvm_free(
