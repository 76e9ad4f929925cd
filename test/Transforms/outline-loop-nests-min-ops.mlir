// RUN: onebit-opt %s --onebit-outline-loop-nests="min-loops=8 min-ops=6" | FileCheck %s
// RUN: onebit-opt %s --onebit-outline-loop-nests="min-loops=8 min-ops=0" | FileCheck %s --check-prefix=OFF

// A function with few loop nests but many ops outside them (a deep model's
// @F_train_init, which copies each of its hundreds of constants into a
// buffer of its own) is straight-line glue too: it is compiled at -O0
// (optnone), and its nest is outlined like those of a function with
// min-loops of them. Ops inside a nest do not count.

// CHECK-LABEL: func.func @init(
// CHECK-SAME:      attributes {passthrough = ["optnone", "noinline"]}
// CHECK-COUNT-3: memref.copy
// CHECK:         call @init__loop0(%{{.*}}) : (memref<8xf32>) -> ()
// CHECK:         return
// CHECK:       func.func private @init__loop0(%{{.*}}: memref<8xf32>)
// CHECK:         scf.for

// Four ops outside its nest (fewer than min-ops), however many inside.
// CHECK-LABEL: func.func @small(
// CHECK-NOT:     passthrough
// CHECK-NOT:     call
// CHECK:         scf.for
// CHECK-NOT:   func.func private @small__loop

// min-ops=0: only the number of nests counts.
// OFF-NOT:     passthrough
// OFF-NOT:     call @
// OFF-NOT:     func.func private

memref.global "private" constant @w : memref<8xf32> = dense<1.0>

func.func @init(%a: memref<8xf32>, %b: memref<8xf32>, %c: memref<8xf32>) {
  %w = memref.get_global @w : memref<8xf32>
  memref.copy %w, %a : memref<8xf32> to memref<8xf32>
  memref.copy %w, %b : memref<8xf32> to memref<8xf32>
  memref.copy %w, %c : memref<8xf32> to memref<8xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %two = arith.constant 2.0 : f32
  scf.for %i = %c0 to %c8 step %c1 {
    memref.store %two, %a[%i] : memref<8xf32>
  }
  return
}

func.func @small(%a: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  scf.for %i = %c0 to %c8 step %c1 {
    %x = memref.load %a[%i] : memref<8xf32>
    %y = arith.addf %x, %x : f32
    %z = arith.mulf %y, %y : f32
    %u = arith.subf %z, %x : f32
    memref.store %u, %a[%i] : memref<8xf32>
  }
  return
}
