// --onebit-cpu-pipeline runs convert-matmul-to-runtime: dense f32 matmuls
// reach the LLVM dialect as calls of the runtime (through the C interface
// wrapper), not as loops; ONEBIT_DENSE_MATMUL=loops restores the loops.
// RUN: onebit-opt %s --onebit-cpu-pipeline | FileCheck %s
// RUN: env ONEBIT_DENSE_MATMUL=loops onebit-opt %s --onebit-cpu-pipeline | FileCheck %s --check-prefix=LOOPS

// CHECK: llvm.func @_mlir_ciface_onebit_matmul_f32(!llvm.ptr, !llvm.ptr, !llvm.ptr, f32)
// CHECK-LABEL: llvm.func @mlp
// CHECK-COUNT-2: llvm.call @onebit_matmul_f32(
// CHECK-NOT: llvm.call @onebit_matmul_f32(
// LOOPS-NOT: onebit_matmul_f32
func.func @mlp(%x: tensor<4x16xf32>, %w1: tensor<16x32xf32>, %w2: tensor<8x32xf32>) -> tensor<4x8xf32> {
  %z = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<4x32xf32>
  %f1 = linalg.fill ins(%z : f32) outs(%e1 : tensor<4x32xf32>) -> tensor<4x32xf32>
  %h = linalg.matmul ins(%x, %w1 : tensor<4x16xf32>, tensor<16x32xf32>) outs(%f1 : tensor<4x32xf32>) -> tensor<4x32xf32>
  %e2 = tensor.empty() : tensor<4x8xf32>
  %f2 = linalg.fill ins(%z : f32) outs(%e2 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>]
      ins(%h, %w2 : tensor<4x32xf32>, tensor<8x32xf32>) outs(%f2 : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
