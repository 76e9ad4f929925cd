// RUN: onebit-opt %s --onebit-build-train-step | FileCheck %s
// RUN: onebit-opt %s --onebit-quantize="keep-teacher=true" --onebit-build-train-step="alpha=0.5 weight-decay=0.01" | FileCheck %s --check-prefix=OPTS
// RUN: onebit-opt %s --onebit-build-train-step="hidden-states=/layers.1/Add" | FileCheck %s --check-prefix=NAMED
// RUN: onebit-opt %s --onebit-build-train-step="mse-last-layer=false" | FileCheck %s --check-prefix=INPUTS
// RUN: onebit-opt %s --onebit-build-train-step="split-update=true" | FileCheck %s --check-prefix=SPLIT
// RUN: onebit-opt %s --onebit-build-train-step="update-in-place=true" | FileCheck %s --check-prefix=INPLACE
// RUN: onebit-opt %s --onebit-build-train-step="update-in-place=true" --onebit-cpu-pipeline | FileCheck %s --check-prefix=INPLACE-LLVM
// RUN: onebit-opt %s --onebit-build-train-step="split-update=true update-in-place=true" | FileCheck %s --check-prefix=SPLIT-INPLACE
// RUN: onebit-opt %s --onebit-build-train-step="split-update=true update-in-place=true" --onebit-cpu-pipeline | FileCheck %s --check-prefix=SPLIT-INPLACE-LLVM

// A two-layer residual model with a head. The forward function is quantized
// in place (the head stays FP), its FP copy becomes the frozen teacher, and
// the train step is generated around the training form of the student.
// CHECK-LABEL: func.func @lm(
// CHECK-COUNT-2: onebit.binary_linear %
// CHECK: linalg.matmul
// CHECK: return

// The student: parameters (latent, g, h of each binary layer, named after
// the layer's scope) in front of the model inputs.
// CHECK-LABEL: func.func private @lm_student(
// CHECK-SAME: %{{.*}}: tensor<8x8xf32> {onebit.name = "layers.0.mlp.latent"}, %{{.*}}: tensor<8xf32> {onebit.name = "layers.0.mlp.g"}, %{{.*}}: tensor<8xf32> {onebit.name = "layers.0.mlp.h"}
// CHECK-SAME: {onebit.name = "layers.1.mlp.h"}, %{{.*}}: tensor<4x8xf32>) -> tensor<4x6xf32>
// CHECK-COUNT-2: onebit.binary_linear_train

// The loss: taps are the residual stream leaving each layer scope.
// CHECK-LABEL: func.func private @lm_kd_loss(
// CHECK-SAME: -> (tensor<f32>, tensor<f32>, tensor<f32>) attributes {onebit.hidden_states = ["/layers.0/Add", "/layers.1/Add"]}
// CHECK: math.log
// CHECK: math.sqrt
// CHECK-LABEL: func.func private @lm_kd_loss_grad(
// CHECK-SAME: -> (tensor<f32>, tensor<f32>, tensor<f32>, tensor<8x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8x8xf32>, tensor<8xf32>, tensor<8xf32>)
// CHECK: math.tanh

// The step: params, Adam m, Adam v, inputs, lr, step -> params', m', v',
// losses; bias corrections from powf(beta, step); one fused Adam generic
// per parameter with three results.
// CHECK-LABEL: func.func @lm_train_step(
// CHECK-SAME: {onebit.name = "layers.0.mlp.latent.adam_m"}
// CHECK-SAME: {onebit.name = "layers.1.mlp.h.adam_v"}, %{{.*}}: tensor<4x8xf32>, %{{.*}}: tensor<f32> {onebit.name = "lr"}, %{{.*}}: tensor<f32> {onebit.name = "step"})
// CHECK-SAME: tensor<f32> {onebit.name = "loss"}, tensor<f32> {onebit.name = "l_ce"}, tensor<f32> {onebit.name = "l_mse"})
// CHECK: %[[G:.*]]:9 = call @lm_kd_loss_grad(
// CHECK-DAG: %[[B1:.*]] = arith.constant 0.899999976 : f32
// CHECK-DAG: %[[B2:.*]] = arith.constant 9.800000e-01 : f32
// CHECK: math.powf %[[B1]]
// CHECK: math.powf %[[B2]]
// CHECK-COUNT-6: } -> (tensor<{{.*}}>, tensor<{{.*}}>, tensor<{{.*}}>)
// CHECK: return {{.*}}%[[G]]#0, %[[G]]#1, %[[G]]#2 :
// CHECK-LABEL: func.func @lm_train_init() -> (tensor<8x8xf32> {onebit.name = "layers.0.mlp.latent"}
// CHECK-LABEL: func.func private @lm_teacher(
// CHECK-SAME: attributes {onebit.teacher = @lm}
// CHECK-COUNT-3: linalg.matmul
// CHECK-NOT: onebit.

// alpha scales L_MSE before it is added to L_CE, and the loss is returned.
// OPTS: func.func private @lm_kd_loss
// OPTS: %[[ALPHA:.*]] = arith.constant 5.000000e-01 : f32
// OPTS-NEXT: %[[SCALED:.*]] = arith.mulf %[[ALPHA]], %{{.*}} : f32
// OPTS-NEXT: %[[LOSS:.*]] = arith.addf %{{.*}}, %[[SCALED]] : f32
// OPTS-NEXT: tensor.from_elements %[[LOSS]]
// OPTS: func.func @lm_train_step
// OPTS: arith.constant 0.00999999977 : f32

// NAMED: onebit.hidden_states = ["/layers.1/Add"]

// mse-last-layer=false: the inputs of the layers, as the reference code's
// hidden_states[0..L-1] (the embedding input is the same in both models).
// INPUTS: onebit.hidden_states = ["/layers.0/Add"]
func.func @lm(%x: tensor<4x8xf32>) -> tensor<4x6xf32> {
  %w0 = arith.constant dense<[[0.13, -0.13, 0.64, 0.10, -0.54, 0.36, 1.30, 0.95], [-0.70, -1.27, -0.62, 0.04, -2.33, -0.22, -1.25, -0.73], [-0.54, -0.32, 0.41, 1.04, -0.13, 1.37, -0.67, 0.35], [0.90, 0.09, -0.74, -0.92, -0.46, 0.22, -1.01, -0.21], [-0.16, 0.54, 0.21, 0.36, -0.65, -0.13, 0.78, 1.49], [-1.26, 1.51, 1.35, 0.78, 0.26, -0.31, 1.46, 1.96], [1.80, 1.32, 0.36, -1.21, -0.00, 0.66, -1.29, 0.40], [0.43, 0.70, -1.18, -0.66, -0.44, -1.17, 1.74, -0.50]]> : tensor<8x8xf32> loc("layers.0.mlp.weight")
  %w1 = arith.constant dense<[[0.33, -0.26, 1.58, 1.32, 0.63, -2.20, 0.05, 0.68], [1.00, -0.62, 1.82, -1.32, -0.66, 0.94, 0.05, 2.00], [0.19, -0.63, -0.38, -1.09, -1.28, 0.63, 0.58, 1.29], [-0.75, 1.69, -0.29, 1.57, -0.43, -0.74, 0.25, 1.03], [0.16, -0.59, -1.34, -1.40, 0.50, 0.99, -0.16, -1.07], [0.87, -1.28, -0.71, 0.62, -2.25, 0.39, -0.58, 0.11], [-0.08, 0.20, 0.69, -0.76, 1.42, 0.73, 0.84, 1.16], [0.79, 0.84, 0.08, -1.43, -0.14, -0.77, -1.42, 0.26]]> : tensor<8x8xf32> loc("layers.1.mlp.weight")
  %wh = arith.constant dense<[[-0.57, -1.03, -1.04, 0.27, 0.36, 1.32], [-0.01, 1.04, 1.40, 1.15, -2.37, 1.23], [0.34, 0.42, 0.37, 0.38, 0.32, -0.36], [-1.90, -0.11, -0.80, 1.08, -0.29, 0.08], [-0.85, -0.51, -0.01, -1.49, 0.30, -0.11], [-1.19, -2.40, 0.51, -0.30, -0.53, -0.24], [1.82, -0.05, 0.09, -1.49, 1.65, 0.92], [1.07, 0.05, 0.92, 0.37, 0.61, -0.15]]> : tensor<8x6xf32> loc("lm_head.weight")
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x8xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  %y0 = linalg.matmul ins(%x, %w0 : tensor<4x8xf32>, tensor<8x8xf32>) outs(%f : tensor<4x8xf32>) -> tensor<4x8xf32> loc("/layers.0/mlp/MatMul")
  %r0 = arith.addf %x, %y0 : tensor<4x8xf32> loc("/layers.0/Add")
  %y1 = linalg.matmul ins(%r0, %w1 : tensor<4x8xf32>, tensor<8x8xf32>) outs(%f : tensor<4x8xf32>) -> tensor<4x8xf32> loc("/layers.1/mlp/MatMul")
  %r1 = arith.addf %r0, %y1 : tensor<4x8xf32> loc("/layers.1/Add")
  %eh = tensor.empty() : tensor<4x6xf32>
  %fh = linalg.fill ins(%z : f32) outs(%eh : tensor<4x6xf32>) -> tensor<4x6xf32>
  %lg = linalg.matmul ins(%r1, %wh : tensor<4x8xf32>, tensor<8x6xf32>) outs(%fh : tensor<4x6xf32>) -> tensor<4x6xf32> loc("/lm_head/MatMul")
  return %lg : tensor<4x6xf32>
}

// split-update=true (data-parallel training): the gradient is public and
// @lm_apply_update takes the gradients (summed by the trainer) after the
// parameters and both moments, and the scale that averages them; it is
// train_step's Adam update, one generic per parameter, on the scaled
// gradient; the fused step is still there.
// SPLIT-LABEL: func.func @lm_kd_loss_grad(%{{.*}}: tensor<8x8xf32>, {{.*}}, %{{.*}}: tensor<4x8xf32>) -> (tensor<f32>, tensor<f32>, tensor<f32>, tensor<8x8xf32>
// SPLIT-LABEL: func.func @lm_train_step(
// SPLIT-LABEL: func.func @lm_apply_update(
// SPLIT-SAME: {onebit.name = "layers.0.mlp.latent"}
// SPLIT-SAME: {onebit.name = "layers.1.mlp.h.adam_v"}, %{{.*}}: tensor<8x8xf32> {onebit.name = "layers.0.mlp.latent.grad"}
// SPLIT-SAME: %{{.*}}: tensor<f32> {onebit.name = "lr"}, %{{.*}}: tensor<f32> {onebit.name = "step"}, %[[S:[a-z0-9_]+]]: tensor<f32> {onebit.name = "grad_scale"})
// SPLIT-SAME: -> (tensor<8x8xf32> {onebit.name = "layers.0.mlp.latent"}
// SPLIT: %[[SCALE:[a-z0-9_]+]] = tensor.extract %[[S]][] : tensor<f32>
// SPLIT: math.powf
// SPLIT: linalg.generic
// SPLIT-NEXT: ^bb0(%{{[a-z0-9_]+}}: f32, %[[G:[a-z0-9_]+]]: f32,
// SPLIT-NEXT: arith.mulf %[[G]], %[[SCALE]] : f32
// SPLIT-COUNT-5: linalg.generic
// SPLIT: math.sqrt
// SPLIT: return
// The same update on 1-D slices of any length (optimizer-state sharding):
// one generic whose outputs take the slice's length.
// SPLIT-LABEL: func.func @lm_apply_update_slice(
// SPLIT-SAME: %[[P:.*]]: tensor<?xf32> {onebit.name = "params"}, %{{.*}}: tensor<?xf32> {onebit.name = "adam_m"}, %{{.*}}: tensor<?xf32> {onebit.name = "adam_v"}, %{{.*}}: tensor<?xf32> {onebit.name = "grads"}, %{{.*}}: tensor<f32> {onebit.name = "lr"}, %{{.*}}: tensor<f32> {onebit.name = "step"}, %{{.*}}: tensor<f32> {onebit.name = "grad_scale"})
// SPLIT-SAME: -> (tensor<?xf32> {onebit.name = "params"}, tensor<?xf32> {onebit.name = "adam_m"}, tensor<?xf32> {onebit.name = "adam_v"})
// SPLIT: math.powf
// SPLIT: %[[N:.*]] = tensor.dim %[[P]], %{{.*}} : tensor<?xf32>
// SPLIT: tensor.empty(%[[N]]) : tensor<?xf32>
// SPLIT: linalg.generic
// SPLIT-SAME: ins(%[[P]], %{{.*}}, %{{.*}}, %{{.*}} : tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<?xf32>)
// SPLIT: math.sqrt
// SPLIT-NOT: linalg.generic
// SPLIT: return
// SPLIT-LABEL: func.func @lm_train_init()

// update-in-place=true: each Adam update takes the parameter and its two
// moments as its outputs (the gradient is its one input), and the step's
// state results are tied to those arguments (p: 0-5, m: 6-11, v: 12-17).
// The gradient's body is cloned into the step and each update placed right
// after its gradient is made, from the last layer's to the first's, so that
// the gradients' buffers die one by one.
// INPLACE-NOT: func.func private @lm_kd_loss_grad(
// INPLACE-LABEL: func.func @lm_train_step(
// INPLACE-SAME: -> (tensor<8x8xf32> {onebit.inplace_arg = 0 : i64, onebit.name = "layers.0.mlp.latent"}
// INPLACE-SAME: tensor<8xf32> {onebit.inplace_arg = 17 : i64, onebit.name = "layers.1.mlp.h.adam_v"}, tensor<f32> {onebit.name = "loss"}
// INPLACE-NOT: call @lm_kd_loss_grad
// INPLACE: linalg.generic {{.*}} outs(%arg5, %arg11, %arg17 :
// INPLACE: linalg.generic {{.*}} outs(%arg3, %arg9, %arg15 :
// INPLACE: linalg.generic {{.*}} outs(%arg0, %arg6, %arg12 :
// INPLACE: linalg.generic {{.*}} outs(%arg1, %arg7, %arg13 :
// INPLACE: return
// After bufferization the updates write into the arguments' buffers, so
// --onebit-drop-inplace-results drops the 18 tied results (it fails the
// compile if one was copied): only the three losses are returned.
// INPLACE-LLVM: llvm.func @lm_train_step(
// INPLACE-LLVM-SAME: -> !llvm.struct<(struct<(ptr, ptr, i64)>, struct<(ptr, ptr, i64)>, struct<(ptr, ptr, i64)>)>

// split-update=true update-in-place=true (the CPU trainer's data-parallel
// step): @lm_apply_update and @lm_apply_update_slice write the new
// parameters and moments into their arguments, each update's generic taking
// them as its outputs and the scaled gradient as its input; @lm_train_step,
// which the data-parallel trainer does not run, still returns new state and
// calls the public gradient.
// SPLIT-INPLACE-LABEL: func.func @lm_kd_loss_grad(
// SPLIT-INPLACE-LABEL: func.func @lm_train_step(
// SPLIT-INPLACE-NOT: onebit.inplace_arg
// SPLIT-INPLACE: call @lm_kd_loss_grad
// SPLIT-INPLACE-LABEL: func.func @lm_apply_update(
// SPLIT-INPLACE-SAME: %[[S:[a-z0-9_]+]]: tensor<f32> {onebit.name = "grad_scale"})
// SPLIT-INPLACE-SAME: -> (tensor<8x8xf32> {onebit.inplace_arg = 0 : i64, onebit.name = "layers.0.mlp.latent"}
// SPLIT-INPLACE-SAME: tensor<8xf32> {onebit.inplace_arg = 7 : i64, onebit.name = "layers.0.mlp.g.adam_m"}
// SPLIT-INPLACE-SAME: tensor<8xf32> {onebit.inplace_arg = 17 : i64, onebit.name = "layers.1.mlp.h.adam_v"})
// SPLIT-INPLACE: %[[SCALE:[a-z0-9_]+]] = tensor.extract %[[S]][] : tensor<f32>
// SPLIT-INPLACE: linalg.generic {{.*}} ins(%arg18 : tensor<8x8xf32>) outs(%arg0, %arg6, %arg12 :
// SPLIT-INPLACE-NEXT: ^bb0(%[[G:[a-z0-9_]+]]: f32,
// SPLIT-INPLACE-NEXT: arith.mulf %[[G]], %[[SCALE]] : f32
// SPLIT-INPLACE: linalg.generic {{.*}} ins(%arg19 : tensor<8xf32>) outs(%arg1, %arg7, %arg13 :
// SPLIT-INPLACE: linalg.generic {{.*}} ins(%arg23 : tensor<8xf32>) outs(%arg5, %arg11, %arg17 :
// SPLIT-INPLACE: return
// SPLIT-INPLACE-LABEL: func.func @lm_apply_update_slice(
// SPLIT-INPLACE-SAME: -> (tensor<?xf32> {onebit.inplace_arg = 0 : i64, onebit.name = "params"}, tensor<?xf32> {onebit.inplace_arg = 1 : i64, onebit.name = "adam_m"}, tensor<?xf32> {onebit.inplace_arg = 2 : i64, onebit.name = "adam_v"})
// SPLIT-INPLACE-NOT: tensor.empty
// SPLIT-INPLACE: linalg.generic {{.*}} ins(%arg3 : tensor<?xf32>) outs(%arg0, %arg1, %arg2 :
// SPLIT-INPLACE: return
// Bufferized, both updates write into the arguments' buffers: every tied
// result is dropped and they return nothing (the compile fails if one was
// copied instead).
// SPLIT-INPLACE-LLVM: llvm.func @lm_apply_update(
// SPLIT-INPLACE-LLVM-NOT: -> !llvm.struct
// SPLIT-INPLACE-LLVM-SAME: {
// SPLIT-INPLACE-LLVM: llvm.func @lm_apply_update_slice(
// SPLIT-INPLACE-LLVM-NOT: -> !llvm.struct
// SPLIT-INPLACE-LLVM-SAME: {
