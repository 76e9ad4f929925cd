// RUN: onebit-opt %s --split-input-file --onebit-build-train-step --verify-diagnostics

// No op location names a decoder layer: L_MSE has nothing to align.
// expected-error @+1 {{found no decoder-layer outputs for L_MSE}}
func.func @lm(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %w = arith.constant dense<1.0> : tensor<8x8xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x8xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x8xf32>) outs(%f : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Already quantized, and the FP teacher was not kept.
// expected-error @+1 {{'lm' is already quantized and there is no teacher function 'lm_teacher'; quantize with --onebit-quantize="keep-teacher=true"}}
func.func @lm(%x: tensor<4x8xf32>) -> tensor<4x3xf32> {
  %s = arith.constant dense<0> : tensor<3x1xi32>
  %g = arith.constant dense<1.0> : tensor<8xf32>
  %h = arith.constant dense<1.0> : tensor<3xf32>
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<4x8xf32>, tensor<3x1xi32>, tensor<8xf32>, tensor<3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// expected-error @+1 {{result #0 must be the logits, a float tensor of rank >= 2 (classes last)}}
func.func @lm(%x: tensor<8xf32>) -> tensor<8xf32> {
  return %x : tensor<8xf32>
}

// -----

// expected-error @+1 {{the module has 2 public functions; name the forward function with func=NAME}}
module {
  func.func @a(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    return %x : tensor<4x8xf32>
  }
  func.func @b(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    return %x : tensor<4x8xf32>
  }
}
