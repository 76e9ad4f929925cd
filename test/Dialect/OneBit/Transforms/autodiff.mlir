// RUN: onebit-opt %s --onebit-autodiff="func=mm wrt=1" | FileCheck %s

// The adjoint of a matmul with respect to its right operand is the
// contraction of the left operand with the output adjoint over the rows
// (dW[k, n] = sum_m x[m, k] * dy[m, n]); the adjoint of a full sum is a
// broadcast of the seed 1.0. The gradient function returns the loss first.
// In the generalised matmul d0 = m, d1 = n, d2 = k.
// CHECK-DAG: #[[XK:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[DY:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[DW:.*]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-LABEL: func.func @mm(
// CHECK-LABEL: func.func @mm_grad
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>, %[[W:.*]]: tensor<3x4xf32>) -> (tensor<f32>, tensor<3x4xf32>)
// CHECK: %[[SEED:.*]] = arith.constant dense<1.000000e+00> : tensor<f32>
// CHECK: %[[LOSS:.*]] = linalg.generic {{.*}}iterator_types = ["reduction", "reduction"]
// CHECK: %[[DYV:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]} ins(%[[SEED]] : tensor<f32>)
// CHECK: %[[DWV:.*]] = linalg.generic {indexing_maps = [#[[XK]], #[[DY]], #[[DW]]], iterator_types = ["reduction", "parallel", "parallel"]} ins(%[[X]], %[[DYV]] : tensor<2x3xf32>, tensor<2x4xf32>)
// CHECK-NEXT: ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT: %[[P:.*]] = arith.mulf %[[A]], %[[B]] : f32
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[ACC]], %[[P]] : f32
// CHECK-NEXT: linalg.yield %[[S]]
// CHECK: return %[[LOSS]], %[[DWV]] : tensor<f32>, tensor<3x4xf32>
func.func @mm(%x: tensor<2x3xf32>, %w: tensor<3x4xf32>) -> tensor<f32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x3xf32>, tensor<3x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  %e0 = tensor.empty() : tensor<f32>
  %f0 = linalg.fill ins(%z : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %s = linalg.reduce ins(%y : tensor<2x4xf32>) outs(%f0 : tensor<f32>) dimensions = [0, 1]
    (%a: f32, %b: f32) {
      %r = arith.addf %a, %b : f32
      linalg.yield %r : f32
    }
  return %s : tensor<f32>
}
