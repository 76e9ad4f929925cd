// RUN: onebit-opt %s --onebit-outline-layers=functions=loss | FileCheck %s
// RUN: not onebit-opt %s --onebit-outline-layers=functions=loss,nope 2>&1 | FileCheck %s --check-prefix=BAD

// functions= limits the pass to the functions named (the train step
// builder outlines the loss alone, before differentiating it, and leaves
// the student it packs inline): @fwd's two layers of the same form stay.
// CHECK-LABEL: func.func @fwd(
// CHECK-NOT:     call
// CHECK:         return
// CHECK-LABEL: func.func @loss(
// CHECK:         call @loss__layer(
// CHECK:         call @loss__layer(
// CHECK:       func.func private @loss__layer(
// BAD: error: onebit-outline-layers: functions: no func.func named 'nope'
func.func @fwd(%x: tensor<4xf32>, %w0: tensor<4xf32>, %w1: tensor<4xf32>) -> tensor<4xf32> {
  %m0 = arith.mulf %x, %w0 : tensor<4xf32> loc("/model/layers.0/mul")
  %h0 = math.tanh %m0 : tensor<4xf32> loc("/model/layers.0/tanh")
  %m1 = arith.mulf %h0, %w1 : tensor<4xf32> loc("/model/layers.1/mul")
  %h1 = math.tanh %m1 : tensor<4xf32> loc("/model/layers.1/tanh")
  return %h1 : tensor<4xf32>
}
func.func @loss(%x: tensor<4xf32>, %w0: tensor<4xf32>, %w1: tensor<4xf32>) -> tensor<4xf32> {
  %m0 = arith.mulf %x, %w0 : tensor<4xf32> loc("/model/layers.0/mul")
  %h0 = math.tanh %m0 : tensor<4xf32> loc("/model/layers.0/tanh")
  %m1 = arith.mulf %h0, %w1 : tensor<4xf32> loc("/model/layers.1/mul")
  %h1 = math.tanh %m1 : tensor<4xf32> loc("/model/layers.1/tanh")
  return %h1 : tensor<4xf32>
}
