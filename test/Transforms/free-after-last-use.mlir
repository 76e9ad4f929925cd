// RUN: onebit-opt %s --split-input-file --onebit-free-after-last-use | FileCheck %s

// Each buffer is freed after the last op that touches it or one of its views;
// a returned buffer is neither freed nor kept in the dealloc; a call result
// named through extract_strided_metadata is freed itself.

func.func private @use(memref<4xf32>)
func.func private @make() -> memref<4xf32>

// CHECK-LABEL: func.func @straight_line(
// CHECK:         %[[A:.*]] = memref.alloc() : memref<4xf32>
// CHECK:         %[[B:.*]] = memref.alloc() : memref<4xf32>
// CHECK:         %[[R:.*]] = memref.alloc() : memref<4xf32>
// CHECK:         %[[C:.*]] = call @make()
// CHECK:         %[[SV:.*]] = memref.subview %[[A]]
// CHECK-NEXT:    call @use(%[[B]])
// CHECK-NEXT:    memref.dealloc %[[B]]
// CHECK-NEXT:    memref.copy %{{.*}}, %[[A]]
// CHECK-NEXT:    call @use(%[[C]])
// CHECK-NEXT:    memref.dealloc %[[C]]
// CHECK-NEXT:    linalg.fill {{.*}} outs(%[[SV]]
// CHECK-NEXT:    memref.dealloc %[[A]]
// CHECK-NEXT:    call @use(%[[R]])
// CHECK-NEXT:    %[[E:.*]] = memref.expand_shape %[[R]]
// CHECK-NOT:     memref.dealloc
// CHECK:         bufferization.dealloc{{$}}
// CHECK-NEXT:    return %[[E]]
func.func @straight_line(%arg0: memref<4xf32>, %x: f32) -> memref<2x2xf32> {
  %true = arith.constant true
  %a = memref.alloc() : memref<4xf32>
  %b = memref.alloc() : memref<4xf32>
  %r = memref.alloc() : memref<4xf32>
  %c = call @make() : () -> memref<4xf32>
  %sv = memref.subview %a[0] [2] [1] : memref<4xf32> to memref<2xf32, strided<[1]>>
  call @use(%b) : (memref<4xf32>) -> ()
  memref.copy %arg0, %a : memref<4xf32> to memref<4xf32>
  call @use(%c) : (memref<4xf32>) -> ()
  linalg.fill ins(%x : f32) outs(%sv : memref<2xf32, strided<[1]>>)
  call @use(%r) : (memref<4xf32>) -> ()
  %e = memref.expand_shape %r [[0, 1]] output_shape [2, 2] : memref<4xf32> into memref<2x2xf32>
  %base, %off, %sz, %st = memref.extract_strided_metadata %c : memref<4xf32> -> memref<f32>, index, index, index
  %o = bufferization.dealloc (%a, %b, %r, %base : memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<f32>) if (%true, %true, %true, %true) retain (%e : memref<2x2xf32>)
  return %e : memref<2x2xf32>
}

// -----

// A use inside a loop frees the buffer after the loop. The ownership of a
// dropped retained value is true.

func.func private @use(memref<4xf32>)
func.func private @own(i1)

// CHECK-LABEL: func.func @nested_use(
// CHECK:         %[[A:.*]] = memref.alloc()
// CHECK:         %[[R:.*]] = memref.alloc()
// CHECK:         scf.for
// CHECK:           call @use(%[[A]])
// CHECK:         }
// CHECK-NEXT:    memref.dealloc %[[A]]
// CHECK-NEXT:    bufferization.dealloc{{$}}
// CHECK-NEXT:    %[[T:.*]] = arith.constant true
// CHECK-NEXT:    call @own(%[[T]])
// CHECK-NEXT:    return %[[R]]
func.func @nested_use(%n: index) -> memref<4xf32> {
  %true = arith.constant true
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %a = memref.alloc() : memref<4xf32>
  %r = memref.alloc() : memref<4xf32>
  scf.for %i = %c0 to %n step %c1 {
    func.call @use(%a) : (memref<4xf32>) -> ()
  }
  %o = bufferization.dealloc (%a, %r : memref<4xf32>, memref<4xf32>) if (%true, %true) retain (%r : memref<4xf32>)
  func.call @own(%o) : (i1) -> ()
  return %r : memref<4xf32>
}

// -----

// What the pass cannot see stays with the upstream passes: an alias passed
// on by an op it does not know, a condition that is not constant true, a
// buffer listed twice, a yielded buffer, a block argument.

func.func private @use(memref<4xf32>)

// CHECK-LABEL: func.func @kept(
// CHECK-NOT:     memref.dealloc
// CHECK:         bufferization.dealloc (%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : {{.*}}) if (%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) retain (%{{.*}} : memref<4xf32>)
// CHECK-NOT:     memref.dealloc
func.func @kept(%arg0: memref<4xf32>, %cond: i1) -> memref<4xf32> {
  %true = arith.constant true
  %a = memref.alloc() : memref<4xf32>
  %b = memref.alloc() : memref<4xf32>
  %sel = arith.select %cond, %a, %b : memref<4xf32>
  %c = memref.alloc() : memref<4xf32>
  %d = memref.alloc() : memref<4xf32>
  %dv = memref.subview %d[0] [2] [1] : memref<4xf32> to memref<2xf32, strided<[1]>>
  %e = memref.alloc() : memref<4xf32>
  %y = scf.if %cond -> memref<4xf32> {
    scf.yield %e : memref<4xf32>
  } else {
    scf.yield %arg0 : memref<4xf32>
  }
  call @use(%y) : (memref<4xf32>) -> ()
  %base, %off, %sz, %st = memref.extract_strided_metadata %dv : memref<2xf32, strided<[1]>> -> memref<f32>, index, index, index
  %o = bufferization.dealloc (%a, %b, %c, %d, %base, %e : memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<f32>, memref<4xf32>) if (%true, %true, %cond, %true, %true, %true) retain (%sel : memref<4xf32>)
  return %sel : memref<4xf32>
}

// -----

// A buffer passed to a call of a function defined in the module is freed
// after that call: after ownership-based deallocation, what such a function
// returns is a buffer its caller owns, not an alias of an argument. A call
// of a declared function that returns a memref may return an alias, so a
// buffer passed to it stays in the dealloc.

func.func private @opaque(memref<4xf32>) -> memref<4xf32>

func.func private @defined(%arg0: memref<4xf32>) -> memref<4xf32> {
  %r = memref.alloc() : memref<4xf32>
  memref.copy %arg0, %r : memref<4xf32> to memref<4xf32>
  return %r : memref<4xf32>
}

// CHECK-LABEL: func.func @calls(
// CHECK:         %[[A:.*]] = memref.alloc() : memref<4xf32>
// CHECK:         %[[B:.*]] = memref.alloc() : memref<4xf32>
// CHECK:         %[[X:.*]] = call @defined(%[[A]])
// CHECK-NEXT:    memref.dealloc %[[X]]
// CHECK-NEXT:    memref.dealloc %[[A]]
// CHECK-NEXT:    %[[Y:.*]] = call @opaque(%[[B]])
// CHECK-NOT:     memref.dealloc
// CHECK:         bufferization.dealloc (%[[B]] : memref<4xf32>) if (%{{.*}}) retain (%[[Y]] : memref<4xf32>)
func.func @calls() -> memref<4xf32> {
  %true = arith.constant true
  %a = memref.alloc() : memref<4xf32>
  %b = memref.alloc() : memref<4xf32>
  %x = call @defined(%a) : (memref<4xf32>) -> memref<4xf32>
  %y = call @opaque(%b) : (memref<4xf32>) -> memref<4xf32>
  %o:1 = bufferization.dealloc (%a, %b, %x : memref<4xf32>, memref<4xf32>, memref<4xf32>) if (%true, %true, %true) retain (%y : memref<4xf32>)
  return %y : memref<4xf32>
}
