// RUN: onebit-opt %S/build-train-step.mlir --onebit-build-train-step="split-update=true update-in-place=true grad-destinations=true" | FileCheck %s
// RUN: onebit-opt %S/build-train-step.mlir --onebit-build-train-step="split-update=true update-in-place=true grad-destinations=true" \
// RUN:   | onebit-opt --pass-pipeline='builtin.module(convert-onebit-to-runtime,func.func(onebit-decompose-train-form,onebit-decompose-aggregates,onebit-legalize-expand-shape,convert-elementwise-to-linalg),canonicalize,linalg-fuse-elementwise-ops,func.func(onebit-destination-inits),one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},canonicalize)' \
// RUN:   | FileCheck %s --check-prefix=BUF
// RUN: onebit-opt %S/build-train-step.mlir --onebit-build-train-step="split-update=true update-in-place=true grad-destinations=true" --onebit-cpu-pipeline | FileCheck %s --check-prefix=LLVM
// RUN: not onebit-opt %S/build-train-step.mlir --onebit-build-train-step="grad-destinations=true" 2>&1 | FileCheck %s --check-prefix=FUSED

// grad-destinations=true on the model of build-train-step.mlir (what the
// CPU trainer builds for data-parallel runs): @lm_kd_loss_grad takes one
// destination per parameter after its inputs, named <parameter>.grad, and
// returns each gradient through materialize_in_destination into it, the
// result tied to it. Each materialization comes right after its gradient
// is made (the backward runs from the last layer to the first), so layer
// outlining takes it into the layer's function. The fused step, which the
// data-parallel trainer does not run, passes fresh tensors.
// CHECK-LABEL: func.func @lm_kd_loss_grad(
// CHECK-SAME: %arg6: tensor<4x8xf32>
// CHECK-SAME: %arg7: tensor<8x8xf32> {onebit.name = "layers.0.mlp.latent.grad"}
// CHECK-SAME: %arg12: tensor<8xf32> {onebit.name = "layers.1.mlp.h.grad"})
// CHECK-SAME: -> (tensor<f32>
// CHECK-SAME: tensor<8x8xf32> {onebit.inplace_arg = 7 : i64}
// CHECK-SAME: tensor<8xf32> {onebit.inplace_arg = 12 : i64})
// CHECK: %[[G12:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<8xf32>)
// CHECK: linalg.yield
// CHECK-NEXT: } -> tensor<8xf32>
// CHECK-NEXT: %[[D12:.*]] = bufferization.materialize_in_destination %[[G12]] in %arg12 : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
// CHECK: %[[D7:.*]] = bufferization.materialize_in_destination %{{.*}} in %arg7 : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
// CHECK: return {{.*}}, %[[D7]], {{.*}}, %[[D12]] :
// CHECK-LABEL: func.func @lm_train_step(
// CHECK: %[[E:.*]] = tensor.empty() : tensor<8x8xf32>
// CHECK: call @lm_kd_loss_grad(%arg0, {{.*}}, %arg18, %[[E]],

// Bufferized, the last op of each gradient writes its destination's buffer
// (an empty init or a zero accumulator replaced by onebit-destination-inits)
// and nothing is copied into one.
// BUF-LABEL: func.func @lm_kd_loss_grad(
// BUF-NOT: memref.copy {{.*}}, %arg{{(7|8|9|10|11|12)}} :
// BUF: outs(%arg12 : memref<8xf32>)
// BUF-NOT: memref.copy {{.*}}, %arg{{(7|8|9|10|11|12)}} :
// BUF: outs(%arg10 : memref<8x8xf32>)
// BUF-NOT: memref.copy {{.*}}, %arg{{(7|8|9|10|11|12)}} :
// BUF: outs(%arg11 : memref<8xf32>)
// BUF-NOT: memref.copy {{.*}}, %arg{{(7|8|9|10|11|12)}} :
// BUF: outs(%arg9 : memref<8xf32>)
// BUF-NOT: memref.copy {{.*}}, %arg{{(7|8|9|10|11|12)}} :
// BUF: outs(%arg7 : memref<8x8xf32>)
// BUF-NOT: memref.copy {{.*}}, %arg{{(7|8|9|10|11|12)}} :
// BUF: outs(%arg8 : memref<8xf32>)
// BUF-NOT: memref.copy {{.*}}, %arg{{(7|8|9|10|11|12)}} :
// BUF: return {{.*}}, %arg7, %arg8, %arg9, %arg10, %arg11, %arg12 :

// Lowered, the gradient returns the three losses only: the gradients are
// the caller's buffers (the compile fails if one was written elsewhere).
// LLVM: llvm.func @lm_kd_loss_grad(
// LLVM-SAME: -> !llvm.struct<(struct<(ptr, ptr, i64)>, struct<(ptr, ptr, i64)>, struct<(ptr, ptr, i64)>)>

// FUSED: error: onebit-build-train-step: grad-destinations applies to the data-parallel gradient (split-update=true)
