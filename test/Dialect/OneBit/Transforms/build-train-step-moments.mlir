// RUN: onebit-opt %S/build-train-step.mlir --onebit-build-train-step="moments=bf16 update-in-place=true" | FileCheck %s
// RUN: onebit-opt %S/build-train-step.mlir --onebit-build-train-step="moments=bf16" | FileCheck %s --check-prefix=NEW
// RUN: onebit-opt %S/build-train-step.mlir --onebit-build-train-step="moments=bf16 update-in-place=true" --onebit-cpu-pipeline | FileCheck %s --check-prefix=LLVM
// RUN: not onebit-opt %S/build-train-step.mlir --onebit-build-train-step="moments=bf16 split-update=true" 2>&1 | FileCheck %s --check-prefix=SPLIT
// RUN: not onebit-opt %S/build-train-step.mlir --onebit-build-train-step="moments=f8" 2>&1 | FileCheck %s --check-prefix=BADTYPE

// moments=bf16 on the model of build-train-step.mlir: the step's Adam
// moments (arguments 6-17, and the results tied to them) are bf16 and the
// parameters stay f32. Each update widens m and v to f32 (extf), computes
// as with f32 moments, and rounds the new ones to bf16 (truncf) as it
// writes them into the moments' buffers.
// CHECK-LABEL: func.func @lm_train_step(
// CHECK-SAME: %arg0: tensor<8x8xf32> {onebit.name = "layers.0.mlp.latent", onebit.train_state}
// CHECK-SAME: %arg6: tensor<8x8xbf16> {onebit.name = "layers.0.mlp.latent.adam_m", onebit.train_state}
// CHECK-SAME: %arg17: tensor<8xbf16> {onebit.name = "layers.1.mlp.h.adam_v", onebit.train_state}
// CHECK-SAME: -> (tensor<8x8xf32> {onebit.inplace_arg = 0 : i64, onebit.name = "layers.0.mlp.latent"}
// CHECK-SAME: tensor<8xbf16> {onebit.inplace_arg = 17 : i64, onebit.name = "layers.1.mlp.h.adam_v"}, tensor<f32> {onebit.name = "loss"}
// CHECK: linalg.generic {{.*}} outs(%arg5, %arg11, %arg17 : tensor<8xf32>, tensor<8xbf16>, tensor<8xbf16>)
// CHECK-NEXT: ^bb0(%{{.*}}: f32, %{{.*}}: f32, %[[M:.*]]: bf16, %[[V:.*]]: bf16):
// CHECK-NEXT: %[[MF:.*]] = arith.extf %[[M]] : bf16 to f32
// CHECK-NEXT: %[[VF:.*]] = arith.extf %[[V]] : bf16 to f32
// CHECK: %[[M1:.*]] = arith.addf %{{.*}}, %{{.*}} : f32
// CHECK: %[[M2:.*]] = arith.truncf %{{.*}} : f32 to bf16
// CHECK-NEXT: %[[V2:.*]] = arith.truncf %{{.*}} : f32 to bf16
// CHECK-NEXT: linalg.yield %{{.*}}, %[[M2]], %[[V2]] : f32, bf16, bf16
// CHECK: return

// Without update-in-place the step returns new bf16 moments.
// NEW-LABEL: func.func @lm_train_step(
// NEW-SAME: %arg6: tensor<8x8xbf16>
// NEW-SAME: -> (tensor<8x8xf32> {onebit.name = "layers.0.mlp.latent"}
// NEW-SAME: tensor<8x8xbf16> {onebit.name = "layers.0.mlp.latent.adam_m"}
// NEW: tensor.empty() : tensor<8x8xbf16>

// The bf16 state is updated in its buffers (no copy: the tied results are
// dropped, only the three losses are returned).
// LLVM: llvm.func @lm_train_step(
// LLVM-SAME: -> !llvm.struct<(struct<(ptr, ptr, i64)>, struct<(ptr, ptr, i64)>, struct<(ptr, ptr, i64)>)>

// SPLIT: error: onebit-build-train-step: moments=bf16 applies to the fused step; split-update keeps f32 moments
// BADTYPE: error: onebit-build-train-step: moments must be f32 or bf16 (got 'f8')
