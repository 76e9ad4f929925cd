// RUN: onebit-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(onebit-legalize-expand-shape))" | FileCheck %s

// Two dynamic sizes in one group become a tensor.reshape.
// CHECK-LABEL: func.func @two_dynamic
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>, %[[B:.*]]: index, %[[S:.*]]: index)
// CHECK: %[[C4:.*]] = arith.constant 4 : index
// CHECK: %[[SHAPE:.*]] = tensor.from_elements %[[B]], %[[S]], %[[C4]] : tensor<3xindex>
// CHECK: %[[R:.*]] = tensor.reshape %[[X]](%[[SHAPE]]) : (tensor<?x4xf32>, tensor<3xindex>) -> tensor<?x?x4xf32>
// CHECK: return %[[R]]
func.func @two_dynamic(%x: tensor<?x4xf32>, %b: index, %s: index) -> tensor<?x?x4xf32> {
  %e = tensor.expand_shape %x [[0, 1], [2]] output_shape [%b, %s, 4] : tensor<?x4xf32> into tensor<?x?x4xf32>
  return %e : tensor<?x?x4xf32>
}

// -----

// One dynamic size per group lowers fine and is left alone.
// CHECK-LABEL: func.func @one_dynamic
// CHECK: tensor.expand_shape
// CHECK-NOT: tensor.reshape
func.func @one_dynamic(%x: tensor<?x576xf32>, %b: index) -> tensor<?x9x64xf32> {
  %e = tensor.expand_shape %x [[0], [1, 2]] output_shape [%b, 9, 64] : tensor<?x576xf32> into tensor<?x9x64xf32>
  return %e : tensor<?x9x64xf32>
}
