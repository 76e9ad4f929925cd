// Bad weights and bad options give clear errors and a non-zero exit.
// RUN: not onebit-opt %s --split-input-file --onebit-quantize="keep-head=false" 2>&1 | FileCheck %s
// RUN: not onebit-opt %s --split-input-file --onebit-quantize="init=pca" 2>&1 | FileCheck %s --check-prefix=INIT
// RUN: not onebit-opt %s --split-input-file --onebit-quantize="value-type=f64" 2>&1 | FileCheck %s --check-prefix=VTYPE
// RUN: not onebit-opt %s --split-input-file --onebit-quantize="norm-eps=0" 2>&1 | FileCheck %s --check-prefix=EPS

// CHECK: error: {{.*}}weight 'bad.weight' has a non-finite value (NaN) at output feature 1, input feature 0; refusing to quantize it
// INIT: error: onebit-quantize: unknown init 'pca' (expected nmf, svd or mean)
// VTYPE: error: onebit-quantize: unknown value-type 'f64' (expected f32 or f16)
// EPS: error: onebit-quantize: norm-eps must be positive
func.func @nan(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<[[1.0, 0x7FC00000], [2.0, 3.0]]> : tensor<2x2xf32> loc("bad.weight")
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x2xf32>, tensor<2x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// CHECK: error: {{.*}}weight 'inf.weight' has a non-finite value (+Inf) at output feature 0, input feature 1
func.func @inf(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [0x7F800000, 3.0]]> : tensor<2x2xf32> loc("inf.weight")
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x2xf32>, tensor<2x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
