// onebit-fuse-elementwise: MLIR's elementwise fusion, except that a
// producer reading a function argument is not fused into a consumer past
// an op that writes into that argument (its `outs`): the fused op would
// read the argument after the write, and bufferization could then not
// update it in place (a GPU train step's parameters; docs/gpu.md,
// "Device-resident state"). Upstream's pass, for comparison, fuses it.
// RUN: onebit-opt %s --split-input-file --onebit-fuse-elementwise | FileCheck %s
// RUN: onebit-opt %s --split-input-file --linalg-fuse-elementwise-ops | FileCheck %s --check-prefix=UPSTREAM

#id = affine_map<(d0) -> (d0)>

// The product g * a (a parameter's use in the backward) stays before g's
// update; the sum that consumes it follows the update.
// CHECK-LABEL: func.func @update_between(
// CHECK-SAME: %[[G:[^:]*]]: tensor<4xf32>, %[[A:[^:]*]]: tensor<4xf32>, %[[B:[^:]*]]: tensor<4xf32>
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%[[G]], %[[A]] : {{.*}})
// CHECK: arith.mulf
// CHECK: %[[U:.*]] = linalg.generic {{.*}} ins(%[[B]] : tensor<4xf32>) outs(%[[G]] : tensor<4xf32>)
// CHECK: %[[C:.*]] = linalg.generic {{.*}} ins(%[[P]], %[[B]] : {{.*}})
// CHECK: return %[[U]], %[[C]]
// UPSTREAM-LABEL: func.func @update_between(
// UPSTREAM: linalg.generic {{.*}} outs(%{{.*}} : tensor<4xf32>)
// UPSTREAM: arith.subf
// UPSTREAM: linalg.generic {{.*}} ins(%{{[^,]*}}, %{{[^,]*}}, %{{[^ ]*}} : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
// UPSTREAM: arith.mulf
// UPSTREAM: arith.addf
// UPSTREAM-NOT: linalg.generic
// UPSTREAM: return
func.func @update_between(%g: tensor<4xf32>, %a: tensor<4xf32>, %b: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %e = tensor.empty() : tensor<4xf32>
  %p = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%g, %a : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %r = arith.mulf %x, %y : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %u = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%b : tensor<4xf32>) outs(%g : tensor<4xf32>) {
  ^bb0(%x: f32, %o: f32):
    %r = arith.subf %o, %x : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %c = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%p, %b : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %r = arith.addf %x, %y : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  return %u, %c : tensor<4xf32>, tensor<4xf32>
}

// -----

#id = affine_map<(d0) -> (d0)>

// With the update after the consumer, the two fuse as upstream's do.
// CHECK-LABEL: func.func @update_after(
// CHECK: linalg.generic {{.*}} ins(%{{[^,]*}}, %{{[^,]*}}, %{{[^ ]*}} : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: linalg.generic
// CHECK: arith.subf
// CHECK-NOT: linalg.generic
// CHECK: return
func.func @update_after(%g: tensor<4xf32>, %a: tensor<4xf32>, %b: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %e = tensor.empty() : tensor<4xf32>
  %p = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%g, %a : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %r = arith.mulf %x, %y : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %c = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%p, %b : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %r = arith.addf %x, %y : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %u = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%b : tensor<4xf32>) outs(%g : tensor<4xf32>) {
  ^bb0(%x: f32, %o: f32):
    %r = arith.subf %o, %x : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  return %u, %c : tensor<4xf32>, tensor<4xf32>
}
