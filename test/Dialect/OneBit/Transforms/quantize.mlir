// RUN: onebit-opt %s --split-input-file --onebit-quantize="keep-head=false" | FileCheck %s
// RUN: onebit-opt %s --split-input-file --onebit-quantize="keep-head=false post-norm=false" | FileCheck %s --check-prefix=NONORM
// RUN: onebit-opt %s --split-input-file --onebit-quantize="keep-head=false value-type=f16" | FileCheck %s --check-prefix=F16

// ONNX MatMul form: weight stored K x N, zero-filled accumulator. The
// weight's name (a NameLoc here; the importer's dense_resource key otherwise)
// names the new constants.
// CHECK-LABEL: func.func @matmul_kxn
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK-NOT: linalg.matmul
// CHECK-NOT: linalg.fill
// CHECK-DAG: %[[S:.*]] = arith.constant dense_resource<layers.0.q_proj.weight.signs> : tensor<3x1xi32>
// CHECK-DAG: %[[G:.*]] = arith.constant dense_resource<layers.0.q_proj.weight.g> : tensor<8xf32>
// CHECK-DAG: %[[H:.*]] = arith.constant dense_resource<layers.0.q_proj.weight.h> : tensor<3xf32>
// CHECK: %[[Y:.*]] = onebit.binary_linear %[[X]], %[[S]], %[[G]], %[[H]] layout <word_bits = 32, bit_order = lsb_first, negative = 1> norm_eps = 1.000000e-05 {onebit.name = "layers.0.q_proj.weight"} : (tensor<4x8xf32>, tensor<3x1xi32>, tensor<8xf32>, tensor<3xf32>) -> tensor<4x3xf32>
// CHECK: return %[[Y]]
// Signs of W^T rows: row 0 = [1,-1,.5,2,1,-1,.5,2] -> bits 1,5 = 0x22;
// row 1 = [-2,2,-.25,1,-2,2,-.25,1] -> bits 0,2,4,6 = 0x55;
// row 2 = [.5,1.5,1,-1,.5,1.5,1,-1] -> bits 3,7 = 0x88.
// CHECK: layers.0.q_proj.weight.signs: "0x08000000220000005500000088000000"
// NONORM-LABEL: func.func @matmul_kxn
// NONORM: onebit.binary_linear {{.*}} layout <word_bits = 32, bit_order = lsb_first, negative = 1> {onebit.name
// F16-LABEL: func.func @matmul_kxn
// F16: onebit.binary_linear {{.*}} : (tensor<4x8xf32>, tensor<3x1xi32>, tensor<8xf16>, tensor<3xf16>) -> tensor<4x3xf32>
func.func @matmul_kxn(%x: tensor<4x8xf32>) -> tensor<4x3xf32> {
  %w = arith.constant dense<[[1.0, -2.0, 0.5], [-1.0, 2.0, 1.5], [0.5, -0.25, 1.0], [2.0, 1.0, -1.0], [1.0, -2.0, 0.5], [-1.0, 2.0, 1.5], [0.5, -0.25, 1.0], [2.0, 1.0, -1.0]]> : tensor<8x3xf32> loc("layers.0.q_proj.weight")
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x3xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x3xf32>) -> tensor<4x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x3xf32>) outs(%f : tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// torch Linear / Gemm transB form: weight stored N x K, transposed through
// indexing_maps; f16 weights and activations; a dense_resource weight.
// CHECK-LABEL: func.func @matmul_nxk_f16
// CHECK: %[[S:.*]] = arith.constant dense_resource<fc.weight.signs> : tensor<2x1xi32>
// CHECK: onebit.binary_linear %{{.*}}, %[[S]], {{.*}} : (tensor<?x4xf16>, tensor<2x1xi32>, tensor<4xf32>, tensor<2xf32>) -> tensor<?x2xf16>
// Rows [1,-1,1,-1] -> 0b1010 = 0xA, [-1,-1,1,1] -> 0b0011 = 0x3.
// CHECK: fc.weight.signs: "0x080000000A00000003000000"
func.func @matmul_nxk_f16(%x: tensor<?x4xf16>, %init: tensor<?x2xf16>) -> tensor<?x2xf16> {
  %w = arith.constant dense_resource<fc.weight> : tensor<2x4xf16>
  %z = arith.constant 0.0 : f16
  %f = linalg.fill ins(%z : f16) outs(%init : tensor<?x2xf16>) -> tensor<?x2xf16>
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<?x4xf16>, tensor<2x4xf16>) outs(%f : tensor<?x2xf16>) -> tensor<?x2xf16>
  return %y : tensor<?x2xf16>
}
{-#
  dialect_resources: {
    builtin: {
      fc.weight: "0x02000000003C00BC003C00BC00BC00BC003C003C"
    }
  }
#-}

// -----

// Batched contraction whose weight is one constant 2-D matrix for every batch
// (bf16 weight), and a generic 3-D x 2-D contraction.
// CHECK-LABEL: func.func @batched
// CHECK-NOT: linalg.batch_matmul
// CHECK: onebit.binary_linear {{.*}} : (tensor<2x3x4xf32>, tensor<5x1xi32>, tensor<4xf32>, tensor<5xf32>) -> tensor<2x3x5xf32>
// CHECK-NOT: linalg.generic
// CHECK: onebit.binary_linear {{.*}} : (tensor<2x3x4xf32>, tensor<5x1xi32>, tensor<4xf32>, tensor<5xf32>) -> tensor<2x3x5xf32>
func.func @batched(%x: tensor<2x3x4xf32>) -> (tensor<2x3x5xf32>, tensor<2x3x5xf32>) {
  %w = arith.constant dense<0.5> : tensor<4x5xbf16>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3x5xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  %y = linalg.batch_matmul indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (k, n)>, affine_map<(b, m, n, k) -> (b, m, n)>]
      ins(%x, %w : tensor<2x3x4xf32>, tensor<4x5xbf16>) outs(%f : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  %w2 = arith.constant dense<-1.5> : tensor<5x4xf32>
  %y2 = linalg.generic {indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (n, k)>, affine_map<(b, m, n, k) -> (b, m, n)>],
                        iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w2 : tensor<2x3x4xf32>, tensor<5x4xf32>) outs(%f : tensor<2x3x5xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<2x3x5xf32>
  return %y, %y2 : tensor<2x3x5xf32>, tensor<2x3x5xf32>
}

// -----

// matmul + bias: the bias add folds into the op.
// CHECK-LABEL: func.func @bias
// CHECK-NOT: linalg.generic
// CHECK: %[[B:.*]] = arith.constant dense_resource<proj.weight.bias> : tensor<3xf32>
// CHECK: onebit.binary_linear %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} bias %[[B]] layout
// CHECK: proj.weight.bias: "0x080000000000803F00000040000040C0"
func.func @bias(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %w = arith.constant dense<[[1.0, -1.0, 2.0], [0.5, 0.5, -0.5], [1.0, 1.0, 1.0], [-2.0, 1.0, 0.25]]> : tensor<4x3xf32> loc("proj.weight")
  %b = arith.constant dense<[1.0, 2.0, -3.0]> : tensor<3xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%y, %b : tensor<2x3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %s = arith.addf %a, %c : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  return %r : tensor<2x3xf32>
}

// -----

// A non-zero accumulator is added back.
// CHECK-LABEL: func.func @accumulate
// CHECK-SAME: %[[ACC:[a-z0-9]+]]: tensor<2x3xf32>
// CHECK: %[[Y:.*]] = onebit.binary_linear
// CHECK: %[[R:.*]] = arith.addf %[[Y]], %[[ACC]] : tensor<2x3xf32>
// CHECK: return %[[R]]
func.func @accumulate(%x: tensor<2x4xf32>, %acc: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %w = arith.constant dense<1.0> : tensor<4x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x3xf32>) outs(%acc : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// Left alone: a non-constant weight, an activation transposed through its
// map, a weight on the left, and an integer matmul.
// CHECK-LABEL: func.func @untouched
// CHECK-NOT: onebit.binary_linear
// CHECK-COUNT-4: linalg.matmul
// CHECK-NOT: onebit.binary_linear
func.func @untouched(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>, %xt: tensor<4x2xf32>, %i: tensor<2x4xi32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<3x2xf32>, tensor<2x3xi32>) {
  %c = arith.constant dense<1.0> : tensor<4x3xf32>
  %cl = arith.constant dense<1.0> : tensor<3x4xf32>
  %ci = arith.constant dense<1> : tensor<4x3xi32>
  %z = arith.constant 0.0 : f32
  %zi = arith.constant 0 : i32
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %e2 = tensor.empty() : tensor<3x2xf32>
  %f2 = linalg.fill ins(%z : f32) outs(%e2 : tensor<3x2xf32>) -> tensor<3x2xf32>
  %ei = tensor.empty() : tensor<2x3xi32>
  %fi = linalg.fill ins(%zi : i32) outs(%ei : tensor<2x3xi32>) -> tensor<2x3xi32>
  %a = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  %b = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (k, m)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%xt, %c : tensor<4x2xf32>, tensor<4x3xf32>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  %d = linalg.matmul ins(%cl, %xt : tensor<3x4xf32>, tensor<4x2xf32>) outs(%f2 : tensor<3x2xf32>) -> tensor<3x2xf32>
  %g = linalg.matmul ins(%i, %ci : tensor<2x4xi32>, tensor<4x3xi32>) outs(%fi : tensor<2x3xi32>) -> tensor<2x3xi32>
  return %a, %b, %d, %g : tensor<2x3xf32>, tensor<2x3xf32>, tensor<3x2xf32>, tensor<2x3xi32>
}
