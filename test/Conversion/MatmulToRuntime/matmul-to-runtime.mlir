// RUN: onebit-opt %s --convert-matmul-to-runtime --split-input-file | FileCheck %s

// A zero-filled linalg.matmul: 2-D operands become [1, 1, rows, cols] views
// (unit outer dims of stride 0), beta = 0 and nothing is copied.
// CHECK-LABEL: func.func private @onebit_matmul_f32
// CHECK-SAME: (memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, f32)
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @matmul
// CHECK-SAME: (%[[A:.*]]: tensor<5x7xf32>, %[[B:.*]]: tensor<7x3xf32>)
// CHECK-NOT: linalg.matmul
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK: %[[AB:.*]] = bufferization.to_buffer %[[A]] read_only : tensor<5x7xf32> to memref<5x7xf32, strided<[?, ?], offset: ?>>
// CHECK: %[[AOFF:offset[_0-9]*]], %{{.*}}:2, %[[AS:strides[_0-9]*]]:2 = memref.extract_strided_metadata %[[AB]]
// CHECK-DAG: %[[C5:.*]] = arith.constant 5 : index
// CHECK-DAG: %[[C7:.*]] = arith.constant 7 : index
// CHECK: %[[AV:.*]] = memref.reinterpret_cast %[[AB]] to offset: [%[[AOFF]]], sizes: [%[[C1]], %[[C1]], %[[C5]], %[[C7]]], strides: [%[[C0]], %[[C0]], %[[AS]]#0, %[[AS]]#1]
// CHECK: %[[BB:.*]] = bufferization.to_buffer %[[B]] read_only
// CHECK: %[[BV:.*]] = memref.reinterpret_cast %[[BB]]
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<5x3xf32>
// CHECK-NOT: memref.copy
// CHECK: %[[CV:.*]] = memref.reinterpret_cast %[[OUT]]
// CHECK: %[[BETA:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: call @onebit_matmul_f32(%[[AV]], %[[BV]], %[[CV]], %[[BETA]])
// CHECK: %[[R:.*]] = bufferization.to_tensor %[[OUT]] restrict writable : memref<5x3xf32> to tensor<5x3xf32>
// CHECK: return %[[R]]
func.func @matmul(%a: tensor<5x7xf32>, %b: tensor<7x3xf32>) -> tensor<5x3xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<5x3xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<5x3xf32>) -> tensor<5x3xf32>
  %r = linalg.matmul ins(%a, %b : tensor<5x7xf32>, tensor<7x3xf32>) outs(%f : tensor<5x3xf32>) -> tensor<5x3xf32>
  return %r : tensor<5x3xf32>
}

// -----

// A transposed B (torch Linear / Gemm transB): the view of B swaps its two
// strides, no transpose is materialised. The accumulator is a function
// argument: copied into the result buffer, beta = 1.
// CHECK-LABEL: func.func @matmul_transpose_b
// CHECK-SAME: (%{{.*}}: tensor<5x7xf32>, %[[B:.*]]: tensor<3x7xf32>, %[[ACC:.*]]: tensor<5x3xf32>)
// CHECK: %[[BB:.*]] = bufferization.to_buffer %[[B]] read_only
// CHECK: %[[BS:strides[_0-9]*]]:2 = memref.extract_strided_metadata %[[BB]]
// CHECK: memref.reinterpret_cast %[[BB]] to offset: [%{{.*}}], sizes: [%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}], strides: [%{{.*}}, %{{.*}}, %[[BS]]#1, %[[BS]]#0]
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<5x3xf32>
// CHECK: %[[ACCB:.*]] = bufferization.to_buffer %[[ACC]] read_only
// CHECK: memref.copy %[[ACCB]], %[[OUT]]
// CHECK: %[[BETA:.*]] = arith.constant 1.000000e+00 : f32
// CHECK: call @onebit_matmul_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[BETA]])
func.func @matmul_transpose_b(%a: tensor<5x7xf32>, %b: tensor<3x7xf32>, %acc: tensor<5x3xf32>) -> tensor<5x3xf32> {
  %r = linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>]
      ins(%a, %b : tensor<5x7xf32>, tensor<3x7xf32>) outs(%acc : tensor<5x3xf32>) -> tensor<5x3xf32>
  return %r : tensor<5x3xf32>
}

// -----

// batch_matmul: the batch is outer dim 1 (outer dim 0 has size 1).
// CHECK-LABEL: func.func @batch_matmul
// CHECK: %[[AS:strides[_0-9]*]]:3 = memref.extract_strided_metadata
// CHECK: memref.reinterpret_cast %{{.*}} to offset: [%{{.*}}], sizes: [%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}], strides: [%{{.*}}, %[[AS]]#0, %[[AS]]#1, %[[AS]]#2]
// CHECK: call @onebit_matmul_f32
// CHECK-NOT: linalg.batch_matmul
func.func @batch_matmul(%a: tensor<4x5x7xf32>, %b: tensor<4x7x3xf32>) -> tensor<4x5x3xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x5x3xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x5x3xf32>) -> tensor<4x5x3xf32>
  %r = linalg.batch_matmul ins(%a, %b : tensor<4x5x7xf32>, tensor<4x7x3xf32>) outs(%f : tensor<4x5x3xf32>) -> tensor<4x5x3xf32>
  return %r : tensor<4x5x3xf32>
}

// -----

// The ONNX importer's attention scores: [b, h, m, k] x [b, h, n, k] (K
// transposed) -> [b, h, m, n]; b and h are the two outer dims.
// CHECK-LABEL: func.func @attention_scores
// CHECK: %[[QS:strides[_0-9]*]]:4 = memref.extract_strided_metadata
// CHECK: strides: [%[[QS]]#0, %[[QS]]#1, %[[QS]]#2, %[[QS]]#3]
// CHECK: %[[KS:strides[_0-9]*]]:4 = memref.extract_strided_metadata
// CHECK: strides: [%[[KS]]#0, %[[KS]]#1, %[[KS]]#3, %[[KS]]#2]
// CHECK: call @onebit_matmul_f32
// CHECK-NOT: linalg.generic
#q = affine_map<(b, h, m, n, k) -> (b, h, m, k)>
#k = affine_map<(b, h, m, n, k) -> (b, h, n, k)>
#s = affine_map<(b, h, m, n, k) -> (b, h, m, n)>
func.func @attention_scores(%q: tensor<1x4x5x8xf32>, %kt: tensor<1x4x6x8xf32>) -> tensor<1x4x5x6xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4x5x6xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x4x5x6xf32>) -> tensor<1x4x5x6xf32>
  %r = linalg.generic {indexing_maps = [#q, #k, #s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %kt : tensor<1x4x5x8xf32>, tensor<1x4x6x8xf32>) outs(%f : tensor<1x4x5x6xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %p = arith.mulf %x, %y : f32
    %a = arith.addf %o, %p : f32
    linalg.yield %a : f32
  } -> tensor<1x4x5x6xf32>
  return %r : tensor<1x4x5x6xf32>
}

// -----

// A weight shared by a batch ([b, s, k] x [k, n]): b is an extra m dim and
// becomes outer dim 1 with stride 0 in the weight's view.
// CHECK-LABEL: func.func @broadcast_weight
// CHECK-DAG: %[[Z:.*]] = arith.constant 0 : index
// CHECK: %[[WB:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<7x3xf32>
// CHECK: %[[WS:strides[_0-9]*]]:2 = memref.extract_strided_metadata %[[WB]]
// CHECK: memref.reinterpret_cast %[[WB]] to offset: [%{{.*}}], sizes: [%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}], strides: [%[[Z]], %[[Z]], %[[WS]]#0, %[[WS]]#1]
// CHECK: call @onebit_matmul_f32
#x = affine_map<(b, m, n, k) -> (b, m, k)>
#w = affine_map<(b, m, n, k) -> (k, n)>
#y = affine_map<(b, m, n, k) -> (b, m, n)>
func.func @broadcast_weight(%x: tensor<2x5x7xf32>, %w: tensor<7x3xf32>) -> tensor<2x5x3xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x5x3xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x5x3xf32>) -> tensor<2x5x3xf32>
  %r = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<2x5x7xf32>, tensor<7x3xf32>) outs(%f : tensor<2x5x3xf32>) {
  ^bb0(%a: f32, %bb: f32, %o: f32):
    %p = arith.mulf %a, %bb : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  } -> tensor<2x5x3xf32>
  return %r : tensor<2x5x3xf32>
}

// -----

// Dynamic shapes: sizes come from tensor.dim, the result buffer is
// allocated with them.
// CHECK-LABEL: func.func @dynamic
// CHECK: memref.alloc(%{{.*}}, %{{.*}}) : memref<?x?xf32>
// CHECK: call @onebit_matmul_f32
func.func @dynamic(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>, %acc: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<?x?xf32>, tensor<?x?xf32>) outs(%acc : tensor<?x?xf32>) -> tensor<?x?xf32>
  return %r : tensor<?x?xf32>
}

// -----

// Left alone: f16, integer, memref semantics, a body that is not a plain
// multiply-add, two reduction dims, four outer dims.
// CHECK-LABEL: func.func @negative
// CHECK-NOT: onebit_matmul_f32
// CHECK: linalg.matmul {{.*}} tensor<5x7xf16>
// CHECK: linalg.matmul {{.*}} tensor<5x7xi32>
// CHECK: linalg.matmul {{.*}} memref<5x7xf32>
// CHECK: linalg.generic
// CHECK: arith.maximumf
// CHECK: linalg.generic
// CHECK-SAME: "reduction", "reduction"
// CHECK: linalg.generic
// CHECK-SAME: ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK-NOT: onebit_matmul_f32
#mk = affine_map<(m, n, k) -> (m, k)>
#kn = affine_map<(m, n, k) -> (k, n)>
#mn = affine_map<(m, n, k) -> (m, n)>
#a2 = affine_map<(m, n, k, l) -> (m, k, l)>
#b2 = affine_map<(m, n, k, l) -> (k, l, n)>
#c2 = affine_map<(m, n, k, l) -> (m, n)>
#a5 = affine_map<(a, b, c, e, m, n, k) -> (a, b, c, e, m, k)>
#b5 = affine_map<(a, b, c, e, m, n, k) -> (a, b, c, e, k, n)>
#c5 = affine_map<(a, b, c, e, m, n, k) -> (a, b, c, e, m, n)>
func.func @negative(%h: tensor<5x7xf16>, %hb: tensor<7x3xf16>, %hc: tensor<5x3xf16>,
                    %i: tensor<5x7xi32>, %ib: tensor<7x3xi32>, %ic: tensor<5x3xi32>,
                    %ma: memref<5x7xf32>, %mb: memref<7x3xf32>, %mc: memref<5x3xf32>,
                    %a: tensor<5x7xf32>, %b: tensor<7x3xf32>, %c: tensor<5x3xf32>,
                    %a2: tensor<5x7x2xf32>, %b2: tensor<7x2x3xf32>,
                    %a5: tensor<2x2x2x2x5x7xf32>, %b5: tensor<2x2x2x2x7x3xf32>, %c5: tensor<2x2x2x2x5x3xf32>)
    -> (tensor<5x3xf16>, tensor<5x3xi32>, tensor<5x3xf32>, tensor<5x3xf32>, tensor<2x2x2x2x5x3xf32>) {
  %0 = linalg.matmul ins(%h, %hb : tensor<5x7xf16>, tensor<7x3xf16>) outs(%hc : tensor<5x3xf16>) -> tensor<5x3xf16>
  %1 = linalg.matmul ins(%i, %ib : tensor<5x7xi32>, tensor<7x3xi32>) outs(%ic : tensor<5x3xi32>) -> tensor<5x3xi32>
  linalg.matmul ins(%ma, %mb : memref<5x7xf32>, memref<7x3xf32>) outs(%mc : memref<5x3xf32>)
  %2 = linalg.generic {indexing_maps = [#mk, #kn, #mn], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : tensor<5x7xf32>, tensor<7x3xf32>) outs(%c : tensor<5x3xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.maximumf %o, %p : f32
    linalg.yield %s : f32
  } -> tensor<5x3xf32>
  %3 = linalg.generic {indexing_maps = [#a2, #b2, #c2], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%a2, %b2 : tensor<5x7x2xf32>, tensor<7x2x3xf32>) outs(%c : tensor<5x3xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  } -> tensor<5x3xf32>
  %4 = linalg.generic {indexing_maps = [#a5, #b5, #c5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%a5, %b5 : tensor<2x2x2x2x5x7xf32>, tensor<2x2x2x2x7x3xf32>) outs(%c5 : tensor<2x2x2x2x5x3xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  } -> tensor<2x2x2x2x5x3xf32>
  return %0, %1, %2, %3, %4 : tensor<5x3xf16>, tensor<5x3xi32>, tensor<5x3xf32>, tensor<5x3xf32>, tensor<2x2x2x2x5x3xf32>
}

// -----

// Three outer dims: the attention scores of the GGUF importer,
// q[b, s, kv, g, d] . k[b, s2, kv, d] -> [b, kv, g, s, s2], the keys
// broadcast over g. The outermost outer dim (b) is a loop around the call;
// each iteration offsets the views by its index times b's stride; kv and g
// are the kernel's outer dims, g with stride 0 in the keys' view.
// CHECK-LABEL: func.func private @onebit_matmul_f32
// CHECK-LABEL: func.func @gqa_scores
// CHECK-SAME: (%[[Q:.*]]: tensor<?x?x3x2x8xf32>, %[[K:.*]]: tensor<?x?x3x8xf32>
// CHECK: %[[NB:.*]] = tensor.dim %[[Q]], %{{.*}} : tensor<?x?x3x2x8xf32>
// CHECK: %[[QB:.*]] = bufferization.to_buffer %[[Q]]
// CHECK: %[[KB:.*]] = bufferization.to_buffer %[[K]]
// CHECK: %[[OUT:.*]] = memref.alloc(
// CHECK: scf.for %[[I:.*]] = %[[Z:.*]] to %[[NB]] step
// CHECK:   %[[BQ:.*]], %[[OQ:.*]], %[[SQ:.*]]:5, %[[TQ:.*]]:5 = memref.extract_strided_metadata %[[QB]]
// CHECK:   %[[MQ:.*]] = arith.muli %[[I]], %[[TQ]]#0
// CHECK:   %[[OFQ:.*]] = arith.addi %[[OQ]], %[[MQ]]
// CHECK:   %[[VA:.*]] = memref.reinterpret_cast %[[QB]] to offset: [%[[OFQ]]], sizes: [{{.*}}], strides: [%[[TQ]]#2, %[[TQ]]#3, %[[TQ]]#1, %[[TQ]]#4]
// CHECK:   %[[BK:.*]], %[[OK:.*]], %[[SK:.*]]:4, %[[TK:.*]]:4 = memref.extract_strided_metadata %[[KB]]
// CHECK:   %[[MK:.*]] = arith.muli %[[I]], %[[TK]]#0
// CHECK:   %[[OFK:.*]] = arith.addi %[[OK]], %[[MK]]
// CHECK:   %[[VB:.*]] = memref.reinterpret_cast %[[KB]] to offset: [%[[OFK]]], sizes: [{{.*}}], strides: [%[[TK]]#2, %[[Z]], %[[TK]]#3, %[[TK]]#1]
// CHECK:   %[[VC:.*]] = memref.reinterpret_cast %[[OUT]]
// CHECK:   func.call @onebit_matmul_f32(%[[VA]], %[[VB]], %[[VC]], %{{.*}})
// CHECK: }
// CHECK-NOT: linalg.generic
#q5 = affine_map<(b, kv, g, s, s2, d) -> (b, s, kv, g, d)>
#k4 = affine_map<(b, kv, g, s, s2, d) -> (b, s2, kv, d)>
#o5 = affine_map<(b, kv, g, s, s2, d) -> (b, kv, g, s, s2)>
func.func @gqa_scores(%q: tensor<?x?x3x2x8xf32>, %k: tensor<?x?x3x8xf32>,
                      %init: tensor<?x3x2x?x?xf32>) -> tensor<?x3x2x?x?xf32> {
  %r = linalg.generic {indexing_maps = [#q5, #k4, #o5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<?x?x3x2x8xf32>, tensor<?x?x3x8xf32>) outs(%init : tensor<?x3x2x?x?xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  } -> tensor<?x3x2x?x?xf32>
  return %r : tensor<?x3x2x?x?xf32>
}

// -----

// The attention values, p[b, kv, g, s, s2] . v[b, s2, kv, d] ->
// [b, s, kv, g, d]: of the two m dims the dynamic s (the prefill's tokens)
// is the kernel's rows, not the innermost g (static 2), so a prefill runs
// one GEMM over its tokens per (kv, g), not one 2-row product per token.
// The views are [kv, g, s, s2] for p (rows strided by s2) and
// [kv, g, s, d] for the output (rows strided by kv * g * d).
// CHECK-LABEL: func.func @gqa_values
// CHECK-SAME: (%[[P:.*]]: tensor<?x3x2x?x?xf32>, %[[V:.*]]: tensor<?x?x3x8xf32>
// CHECK: %[[PB:.*]] = bufferization.to_buffer %[[P]]
// CHECK: scf.for
// CHECK:   %[[BP:.*]], %[[OP:.*]], %[[SP:.*]]:5, %[[TP:.*]]:5 = memref.extract_strided_metadata %[[PB]]
// CHECK:   memref.reinterpret_cast %[[PB]] to offset: [%{{.*}}], sizes: [{{.*}}], strides: [%[[TP]]#1, %[[TP]]#2, %[[TP]]#3, %[[TP]]#4]
// CHECK:   %[[BC:.*]], %[[OC:.*]], %[[SC:.*]]:5, %[[TC:.*]]:5 = memref.extract_strided_metadata
// CHECK:   memref.reinterpret_cast %{{.*}} to offset: [%{{.*}}], sizes: [{{.*}}], strides: [%[[TC]]#2, %[[TC]]#3, %[[TC]]#1, %[[TC]]#4]
// CHECK:   func.call @onebit_matmul_f32(
#p5 = affine_map<(b, s, kv, g, d, s2) -> (b, kv, g, s, s2)>
#v4 = affine_map<(b, s, kv, g, d, s2) -> (b, s2, kv, d)>
#c5 = affine_map<(b, s, kv, g, d, s2) -> (b, s, kv, g, d)>
func.func @gqa_values(%p: tensor<?x3x2x?x?xf32>, %v: tensor<?x?x3x8xf32>,
                      %init: tensor<?x?x3x2x8xf32>) -> tensor<?x?x3x2x8xf32> {
  %r = linalg.generic {indexing_maps = [#p5, #v4, #c5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<?x3x2x?x?xf32>, tensor<?x?x3x8xf32>) outs(%init : tensor<?x?x3x2x8xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %m = arith.mulf %x, %y : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<?x?x3x2x8xf32>
  return %r : tensor<?x?x3x2x8xf32>
}
