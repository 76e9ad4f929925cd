// onebit-gpu-cache-copies: copies into or out of a KV cache (a public
// function's onebit.kv_cache argument or a view of one) or a train step's
// state (onebit.train_state) become linalg.copy, so that the GPU pipeline
// makes kernels of them; other copies stay.
// RUN: onebit-opt %s --onebit-gpu-cache-copies | FileCheck %s

// CHECK-LABEL: func.func @step(
// CHECK-SAME: %[[X:[^:]*]]: memref<1x4xf32>, %[[T:[^:]*]]: memref<4xf32>, %[[K:[^:]*]]: memref<2x?x4xf32> {onebit.kv_cache}
// CHECK: %[[S:.*]] = memref.subview %[[K]]
// CHECK: %[[E:.*]] = memref.expand_shape %[[T]]
// CHECK: linalg.copy ins(%[[E]] : memref<1x4xf32>) outs(%[[S]] : {{.*}})
// CHECK: %[[R:.*]] = memref.collapse_shape %[[S]]
// CHECK: linalg.copy ins(%[[R]] : {{.*}}) outs(%[[T]] : memref<4xf32>)
// CHECK: memref.copy %[[X]], %[[E]]
// CHECK-NOT: linalg.copy
// CHECK: return
func.func @step(%x: memref<1x4xf32>, %t: memref<4xf32>, %k: memref<2x?x4xf32> {onebit.kv_cache}, %pos: index) {
  %slot = memref.subview %k[0, %pos, 0] [1, 1, 4] [1, 1, 1] : memref<2x?x4xf32> to memref<1x4xf32, strided<[4, 1], offset: ?>>
  %e = memref.expand_shape %t [[0, 1]] output_shape [1, 4] : memref<4xf32> into memref<1x4xf32>
  memref.copy %e, %slot : memref<1x4xf32> to memref<1x4xf32, strided<[4, 1], offset: ?>>
  %back = memref.collapse_shape %slot [[0, 1]] : memref<1x4xf32, strided<[4, 1], offset: ?>> into memref<4xf32, strided<[1], offset: ?>>
  memref.copy %back, %t : memref<4xf32, strided<[1], offset: ?>> to memref<4xf32>
  memref.copy %x, %e : memref<1x4xf32> to memref<1x4xf32>
  return
}

// A private function's argument is not the caller's cache.
// CHECK-LABEL: func.func private @helper(
// CHECK: memref.copy
// CHECK-NOT: linalg.copy
func.func private @helper(%t: memref<4xf32>, %k: memref<4xf32> {onebit.kv_cache}) {
  memref.copy %t, %k : memref<4xf32> to memref<4xf32>
  return
}

// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: memref<4xf32> {onebit.train_state}, %[[N:[^:]*]]: memref<4xf32>
// CHECK: linalg.copy ins(%[[N]] : memref<4xf32>) outs(%[[P]] : memref<4xf32>)
// CHECK-NOT: memref.copy
// CHECK: return
func.func @train_step(%p: memref<4xf32> {onebit.train_state}, %new: memref<4xf32>) {
  memref.copy %new, %p : memref<4xf32> to memref<4xf32>
  return
}
