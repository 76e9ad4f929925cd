// RUN: onebit-opt %s --onebit-outline-loop-nests="min-loops=2 linalg-ops=true" | FileCheck %s

// With linalg-ops=true the units are the top-level linalg ops on buffers
// (the CPU pipeline runs it before vectorization): each becomes a private
// function, and equal ones share it. The two updates of 4x8 buffers are one
// function, called twice; the 16-element one is another. Loop nests and
// other ops stay.

// CHECK-LABEL: func.func @step(
// CHECK-SAME:      %[[P0:[^:]*]]: memref<4x8xf32>, %[[G0:[^:]*]]: memref<4x8xf32>, %[[P1:[^:]*]]: memref<4x8xf32>, %[[G1:[^:]*]]: memref<4x8xf32>, %[[P2:[^:]*]]: memref<16xf32>, %[[G2:[^:]*]]: memref<16xf32>
// CHECK-SAME:      attributes {passthrough = ["optnone", "noinline"]}
// CHECK:         call @step__loop0(%[[G0]], %[[P0]]) : (memref<4x8xf32>, memref<4x8xf32>) -> ()
// CHECK:         call @step__loop0(%[[G1]], %[[P1]]) : (memref<4x8xf32>, memref<4x8xf32>) -> ()
// CHECK:         call @step__loop1(%[[G2]], %[[P2]]) : (memref<16xf32>, memref<16xf32>) -> ()
// CHECK:         scf.for
// CHECK:         return
// CHECK:       func.func private @step__loop0(%[[G:.*]]: memref<4x8xf32>, %[[P:.*]]: memref<4x8xf32>)
// CHECK:         %[[LR:.*]] = arith.constant 1.000000e-01 : f32
// CHECK:         linalg.generic
// CHECK-SAME:      ins(%[[G]] : memref<4x8xf32>) outs(%[[P]] : memref<4x8xf32>)
// CHECK:           arith.mulf %{{.*}}, %[[LR]]
// CHECK:         return
// CHECK:       func.func private @step__loop1(
// CHECK:         linalg.generic
// CHECK-SAME:      memref<16xf32>
// CHECK-NOT:   func.func private @step__loop2
#id2 = affine_map<(i, j) -> (i, j)>
#id1 = affine_map<(i) -> (i)>
func.func @step(%p0: memref<4x8xf32>, %g0: memref<4x8xf32>,
                %p1: memref<4x8xf32>, %g1: memref<4x8xf32>,
                %p2: memref<16xf32>, %g2: memref<16xf32>) {
  %lr = arith.constant 0.1 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  linalg.generic {indexing_maps = [#id2, #id2],
                  iterator_types = ["parallel", "parallel"]}
      ins(%g0 : memref<4x8xf32>) outs(%p0 : memref<4x8xf32>) {
  ^bb0(%g: f32, %p: f32):
    %d = arith.mulf %g, %lr : f32
    %n = arith.subf %p, %d : f32
    linalg.yield %n : f32
  }
  linalg.generic {indexing_maps = [#id2, #id2],
                  iterator_types = ["parallel", "parallel"]}
      ins(%g1 : memref<4x8xf32>) outs(%p1 : memref<4x8xf32>) {
  ^bb0(%g: f32, %p: f32):
    %d = arith.mulf %g, %lr : f32
    %n = arith.subf %p, %d : f32
    linalg.yield %n : f32
  }
  linalg.generic {indexing_maps = [#id1, #id1],
                  iterator_types = ["parallel"]}
      ins(%g2 : memref<16xf32>) outs(%p2 : memref<16xf32>) {
  ^bb0(%g: f32, %p: f32):
    %d = arith.mulf %g, %lr : f32
    %n = arith.subf %p, %d : f32
    linalg.yield %n : f32
  }
  scf.for %i = %c0 to %c16 step %c1 {
    %x = memref.load %p2[%i] : memref<16xf32>
    memref.store %x, %g2[%i] : memref<16xf32>
  }
  return
}

// A loop over layers (onebit-period-loops: it calls a function, a switch
// picks each layer's buffers) is glue, not a loop nest: it stays in the
// function, compiled at -O0 with the rest of the glue, and the linalg op in
// its body is outlined like the top-level ones (the update in the loop and
// the one after it are equal: one function).
// CHECK-LABEL: func.func @layers(
// CHECK-SAME:      passthrough = ["optnone", "noinline"]
// CHECK:         scf.for
// CHECK:           scf.index_switch
// CHECK:           func.call @adj(
// CHECK:           func.call @[[UPDATE:layers__loop[0-9]+]](
// CHECK:         call @[[UPDATE]](
func.func private @adj(memref<4x8xf32>) -> memref<4x8xf32>

func.func @layers(%p0: memref<4x8xf32>, %p1: memref<4x8xf32>, %p2: memref<4x8xf32>, %dy: memref<4x8xf32>, %lr: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  scf.for %i = %c0 to %c2 step %c1 {
    %p = scf.index_switch %i -> memref<4x8xf32>
    case 1 {
      scf.yield %p1 : memref<4x8xf32>
    }
    default {
      scf.yield %p0 : memref<4x8xf32>
    }
    %g = func.call @adj(%dy) : (memref<4x8xf32>) -> memref<4x8xf32>
    linalg.generic {indexing_maps = [#id2, #id2],
                    iterator_types = ["parallel", "parallel"]}
        ins(%g : memref<4x8xf32>) outs(%p : memref<4x8xf32>) {
    ^bb0(%x: f32, %y: f32):
      %d = arith.mulf %x, %lr : f32
      %n = arith.subf %y, %d : f32
      linalg.yield %n : f32
    }
  }
  linalg.generic {indexing_maps = [#id2, #id2],
                  iterator_types = ["parallel", "parallel"]}
      ins(%dy : memref<4x8xf32>) outs(%p2 : memref<4x8xf32>) {
  ^bb0(%x: f32, %y: f32):
    %d = arith.mulf %x, %lr : f32
    %n = arith.subf %y, %d : f32
    linalg.yield %n : f32
  }
  return
}
