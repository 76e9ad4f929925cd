// RUN: onebit-opt %s --onebit-build-train-step="trainable=embeddings,norms,head" | FileCheck %s
// RUN: onebit-opt %s --onebit-build-train-step="trainable-regex=^embed" | FileCheck %s --check-prefix=REGEX
// RUN: onebit-opt %s --onebit-build-train-step | FileCheck %s --check-prefix=FROZEN

// Full-precision weights selected by trainable= become parameters after the
// 1-bit ones: the gathered embedding table, the rank-1 norm weight (by
// name) and the head's weight (named after the head's scope). The
// embedding's gradient is a scatter-add (an scf.for nest over the gather's
// iteration space); the teacher keeps its own frozen constants.
// CHECK-LABEL: func.func private @lm_student(
// CHECK-SAME: {onebit.name = "layers.0.mlp.h"}, %{{.*}}: tensor<6x8xf32> {onebit.name = "embed.weight"}, %{{.*}}: tensor<8xf32> {onebit.name = "layers.0.norm.weight"}, %{{.*}}: tensor<8x6xf32> {onebit.name = "lm_head.weight"}, %{{.*}}: tensor<4xi64>)
// CHECK-NOT: arith.constant {{.*}} : tensor<{{6x8|8|8x6}}xf32>
// CHECK: return
// CHECK-LABEL: func.func private @lm_kd_loss_grad(
// CHECK-SAME: -> (tensor<f32>, tensor<f32>, tensor<f32>, tensor<8x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<6x8xf32>, tensor<8xf32>, tensor<8x6xf32>)
// CHECK: scf.for
// CHECK: scf.for
// CHECK: tensor.extract %{{.*}} : tensor<6x8xf32>
// CHECK: arith.addf
// CHECK: tensor.insert %{{.*}} : tensor<6x8xf32>
// CHECK-LABEL: func.func @lm_train_step(
// CHECK: %{{.*}}:9 = call @lm_kd_loss_grad(
// CHECK-COUNT-6: } -> (tensor<{{.*}}>, tensor<{{.*}}>, tensor<{{.*}}>)
// CHECK-LABEL: func.func @lm_train_init()
// CHECK-SAME: {onebit.name = "embed.weight"}, tensor<8xf32> {onebit.name = "layers.0.norm.weight"}, tensor<8x6xf32> {onebit.name = "lm_head.weight"})
// CHECK-LABEL: func.func private @lm_teacher(
// CHECK: arith.constant {{.*}} : tensor<6x8xf32>

// REGEX-LABEL: func.func private @lm_student(
// REGEX-SAME: {onebit.name = "layers.0.mlp.h"}, %{{.*}}: tensor<6x8xf32> {onebit.name = "embed.weight"}, %{{.*}}: tensor<4xi64>)

// FROZEN-LABEL: func.func private @lm_student(
// FROZEN-SAME: {onebit.name = "layers.0.mlp.h"}, %{{.*}}: tensor<4xi64>)
func.func @lm(%ids: tensor<4xi64>) -> tensor<4x6xf32> {
  %emb = arith.constant dense<[[0.33, -0.26, 1.58, 1.32, 0.63, -2.20, 0.05, 0.68], [1.00, -0.62, 1.82, -1.32, -0.66, 0.94, 0.05, 2.00], [0.19, -0.63, -0.38, -1.09, -1.28, 0.63, 0.58, 1.29], [-0.75, 1.69, -0.29, 1.57, -0.43, -0.74, 0.25, 1.03], [0.16, -0.59, -1.34, -1.40, 0.50, 0.99, -0.16, -1.07], [0.87, -1.28, -0.71, 0.62, -2.25, 0.39, -0.58, 0.11]]> : tensor<6x8xf32> loc("embed.weight")
  %nw = arith.constant dense<[1.1, 0.9, 1.2, 0.8, 1.05, 0.95, 1.0, 1.3]> : tensor<8xf32> loc("layers.0.norm.weight")
  %w0 = arith.constant dense<[[0.13, -0.13, 0.64, 0.10, -0.54, 0.36, 1.30, 0.95], [-0.70, -1.27, -0.62, 0.04, -2.33, -0.22, -1.25, -0.73], [-0.54, -0.32, 0.41, 1.04, -0.13, 1.37, -0.67, 0.35], [0.90, 0.09, -0.74, -0.92, -0.46, 0.22, -1.01, -0.21], [-0.16, 0.54, 0.21, 0.36, -0.65, -0.13, 0.78, 1.49], [-1.26, 1.51, 1.35, 0.78, 0.26, -0.31, 1.46, 1.96], [1.80, 1.32, 0.36, -1.21, -0.00, 0.66, -1.29, 0.40], [0.43, 0.70, -1.18, -0.66, -0.44, -1.17, 1.74, -0.50]]> : tensor<8x8xf32> loc("layers.0.mlp.weight")
  %wh = arith.constant dense<[[-0.57, -1.03, -1.04, 0.27, 0.36, 1.32], [-0.01, 1.04, 1.40, 1.15, -2.37, 1.23], [0.34, 0.42, 0.37, 0.38, 0.32, -0.36], [-1.90, -0.11, -0.80, 1.08, -0.29, 0.08], [-0.85, -0.51, -0.01, -1.49, 0.30, -0.11], [-1.19, -2.40, 0.51, -0.30, -0.53, -0.24], [1.82, -0.05, 0.09, -1.49, 1.65, 0.92], [1.07, 0.05, 0.92, 0.37, 0.61, -0.15]]> : tensor<8x6xf32> loc("lm_head.weight")
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x8xf32>
  %x = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%ids : tensor<4xi64>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%id: i64, %o: f32):
    %r = arith.index_cast %id : i64 to index
    %c = linalg.index 1 : index
    %v = tensor.extract %emb[%r, %c] : tensor<6x8xf32>
    linalg.yield %v : f32
  } -> tensor<4x8xf32> loc("/embed/Gather")
  %xn = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                        iterator_types = ["parallel", "parallel"]}
      ins(%x, %nw : tensor<4x8xf32>, tensor<8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %w: f32, %o: f32):
    %m = arith.mulf %a, %w : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32> loc("/layers.0/norm/Mul")
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  %y0 = linalg.matmul ins(%xn, %w0 : tensor<4x8xf32>, tensor<8x8xf32>) outs(%f : tensor<4x8xf32>) -> tensor<4x8xf32> loc("/layers.0/mlp/MatMul")
  %r0 = arith.addf %x, %y0 : tensor<4x8xf32> loc("/layers.0/Add")
  %eh = tensor.empty() : tensor<4x6xf32>
  %fh = linalg.fill ins(%z : f32) outs(%eh : tensor<4x6xf32>) -> tensor<4x6xf32>
  %lg = linalg.matmul ins(%r0, %wh : tensor<4x8xf32>, tensor<8x6xf32>) outs(%fh : tensor<4x6xf32>) -> tensor<4x6xf32> loc("/lm_head/MatMul")
  return %lg : tensor<4x6xf32>
}
