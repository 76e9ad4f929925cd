// RUN: onebit-opt %s --onebit-int8-weights -verify-diagnostics -split-input-file

func.func @nan(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[1.0, 0x7FC00000], [2.0, 3.0]]> : tensor<2x2xf32> loc("bad.weight")
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x2xf32>) -> tensor<1x2xf32>
  // expected-error @+1 {{weight 'bad.weight' has a non-finite value (NaN) at output feature 1, input feature 0; refusing to quantize it}}
  %y = linalg.matmul ins(%x, %w : tensor<1x2xf32>, tensor<2x2xf32>) outs(%f : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
