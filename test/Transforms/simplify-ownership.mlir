// RUN: onebit-opt %s --split-input-file --onebit-simplify-ownership | FileCheck %s

// What ownership-based deallocation leaves at a train step's return: every
// argument in the dealloc with the condition false. Those pairs go in one
// rewrite, with the metadata extraction and the constants only they read;
// the buffer that may be freed stays, and the retained value's updated
// condition still comes from the dealloc.
// CHECK-LABEL: func.func @step(
// CHECK-SAME:      %[[A:[^:]*]]: memref<2xf32>, %[[B:[^:]*]]: memref<2xf32>, %[[C:[^:]*]]: i1)
// CHECK-NOT:     memref.extract_strided_metadata %[[A]]
// CHECK-NOT:     memref.extract_strided_metadata %[[B]]
// CHECK:         %[[OWN:.*]] = memref.alloc
// CHECK:         %[[BASE:.*]], %{{.*}}, %{{.*}}, %{{.*}} = memref.extract_strided_metadata %[[OWN]]
// CHECK-NOT:     arith.constant false
// CHECK:         %[[R:.*]] = bufferization.dealloc (%[[BASE]] : memref<f32>) if (%[[C]]) retain (%[[OWN]] : memref<2xf32>)
// CHECK:         return %[[OWN]], %[[R]]
func.func @step(%a: memref<2xf32>, %b: memref<2xf32>, %c: i1) -> (memref<2xf32>, i1) {
  %base_a, %off_a, %size_a, %stride_a = memref.extract_strided_metadata %a : memref<2xf32> -> memref<f32>, index, index, index
  %base_b, %off_b, %size_b, %stride_b = memref.extract_strided_metadata %b : memref<2xf32> -> memref<f32>, index, index, index
  %own = memref.alloc() : memref<2xf32>
  %base, %off, %size, %stride = memref.extract_strided_metadata %own : memref<2xf32> -> memref<f32>, index, index, index
  %false = arith.constant false
  %false_0 = arith.constant false
  %r = bufferization.dealloc (%base_a, %base, %base_b : memref<f32>, memref<f32>, memref<f32>) if (%false, %c, %false_0) retain (%own : memref<2xf32>)
  return %own, %r : memref<2xf32>, i1
}

// -----

// A loop over layers picks a layer's parameters with a switch; deallocation
// gives each picked buffer an ownership result, false in every case, from a
// dealloc that frees nothing. The deallocs go (their conditions are false)
// and so do the switch's ownership results, in one rewrite; the buffers
// stay picked by the switch. A result yielded as one outside value in
// every case is that value.
// CHECK-LABEL: func.func @loop(
// CHECK-SAME:      %[[W0:[^:]*]]: memref<2xf32>, %[[W1:[^:]*]]: memref<2xf32>, %[[X:[^:]*]]: memref<2xf32>
// CHECK:         scf.for %[[I:.*]] =
// CHECK:           %[[NO:.*]] = arith.constant false
// CHECK:           %[[W:.*]] = scf.index_switch %[[I]] -> memref<2xf32>
// CHECK-NEXT:      case 1 {
// CHECK-NEXT:        scf.yield %[[W1]] : memref<2xf32>
// CHECK:           default {
// CHECK-NEXT:        scf.yield %[[W0]] : memref<2xf32>
// CHECK:           func.call @use(%[[W]], %[[X]], %[[NO]])
// CHECK-NOT:     bufferization.dealloc
func.func private @use(memref<2xf32>, memref<2xf32>, i1)

func.func @loop(%w0: memref<2xf32>, %w1: memref<2xf32>, %x: memref<2xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  scf.for %i = %c0 to %c2 step %c1 {
    %r:3 = scf.index_switch %i -> memref<2xf32>, memref<2xf32>, i1
    case 1 {
      %o = bufferization.dealloc retain (%w1 : memref<2xf32>)
      scf.yield %w1, %x, %o : memref<2xf32>, memref<2xf32>, i1
    }
    default {
      %o = bufferization.dealloc retain (%w0 : memref<2xf32>)
      scf.yield %w0, %x, %o : memref<2xf32>, memref<2xf32>, i1
    }
    func.call @use(%r#0, %r#1, %r#2) : (memref<2xf32>, memref<2xf32>, i1) -> ()
  }
  return
}

// -----

// Constants nothing reads (deallocation builds a `false` wherever it needs
// one) are erased; the one still read stays.

// CHECK-LABEL: func.func @unread_constants(
// CHECK-COUNT-1: arith.constant
// CHECK-NOT:     arith.constant
// CHECK:         return
func.func @unread_constants(%m: memref<2xf32>) -> i1 {
  %f0 = arith.constant false
  %f1 = arith.constant false
  %t = arith.constant true
  %f2 = arith.constant false
  return %t : i1
}
