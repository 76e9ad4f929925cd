// RUN: onebit-opt %s --split-input-file --onebit-layer-loops | FileCheck %s
// RUN: onebit-opt %s --split-input-file --onebit-layer-loops=min-calls=4 | FileCheck %s --check-prefix=FEW

// Three calls of one layer, each fed by the one before, each with its own
// weight: one loop over the layers. The weights are picked by an
// scf.index_switch whose cases hold copies of their constants; the value
// used by every call (%scale) is used as it is; the layer index (0, 1, 2)
// is computed from the induction variable. The weights' constants are gone
// from the function body.
// CHECK-LABEL: func.func @three(
// CHECK-SAME:      %[[X:.*]]: tensor<4xf32>, %[[SCALE:.*]]: f32
// CHECK-DAG:     %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG:     %[[C3:.*]] = arith.constant 3 : index
// CHECK-DAG:     %[[C1:.*]] = arith.constant 1 : index
// CHECK:         %[[LOOP:.*]] = scf.for %[[I:.*]] = %[[C0]] to %[[C3]] step %[[C1]] iter_args(%[[H:.*]] = %[[X]]) -> (tensor<4xf32>) {
// CHECK:           %[[W:.*]] = scf.index_switch %[[I]] -> tensor<4xf32>
// CHECK:           case 1 {
// CHECK:             %[[W1:.*]] = arith.constant dense<5.000000e+00> : tensor<4xf32>
// CHECK:             scf.yield %[[W1]]
// CHECK:           case 2 {
// CHECK:             %[[W2:.*]] = arith.constant dense<9.000000e+00> : tensor<4xf32>
// CHECK:             scf.yield %[[W2]]
// CHECK:           default {
// CHECK:             %[[W0:.*]] = arith.constant dense<1.000000e+00> : tensor<4xf32>
// CHECK:             scf.yield %[[W0]]
// CHECK:           %[[K:.*]] = arith.addi %{{.*}}, %{{.*}} : index
// CHECK:           %[[NEXT:.*]] = func.call @layer(%[[H]], %[[W]], %[[SCALE]], %[[K]])
// CHECK:           scf.yield %[[NEXT]] : tensor<4xf32>
// CHECK:         %[[R:.*]] = arith.negf %[[LOOP]]
// CHECK:         return %[[R]]
// FEW-LABEL: func.func @three(
// FEW-NOT:     scf.for
// FEW-COUNT-3: call @layer(
func.func private @layer(%h: tensor<4xf32>, %w: tensor<4xf32>, %s: f32, %k: index) -> tensor<4xf32>

func.func @three(%x: tensor<4xf32>, %scale: f32) -> tensor<4xf32> {
  %w0 = arith.constant dense<1.0> : tensor<4xf32>
  %c0 = arith.constant 0 : index
  %h1 = call @layer(%x, %w0, %scale, %c0) : (tensor<4xf32>, tensor<4xf32>, f32, index) -> tensor<4xf32>
  %w1 = arith.constant dense<5.0> : tensor<4xf32>
  %c1 = arith.constant 1 : index
  %h2 = call @layer(%h1, %w1, %scale, %c1) : (tensor<4xf32>, tensor<4xf32>, f32, index) -> tensor<4xf32>
  %w2 = arith.constant dense<9.0> : tensor<4xf32>
  %c2 = arith.constant 2 : index
  %h3 = call @layer(%h2, %w2, %scale, %c2) : (tensor<4xf32>, tensor<4xf32>, f32, index) -> tensor<4xf32>
  %r = arith.negf %h3 : tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

// A KV-cache layer after bufferization: the caches are operands updated in
// place, the same buffers in every call; the hidden state is carried. The
// weights are memref.get_global ops. The layer index is an i64 progression
// 5, 7, 9, 11: 5 + 2 * i.
// CHECK-LABEL: func.func @cached(
// CHECK-SAME:      %[[X:.*]]: memref<2x4xf32>, %[[K:.*]]: memref<4x8xf32>, %[[V:.*]]: memref<4x8xf32>
// CHECK:         %[[LOOP:.*]] = scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[H:.*]] = %[[X]]) -> (memref<2x4xf32>) {
// CHECK:           %[[W:.*]] = scf.index_switch %[[I]] -> memref<4x4xf32>
// CHECK:           case 3 {
// CHECK:             %[[G3:.*]] = memref.get_global @w3 : memref<4x4xf32>
// CHECK:             scf.yield %[[G3]]
// CHECK:           default {
// CHECK:             %[[G0:.*]] = memref.get_global @w0 : memref<4x4xf32>
// CHECK:           %[[II:.*]] = arith.index_cast %[[I]] : index to i64
// CHECK:           %[[M:.*]] = arith.muli %[[II]], %{{.*}} : i64
// CHECK:           %[[L:.*]] = arith.addi %{{.*}}, %[[M]] : i64
// CHECK:           %[[NEXT:.*]] = func.call @cached_layer(%[[H]], %[[W]], %[[K]], %[[V]], %[[L]])
// CHECK:           scf.yield %[[NEXT]]
// CHECK:         return %[[LOOP]]
// CHECK-NOT:     memref.get_global
memref.global "private" constant @w0 : memref<4x4xf32> = dense<0.0>
memref.global "private" constant @w1 : memref<4x4xf32> = dense<1.0>
memref.global "private" constant @w2 : memref<4x4xf32> = dense<2.0>
memref.global "private" constant @w3 : memref<4x4xf32> = dense<3.0>
func.func private @cached_layer(memref<2x4xf32>, memref<4x4xf32>, memref<4x8xf32>, memref<4x8xf32>, i64) -> memref<2x4xf32>

func.func @cached(%x: memref<2x4xf32>, %k: memref<4x8xf32>, %v: memref<4x8xf32>) -> memref<2x4xf32> {
  %g0 = memref.get_global @w0 : memref<4x4xf32>
  %g1 = memref.get_global @w1 : memref<4x4xf32>
  %g2 = memref.get_global @w2 : memref<4x4xf32>
  %g3 = memref.get_global @w3 : memref<4x4xf32>
  %l0 = arith.constant 5 : i64
  %l1 = arith.constant 7 : i64
  %l2 = arith.constant 9 : i64
  %l3 = arith.constant 11 : i64
  %h1 = call @cached_layer(%x, %g0, %k, %v, %l0) : (memref<2x4xf32>, memref<4x4xf32>, memref<4x8xf32>, memref<4x8xf32>, i64) -> memref<2x4xf32>
  %h2 = call @cached_layer(%h1, %g1, %k, %v, %l1) : (memref<2x4xf32>, memref<4x4xf32>, memref<4x8xf32>, memref<4x8xf32>, i64) -> memref<2x4xf32>
  %h3 = call @cached_layer(%h2, %g2, %k, %v, %l2) : (memref<2x4xf32>, memref<4x4xf32>, memref<4x8xf32>, memref<4x8xf32>, i64) -> memref<2x4xf32>
  %h4 = call @cached_layer(%h3, %g3, %k, %v, %l3) : (memref<2x4xf32>, memref<4x4xf32>, memref<4x8xf32>, memref<4x8xf32>, i64) -> memref<2x4xf32>
  return %h4 : memref<2x4xf32>
}

// -----

// One weight in two layers (tied): the switch copies it into both cases,
// and the original constant is erased once.
// CHECK-LABEL: func.func @tied(
// CHECK:         scf.for
// CHECK:           scf.index_switch
// CHECK:           case 1 {
// CHECK:             arith.constant dense<2.000000e+00>
// CHECK:           case 2 {
// CHECK:             arith.constant dense<1.000000e+00>
// CHECK:           default {
// CHECK:             arith.constant dense<1.000000e+00>
// CHECK:         return
func.func private @tied_layer(%h: tensor<4xf32>, %w: tensor<4xf32>) -> tensor<4xf32>

func.func @tied(%x: tensor<4xf32>) -> tensor<4xf32> {
  %w = arith.constant dense<1.0> : tensor<4xf32>
  %v = arith.constant dense<2.0> : tensor<4xf32>
  %h1 = call @tied_layer(%x, %w) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %h2 = call @tied_layer(%h1, %v) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %h3 = call @tied_layer(%h2, %w) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %h3 : tensor<4xf32>
}

// -----

// Two carried values (a hidden state and a cache returned by each call,
// fed to the next at other positions), and a last call with a result that
// feeds no next call: the loop runs the first three calls and carries both
// values; the last call stays after it, fed by the loop's results. The
// layer indices 3, 1, 4 are no progression: the switch picks them.
// CHECK-LABEL: func.func @peeled(
// CHECK-SAME:      %[[X:.*]]: tensor<4xf32>, %[[C:.*]]: tensor<8xf32>
// CHECK:         %[[LOOP:.*]]:2 = scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[CC:.*]] = %[[C]], %[[H:.*]] = %[[X]]) -> (tensor<8xf32>, tensor<4xf32>) {
// CHECK:           %[[SW:.*]] = scf.index_switch %[[I]] -> index
// CHECK:           %[[R:.*]]:3 = func.call @two(%[[CC]], %[[H]], %[[SW]])
// CHECK:           scf.yield %[[R]]#0, %[[R]]#1 : tensor<8xf32>, tensor<4xf32>
// CHECK:         %[[LAST:.*]]:3 = call @two(%[[LOOP]]#0, %[[LOOP]]#1, %{{.*}})
// CHECK:         return %[[LAST]]#1, %[[LAST]]#2
func.func private @two(%c: tensor<8xf32>, %h: tensor<4xf32>, %k: index) -> (tensor<8xf32>, tensor<4xf32>, f32)

func.func @peeled(%x: tensor<4xf32>, %c: tensor<8xf32>) -> (tensor<4xf32>, f32) {
  %k0 = arith.constant 3 : index
  %k1 = arith.constant 1 : index
  %k2 = arith.constant 4 : index
  %k3 = arith.constant 1 : index
  %a:3 = call @two(%c, %x, %k0) : (tensor<8xf32>, tensor<4xf32>, index) -> (tensor<8xf32>, tensor<4xf32>, f32)
  %b:3 = call @two(%a#0, %a#1, %k1) : (tensor<8xf32>, tensor<4xf32>, index) -> (tensor<8xf32>, tensor<4xf32>, f32)
  %d:3 = call @two(%b#0, %b#1, %k2) : (tensor<8xf32>, tensor<4xf32>, index) -> (tensor<8xf32>, tensor<4xf32>, f32)
  %e:3 = call @two(%d#0, %d#1, %k3) : (tensor<8xf32>, tensor<4xf32>, index) -> (tensor<8xf32>, tensor<4xf32>, f32)
  return %e#1, %e#2 : tensor<4xf32>, f32
}

// -----

// What does not roll:
// - a weight that is an argument, not a constant (a trained parameter);
// - a call whose result something other than the next call uses (a loss
//   term) ends its run: the calls before and after it roll apart, and with
//   min-calls=4 neither does;
// - an op with operands between two calls ends the run there.
// CHECK-LABEL: func.func @arguments(
// CHECK-NOT:     scf.for
// CHECK-COUNT-3: call @layer(
func.func private @layer(%h: tensor<4xf32>, %w: tensor<4xf32>) -> tensor<4xf32>

func.func @arguments(%x: tensor<4xf32>, %w0: tensor<4xf32>, %w1: tensor<4xf32>, %w2: tensor<4xf32>) -> tensor<4xf32> {
  %h1 = call @layer(%x, %w0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %h2 = call @layer(%h1, %w1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %h3 = call @layer(%h2, %w2) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %h3 : tensor<4xf32>
}

// CHECK-LABEL: func.func @used_elsewhere(
// CHECK-SAME:      %[[X:.*]]: tensor<4xf32>
// CHECK:         %[[L1:.*]] = scf.for %{{.*}} iter_args(%{{.*}} = %[[X]])
// CHECK:           func.call @layer(
// CHECK:         %[[L2:.*]] = scf.for %{{.*}} iter_args(%{{.*}} = %[[L1]])
// CHECK:           func.call @layer(
// CHECK:         arith.addf %[[L1]], %[[L2]]
// FEW-LABEL: func.func @used_elsewhere(
// FEW-NOT:     scf.for
// FEW-COUNT-4: call @layer(
func.func @used_elsewhere(%x: tensor<4xf32>) -> tensor<4xf32> {
  %w0 = arith.constant dense<1.0> : tensor<4xf32>
  %w1 = arith.constant dense<2.0> : tensor<4xf32>
  %w2 = arith.constant dense<3.0> : tensor<4xf32>
  %w3 = arith.constant dense<4.0> : tensor<4xf32>
  %h1 = call @layer(%x, %w0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %h2 = call @layer(%h1, %w1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %h3 = call @layer(%h2, %w2) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %h4 = call @layer(%h3, %w3) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s = arith.addf %h2, %h4 : tensor<4xf32>
  return %s : tensor<4xf32>
}

// CHECK-LABEL: func.func @interrupted(
// CHECK-NOT:     scf.for
// CHECK:         call @layer(
// CHECK:         arith.negf
// CHECK:         call @layer(
// CHECK-NOT:     scf.for
func.func @interrupted(%x: tensor<4xf32>, %y: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %w0 = arith.constant dense<1.0> : tensor<4xf32>
  %w1 = arith.constant dense<2.0> : tensor<4xf32>
  %h1 = call @layer(%x, %w0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %n = arith.negf %y : tensor<4xf32>
  %h2 = call @layer(%h1, %w1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %h2, %n : tensor<4xf32>, tensor<4xf32>
}
