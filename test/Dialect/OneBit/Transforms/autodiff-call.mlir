// RUN: onebit-opt %s --onebit-autodiff="func=f wrt=0,1" | FileCheck %s --check-prefix=SAVED
// RUN: onebit-opt %s --onebit-autodiff="func=f wrt=0,1 checkpoint-activations=true" | FileCheck %s --check-prefix=RECOMP

// A layer called twice (the outlined form of two decoder layers): its
// adjoint functions are made once and called per layer. Saved state: each
// primal call becomes a call of @layer_fwd, which also returns what the
// backward reads (the product; the layer's operands come from the caller);
// @layer_bwd takes those and the adjoint of the layer's output and returns
// the gradients of the input and the weight, accumulated at the caller
// (the weight is shared by both calls).
// SAVED-LABEL: func.func private @layer(
// SAVED:       func.func private @layer_fwd(%{{.*}}: tensor<4xf32>, %{{.*}}: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
// SAVED:         math.tanh
// SAVED:       func.func private @layer_bwd(%{{.*}}: tensor<4xf32>, %{{.*}}: tensor<4xf32>, %{{.*}}: tensor<4xf32>, %{{.*}}: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
// SAVED-NOT:   func.func private @layer_
// SAVED-LABEL: func.func @f_grad(
// SAVED-SAME:      %[[X:[^:]*]]: tensor<4xf32>, %[[W:[^:]*]]: tensor<4xf32>)
// SAVED:         %[[F1:.*]]:2 = call @layer_fwd(%[[X]], %[[W]])
// SAVED:         %[[F2:.*]]:2 = call @layer_fwd(%[[F1]]#0, %[[W]])
// SAVED-NOT:     call @layer(
// SAVED:         %[[B2:.*]]:2 = call @layer_bwd(%[[F2]]#1, %[[F1]]#0, %[[W]], %{{.*}})
// SAVED:         %[[B1:.*]]:2 = call @layer_bwd(%[[F1]]#1, %[[X]], %[[W]], %[[B2]]#0)
// SAVED:         %[[DW:.*]] = linalg.generic {{.*}} ins(%[[B2]]#1, %[[B1]]#1
// SAVED:         return %{{.*}}, %[[B1]]#0, %[[DW]]

// Activation checkpointing: the primal calls stay; @layer_adj takes the
// layer's operands and the adjoint of its output and recomputes the
// forward (the product) before its backward.
// RECOMP-LABEL: func.func private @layer(
// RECOMP:       func.func private @layer_adj(%{{.*}}: tensor<4xf32>, %{{.*}}: tensor<4xf32>, %{{.*}}: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
// RECOMP:         arith.mulf
// RECOMP:         math.tanh
// RECOMP:         return
// RECOMP-NOT:   func.func private @layer_
// RECOMP-LABEL: func.func @f_grad(
// RECOMP-SAME:      %[[X:[^:]*]]: tensor<4xf32>, %[[W:[^:]*]]: tensor<4xf32>)
// RECOMP:         %[[H1:.*]] = call @layer(%[[X]], %[[W]])
// RECOMP:         %[[H2:.*]] = call @layer(%[[H1]], %[[W]])
// RECOMP:         %[[A2:.*]]:2 = call @layer_adj(%[[H1]], %[[W]], %{{.*}})
// RECOMP:         %[[A1:.*]]:2 = call @layer_adj(%[[X]], %[[W]], %[[A2]]#0)
// RECOMP:         return %{{.*}}, %[[A1]]#0, %{{.*}}
func.func private @layer(%x: tensor<4xf32>, %w: tensor<4xf32>) -> tensor<4xf32> {
  %m = arith.mulf %x, %w : tensor<4xf32>
  %t = math.tanh %m : tensor<4xf32>
  return %t : tensor<4xf32>
}
func.func @f(%x: tensor<4xf32>, %w: tensor<4xf32>) -> tensor<f32> {
  %h1 = func.call @layer(%x, %w) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %h2 = func.call @layer(%h1, %w) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<f32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %s = linalg.reduce ins(%h2 : tensor<4xf32>) outs(%f : tensor<f32>) dimensions = [0]
    (%a: f32, %acc: f32) {
      %r = arith.addf %acc, %a : f32
      linalg.yield %r : f32
    }
  return %s : tensor<f32>
}
