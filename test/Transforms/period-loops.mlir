// RUN: onebit-opt %s --split-input-file --onebit-period-loops | FileCheck %s
// RUN: onebit-opt %s --split-input-file --onebit-period-loops=min-periods=4 | FileCheck %s --check-prefix=FEW

// A backward pass after bufferization: per layer, from the last, the
// adjoint call and the in-place update of that layer's weight, two ops
// repeated three times. The gradient flowing down is carried by the loop;
// the weights and saved activations (arguments) are picked by a switch; the
// learning rate is the same value everywhere; the layer index 2, 1, 0 is
// computed from the induction variable.
// CHECK-LABEL: func.func @backward(
// CHECK-SAME:      %[[DY:[^:]*]]: memref<4xf32>, %[[W0:[^:]*]]: memref<4xf32>, %[[W1:[^:]*]]: memref<4xf32>, %[[W2:[^:]*]]: memref<4xf32>, %[[A0:[^:]*]]: memref<4xf32>, %[[A1:[^:]*]]: memref<4xf32>, %[[A2:[^:]*]]: memref<4xf32>, %[[LR:[^:]*]]: f32
// CHECK:         %[[LOOP:.*]] = scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[G:.*]] = %[[DY]]) -> (memref<4xf32>) {
// CHECK:           %[[SW:.*]]:2 = scf.index_switch %[[I]] -> memref<4xf32>, memref<4xf32>
// CHECK:           case 1 {
// CHECK:             scf.yield %[[W1]], %[[A1]]
// CHECK:           case 2 {
// CHECK:             scf.yield %[[W0]], %[[A0]]
// CHECK:           default {
// CHECK:             scf.yield %[[W2]], %[[A2]]
// CHECK:           %[[L:.*]] = arith.addi
// CHECK:           %[[R:.*]]:2 = func.call @adj(%[[G]], %[[SW]]#0, %[[SW]]#1, %[[L]])
// CHECK:           func.call @update(%[[SW]]#0, %[[R]]#1, %[[LR]])
// CHECK:           scf.yield %[[R]]#0 : memref<4xf32>
// CHECK:         return %[[LOOP]]
// FEW-LABEL: func.func @backward(
// FEW-NOT:     scf.for
func.func private @adj(memref<4xf32>, memref<4xf32>, memref<4xf32>, index) -> (memref<4xf32>, memref<4xf32>)
func.func private @update(memref<4xf32>, memref<4xf32>, f32)

func.func @backward(%dy: memref<4xf32>, %w0: memref<4xf32>, %w1: memref<4xf32>, %w2: memref<4xf32>, %a0: memref<4xf32>, %a1: memref<4xf32>, %a2: memref<4xf32>, %lr: f32) -> memref<4xf32> {
  %c2 = arith.constant 2 : index
  %c1 = arith.constant 1 : index
  %c0 = arith.constant 0 : index
  %d2:2 = call @adj(%dy, %w2, %a2, %c2) : (memref<4xf32>, memref<4xf32>, memref<4xf32>, index) -> (memref<4xf32>, memref<4xf32>)
  call @update(%w2, %d2#1, %lr) : (memref<4xf32>, memref<4xf32>, f32) -> ()
  %d1:2 = call @adj(%d2#0, %w1, %a1, %c1) : (memref<4xf32>, memref<4xf32>, memref<4xf32>, index) -> (memref<4xf32>, memref<4xf32>)
  call @update(%w1, %d1#1, %lr) : (memref<4xf32>, memref<4xf32>, f32) -> ()
  %d0:2 = call @adj(%d1#0, %w0, %a0, %c0) : (memref<4xf32>, memref<4xf32>, memref<4xf32>, index) -> (memref<4xf32>, memref<4xf32>)
  call @update(%w0, %d0#1, %lr) : (memref<4xf32>, memref<4xf32>, f32) -> ()
  return %d0#0 : memref<4xf32>
}

// -----

// Periods with a region (an in-place update as a linalg.generic): equal
// bodies roll. The last period's weight gradient is read after the periods
// (it is not what the chain carries), so that period stays after the loop,
// fed by the loop's gradient.
// CHECK-LABEL: func.func @peeled(
// CHECK:         %[[LOOP:.*]] = scf.for %{{.*}} = %{{.*}} to %[[N:.*]] step %{{.*}} iter_args(
// CHECK:           func.call @adj(
// CHECK:           linalg.generic
// CHECK:             arith.subf
// CHECK:         %[[LAST:.*]]:2 = call @adj(%[[LOOP]],
// CHECK:         linalg.generic
// CHECK:         return %[[LAST]]#1
#id = affine_map<(d0) -> (d0)>
func.func private @adj(memref<4xf32>, memref<4xf32>) -> (memref<4xf32>, memref<4xf32>)

func.func @peeled(%dy: memref<4xf32>, %w0: memref<4xf32>, %w1: memref<4xf32>, %w2: memref<4xf32>) -> memref<4xf32> {
  %d2:2 = call @adj(%dy, %w2) : (memref<4xf32>, memref<4xf32>) -> (memref<4xf32>, memref<4xf32>)
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%d2#1 : memref<4xf32>) outs(%w2 : memref<4xf32>) {
  ^bb0(%g: f32, %w: f32):
    %s = arith.subf %w, %g : f32
    linalg.yield %s : f32
  }
  %d1:2 = call @adj(%d2#0, %w1) : (memref<4xf32>, memref<4xf32>) -> (memref<4xf32>, memref<4xf32>)
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%d1#1 : memref<4xf32>) outs(%w1 : memref<4xf32>) {
  ^bb0(%g: f32, %w: f32):
    %s = arith.subf %w, %g : f32
    linalg.yield %s : f32
  }
  %d0:2 = call @adj(%d1#0, %w0) : (memref<4xf32>, memref<4xf32>) -> (memref<4xf32>, memref<4xf32>)
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%d0#1 : memref<4xf32>) outs(%w0 : memref<4xf32>) {
  ^bb0(%g: f32, %w: f32):
    %s = arith.subf %w, %g : f32
    linalg.yield %s : f32
  }
  return %d0#1 : memref<4xf32>
}

// -----

// A period whose update differs (addf instead of subf in its body) ends
// the run: the first two periods roll, the third stays.
// CHECK-LABEL: func.func @different(
// CHECK:         %[[LOOP:.*]] = scf.for
// CHECK:           arith.subf
// CHECK:         call @adj(%[[LOOP]],
// CHECK:         arith.addf
// CHECK-NOT:     scf.for
#id = affine_map<(d0) -> (d0)>
func.func private @adj(memref<4xf32>, memref<4xf32>) -> (memref<4xf32>, memref<4xf32>)

func.func @different(%dy: memref<4xf32>, %w0: memref<4xf32>, %w1: memref<4xf32>, %w2: memref<4xf32>) -> memref<4xf32> {
  %d2:2 = call @adj(%dy, %w2) : (memref<4xf32>, memref<4xf32>) -> (memref<4xf32>, memref<4xf32>)
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%d2#1 : memref<4xf32>) outs(%w2 : memref<4xf32>) {
  ^bb0(%g: f32, %w: f32):
    %s = arith.subf %w, %g : f32
    linalg.yield %s : f32
  }
  %d1:2 = call @adj(%d2#0, %w1) : (memref<4xf32>, memref<4xf32>) -> (memref<4xf32>, memref<4xf32>)
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%d1#1 : memref<4xf32>) outs(%w1 : memref<4xf32>) {
  ^bb0(%g: f32, %w: f32):
    %s = arith.subf %w, %g : f32
    linalg.yield %s : f32
  }
  %d0:2 = call @adj(%d1#0, %w0) : (memref<4xf32>, memref<4xf32>) -> (memref<4xf32>, memref<4xf32>)
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%d0#1 : memref<4xf32>) outs(%w0 : memref<4xf32>) {
  ^bb0(%g: f32, %w: f32):
    %s = arith.addf %w, %g : f32
    linalg.yield %s : f32
  }
  return %d0#0 : memref<4xf32>
}

// -----

// A value of one period read by a later period other than the next one
// (not a chain) cannot come out of a loop: the three calls do not roll.
// The first call stays before the loop; the other two read its result as
// a value from before the loop (a switch picks it for the second).
// CHECK-LABEL: func.func @skips(
// CHECK-SAME:      %[[X:[^:]*]]: memref<4xf32>, %[[Y:[^:]*]]: memref<4xf32>
// CHECK:         %[[A:.*]] = call @f(%[[X]], %[[Y]])
// CHECK:         %[[LOOP:.*]] = scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[P:.*]] = %[[A]])
// CHECK:           %[[SW:.*]] = scf.index_switch %[[I]]
// CHECK:           case 1 {
// CHECK:             scf.yield %[[A]]
// CHECK:           default {
// CHECK:             scf.yield %[[Y]]
// CHECK:           func.call @f(%[[P]], %[[SW]])
// CHECK:         return %[[LOOP]]
func.func private @f(memref<4xf32>, memref<4xf32>) -> memref<4xf32>

func.func @skips(%x: memref<4xf32>, %y: memref<4xf32>) -> memref<4xf32> {
  %a = call @f(%x, %y) : (memref<4xf32>, memref<4xf32>) -> memref<4xf32>
  %b = call @f(%a, %y) : (memref<4xf32>, memref<4xf32>) -> memref<4xf32>
  %c = call @f(%b, %a) : (memref<4xf32>, memref<4xf32>) -> memref<4xf32>
  return %c : memref<4xf32>
}

// -----

// A layer's forward, once per layer: each call's result feeds the next call
// and is also read after the calls (by the loss terms, the backward). The
// results are kept per layer in one byte buffer of slices (memref.view):
// the first call stays before the loop and gives the slices' shape, its
// result moves to slice 0; each later result is copied into its slice
// after a check of its shape; each reader after the loop reads a slice.
// CHECK-LABEL: func.func @stacked(
// CHECK:         %[[H0:.*]] = call @layer(
// CHECK:         %[[D:.*]] = memref.dim %[[H0]], %{{.*}} : memref<?x4xf32>
// CHECK:         %[[STACK:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?xi8>
// CHECK:         %[[S0:.*]] = memref.view %[[STACK]][%{{.*}}][%[[D]]] : memref<?xi8> to memref<?x4xf32>
// CHECK:         memref.copy %[[H0]], %[[S0]]
// CHECK:         scf.for %{{.*}} = %{{.*}} to %[[C3:.*]] step %{{.*}} iter_args(%[[H:.*]] = %[[S0]])
// CHECK:           %[[N:.*]] = func.call @layer(%[[H]],
// CHECK:           %[[ND:.*]] = memref.dim %[[N]]
// CHECK:           %[[SAME:.*]] = arith.cmpi eq, %[[ND]], %[[D]]
// CHECK:           cf.assert %[[SAME]]
// CHECK:           %[[V:.*]] = memref.view %[[STACK]]
// CHECK:           memref.copy %[[N]], %[[V]]
// CHECK:           scf.yield %[[V]]
// CHECK-COUNT-4:   memref.view %[[STACK]]
// CHECK:         call @use4(
func.func private @layer(%h: memref<?x4xf32>, %w: memref<4x4xf32>) -> memref<?x4xf32> {
  %c0 = arith.constant 0 : index
  %n = memref.dim %h, %c0 : memref<?x4xf32>
  %y = memref.alloc(%n) : memref<?x4xf32>
  memref.copy %h, %y : memref<?x4xf32> to memref<?x4xf32>
  return %y : memref<?x4xf32>
}
func.func private @use4(memref<?x4xf32>, memref<?x4xf32>, memref<?x4xf32>, memref<?x4xf32>)

func.func @stacked(%x: memref<?x4xf32>, %w0: memref<4x4xf32>, %w1: memref<4x4xf32>, %w2: memref<4x4xf32>, %w3: memref<4x4xf32>) {
  %h1 = call @layer(%x, %w0) : (memref<?x4xf32>, memref<4x4xf32>) -> memref<?x4xf32>
  %h2 = call @layer(%h1, %w1) : (memref<?x4xf32>, memref<4x4xf32>) -> memref<?x4xf32>
  %h3 = call @layer(%h2, %w2) : (memref<?x4xf32>, memref<4x4xf32>) -> memref<?x4xf32>
  %h4 = call @layer(%h3, %w3) : (memref<?x4xf32>, memref<4x4xf32>) -> memref<?x4xf32>
  call @use4(%h1, %h2, %h3, %h4) : (memref<?x4xf32>, memref<?x4xf32>, memref<?x4xf32>, memref<?x4xf32>) -> ()
  return
}

// -----

// Loss terms per layer, without calls: a period of 8 ops (at least that
// many when no call begins it) reads its layer's buffer, reduces it and adds
// the square to a sum. Its buffer %t is read after the periods: an
// allocation becomes the iteration's slice (nothing copied). The first
// period adds to 0.0 with its operands the other way round, so it stays
// before the loop (its buffer moves to slice 0); the sum is the loop's
// iteration argument.
// CHECK-LABEL: func.func @terms(
// CHECK:         %[[STACK:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?xi8>
// CHECK:         %[[FIRST:.*]] = arith.addf %{{[0-9]+}}, %cst : f32
// CHECK:         %[[SUM:.*]] = scf.for %{{.*}} iter_args(%[[ACC:.*]] = %[[FIRST]]) -> (f32) {
// CHECK:           scf.index_switch
// CHECK:           %[[T:.*]] = memref.view %[[STACK]]
// CHECK:           linalg.generic {{.*}} outs(%[[T]] : memref<4xf32>)
// CHECK:           %[[SQ:.*]] = arith.mulf
// CHECK:           %[[NEXT:.*]] = arith.addf %[[ACC]], %[[SQ]]
// CHECK:           scf.yield %[[NEXT]]
// CHECK-COUNT-4:   memref.view %[[STACK]]
// CHECK:         call @use4(
// CHECK:         return %[[SUM]]
#id = affine_map<(d0) -> (d0)>
#red = affine_map<(d0) -> ()>
func.func private @use4(memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>)

func.func @terms(%a0: memref<4xf32>, %a1: memref<4xf32>, %a2: memref<4xf32>, %a3: memref<4xf32>) -> f32 {
  %zero = arith.constant 0.0 : f32
  %t0 = memref.alloc() : memref<4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a0 : memref<4xf32>) outs(%t0 : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.addf %in, %in : f32
    linalg.yield %d : f32
  }
  %s0 = memref.alloc() : memref<f32>
  linalg.fill ins(%zero : f32) outs(%s0 : memref<f32>)
  linalg.generic {indexing_maps = [#id, #red], iterator_types = ["reduction"]} ins(%t0 : memref<4xf32>) outs(%s0 : memref<f32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.addf %in, %out : f32
    linalg.yield %d : f32
  }
  %v0 = memref.load %s0[] : memref<f32>
  %sq0 = arith.mulf %v0, %v0 : f32
  %acc0 = arith.addf %sq0, %zero : f32
  %t1 = memref.alloc() : memref<4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a1 : memref<4xf32>) outs(%t1 : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.addf %in, %in : f32
    linalg.yield %d : f32
  }
  %s1 = memref.alloc() : memref<f32>
  linalg.fill ins(%zero : f32) outs(%s1 : memref<f32>)
  linalg.generic {indexing_maps = [#id, #red], iterator_types = ["reduction"]} ins(%t1 : memref<4xf32>) outs(%s1 : memref<f32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.addf %in, %out : f32
    linalg.yield %d : f32
  }
  %v1 = memref.load %s1[] : memref<f32>
  %sq1 = arith.mulf %v1, %v1 : f32
  %acc1 = arith.addf %acc0, %sq1 : f32
  %t2 = memref.alloc() : memref<4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a2 : memref<4xf32>) outs(%t2 : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.addf %in, %in : f32
    linalg.yield %d : f32
  }
  %s2 = memref.alloc() : memref<f32>
  linalg.fill ins(%zero : f32) outs(%s2 : memref<f32>)
  linalg.generic {indexing_maps = [#id, #red], iterator_types = ["reduction"]} ins(%t2 : memref<4xf32>) outs(%s2 : memref<f32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.addf %in, %out : f32
    linalg.yield %d : f32
  }
  %v2 = memref.load %s2[] : memref<f32>
  %sq2 = arith.mulf %v2, %v2 : f32
  %acc2 = arith.addf %acc1, %sq2 : f32
  %t3 = memref.alloc() : memref<4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a3 : memref<4xf32>) outs(%t3 : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.addf %in, %in : f32
    linalg.yield %d : f32
  }
  %s3 = memref.alloc() : memref<f32>
  linalg.fill ins(%zero : f32) outs(%s3 : memref<f32>)
  linalg.generic {indexing_maps = [#id, #red], iterator_types = ["reduction"]} ins(%t3 : memref<4xf32>) outs(%s3 : memref<f32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.addf %in, %out : f32
    linalg.yield %d : f32
  }
  %v3 = memref.load %s3[] : memref<f32>
  %sq3 = arith.mulf %v3, %v3 : f32
  %acc3 = arith.addf %acc2, %sq3 : f32
  call @use4(%t0, %t1, %t2, %t3) : (memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>) -> ()
  return %acc3 : f32
}

// -----

// Buffers returned by the function are the caller's to free, one by one:
// they are not kept in a shared stack, so only the periods whose buffers are
// not returned roll (here none: every period's buffer is returned).
// CHECK-LABEL: func.func @returned(
// CHECK-NOT:     memref.view
func.func private @make(%h: memref<4xf32>) -> memref<4xf32> {
  %y = memref.alloc() : memref<4xf32>
  memref.copy %h, %y : memref<4xf32> to memref<4xf32>
  return %y : memref<4xf32>
}

func.func @returned(%x: memref<4xf32>) -> (memref<4xf32>, memref<4xf32>, memref<4xf32>) {
  %a = call @make(%x) : (memref<4xf32>) -> memref<4xf32>
  %b = call @make(%a) : (memref<4xf32>) -> memref<4xf32>
  %c = call @make(%b) : (memref<4xf32>) -> memref<4xf32>
  return %a, %b, %c : memref<4xf32>, memref<4xf32>, memref<4xf32>
}

// -----

// Per period, an allocation of dynamic shape and a scalar, both read after
// the periods. The first period stays before the loop and gives the shape;
// the allocations become slices (each checked against that shape), the
// scalars go into a memref<4xf32> read back by index.
// CHECK-LABEL: func.func @scalars(
// CHECK-SAME:      %{{[^:]*}}: memref<?x4xf32>, %{{[^:]*}}: memref<?x4xf32>, %{{[^:]*}}: memref<?x4xf32>, %{{[^:]*}}: memref<?x4xf32>, %[[N:[^:]*]]: index
// CHECK:         %[[FIRST:.*]] = memref.alloc(%[[N]]) : memref<?x4xf32>
// CHECK:         %[[D:.*]] = memref.dim %[[FIRST]]
// CHECK:         %[[STACK:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?xi8>
// CHECK-NOT:     memref.copy
// CHECK:         %[[S0:.*]] = arith.negf
// CHECK:         %[[SCALARS:.*]] = memref.alloc() : memref<4xf32>
// CHECK:         memref.store %[[S0]], %[[SCALARS]]
// CHECK:         scf.for %[[I:[^ ]*]] =
// CHECK:           %[[K:.*]] = arith.addi %[[I]],
// CHECK:           %[[SAME:.*]] = arith.cmpi eq, %[[N]], %[[D]]
// CHECK:           cf.assert %[[SAME]]
// CHECK:           memref.view %[[STACK]]
// CHECK:           %[[S:.*]] = arith.negf
// CHECK:           memref.store %[[S]], %[[SCALARS]][%[[K]]]
// CHECK-COUNT-4:   memref.load %[[SCALARS]]
// CHECK:         call @usef(
// CHECK-COUNT-4:   memref.view %[[STACK]]
// CHECK:         call @usem(
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func private @usef(f32, f32, f32, f32)
func.func private @usem(memref<?x4xf32>, memref<?x4xf32>, memref<?x4xf32>, memref<?x4xf32>)

func.func @scalars(%a0: memref<?x4xf32>, %a1: memref<?x4xf32>, %a2: memref<?x4xf32>, %a3: memref<?x4xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %t0 = memref.alloc(%n) : memref<?x4xf32>
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%a0 : memref<?x4xf32>) outs(%t0 : memref<?x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.mulf %in, %in : f32
    linalg.yield %d : f32
  }
  %x0 = memref.load %t0[%c0, %c0] : memref<?x4xf32>
  %y0 = arith.mulf %x0, %x0 : f32
  %z0 = arith.addf %y0, %x0 : f32
  %u0 = arith.subf %z0, %y0 : f32
  %w0 = arith.mulf %u0, %z0 : f32
  %s0 = arith.negf %w0 : f32
  %t1 = memref.alloc(%n) : memref<?x4xf32>
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%a1 : memref<?x4xf32>) outs(%t1 : memref<?x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.mulf %in, %in : f32
    linalg.yield %d : f32
  }
  %x1 = memref.load %t1[%c0, %c0] : memref<?x4xf32>
  %y1 = arith.mulf %x1, %x1 : f32
  %z1 = arith.addf %y1, %x1 : f32
  %u1 = arith.subf %z1, %y1 : f32
  %w1 = arith.mulf %u1, %z1 : f32
  %s1 = arith.negf %w1 : f32
  %t2 = memref.alloc(%n) : memref<?x4xf32>
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%a2 : memref<?x4xf32>) outs(%t2 : memref<?x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.mulf %in, %in : f32
    linalg.yield %d : f32
  }
  %x2 = memref.load %t2[%c0, %c0] : memref<?x4xf32>
  %y2 = arith.mulf %x2, %x2 : f32
  %z2 = arith.addf %y2, %x2 : f32
  %u2 = arith.subf %z2, %y2 : f32
  %w2 = arith.mulf %u2, %z2 : f32
  %s2 = arith.negf %w2 : f32
  %t3 = memref.alloc(%n) : memref<?x4xf32>
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%a3 : memref<?x4xf32>) outs(%t3 : memref<?x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.mulf %in, %in : f32
    linalg.yield %d : f32
  }
  %x3 = memref.load %t3[%c0, %c0] : memref<?x4xf32>
  %y3 = arith.mulf %x3, %x3 : f32
  %z3 = arith.addf %y3, %x3 : f32
  %u3 = arith.subf %z3, %y3 : f32
  %w3 = arith.mulf %u3, %z3 : f32
  %s3 = arith.negf %w3 : f32
  call @usef(%s0, %s1, %s2, %s3) : (f32, f32, f32, f32) -> ()
  call @usem(%t0, %t1, %t2, %t3) : (memref<?x4xf32>, memref<?x4xf32>, memref<?x4xf32>, memref<?x4xf32>) -> ()
  return
}

// -----

// The first op of a period (an allocation) also appears again inside it, so
// the run is found from a later op (the copy). The loop still starts at the
// period's first op: the ops before the copy repeat one period later, so
// the start moves back to them and all four periods roll.
// CHECK-LABEL: func.func @anchor(
// CHECK-NOT:     memref.alloc
// CHECK:         %[[N:.*]] = arith.constant 4 : index
// CHECK:         scf.for %{{.*}} = %{{.*}} to %[[N]] step
// CHECK:           memref.alloc
// CHECK:           memref.copy
// CHECK:         }
// CHECK-NEXT:    return
#id = affine_map<(d0) -> (d0)>
func.func @anchor(%a0: memref<4xf32>, %a1: memref<4xf32>, %a2: memref<4xf32>, %a3: memref<4xf32>, %o0: memref<4xf32>, %o1: memref<4xf32>, %o2: memref<4xf32>, %o3: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %t0 = memref.alloc() : memref<4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a0 : memref<4xf32>) outs(%t0 : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.mulf %in, %in : f32
    linalg.yield %d : f32
  }
  %u0 = memref.alloc() : memref<4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%t0 : memref<4xf32>) outs(%u0 : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.addf %in, %in : f32
    linalg.yield %d : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%u0 : memref<4xf32>) outs(%o0 : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.subf %in, %out : f32
    linalg.yield %d : f32
  }
  memref.copy %t0, %u0 : memref<4xf32> to memref<4xf32>
  %v0 = memref.load %u0[%c0] : memref<4xf32>
  memref.store %v0, %o0[%c1] : memref<4xf32>
  %t1 = memref.alloc() : memref<4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a1 : memref<4xf32>) outs(%t1 : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.mulf %in, %in : f32
    linalg.yield %d : f32
  }
  %u1 = memref.alloc() : memref<4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%t1 : memref<4xf32>) outs(%u1 : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.addf %in, %in : f32
    linalg.yield %d : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%u1 : memref<4xf32>) outs(%o1 : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.subf %in, %out : f32
    linalg.yield %d : f32
  }
  memref.copy %t1, %u1 : memref<4xf32> to memref<4xf32>
  %v1 = memref.load %u1[%c0] : memref<4xf32>
  memref.store %v1, %o1[%c1] : memref<4xf32>
  %t2 = memref.alloc() : memref<4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a2 : memref<4xf32>) outs(%t2 : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.mulf %in, %in : f32
    linalg.yield %d : f32
  }
  %u2 = memref.alloc() : memref<4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%t2 : memref<4xf32>) outs(%u2 : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.addf %in, %in : f32
    linalg.yield %d : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%u2 : memref<4xf32>) outs(%o2 : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.subf %in, %out : f32
    linalg.yield %d : f32
  }
  memref.copy %t2, %u2 : memref<4xf32> to memref<4xf32>
  %v2 = memref.load %u2[%c0] : memref<4xf32>
  memref.store %v2, %o2[%c1] : memref<4xf32>
  %t3 = memref.alloc() : memref<4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a3 : memref<4xf32>) outs(%t3 : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.mulf %in, %in : f32
    linalg.yield %d : f32
  }
  %u3 = memref.alloc() : memref<4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%t3 : memref<4xf32>) outs(%u3 : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.addf %in, %in : f32
    linalg.yield %d : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%u3 : memref<4xf32>) outs(%o3 : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.subf %in, %out : f32
    linalg.yield %d : f32
  }
  memref.copy %t3, %u3 : memref<4xf32> to memref<4xf32>
  %v3 = memref.load %u3[%c0] : memref<4xf32>
  memref.store %v3, %o3[%c1] : memref<4xf32>
  return
}
