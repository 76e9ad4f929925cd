// RUN: onebit-opt %s --onebit-build-train-step="mse-last-layer=false" --verify-diagnostics
// RUN: not onebit-opt %s --onebit-build-train-step="mse-last-layer=false hidden-states=/layers.0/Add" 2>&1 | FileCheck %s --check-prefix=BOTH

// Explicit hidden states leave nothing for mse-last-layer=false to select.
// BOTH: error: 'func.func' op onebit-build-train-step: mse-last-layer=false selects among the hidden states found from layer-regex; hidden-states= names them instead, so give one or the other

// One decoder layer: without its output L_MSE has no hidden state left.
// expected-error @+1 {{mse-last-layer=false leaves no hidden state for L_MSE (the model has one decoder layer, '/layers.0/Add'); set alpha=0 or name hidden-states=}}
func.func @lm(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %w = arith.constant dense<0.5> : tensor<8x8xf32> loc("layers.0.mlp.weight")
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x8xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x8xf32>) outs(%f : tensor<4x8xf32>) -> tensor<4x8xf32> loc("/layers.0/mlp/MatMul")
  %r = arith.addf %x, %y : tensor<4x8xf32> loc("/layers.0/Add")
  return %r : tensor<4x8xf32>
}
