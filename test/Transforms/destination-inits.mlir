// RUN: onebit-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(onebit-destination-inits))' | FileCheck %s
// RUN: onebit-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(onebit-destination-inits),one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},canonicalize)' | FileCheck %s --check-prefix=BUF

#id = affine_map<(d0, d1) -> (d0, d1)>
#red = affine_map<(d0, d1) -> (d1)>

// A gradient made into an empty init, and one accumulated into a zero fill
// that other ops share: each is computed in its destination argument (the
// shared fill is made again, into the destination, and stays for the other
// op). Bufferized, the ops write the arguments' buffers and nothing is
// copied into them.
// CHECK-LABEL: func.func @grads(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<4x8xf32>, %[[D0:[a-z0-9]+]]: tensor<4x8xf32>, %[[D1:[a-z0-9]+]]: tensor<8xf32>)
// CHECK: %[[ZERO:.*]] = linalg.fill ins(%{{.*}}) outs(%{{.*}} : tensor<8xf32>)
// CHECK: %[[G0:.*]] = linalg.generic {{.*}} ins(%[[X]] : tensor<4x8xf32>) outs(%[[D0]] : tensor<4x8xf32>)
// CHECK: %[[Z1:.*]] = linalg.fill ins(%{{.*}}) outs(%[[D1]] : tensor<8xf32>)
// CHECK: %[[G1:.*]] = linalg.generic {{.*}} ins(%[[X]] : tensor<4x8xf32>) outs(%[[Z1]] : tensor<8xf32>)
// CHECK: linalg.generic {{.*}} outs(%[[ZERO]] : tensor<8xf32>)
// CHECK: bufferization.materialize_in_destination %[[G0]] in %[[D0]]
// CHECK: bufferization.materialize_in_destination %[[G1]] in %[[D1]]
// BUF-LABEL: func.func @grads(
// BUF-SAME: %[[X:[a-z0-9]+]]: memref<4x8xf32>, %[[D0:[a-z0-9]+]]: memref<4x8xf32>, %[[D1:[a-z0-9]+]]: memref<8xf32>)
// BUF-NOT: memref.copy
// BUF: linalg.generic {{.*}} ins(%[[X]] : memref<4x8xf32>) outs(%[[D0]] : memref<4x8xf32>)
// BUF: linalg.fill ins(%{{.*}}) outs(%[[D1]] : memref<8xf32>)
// BUF: linalg.generic {{.*}} ins(%[[X]] : memref<4x8xf32>) outs(%[[D1]] : memref<8xf32>)
// BUF-NOT: memref.copy
// BUF: return
func.func @grads(%x: tensor<4x8xf32>, %d0: tensor<4x8xf32>, %d1: tensor<8xf32>)
    -> (tensor<4x8xf32> {onebit.inplace_arg = 1 : i64},
        tensor<8xf32> {onebit.inplace_arg = 2 : i64}, tensor<8xf32>) {
  %zero = arith.constant 0.0 : f32
  %two = arith.constant 2.0 : f32
  %e0 = tensor.empty() : tensor<4x8xf32>
  %e1 = tensor.empty() : tensor<8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e1 : tensor<8xf32>) -> tensor<8xf32>
  %g0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e0 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %two : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  %g1 = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["reduction", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%acc : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %o : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %other = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["reduction", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%acc : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.maximumf %a, %o : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %r0 = bufferization.materialize_in_destination %g0 in %d0 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %r1 = bufferization.materialize_in_destination %g1 in %d1 : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  return %r0, %r1, %other : tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>
}

// -----

#id = affine_map<(d0) -> (d0)>

// Left as they are: a destination something else reads (computing into it
// early would change what that reads), a value whose op's init is not empty
// (it holds data), and a value of an op that is not destination-style.
// CHECK-LABEL: func.func @kept(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<8xf32>, %[[D0:[a-z0-9]+]]: tensor<8xf32>, %[[D1:[a-z0-9]+]]: tensor<8xf32>, %[[D2:[a-z0-9]+]]: tensor<8xf32>)
// CHECK: %[[E:.*]] = tensor.empty() : tensor<8xf32>
// CHECK: %[[R:.*]] = linalg.generic {{.*}} ins(%[[D0]] : tensor<8xf32>) outs(%[[E]] : tensor<8xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[X]] : tensor<8xf32>) outs(%[[X]] : tensor<8xf32>)
// CHECK: materialize_in_destination %[[R]] in %[[D0]]
func.func @kept(%x: tensor<8xf32>, %d0: tensor<8xf32>, %d1: tensor<8xf32>, %d2: tensor<8xf32>)
    -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %e = tensor.empty() : tensor<8xf32>
  %read = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%d0 : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  } -> tensor<8xf32>
  %full = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<8xf32>) outs(%x : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %o : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %cast = tensor.cast %x : tensor<8xf32> to tensor<8xf32>
  %r0 = bufferization.materialize_in_destination %read in %d0 : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %r1 = bufferization.materialize_in_destination %full in %d1 : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %r2 = bufferization.materialize_in_destination %cast in %d2 : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  return %r0, %r1, %r2 : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}
