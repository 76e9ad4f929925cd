// RUN: onebit-opt %s --split-input-file --onebit-outline-layers | FileCheck %s
// RUN: onebit-opt %s --split-input-file --onebit-outline-layers=min-layers=4 | FileCheck %s --check-prefix=FEW
// RUN: not onebit-opt %s --split-input-file --onebit-outline-layers='layer-pattern=(' 2>&1 | FileCheck %s --check-prefix=BADPAT

// Three layers of one form (same ops and types, different weights): one
// private function, called once per layer with that layer's weight. The
// splat constant is cloned into the body; the weights stay in the caller.
// Ops whose location names no layer (the final norm) stay where they are.
// CHECK-LABEL: func.func @three(
// CHECK-SAME:      %[[X:.*]]: tensor<4xf32>
// CHECK:         %[[W0:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]>
// CHECK:         %[[H1:.*]] = call @three__layer(%[[X]], %[[W0]]) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
// CHECK:         %[[W1:.*]] = arith.constant dense<[5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00]>
// CHECK:         %[[H2:.*]] = call @three__layer(%[[H1]], %[[W1]])
// CHECK:         %[[W2:.*]] = arith.constant dense<[9.000000e+00, 1.000000e+01, 1.100000e+01, 1.200000e+01]>
// CHECK:         %[[H3:.*]] = call @three__layer(%[[H2]], %[[W2]])
// CHECK:         %[[R:.*]] = arith.negf %[[H3]]
// CHECK:         return %[[R]]
// CHECK:       func.func private @three__layer(%[[H:.*]]: tensor<4xf32>, %[[W:.*]]: tensor<4xf32>) -> tensor<4xf32>
// CHECK-NOT:     dense<[
// CHECK:         %[[ONE:.*]] = arith.constant dense<1.000000e+00> : tensor<4xf32>
// CHECK:         %[[M:.*]] = arith.mulf %[[H]], %[[W]]
// CHECK:         %[[S:.*]] = arith.addf %[[M]], %[[ONE]]
// CHECK:         return %[[S]]
// CHECK-NOT:   func.func private @three__layer

// FEW-LABEL: func.func @three(
// FEW-NOT:     call
// FEW-NOT:     func.func private

// BADPAT: error: onebit-outline-layers: invalid layer-pattern '('
func.func @three(%x: tensor<4xf32>) -> tensor<4xf32> {
  %one = arith.constant dense<1.0> : tensor<4xf32> loc("/model")
  %w0 = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32> loc("model.layers.0.w")
  %m0 = arith.mulf %x, %w0 : tensor<4xf32> loc("/model/layers.0/mul")
  %h0 = arith.addf %m0, %one : tensor<4xf32> loc("/model/layers.0/add")
  %w1 = arith.constant dense<[5.0, 6.0, 7.0, 8.0]> : tensor<4xf32> loc("model.layers.1.w")
  %m1 = arith.mulf %h0, %w1 : tensor<4xf32> loc("/model/layers.1/mul")
  %h1 = arith.addf %m1, %one : tensor<4xf32> loc("/model/layers.1/add")
  %w2 = arith.constant dense<[9.0, 10.0, 11.0, 12.0]> : tensor<4xf32> loc("model.layers.2.w")
  %m2 = arith.mulf %h1, %w2 : tensor<4xf32> loc("/model/layers.2/mul")
  %h2 = arith.addf %m2, %one : tensor<4xf32> loc("/model/layers.2/add")
  %r = arith.negf %h2 : tensor<4xf32> loc("/model/norm")
  return %r : tensor<4xf32>
}

// -----

// A layer of another form (GGUF names: blk.N) stays inline between the
// calls; the three others share a function. A scalar constant that differs
// between layers of one form (the scale) becomes an operand.
// CHECK-LABEL: func.func @mixed(
// CHECK:         call @mixed__layer(
// CHECK-SAME:      : (tensor<4xf32>, tensor<4xf32>, f32) -> tensor<4xf32>
// CHECK:         call @mixed__layer(
// CHECK:         arith.mulf
// CHECK:         arith.addf
// CHECK:         arith.subf
// CHECK:         call @mixed__layer(
// CHECK:       func.func private @mixed__layer(%{{.*}}: tensor<4xf32>, %{{.*}}: tensor<4xf32>, %[[SCALE:.*]]: f32)
// CHECK:         linalg.generic
// CHECK:           arith.mulf %{{.*}}, %[[SCALE]]
func.func @mixed(%x: tensor<4xf32>) -> tensor<4xf32> {
  %w0 = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32> loc("blk.0.w")
  %s0 = arith.constant 0.5 : f32 loc("blk.0.scale")
  %e0 = tensor.empty() : tensor<4xf32> loc("blk.0.mul")
  %h0 = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%x, %w0 : tensor<4xf32>, tensor<4xf32>) outs(%e0 : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %q = arith.mulf %p, %s0 : f32
    linalg.yield %q : f32
  } -> tensor<4xf32> loc("blk.0.mul")
  %w1 = arith.constant dense<[5.0, 6.0, 7.0, 8.0]> : tensor<4xf32> loc("blk.1.w")
  %s1 = arith.constant 0.25 : f32 loc("blk.1.scale")
  %e1 = tensor.empty() : tensor<4xf32> loc("blk.1.mul")
  %h1 = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%h0, %w1 : tensor<4xf32>, tensor<4xf32>) outs(%e1 : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %q = arith.mulf %p, %s1 : f32
    linalg.yield %q : f32
  } -> tensor<4xf32> loc("blk.1.mul")
  %w2 = arith.constant dense<[9.0, 10.0, 11.0, 12.0]> : tensor<4xf32> loc("blk.2.w")
  %m2 = arith.mulf %h1, %w2 : tensor<4xf32> loc("blk.2.mul")
  %a2 = arith.addf %m2, %w2 : tensor<4xf32> loc("blk.2.add")
  %h2 = arith.subf %a2, %h1 : tensor<4xf32> loc("blk.2.sub")
  %w3 = arith.constant dense<[13.0, 14.0, 15.0, 16.0]> : tensor<4xf32> loc("blk.3.w")
  %s3 = arith.constant 2.0 : f32 loc("blk.3.scale")
  %e3 = tensor.empty() : tensor<4xf32> loc("blk.3.mul")
  %h3 = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%h2, %w3 : tensor<4xf32>, tensor<4xf32>) outs(%e3 : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %q = arith.mulf %p, %s3 : f32
    linalg.yield %q : f32
  } -> tensor<4xf32> loc("blk.3.mul")
  return %h3 : tensor<4xf32>
}

// -----

// A KV cache [L, ...]: each layer writes its row with tensor.insert_slice
// and reads it back. The row index (static, different per layer) becomes one
// operand shared by both slices; the updated cache is tied to the cache
// argument (onebit.inplace_arg), so bufferization updates it in place.
// CHECK-LABEL: func.func @cache(
// CHECK-SAME:      %[[X:.*]]: tensor<1x4xf32>, %[[C:.*]]: tensor<2x4xf32>
// CHECK-DAG:     %[[I0:.*]] = arith.constant 0 : index
// CHECK:         %[[L0:.*]]:2 = call @cache__layer(%[[X]], %{{.*}}, %[[C]], %[[I0]]) : (tensor<1x4xf32>, tensor<1x4xf32>, tensor<2x4xf32>, index) -> (tensor<2x4xf32>, tensor<1x4xf32>)
// CHECK-DAG:     %[[I1:.*]] = arith.constant 1 : index
// CHECK:         %[[L1:.*]]:2 = call @cache__layer(%[[L0]]#1, %{{.*}}, %[[L0]]#0, %[[I1]])
// CHECK:         return %[[L1]]#1, %[[L1]]#0
// CHECK:       func.func private @cache__layer(%[[H:.*]]: tensor<1x4xf32>, %[[W:.*]]: tensor<1x4xf32>, %[[CA:.*]]: tensor<2x4xf32>, %[[I:.*]]: index)
// CHECK-SAME:      -> (tensor<2x4xf32> {onebit.inplace_arg = 2 : i64}, tensor<1x4xf32>)
// CHECK:         %[[K:.*]] = arith.mulf %[[H]], %[[W]]
// CHECK:         %[[U:.*]] = tensor.insert_slice %[[K]] into %[[CA]][%[[I]], 0] [1, 4] [1, 1]
// CHECK:         %[[ROW:.*]] = tensor.extract_slice %[[U]][%[[I]], 0] [1, 4] [1, 1]
// CHECK:         %[[N:.*]] = arith.addf %[[H]], %[[ROW]]
// CHECK:         return %[[U]], %[[N]]
func.func @cache(%x: tensor<1x4xf32>, %c: tensor<2x4xf32> {onebit.kv_cache})
    -> (tensor<1x4xf32>, tensor<2x4xf32> {onebit.inplace_arg = 1 : i64}) {
  %w0 = arith.constant dense<[[1.0, 2.0, 3.0, 4.0]]> : tensor<1x4xf32> loc("/model/layers.0/w")
  %k0 = arith.mulf %x, %w0 : tensor<1x4xf32> loc("/model/layers.0/k")
  %c1 = tensor.insert_slice %k0 into %c[0, 0] [1, 4] [1, 1] : tensor<1x4xf32> into tensor<2x4xf32> loc("/model/layers.0/attn")
  %r0 = tensor.extract_slice %c1[0, 0] [1, 4] [1, 1] : tensor<2x4xf32> to tensor<1x4xf32> loc("/model/layers.0/attn")
  %h0 = arith.addf %x, %r0 : tensor<1x4xf32> loc("/model/layers.0/add")
  %w1 = arith.constant dense<[[5.0, 6.0, 7.0, 8.0]]> : tensor<1x4xf32> loc("/model/layers.1/w")
  %k1 = arith.mulf %h0, %w1 : tensor<1x4xf32> loc("/model/layers.1/k")
  %c2 = tensor.insert_slice %k1 into %c1[1, 0] [1, 4] [1, 1] : tensor<1x4xf32> into tensor<2x4xf32> loc("/model/layers.1/attn")
  %r1 = tensor.extract_slice %c2[1, 0] [1, 4] [1, 1] : tensor<2x4xf32> to tensor<1x4xf32> loc("/model/layers.1/attn")
  %h1 = arith.addf %h0, %r1 : tensor<1x4xf32> loc("/model/layers.1/add")
  return %h1, %c2 : tensor<1x4xf32>, tensor<2x4xf32>
}

// -----

// A layer whose intermediate value is read by an op outside it before the
// layer ends (a tap between its ops) is not a region a call can replace: it
// stays inline, and the two layers after it still share a function.
// CHECK-LABEL: func.func @tapped(
// CHECK:         arith.mulf
// CHECK:         arith.negf
// CHECK:         arith.addf
// CHECK:         call @tapped__layer(
// CHECK:         call @tapped__layer(
// CHECK:       func.func private @tapped__layer(
func.func @tapped(%x: tensor<4xf32>, %w: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %m0 = arith.mulf %x, %w : tensor<4xf32> loc("/model/layers.0/mul")
  %t = arith.negf %m0 : tensor<4xf32> loc("/model/tap")
  %h0 = arith.addf %m0, %t : tensor<4xf32> loc("/model/layers.0/add")
  %m1 = arith.mulf %h0, %w : tensor<4xf32> loc("/model/layers.1/mul")
  %h1 = arith.addf %m1, %x : tensor<4xf32> loc("/model/layers.1/add")
  %m2 = arith.mulf %h1, %w : tensor<4xf32> loc("/model/layers.2/mul")
  %h2 = arith.addf %m2, %x : tensor<4xf32> loc("/model/layers.2/add")
  return %h2, %t : tensor<4xf32>, tensor<4xf32>
}

// -----

// Runs: each layer's ops appear twice, forward (0, 1) then backward (1, 0),
// as in a generated gradient. Each run not interrupted by another layer's
// ops is a segment: the two forward runs share one function, the two
// backward runs another. The zero accumulator CSE made one for all layers
// is recomputed in each body instead of joining layer 0.
// CHECK-LABEL: func.func @runs(
// CHECK:         %[[F0:.*]] = call @runs__layer(
// CHECK:         %[[F1:.*]] = call @runs__layer(%[[F0]],
// CHECK:         %[[B1:.*]] = call @runs__layer_0(
// CHECK:         %[[B0:.*]] = call @runs__layer_0(%[[B1]],
// CHECK:       func.func private @runs__layer(
// CHECK:         tensor.empty
// CHECK:         linalg.fill
// CHECK:         linalg.matmul
// CHECK:       func.func private @runs__layer_0(
// CHECK:         arith.mulf
func.func @runs(%x: tensor<2x2xf32>, %w0: tensor<2x2xf32>, %w1: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %zero = arith.constant 0.0 : f32 loc("/model/layers.0/mm")
  %e = tensor.empty() : tensor<2x2xf32> loc("/model/layers.0/mm")
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32> loc("/model/layers.0/mm")
  %f0 = linalg.matmul ins(%x, %w0 : tensor<2x2xf32>, tensor<2x2xf32>) outs(%acc : tensor<2x2xf32>) -> tensor<2x2xf32> loc("/model/layers.0/mm")
  %f1 = linalg.matmul ins(%f0, %w1 : tensor<2x2xf32>, tensor<2x2xf32>) outs(%acc : tensor<2x2xf32>) -> tensor<2x2xf32> loc("/model/layers.1/mm")
  %l = arith.negf %f1 : tensor<2x2xf32> loc("/model/loss")
  %b1 = arith.mulf %l, %w1 : tensor<2x2xf32> loc("/model/layers.1/mm")
  %b0 = arith.mulf %b1, %w0 : tensor<2x2xf32> loc("/model/layers.0/mm")
  return %b0 : tensor<2x2xf32>
}

// -----

// A data-parallel gradient's layers: each materializes its result into a
// destination argument of its own. The materialization goes into the layer's
// function with its destination, whose result is tied to that argument, so
// bufferization computes it in the caller's buffer.
// CHECK-LABEL: func.func @grads(
// CHECK-SAME:      %[[X:.*]]: tensor<4xf32>, %[[D0:.*]]: tensor<4xf32>, %[[D1:.*]]: tensor<4xf32>
// CHECK:         %[[L0:.*]]:2 = call @grads__layer(%[[X]], %{{.*}}, %[[D0]])
// CHECK:         %[[L1:.*]]:2 = call @grads__layer(%[[L0]]#1, %{{.*}}, %[[D1]])
// CHECK:         return %[[L0]]#0, %[[L1]]#0, %[[L1]]#1
// CHECK:       func.func private @grads__layer(%[[H:.*]]: tensor<4xf32>, %[[W:.*]]: tensor<4xf32>, %[[D:.*]]: tensor<4xf32>)
// CHECK-SAME:      -> (tensor<4xf32> {onebit.inplace_arg = 2 : i64}, tensor<4xf32>)
// CHECK:         %[[G:.*]] = arith.mulf %[[H]], %[[W]]
// CHECK:         %[[M:.*]] = bufferization.materialize_in_destination %[[G]] in %[[D]]
// CHECK:         %[[N:.*]] = arith.addf %[[H]], %[[G]]
// CHECK:         return %[[M]], %[[N]]
func.func @grads(%x: tensor<4xf32>, %d0: tensor<4xf32>, %d1: tensor<4xf32>)
    -> (tensor<4xf32> {onebit.inplace_arg = 1 : i64},
        tensor<4xf32> {onebit.inplace_arg = 2 : i64}, tensor<4xf32>) {
  %w0 = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32> loc("/model/layers.0/w")
  %g0 = arith.mulf %x, %w0 : tensor<4xf32> loc("/model/layers.0/g")
  %m0 = bufferization.materialize_in_destination %g0 in %d0 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> loc("/model/layers.0/g")
  %h0 = arith.addf %x, %g0 : tensor<4xf32> loc("/model/layers.0/add")
  %w1 = arith.constant dense<[5.0, 6.0, 7.0, 8.0]> : tensor<4xf32> loc("/model/layers.1/w")
  %g1 = arith.mulf %h0, %w1 : tensor<4xf32> loc("/model/layers.1/g")
  %m1 = bufferization.materialize_in_destination %g1 in %d1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> loc("/model/layers.1/g")
  %h1 = arith.addf %h0, %g1 : tensor<4xf32> loc("/model/layers.1/add")
  return %m0, %m1, %h1 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}
