// RUN: not onebit-opt %s --onebit-build-train-step="alpha=0 trainable=bias" 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not onebit-opt %s --onebit-build-train-step="alpha=0 trainable=embeddings" 2>&1 | FileCheck %s --check-prefix=EMB
// RUN: not onebit-opt %s --onebit-build-train-step="alpha=0 trainable=norms" 2>&1 | FileCheck %s --check-prefix=NORMS
// RUN: not onebit-opt %s --onebit-build-train-step="alpha=0 trainable=norms norm-regex=(" 2>&1 | FileCheck %s --check-prefix=REGEX
// RUN: not onebit-opt %s --onebit-quantize="keep-teacher=true keep-head=false" --onebit-build-train-step="alpha=0 trainable=head" 2>&1 | FileCheck %s --check-prefix=HEAD

// UNKNOWN: error: 'func.func' op onebit-build-train-step: unknown trainable 'bias' (expected embeddings, norms or head)
// EMB: error: 'func.func' op onebit-build-train-step: trainable=embeddings: no f32 constant is read by a gather
// NORMS: error: 'func.func' op onebit-build-train-step: trainable=norms: no rank-1 f32 constant's name matches norm-regex
// REGEX: error: 'func.func' op onebit-build-train-step: norm-regex '(' is invalid
// HEAD: error: 'func.func' op onebit-build-train-step: trainable=head: the logits are not produced by a contraction with a full-precision f32 weight (a 1-bit head trains anyway)
func.func @lm(%x: tensor<4x8xf32>) -> tensor<4x6xf32> {
  %w0 = arith.constant dense<[[0.13, -0.13, 0.64, 0.10, -0.54, 0.36, 1.30, 0.95], [-0.70, -1.27, -0.62, 0.04, -2.33, -0.22, -1.25, -0.73], [-0.54, -0.32, 0.41, 1.04, -0.13, 1.37, -0.67, 0.35], [0.90, 0.09, -0.74, -0.92, -0.46, 0.22, -1.01, -0.21], [-0.16, 0.54, 0.21, 0.36, -0.65, -0.13, 0.78, 1.49], [-1.26, 1.51, 1.35, 0.78, 0.26, -0.31, 1.46, 1.96], [1.80, 1.32, 0.36, -1.21, -0.00, 0.66, -1.29, 0.40], [0.43, 0.70, -1.18, -0.66, -0.44, -1.17, 1.74, -0.50]]> : tensor<8x8xf32> loc("layers.0.mlp.weight")
  %wh = arith.constant dense<[[-0.57, -1.03, -1.04, 0.27, 0.36, 1.32], [-0.01, 1.04, 1.40, 1.15, -2.37, 1.23], [0.34, 0.42, 0.37, 0.38, 0.32, -0.36], [-1.90, -0.11, -0.80, 1.08, -0.29, 0.08], [-0.85, -0.51, -0.01, -1.49, 0.30, -0.11], [-1.19, -2.40, 0.51, -0.30, -0.53, -0.24], [1.82, -0.05, 0.09, -1.49, 1.65, 0.92], [1.07, 0.05, 0.92, 0.37, 0.61, -0.15]]> : tensor<8x6xf32> loc("lm_head.weight")
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x8xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  %y0 = linalg.matmul ins(%x, %w0 : tensor<4x8xf32>, tensor<8x8xf32>) outs(%f : tensor<4x8xf32>) -> tensor<4x8xf32> loc("/layers.0/mlp/MatMul")
  %eh = tensor.empty() : tensor<4x6xf32>
  %fh = linalg.fill ins(%z : f32) outs(%eh : tensor<4x6xf32>) -> tensor<4x6xf32>
  %lg = linalg.matmul ins(%y0, %wh : tensor<4x8xf32>, tensor<8x6xf32>) outs(%fh : tensor<4x6xf32>) -> tensor<4x6xf32> loc("/lm_head/MatMul")
  return %lg : tensor<4x6xf32>
}
