// RUN: onebit-opt %s --onebit-autodiff="func=layer wrt=1,2,3" | FileCheck %s

// The 1-bit training layer: the latent weight gets the straight-through
// estimator dW = dS * (1.001 - tanh(W)^2); g and h get exact gradients.
// CHECK-LABEL: func.func @layer_grad
// CHECK-SAME: -> (tensor<f32>, tensor<4x8xf32>, tensor<8xf32>, tensor<4xf32>)
// CHECK-DAG: %[[C:.*]] = arith.constant 1.001000e+00 : f32
// CHECK: math.tanh
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: arith.subf %[[C]]
// CHECK-NEXT: arith.mulf
// CHECK: return
func.func @layer(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %g: tensor<8xf32>, %h: tensor<4xf32>) -> tensor<f32> {
  %y = onebit.binary_linear_train %x, %w, %g, %h norm_eps = 1.0e-05 : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<f32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %s = linalg.reduce ins(%y : tensor<2x4xf32>) outs(%f : tensor<f32>) dimensions = [0, 1]
    (%a: f32, %b: f32) { %m = arith.mulf %a, %a : f32
      %r = arith.addf %m, %b : f32
      linalg.yield %r : f32 }
  return %s : tensor<f32>
}
