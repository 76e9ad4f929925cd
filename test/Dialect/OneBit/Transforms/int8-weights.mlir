// RUN: onebit-opt %s --split-input-file --onebit-int8-weights | FileCheck %s
// RUN: onebit-opt %s --split-input-file --onebit-quantize --onebit-int8-weights | FileCheck %s --check-prefix=HEAD
// RUN: onebit-opt %s --split-input-file --onebit-int8-weights=stats -o /dev/null 2>&1 | FileCheck %s --check-prefix=STATS
// RUN: onebit-opt %s --split-input-file --onebit-int8-weights=tables=false | FileCheck %s --check-prefix=NOTAB

// ONNX MatMul form (weight K x N, here the transpose of rows
// [1,-1,.5,2,1,-1,.5,2] and [-2,2,-.25,1,-2,2,-.25,1]): symmetric per-row
// scales max|row| / 127 and round-to-nearest-even int8 values.
// CHECK-LABEL: func.func @kxn
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK-NOT: linalg.matmul
// CHECK-DAG: %[[W:.*]] = arith.constant dense_resource<head.weight.int8> : tensor<2x8xi8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense_resource<head.weight.scales> : tensor<2xf32>
// CHECK: %[[Y:.*]] = onebit.int8_linear %[[X]], %[[W]], %[[S]] {onebit.name = "head.weight"} : (tensor<4x8xf32>, tensor<2x8xi8>, tensor<2xf32>) -> tensor<4x2xf32>
// CHECK: return %[[Y]]
// 2/127 -> 64 -64 32 127 ...; 2/127 -> -127 127 -16 64 ...
// CHECK: head.weight.int8: "0x0800000040C0207F40C0207F817FF040817FF040"
// CHECK: head.weight.scales: "0x080000000402813C0402813C"
// STATS: onebit-int8-weights: layer 'head.weight' 2x8 rel_error={{0\.00[0-9]+}} bits_per_weight=12.0000
func.func @kxn(%x: tensor<4x8xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[1.0, -2.0], [-1.0, 2.0], [0.5, -0.25], [2.0, 1.0], [1.0, -2.0], [-1.0, 2.0], [0.5, -0.25], [2.0, 1.0]]> : tensor<8x2xf32> loc("head.weight")
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// torch Linear form (weight N x K) with f16 activations, dynamic rows and a
// folded bias; an all-zero row gets scale 0 and zero weights.
// CHECK-LABEL: func.func @nxk_bias
// CHECK: %[[B:.*]] = arith.constant dense<[5.000000e-01, -5.000000e-01, 0.000000e+00]> : tensor<3xf16>
// CHECK: onebit.int8_linear %{{.*}}, %{{.*}}, %{{.*}} bias %[[B]] {onebit.name = "fc.weight"} : (tensor<?x4xf16>, tensor<3x4xi8>, tensor<3xf32>, tensor<3xf16>) -> tensor<?x3xf16>
// CHECK-NOT: linalg.generic
// CHECK: fc.weight.int8: "0x080000007F8140E08140007F00000000"
// CHECK: fc.weight.scales: "0x080000000402013C0683C13C00000000"
func.func @nxk_bias(%x: tensor<?x4xf16>) -> tensor<?x3xf16> {
  %c0 = arith.constant 0 : index
  %d = tensor.dim %x, %c0 : tensor<?x4xf16>
  %w = arith.constant dense<[[1.0, -1.0, 0.5, -0.25], [-3.0, 1.5, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0]]> : tensor<3x4xf16> loc("fc.weight")
  %b = arith.constant dense<[0.5, -0.5, 0.0]> : tensor<3xf16>
  %z = arith.constant 0.0 : f16
  %init = tensor.empty(%d) : tensor<?x3xf16>
  %f = linalg.fill ins(%z : f16) outs(%init : tensor<?x3xf16>) -> tensor<?x3xf16>
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<?x4xf16>, tensor<3x4xf16>) outs(%f : tensor<?x3xf16>) -> tensor<?x3xf16>
  %e = tensor.empty(%d) : tensor<?x3xf16>
  %yb = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%y, %b : tensor<?x3xf16>, tensor<3xf16>) outs(%e : tensor<?x3xf16>) {
  ^bb0(%p: f16, %q: f16, %o: f16):
    %s = arith.addf %p, %q : f16
    linalg.yield %s : f16
  } -> tensor<?x3xf16>
  return %yb : tensor<?x3xf16>
}

// -----

// After --onebit-quantize (keep-head=true) only the logits layer is left in
// FP: it becomes int8 and the hidden layer stays 1-bit.
// HEAD-LABEL: func.func @two_layers
// HEAD: onebit.binary_linear
// HEAD: onebit.int8_linear %{{.*}} {onebit.name = "lm_head.weight"} : (tensor<1x8xf32>, tensor<3x8xi8>, tensor<3xf32>) -> tensor<1x3xf32>
// HEAD-NOT: linalg.matmul
func.func @two_layers(%x: tensor<1x8xf32>) -> tensor<1x3xf32> {
  %w1 = arith.constant dense<0.5> : tensor<8x8xf32> loc("layers.0.fc.weight")
  %w2 = arith.constant dense<[[1.0, -2.0, 0.5], [-1.0, 2.0, 1.5], [0.5, -0.25, 1.0], [2.0, 1.0, -1.0], [1.0, -2.0, 0.5], [-1.0, 2.0, 1.5], [0.5, -0.25, 1.0], [2.0, 1.0, -1.0]]> : tensor<8x3xf32> loc("lm_head.weight")
  %z = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<1x8xf32>
  %f1 = linalg.fill ins(%z : f32) outs(%e1 : tensor<1x8xf32>) -> tensor<1x8xf32>
  %h = linalg.matmul ins(%x, %w1 : tensor<1x8xf32>, tensor<8x8xf32>) outs(%f1 : tensor<1x8xf32>) -> tensor<1x8xf32>
  %e2 = tensor.empty() : tensor<1x3xf32>
  %f2 = linalg.fill ins(%z : f32) outs(%e2 : tensor<1x3xf32>) -> tensor<1x3xf32>
  %y = linalg.matmul ins(%h, %w2 : tensor<1x8xf32>, tensor<8x3xf32>) outs(%f2 : tensor<1x3xf32>) -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}

// -----

// A table with a use that is not an element lookup (here a slice) keeps its
// FP constant; the logits layer reads an int8 copy.
// CHECK-LABEL: func.func @tied
// CHECK: %[[T:.*]] = arith.constant dense<{{.*}}> : tensor<3x2xf32>
// CHECK: tensor.extract_slice %[[T]]
// CHECK: onebit.int8_linear
func.func @tied(%x: tensor<1x2xf32>) -> (tensor<1x2xf32>, tensor<1x3xf32>) {
  %t = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [-1.0, 0.5]]> : tensor<3x2xf32>
  %row = tensor.extract_slice %t[1, 0] [1, 2] [1, 1] : tensor<3x2xf32> to tensor<1x2xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x3xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x3xf32>) -> tensor<1x3xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %t : tensor<1x2xf32>, tensor<3x2xf32>) outs(%f : tensor<1x3xf32>) -> tensor<1x3xf32>
  return %row, %y : tensor<1x2xf32>, tensor<1x3xf32>
}

// -----

// A tied embedding (the importer's gather: tensor.extract in a generic):
// the lookup reads the int8 constants of the logits layer, and the FP table
// is gone. With tables=false the lookup keeps the FP table.
// CHECK-LABEL: func.func @tied_gather
// CHECK-NOT: tensor<4x2xf32>
// CHECK-DAG: %[[Q:.*]] = arith.constant dense_resource<embed.weight.int8> : tensor<4x2xi8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense_resource<embed.weight.scales> : tensor<4xf32>
// CHECK: linalg.generic
// CHECK: %[[V:.*]] = tensor.extract %[[Q]][%[[R:.*]], %[[C:.*]]] : tensor<4x2xi8>
// CHECK: %[[F:.*]] = arith.sitofp %[[V]] : i8 to f32
// CHECK: %[[SC:.*]] = tensor.extract %[[S]][%[[R]]] : tensor<4xf32>
// CHECK: %[[M:.*]] = arith.mulf %[[F]], %[[SC]] : f32
// CHECK: linalg.yield %[[M]] : f32
// CHECK: onebit.int8_linear %{{.*}}, %[[Q]], %[[S]] {onebit.name = "embed.weight"}
// CHECK-NOT: tensor<4x2xf32>
// CHECK: embed.weight.int8: "0x080000007F40E07F7F00817F"
// STATS: onebit-int8-weights: layer 'embed.weight' 4x2
// STATS-NOT: table 'embed.weight'
// NOTAB-LABEL: func.func @tied_gather
// NOTAB: %[[T:.*]] = arith.constant dense<{{.*}}> : tensor<4x2xf32>
// NOTAB: tensor.extract %[[T]]
// NOTAB: onebit.int8_linear
func.func @tied_gather(%ids: tensor<1x3xi64>) -> tensor<1x3x4xf32> {
  %t = arith.constant dense<[[1.0, 0.5], [-0.25, 1.0], [2.0, 0.0], [-3.0, 3.0]]> : tensor<4x2xf32> loc("embed.weight")
  %e = tensor.empty() : tensor<1x3x2xf32>
  %x = linalg.generic {indexing_maps = [affine_map<(a, b, c) -> (a, b)>, affine_map<(a, b, c) -> (a, b, c)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%ids : tensor<1x3xi64>) outs(%e : tensor<1x3x2xf32>) {
  ^bb0(%id: i64, %o: f32):
    %r = arith.index_cast %id : i64 to index
    %c = linalg.index 2 : index
    %v = tensor.extract %t[%r, %c] : tensor<4x2xf32>
    linalg.yield %v : f32
  } -> tensor<1x3x2xf32>
  %z = arith.constant 0.0 : f32
  %e2 = tensor.empty() : tensor<1x3x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e2 : tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(a, b, n, k) -> (a, b, k)>, affine_map<(a, b, n, k) -> (n, k)>, affine_map<(a, b, n, k) -> (a, b, n)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %t : tensor<1x3x2xf32>, tensor<4x2xf32>) outs(%f : tensor<1x3x4xf32>) {
  ^bb0(%a: f32, %w: f32, %acc: f32):
    %p = arith.mulf %a, %w : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// -----

// An untied embedding table (no linear layer reads it) becomes int8 on its
// own; the ids reach the row index through a reshape, a cast and a clamp.
// CHECK-LABEL: func.func @table_only
// CHECK: %[[Q:.*]] = arith.constant dense_resource<tok.weight.int8> : tensor<2x3xi8>
// CHECK: tensor.extract %[[Q]]
// CHECK-NOT: tensor<2x3xf32>
// STATS: onebit-int8-weights: table 'tok.weight' 2x3 rel_error={{0\.00[0-9]+}} bits_per_weight=18.6667
func.func @table_only(%ids: tensor<4xi64>) -> tensor<2x2x3xf32> {
  %t = arith.constant dense<[[1.0, 0.5, -0.25], [0.1, 0.2, 0.3]]> : tensor<2x3xf32> loc("tok.weight")
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %r = tensor.expand_shape %ids [[0, 1]] output_shape [2, 2] : tensor<4xi64> into tensor<2x2xi64>
  %e = tensor.empty() : tensor<2x2x3xf32>
  %x = linalg.generic {indexing_maps = [affine_map<(a, b, c) -> (a, b)>, affine_map<(a, b, c) -> (a, b, c)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%r : tensor<2x2xi64>) outs(%e : tensor<2x2x3xf32>) {
  ^bb0(%id: i64, %o: f32):
    %i = arith.index_cast %id : i64 to index
    %lo = arith.maxsi %i, %c0 : index
    %hi = arith.minsi %lo, %c1 : index
    %col = linalg.index 2 : index
    %v = tensor.extract %t[%hi, %col] : tensor<2x3xf32>
    linalg.yield %v : f32
  } -> tensor<2x2x3xf32>
  return %x : tensor<2x2x3xf32>
}

// -----

// A table read at computed rows (a RoPE cache at linalg.index positions) is
// not an embedding: it stays FP.
// CHECK-LABEL: func.func @rope_cache
// CHECK: arith.constant dense<{{.*}}> : tensor<2x2xf32>
// CHECK-NOT: int8
func.func @rope_cache() -> tensor<2x2xf32> {
  %t = arith.constant dense<[[1.0, 0.0], [0.5, 0.8660254]]> : tensor<2x2xf32> loc("cos_cached")
  %e = tensor.empty() : tensor<2x2xf32>
  %x = linalg.generic {indexing_maps = [affine_map<(a, b) -> (a, b)>], iterator_types = ["parallel", "parallel"]}
      outs(%e : tensor<2x2xf32>) {
  ^bb0(%o: f32):
    %p = linalg.index 0 : index
    %c = linalg.index 1 : index
    %v = tensor.extract %t[%p, %c] : tensor<2x2xf32>
    linalg.yield %v : f32
  } -> tensor<2x2xf32>
  return %x : tensor<2x2xf32>
}
