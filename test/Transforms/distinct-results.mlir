// RUN: onebit-opt %s --split-input-file -allow-unregistered-dialect --onebit-distinct-results | FileCheck %s

// A private function that returns one buffer twice loses the repeat, and its
// calls use the first result in its place (nothing is copied).
// CHECK-LABEL: func.func private @twice(%arg0: memref<4xf32>) -> memref<4xf32>
// CHECK:         return %{{.*}} : memref<4xf32>
// CHECK-LABEL: func.func @main
// CHECK:         %[[R:.*]] = call @twice(%arg0) : (memref<4xf32>) -> memref<4xf32>
// CHECK:         "test.use"(%[[R]], %[[R]])
// CHECK:         return %[[R]]
func.func private @twice(%a: memref<4xf32>) -> (memref<4xf32>, memref<4xf32>) {
  %0 = memref.alloc() : memref<4xf32>
  memref.copy %a, %0 : memref<4xf32> to memref<4xf32>
  return %0, %0 : memref<4xf32>, memref<4xf32>
}
func.func @main(%a: memref<4xf32>) -> memref<4xf32> {
  %x, %y = call @twice(%a) : (memref<4xf32>) -> (memref<4xf32>, memref<4xf32>)
  "test.use"(%x, %y) : (memref<4xf32>, memref<4xf32>) -> ()
  return %y : memref<4xf32>
}

// -----

// A view of a buffer already returned (here a reshape) is another type: it
// is returned as a clone the caller owns on its own.
// CHECK-LABEL: func.func private @view(%arg0: memref<4xf32>) -> (memref<4xf32>, memref<2x2xf32>)
// CHECK:         %[[A:.*]] = memref.alloc() : memref<4xf32>
// CHECK:         %[[E:.*]] = memref.expand_shape %[[A]]
// CHECK:         %[[C:.*]] = bufferization.clone %[[E]] : memref<2x2xf32> to memref<2x2xf32>
// CHECK:         return %[[A]], %[[C]]
func.func private @view(%a: memref<4xf32>) -> (memref<4xf32>, memref<2x2xf32>) {
  %0 = memref.alloc() : memref<4xf32>
  memref.copy %a, %0 : memref<4xf32> to memref<4xf32>
  %1 = memref.expand_shape %0 [[0, 1]] output_shape [2, 2] : memref<4xf32> into memref<2x2xf32>
  return %0, %1 : memref<4xf32>, memref<2x2xf32>
}
func.func @user(%a: memref<4xf32>) -> (memref<4xf32>, memref<2x2xf32>) {
  %x, %y = call @view(%a) : (memref<4xf32>) -> (memref<4xf32>, memref<2x2xf32>)
  return %x, %y : memref<4xf32>, memref<2x2xf32>
}

// -----

// A public function the module also calls keeps its signature: the repeat is
// cloned. One repeated in only some returns is cloned there only.
// CHECK-LABEL: func.func @shared(%arg0: memref<4xf32>, %arg1: i1) -> (memref<4xf32>, memref<4xf32>)
// CHECK:         cf.cond_br
// CHECK:         %[[C1:.*]] = bufferization.clone %[[A1:.*]] : memref<4xf32> to memref<4xf32>
// CHECK-NEXT:    return %[[A1]], %[[C1]]
// CHECK:         %[[B:.*]] = memref.alloc() : memref<4xf32>
// CHECK-NOT:     bufferization.clone
// CHECK:         return %{{.*}}, %[[B]]
func.func @shared(%a: memref<4xf32>, %c: i1) -> (memref<4xf32>, memref<4xf32>) {
  %0 = memref.alloc() : memref<4xf32>
  memref.copy %a, %0 : memref<4xf32> to memref<4xf32>
  cf.cond_br %c, ^same, ^other
^same:
  return %0, %0 : memref<4xf32>, memref<4xf32>
^other:
  %1 = memref.alloc() : memref<4xf32>
  return %0, %1 : memref<4xf32>, memref<4xf32>
}
func.func @caller(%a: memref<4xf32>, %c: i1) -> memref<4xf32> {
  %x, %y = call @shared(%a, %c) : (memref<4xf32>, i1) -> (memref<4xf32>, memref<4xf32>)
  return %y : memref<4xf32>
}

// -----

// Entry points nothing calls are left alone (the runtime frees a buffer
// returned twice once), as are functions with distinct results.
// CHECK-LABEL: func.func @entry
// CHECK-NOT:     bufferization.clone
// CHECK:         return %[[E:.*]], %[[E]] : memref<4xf32>, memref<4xf32>
func.func @entry(%a: memref<4xf32>) -> (memref<4xf32>, memref<4xf32>) {
  %0 = memref.alloc() : memref<4xf32>
  memref.copy %a, %0 : memref<4xf32> to memref<4xf32>
  return %0, %0 : memref<4xf32>, memref<4xf32>
}
