// RUN: onebit-opt %s --onebit-outline-loop-nests=min-loops=2 | FileCheck %s
// RUN: onebit-opt %s --onebit-outline-loop-nests=min-loops=3 | FileCheck %s --check-prefix=SMALL

// With at least min-loops top-level loop nests, each nest moves into a
// private function: constants are cloned in, other values it reads become
// arguments, loop results become function results. The glue left behind is
// compiled at -O0.

// CHECK-LABEL: func.func @f(
// CHECK-SAME:      %[[A:.*]]: memref<8xf32>, %[[N:.*]]: index
// CHECK-SAME:      attributes {passthrough = ["optnone", "noinline"]}
// CHECK:         call @f__loop0(%[[N]], %[[A]]) : (index, memref<8xf32>) -> ()
// CHECK:         %[[S:.*]] = call @f__loop1(%[[A]]) : (memref<8xf32>) -> f32
// CHECK:         return %[[S]]
// CHECK:       func.func private @f__loop0(%[[N0:.*]]: index, %[[A0:.*]]: memref<8xf32>)
// CHECK-DAG:     %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG:     %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG:     %[[Z:.*]] = arith.constant 2.0
// CHECK:         scf.for %[[I:.*]] = %[[C0]] to %[[N0]] step %[[C1]]
// CHECK:           memref.store %[[Z]], %[[A0]][%[[I]]]
// CHECK:         return
// CHECK:       func.func private @f__loop1(%[[A1:.*]]: memref<8xf32>) -> f32
// CHECK:         %[[R:.*]] = scf.for
// CHECK:         return %[[R]] : f32

// SMALL-LABEL: func.func @f(
// SMALL-NOT:     passthrough
// SMALL-NOT:     call
// SMALL:         scf.for
// SMALL:         scf.for
// SMALL-NOT:     func.func private @f__loop
func.func @f(%a: memref<8xf32>, %n: index) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %two = arith.constant 2.0 : f32
  %zero = arith.constant 0.0 : f32
  scf.for %i = %c0 to %n step %c1 {
    memref.store %two, %a[%i] : memref<8xf32>
  }
  %s = scf.for %i = %c0 to %c8 step %c1 iter_args(%acc = %zero) -> f32 {
    %x = memref.load %a[%i] : memref<8xf32>
    %y = arith.addf %acc, %x : f32
    scf.yield %y : f32
  }
  return %s : f32
}

// Nests that outline to the same function (same ops, types and cloned
// constants) share it: @g's first and third nests call @g__loop0; the second
// nest stores another constant and gets a function of its own.
// CHECK-LABEL: func.func @g(
// CHECK:         call @g__loop0(%{{.*}}) : (memref<8xf32>) -> ()
// CHECK:         call @g__loop1(%{{.*}}) : (memref<8xf32>) -> ()
// CHECK:         call @g__loop0(%{{.*}}) : (memref<8xf32>) -> ()
// CHECK:         return
// CHECK:       func.func private @g__loop0(
// CHECK:         arith.constant 2.0
// CHECK:       func.func private @g__loop1(
// CHECK:         arith.constant 3.0
// CHECK-NOT:   func.func private @g__loop2
func.func @g(%a: memref<8xf32>, %b: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %two = arith.constant 2.0 : f32
  %three = arith.constant 3.0 : f32
  scf.for %i = %c0 to %c8 step %c1 {
    memref.store %two, %a[%i] : memref<8xf32>
  }
  scf.for %i = %c0 to %c8 step %c1 {
    memref.store %three, %a[%i] : memref<8xf32>
  }
  scf.for %i = %c0 to %c8 step %c1 {
    memref.store %two, %b[%i] : memref<8xf32>
  }
  return
}
