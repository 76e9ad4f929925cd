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
// (not a chain) cannot come out of a loop: nothing rolls.
// CHECK-LABEL: func.func @skips(
// CHECK-NOT:     scf.for
func.func private @f(memref<4xf32>, memref<4xf32>) -> memref<4xf32>

func.func @skips(%x: memref<4xf32>, %y: memref<4xf32>) -> memref<4xf32> {
  %a = call @f(%x, %y) : (memref<4xf32>, memref<4xf32>) -> memref<4xf32>
  %b = call @f(%a, %y) : (memref<4xf32>, memref<4xf32>) -> memref<4xf32>
  %c = call @f(%b, %a) : (memref<4xf32>, memref<4xf32>) -> memref<4xf32>
  return %c : memref<4xf32>
}
