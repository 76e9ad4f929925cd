// RUN: onebit-opt %s --split-input-file --onebit-autodiff="func=f" --verify-diagnostics

// expected-error @+1 {{result #0 must be a floating-point scalar or one-element tensor (the loss), got 'tensor<4xf32>'}}
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

func.func private @g(f32) -> f32
func.func @f(%x: tensor<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %v = tensor.extract %x[%c0] : tensor<4xf32>
  // expected-error @+1 {{cannot differentiate a call of 'g': the callee must be a func.func with a body of one block}}
  %r = func.call @g(%v) : (f32) -> f32
  return %r : f32
}

// -----

// expected-error @+1 {{no func.func named 'f'}}
module {
  func.func @other(%x: f32) -> f32 {
    return %x : f32
  }
}
